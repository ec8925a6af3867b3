# A stand-in for nixpkgs (tests only): just enough of its interface for the
# project's flake.nix to evaluate and for `nix flake check` to build its outputs
# without network. Every package is a plain derivation with /bin/sh as builder.
# Used with `--override-input nixpkgs path:<this dir>` (tests/nix/test_flake_outputs.py).
{
  description = "stub nixpkgs for evaluating the project's flake offline";

  outputs = { self }: {
    lib = import ./lib.nix;
  };
}
