# Fixture flake for the harness's own tests: needs no nixpkgs (plain derivations,
# /bin/sh as builder, build with --option sandbox false). One check passes, one fails.
{
  description = "fixture: one passing and one failing check";

  outputs = { self }:
    let
      system = "x86_64-linux";
      check = name: script: derivation {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" script ];
      };
    in
    {
      checks.${system} = {
        passes = check "passes" ''
          echo "fixture check passes: writing its output"
          echo ok > "$out"
        '';
        fails = check "fails" ''
          echo "fixture check fails: FIXTURE-FAILURE-MARKER line one"
          echo "the second line of the failing builder's log" >&2
          exit 3
        '';
      };
    };
}
