# Evaluates nixos/tests/vm.nix and nixos/pkgs/standin-app.nix with stub packages
# (no nixpkgs): the VM test's test script and machine settings, and the stand-in's
# wrapper script. `python` is the directory whose bin/python3 the wrapper runs.
# Used by tests/nix/test_modules.py.
{ python ? "/stub/python" }:
let
  lib = import ./lib.nix;
  nixos = ../../../nixos;
  stub = name: "/nix/store/00000000000000000000000000000000-stub-${name}";
  pkgs = {
    inherit lib;
    testers.runNixOSTest = test: test;
    callPackage = file: args: { _callPackage = toString file; };
    curl = stub "curl";
    iproute2 = stub "iproute2";
    netcat = stub "netcat";
    openssl = stub "openssl";
  };
  test = import (nixos + "/tests/vm.nix") { inherit pkgs; };
  standin = import (nixos + "/pkgs/standin-app.nix") {
    writeShellScriptBin = name: text: { inherit name text; };
    python3.withPackages = select: python;
  };
in
{
  inherit (test) name testScript;
  machine = builtins.removeAttrs (test.nodes.machine { inherit pkgs; }) [ "imports" ];
  machineImports = map toString (test.nodes.machine { inherit pkgs; }).imports;
  client = test.nodes.client { inherit pkgs; };
  standin = standin // { app = toString (nixos + "/../fixtures/sandbox/app/inventory_app.py"); };
}
