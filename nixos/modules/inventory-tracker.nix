# The inventory-tracker service: the Phoenix release as a systemd unit.
#
# * listens on spec app.bind:app.port (127.0.0.1:4000), only Nginx talks to it;
# * its own system user (spec app.user);
# * secrets (DATABASE_URL, SECRET_KEY_BASE, optionally DATABASE_PASSWORD_SCRAM)
#   come from the environment file spec app.env_file, which is written on the
#   host by the deployment (mode 0600) and never enters the Nix store;
# * database migrations run before the server starts (ExecStartPre).
#
# `package` is the release; its CLI is the one `mix release` generates
# (bin/<releaseName> start | eval <expr>). The VM test sets it to the stand-in
# application, packaged with the same CLI.
{ config, lib, pkgs, ... }:
let
  spec = import ../spec.nix;
  cfg = config.services.inventory-tracker;
  bin = "${cfg.package}/bin/${cfg.releaseName}";
in
{
  options.services.inventory-tracker = {
    enable = lib.mkEnableOption "the inventory-tracker Phoenix application";

    package = lib.mkOption {
      type = lib.types.package;
      description = "The Phoenix release of inventory-tracker (or a stand-in with the same CLI).";
    };

    releaseName = lib.mkOption {
      type = lib.types.str;
      default = "inventory_tracker";
      description = "Name of the release's executable in the package's bin/.";
    };

    migrateCommand = lib.mkOption {
      type = lib.types.str;
      default = "${bin} eval InventoryTracker.Release.migrate";
      defaultText = lib.literalExpression ''"''${package}/bin/''${releaseName} eval InventoryTracker.Release.migrate"'';
      description = "Command that applies pending database migrations (ExecStartPre).";
    };

    startCommand = lib.mkOption {
      type = lib.types.str;
      default = "${bin} start";
      defaultText = lib.literalExpression ''"''${package}/bin/''${releaseName} start"'';
      description = "Command that runs the server in the foreground (ExecStart).";
    };

    user = lib.mkOption {
      type = lib.types.str;
      default = spec.app.user;
      description = "System user the application runs as.";
    };

    environmentFile = lib.mkOption {
      type = lib.types.str;
      default = spec.app.env_file;
      description = ''
        File with the application's secrets (KEY=value lines: DATABASE_URL,
        SECRET_KEY_BASE, optionally DATABASE_PASSWORD_SCRAM). Written on the host
        by the deployment, mode 0600; a path outside the Nix store, so the secrets
        never enter it. The unit fails to start while it is missing.
      '';
    };

    bind = lib.mkOption {
      type = lib.types.str;
      default = spec.app.bind;
      description = "Address the application listens on (loopback: only Nginx reaches it).";
    };

    port = lib.mkOption {
      type = lib.types.port;
      default = spec.app.port;
      description = "Port the application listens on.";
    };

    host = lib.mkOption {
      type = lib.types.str;
      default = "localhost";
      description = "Public host name of the application (PHX_HOST).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = lib.hasPrefix "/" cfg.environmentFile && !(lib.hasPrefix "/nix/store" cfg.environmentFile);
        message = "services.inventory-tracker.environmentFile must be an absolute path outside the Nix store (secrets)";
      }
    ];

    users.users.${cfg.user} = {
      isSystemUser = true;
      group = cfg.user;
      home = "/var/lib/${spec.app.name}";
      description = "${spec.app.name} application";
    };
    users.groups.${cfg.user} = { };

    # The directory of the secrets file; the file itself is written by the deployment.
    systemd.tmpfiles.rules = [
      "d ${dirOf cfg.environmentFile} 0750 root ${cfg.user} - -"
    ];

    systemd.services.${spec.app.name} = {
      description = "${spec.app.name} (Phoenix release)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      # postgresql-setup.service: where newer nixpkgs create the role and database.
      after = [ "network-online.target" "postgresql.service" "postgresql-setup.service" ];
      requires = [ "postgresql.service" ];

      environment = {
        BIND = cfg.bind;
        PORT = toString cfg.port;
        PHX_SERVER = "true";
        PHX_HOST = cfg.host;
        RELEASE_TMP = "/run/${spec.app.name}";
        HOME = "/var/lib/${spec.app.name}";
        LANG = "C.UTF-8";
      };

      serviceConfig = {
        Type = "exec";
        User = cfg.user;
        Group = cfg.user;
        EnvironmentFile = cfg.environmentFile;
        ExecStartPre = cfg.migrateCommand;
        ExecStart = cfg.startCommand;
        Restart = "on-failure";
        RestartSec = "2s";
        TimeoutStopSec = "15s";
        StateDirectory = spec.app.name;
        RuntimeDirectory = spec.app.name;
        WorkingDirectory = "/var/lib/${spec.app.name}";
        UMask = "0077";

        # Hardening. MemoryDenyWriteExecute stays off: the BEAM's JIT (OTP 24+) writes code pages.
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        SystemCallArchitectures = "native";
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
      };
    };
  };
}
