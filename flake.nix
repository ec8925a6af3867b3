{
  description = "inventory-tracker: infrastructure (Terraform, NixOS) and its deployment certification harness";

  # Pin with `nix flake lock` on a machine with network and commit flake.lock.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      lib = nixpkgs.lib;
      pkgs = import nixpkgs {
        inherit system;
        # Terraform is BSL-licensed (unfree in nixpkgs); the harness calls `terraform`.
        config.allowUnfreePredicate = pkg: builtins.elem (lib.getName pkg) [ "terraform" ];
      };
      spec = import ./nixos/spec.nix;

      # The Phoenix application, when it lives in this repository (mix.exs at the
      # root or in app/). Without it the host's package is a derivation that fails
      # to build with an explanation; the VM test uses the stand-in either way.
      appSource =
        if builtins.pathExists ./mix.exs then ./.
        else if builtins.pathExists ./app/mix.exs then ./app
        else null;
      missingRelease = pkgs.runCommand "${spec.app.name}-release-missing" { } ''
        echo "no Phoenix application in this repository (no mix.exs at the root or in app/):" >&2
        echo "add it, or set services.inventory-tracker.package to the release" >&2
        exit 1
      '';
      release =
        if appSource != null
        then pkgs.callPackage ./nixos/pkgs/phoenix-release.nix { src = appSource; }
        else missingRelease;
      standin = pkgs.callPackage ./nixos/pkgs/standin-app.nix { };

      # The harness's Python dependencies (make setup pins the same in .venv).
      python = pkgs.python3.withPackages (ps:
        [
          ps.boto3
          ps.moto
          ps.paramiko
          ps.pytest
          ps.pytest-testinfra
          ps.pytest-timeout
          ps.pyyaml
          ps.cryptography
          ps.psycopg
        ]
        ++ (ps.moto.optional-dependencies.server or [ ])
        ++ builtins.filter (p: p != null) [ (ps.tftest or null) (ps.localstack-client or null) ]);

      # The seed's commands, each with --help (sources in nixos/scripts/); the
      # shared functions in nixos/scripts/lib/ come first in the script's text.
      script = name: libs: runtimeInputs: pkgs.writeShellApplication {
        inherit name runtimeInputs;
        text = builtins.concatStringsSep "\n" (map builtins.readFile (libs ++ [ ./nixos/scripts/${name}.sh ]));
      };
      tfCommon = [ ./nixos/scripts/lib/tf-common.sh ];
      scripts = [
        (script "tf-deploy" tfCommon [ pkgs.terraform pkgs.git pkgs.coreutils ])
        (script "tf-destroy" tfCommon [ pkgs.terraform pkgs.git pkgs.coreutils ])
        (script "build-nixos" [ ] [ pkgs.git pkgs.coreutils ]) # the host's own nix
        (script "deploy" [ ] [ pkgs.nixos-rebuild pkgs.openssh pkgs.git ])
      ];
    in
    {
      packages.${system} = {
        inventory-tracker = release;
        inventory-tracker-standin = standin;
        dev-scripts = pkgs.symlinkJoin { name = "inventory-tracker-dev-scripts"; paths = scripts; };
      };

      devShells.${system}.default = pkgs.mkShell {
        packages = scripts ++ [
          pkgs.terraform
          pkgs.awscli2
          pkgs.elixir
          pkgs.erlang
          pkgs.inotify-tools
          pkgs.postgresql_16
          python
          pkgs.nixos-rebuild
          pkgs.openssh
          pkgs.git
          pkgs.jq
        ];
        shellHook = ''
          echo "inventory-tracker dev shell: tf-deploy, tf-destroy, build-nixos, deploy (each has --help);"
          echo "certify: pytest (sandbox) | pytest -m staging | pytest -m production | pytest -m nixos"
        '';
      };

      nixosConfigurations.inventory-tracker = lib.nixosSystem {
        inherit system;
        modules = [
          ./nixos/configuration.nix
          ./nixos/ec2.nix
          { services.inventory-tracker.package = release; }
        ];
      };

      checks.${system} = {
        # Boots nixos/configuration.nix with the stand-in app (needs KVM).
        vm-test = import ./nixos/tests/vm.nix { inherit pkgs; };
        # The dev shell's commands build (writeShellApplication runs shellcheck).
        dev-scripts = self.packages.${system}.dev-scripts;
      };

      formatter.${system} = pkgs.nixfmt-rfc-style or pkgs.nixpkgs-fmt;
    };
}
