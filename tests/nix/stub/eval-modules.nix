# Evaluates the modules of nixos/configuration.nix with the stub lib and stub
# packages (no nixpkgs) and returns the configuration values they define, with
# mkIf/mkForce/mkDefault resolved. Used by tests/nix/test_modules.py:
#   nix-instantiate --eval --strict --json tests/nix/stub/eval-modules.nix
# `overrides` stands for settings another module (the flake, a test) would make.
{ overrides ? { } }:
let
  lib = import ./lib.nix;
  nixos = ../../../nixos;
  spec = import (nixos + "/spec.nix");
  stub = name: "/nix/store/00000000000000000000000000000000-stub-${name}";
  pkgs = {
    postgresql_16 = stub "postgresql-16";
    openssl = stub "openssl";
    awscli2 = stub "awscli2";
    coreutils = stub "coreutils";
    barman = stub "barman";
    jq = stub "jq";
    curl = stub "curl";
    python3.withPackages = select: stub "python3-env";
    # Stand-ins for the writers: the store path, with the text kept for the tests to read.
    writeShellApplication = { name, text, runtimeInputs ? [ ] }: stub name;
    writeScriptBin = name: text: stub name;
  };
  # The modules configuration.nix imports (checked against its `imports` by the test).
  moduleFiles = (import (nixos + "/configuration.nix") { }).imports;

  isType = t: v: builtins.isAttrs v && (v._type or null) == t;
  # Deep merge; lists concatenate (as the module system merges list options).
  update = a: b:
    a // builtins.mapAttrs
      (name: value:
        if builtins.isAttrs value && builtins.isAttrs (a.${name} or null) && !(value ? _type)
        then update a.${name} value
        else if builtins.isList value && builtins.isList (a.${name} or null)
        then a.${name} ++ value
        else value)
      b;
  defaults = opts:
    if isType "option" opts then (opts.default or null)
    else builtins.mapAttrs (name: defaults) opts;
  resolve = v:
    if isType "if" v then (if v.condition then resolve v.content else null)
    else if isType "override" v then resolve v.content
    else if isType "literalExpression" v then v.text
    else if builtins.isAttrs v then
      let kept = builtins.mapAttrs (name: resolve) v;
      in builtins.removeAttrs kept (builtins.filter (n: kept.${n} == null && isType "if" v.${n}) (builtins.attrNames v))
    else if builtins.isList v then map resolve v
    else v;

  call = file: import file { inherit config lib pkgs; modulesPath = "/stub/modules"; };
  # A module's definitions: its `config`, or its top level without imports/options.
  definitions = file:
    let m = call file;
    in if m ? config then m.config else builtins.removeAttrs m [ "imports" "options" ];
  declared = builtins.foldl' (acc: file: update acc ((call file).options or { })) { } moduleFiles;

  # What nixpkgs' own modules would provide, as far as our modules read it.
  nixpkgsConfig = {
    services.postgresql.package = stub "postgresql-16";
    services.postgresql.dataDir = "/var/lib/postgresql/16";
    services.nginx.group = "nginx";
    users.users.${spec.deploy_user} = { home = "/home/${spec.deploy_user}"; group = "users"; };
  };
  config = update (update nixpkgsConfig (defaults declared))
    (update { services.inventory-tracker = { enable = true; package = stub "inventory-tracker"; }; } overrides);

  defined = builtins.foldl' (acc: file: update acc (resolve (definitions file))) { } moduleFiles;
in
{
  inherit defined;
  ec2 = resolve (definitions (nixos + "/ec2.nix"));
  ec2Imports = (call (nixos + "/ec2.nix")).imports;
  options = resolve (defaults declared);
  modules = map toString moduleFiles;
}
