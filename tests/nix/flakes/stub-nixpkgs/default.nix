# `import nixpkgs { system; config; }`: the stub package set.
{ system ? "x86_64-linux", config ? { } }:
let
  drv = import ./drv.nix;
  stub = name: (drv name "echo ${name} > $out") // { pname = name; };
  names = [ "terraform" "awscli2" "elixir" "erlang" "inotify-tools" "postgresql_16" "nixos-rebuild"
            "openssh" "git" "jq" "coreutils" "nixfmt-rfc-style" "curl" "iproute2" "netcat" "openssl" ];
  python3Packages = builtins.listToAttrs (map (n: { name = n; value = stub "python3-${n}"; })
    [ "boto3" "moto" "paramiko" "pytest" "pytest-testinfra" "pytest-timeout" "pyyaml" "cryptography" "psycopg" ]);
  pkgs = builtins.listToAttrs (map (n: { name = n; value = stub n; }) names) // {
    lib = import ./lib.nix;
    # terraform is unfree: the project's flake must allow it by name.
    terraform =
      if (config.allowUnfreePredicate or (p: false)) (stub "terraform")
      then stub "terraform" else throw "terraform is unfree and not allowed";
    runCommand = name: env: script: drv name script;
    callPackage = file: args:
      let f = import file;
      in f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);
    symlinkJoin = { name, paths }: drv name "echo ${toString paths} > $out";
    mkShell = { packages ? [ ], shellHook ? "", ... }: drv "dev-shell" "echo ${toString packages} > $out";
    # Like nixpkgs: the text gets a shebang and strict mode, and must pass `bash -n`.
    writeShellApplication = { name, text, runtimeInputs ? [ ] }:
      drv name ''
        cat > script.sh <<'SCRIPT_EOF'
        set -o errexit -o nounset -o pipefail
        ${text}
        SCRIPT_EOF
        bash -n script.sh
        echo ${name} > $out
      '';
    writeShellScriptBin = name: text: drv name "echo ${name} > $out";
    python3 = {
      withPackages = select: drv "python3-env" "echo ${toString (select python3Packages)} > $out";
    };
    # The VM test: evaluate its nodes (their imports must exist) and keep the script.
    testers.runNixOSTest = test:
      let
        nodes = builtins.mapAttrs (name: node: node { inherit pkgs; }) test.nodes;
        imports = builtins.concatLists (map (node: node.imports or [ ]) (builtins.attrValues nodes));
        missing = builtins.filter (path: !builtins.pathExists path) imports;
      in
      if missing != [ ] then throw "runNixOSTest: missing imports: ${toString missing}"
      else builtins.deepSeq nodes drv "vm-test-${test.name}" ''
        cat > $out <<'TESTSCRIPT_EOF'
        ${test.testScript}
        TESTSCRIPT_EOF
      '';
  };
in
pkgs
