# Backups of PostgreSQL to the backup bucket, from spec.json `backup` (the sandbox
# provisioner sets up the same units, timers and PostgreSQL settings from the same
# values; fixtures/sandbox/backup_setup.py):
#
# - continuous WAL archiving with barman-cloud (archive_command, archive_timeout);
# - inventory-tracker-base-backup.service + .timer: a barman-cloud base backup,
#   then the retention policy (RECOVERY WINDOW OF retention_days DAYS);
# - inventory-tracker-pg-dump.service + .timer: pg_dump (custom format) uploaded
#   to the same bucket, dumps older than the retention removed.
#
# The tools are nixos/backup/ (shared with the sandbox). Their settings (bucket,
# region) are in the backup environment file (spec backup.env_file) that the
# deployment writes after the switch; credentials come from the instance profile
# through the instance metadata service, never from a file.
{ config, lib, pkgs, ... }:
let
  spec = import ../spec.nix;
  backup = spec.backup;
  db = spec.database;
  app = spec.app.name;
  cfg = config.services.inventory-tracker.backup;
  pg = config.services.postgresql;

  # The WAL archive is zstd-compressed (barman-cloud-wal-archive --zstd), and restores read it:
  # barman's optional zstandard module, which nixpkgs' barman does not depend on.
  barman = pkgs.barman.overridePythonAttrs (old: {
    dependencies = (old.dependencies or [ ]) ++ [ pkgs.python3Packages.zstandard ];
  });
  # wal-prefetch imports barman-cloud's downloader: a Python with barman as a module.
  walPrefetchTool = pkgs.writeScriptBin "wal-prefetch" ''
    #!${pkgs.python3.withPackages (ps: [ (ps.toPythonModule barman) ps.boto3 ])}/bin/python3
    ${builtins.readFile ../backup/wal-prefetch.py}
  '';
  backupTool = pkgs.writeShellApplication {
    name = "inventory-tracker-backup";
    runtimeInputs = [ barman pkgs.coreutils walPrefetchTool ];
    text = builtins.readFile ../backup/inventory-tracker-backup.sh;
  };
  dumpTool = pkgs.writeScriptBin "pg-dump-to-s3" ''
    #!${pkgs.python3.withPackages (ps: [ ps.boto3 ps.psycopg ])}/bin/python3
    ${builtins.readFile ../backup/pg-dump-to-s3.py}
  '';
  job = description: command: calendar: {
    service = {
      inherit description;
      after = [ "postgresql.service" "network-online.target" ];
      requires = [ "postgresql.service" ];
      wants = [ "network-online.target" ];
      path = [ pg.package backupTool dumpTool ];
      environment.INVENTORY_TRACKER_BACKUP_ENV = backup.env_file;
      serviceConfig = {
        Type = "oneshot";
        User = "postgres";
        Group = "postgres";
        ExecStart = command;
        PrivateTmp = true;
        NoNewPrivileges = true;
        UMask = "0077";
      };
    };
    timer = {
      description = "${description} (schedule)";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = calendar;
        Persistent = true;
      };
    };
  };
  baseBackup = job "Base backup of PostgreSQL to the backup bucket (barman-cloud)"
    "${backupTool}/bin/inventory-tracker-backup base-backup" backup.base_backup_calendar;
  dump = job "pg_dump of ${db.name} to the backup bucket"
    "${dumpTool}/bin/pg-dump-to-s3" backup.dump_calendar;
in
{
  options.services.inventory-tracker.backup = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to archive WAL and take base backups and dumps into the backup bucket.";
    };
  };

  config = lib.mkIf (config.services.inventory-tracker.enable && cfg.enable) {
    services.postgresql.settings = {
      wal_level = "replica";
      archive_mode = "on";
      archive_command = "${backupTool}/bin/inventory-tracker-backup wal-archive %p";
      archive_timeout = backup.archive_timeout_seconds;
      # Used only when the cluster starts with recovery.signal (a restore).
      restore_command = "${backupTool}/bin/inventory-tracker-backup wal-restore %f %p";
    };
    # archive_command runs as postgres with the service's environment.
    systemd.services.postgresql.environment.INVENTORY_TRACKER_BACKUP_ENV = backup.env_file;

    environment.systemPackages = [ backupTool dumpTool ];

    # The recovery path: a new host (no cluster yet) whose bucket holds a base backup starts
    # from it and the archived WAL instead of an empty cluster (postgresql's own start-up
    # only initialises an empty data directory).
    systemd.services."${app}-restore" = {
      description = "Restore PostgreSQL from the backup bucket on a new host";
      wantedBy = [ "postgresql.service" ];
      before = [ "postgresql.service" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      path = [ backupTool pkgs.jq pkgs.coreutils ];
      environment.INVENTORY_TRACKER_BACKUP_ENV = backup.env_file;
      unitConfig.ConditionPathExists = [ "!${pg.dataDir}/PG_VERSION" backup.env_file ];
      serviceConfig = {
        Type = "oneshot";
        User = "postgres";
        Group = "postgres";
      };
      script = ''
        id=$(inventory-tracker-backup list | jq -r '[.backups_list[] | select(.status == "DONE")] | last | .backup_id // empty')
        if [ -z "$id" ]; then
          echo "no base backup in the bucket: a new cluster is initialised"
          exit 0
        fi
        install -d -m 0700 ${pg.dataDir}
        inventory-tracker-backup restore "$id" ${pg.dataDir}
        touch ${pg.dataDir}/recovery.signal
        echo "restored base backup $id; PostgreSQL recovers the archived WAL at start"
      '';
    };

    systemd.services."${app}-base-backup" = baseBackup.service;
    systemd.timers."${app}-base-backup" = baseBackup.timer;
    systemd.services."${app}-pg-dump" = dump.service;
    systemd.timers."${app}-pg-dump" = dump.timer;
  };
}
