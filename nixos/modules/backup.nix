# Database backups: pg_dump of the application's database to the S3 bucket, daily.
#
# inventory-tracker-backup.service (oneshot) + inventory-tracker-backup.timer.
# The bucket is the Terraform output `backup_bucket` (spec backup.bucket_prefix-*):
# set `services.inventory-tracker.backup.bucket`, or BACKUP_BUCKET in the backup
# environment file written by the deployment (it may also set AWS_REGION and
# AWS_ENDPOINT_URL_S3). Credentials come from the instance profile (IMDS).
# A later issue extends this (pgBackRest, retention, restore drill).
{ config, lib, pkgs, ... }:
let
  spec = import ../spec.nix;
  db = spec.database;
  cfg = config.services.inventory-tracker.backup;
  pg = config.services.postgresql;
  name = "${spec.app.name}-backup";
in
{
  options.services.inventory-tracker.backup = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to back the database up to S3 on a timer.";
    };
    bucket = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "${spec.backup.bucket_prefix}-staging";
      description = "S3 bucket for the dumps (null: BACKUP_BUCKET from environmentFile).";
    };
    environmentFile = lib.mkOption {
      type = lib.types.str;
      default = "${dirOf spec.app.env_file}/backup.env";
      description = "Optional KEY=value file: BACKUP_BUCKET, AWS_REGION, AWS_ENDPOINT_URL_S3.";
    };
    schedule = lib.mkOption {
      type = lib.types.str;
      default = "daily";
      description = "systemd OnCalendar expression of the backup timer.";
    };
  };

  config = lib.mkIf (config.services.inventory-tracker.enable && cfg.enable) {
    systemd.services.${name} = {
      description = "Back up the ${db.name} database to S3";
      after = [ "postgresql.service" "network-online.target" ];
      requires = [ "postgresql.service" ];
      wants = [ "network-online.target" ];
      path = [ pg.package pkgs.awscli2 pkgs.coreutils ];
      environment = lib.mkIf (cfg.bucket != null) { BACKUP_BUCKET = cfg.bucket; };
      serviceConfig = {
        Type = "oneshot";
        User = "postgres";
        Group = "postgres";
        EnvironmentFile = "-${cfg.environmentFile}";
        PrivateTmp = true;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        UMask = "0077";
      };
      script = ''
        set -euo pipefail
        if [ -z "''${BACKUP_BUCKET:-}" ]; then
          echo "no backup bucket: set services.inventory-tracker.backup.bucket or BACKUP_BUCKET in ${cfg.environmentFile}" >&2
          exit 1
        fi
        stamp=$(date -u +%Y%m%dT%H%M%SZ)
        dump=/tmp/${db.name}-$stamp.dump
        pg_dump -p ${toString db.port} --format=custom --no-owner --file="$dump" ${db.name}
        key="${spec.app.name}/$(uname -n)/${db.name}-$stamp.dump"
        aws s3 cp --only-show-errors "$dump" "s3://$BACKUP_BUCKET/$key"
        rm -f "$dump"
        echo "backup written to s3://$BACKUP_BUCKET/$key"
      '';
    };

    systemd.timers.${name} = {
      description = "Daily backup of the ${db.name} database";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.schedule;
        Persistent = true;
        RandomizedDelaySec = "30m";
      };
    };
  };
}
