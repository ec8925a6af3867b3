# Fixture flake for the harness's own tests: its only input cannot be fetched
# (a loopback port nobody listens on, so the attempt fails at once and sends no
# traffic off this machine), like nixpkgs on a machine without network.
{
  description = "fixture: an input that cannot be fetched";

  inputs.nixpkgs.url = "http://127.0.0.1:9/nixpkgs-unreachable.tar.gz";

  outputs = { self, nixpkgs }: {
    checks.x86_64-linux.vm = nixpkgs.legacyPackages.x86_64-linux.hello;
  };
}
