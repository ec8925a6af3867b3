# Logs to CloudWatch Logs and the root volume's usage to CloudWatch, from spec.json `logs`
# (the sandbox provisioner sets up a stand-in shipper from the same values:
# fixtures/sandbox/log_shipping.py):
#
# - Vector: journald source -> the source of each entry (the application, Nginx,
#   PostgreSQL: by _SYSTEMD_UNIT or SYSLOG_IDENTIFIER; everything else is dropped) ->
#   aws_cloudwatch_logs sink, stream "<instance id>/<source>", the message text as is
#   (Nginx's access lines are JSON with the request id: ./nginx.nix);
# - inventory-tracker-disk-metric.service + .timer: disk_used_percent of / with the
#   dimensions InstanceId and MountPath, which the root volume alarm watches.
#
# The log group's name and the region are in the logs environment file (spec
# logs.env_file) that the deployment writes before the switch (the group is named
# by Terraform); credentials come from the instance profile, never from a file.
{ config, lib, pkgs, ... }:
let
  spec = import ../spec.nix;
  logs = spec.logs;
  cfg = config.services.inventory-tracker.logs;
  sources = logs.sources;
  # VRL: the source an entry belongs to ("" when none).
  sourceOf = builtins.concatStringsSep " else " (map
    (name: let match = sources.${name}; in
      ''if includes(${builtins.toJSON match.units}, unit) || includes(${builtins.toJSON match.identifiers}, ident) { "${name}" }'')
    (builtins.attrNames sources)) + '' else { "" }'';
  diskMetric = pkgs.writeShellApplication {
    name = "inventory-tracker-disk-metric";
    runtimeInputs = [ pkgs.awscli2 pkgs.curl pkgs.coreutils ];
    text = ''
      token=$(curl -sf -m 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)
      instance=$(curl -sf -m 5 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id)
      used=$(df --output=pcent / | tail -n 1 | tr -dc '0-9')
      aws cloudwatch put-metric-data --namespace ${logs.metric_namespace} --metric-name ${logs.disk_metric} \
        --unit Percent --value "$used" --dimensions "InstanceId=$instance,MountPath=/"
    '';
  };
in
{
  options.services.inventory-tracker.logs = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to ship the journal to CloudWatch Logs and publish the disk metric.";
    };
  };

  config = lib.mkIf (config.services.inventory-tracker.enable && cfg.enable) {
    services.vector = {
      enable = true;
      journaldAccess = true;
      settings = {
        sources.journal = {
          type = "journald";
          current_boot_only = false;
        };
        transforms.instance = {
          type = "aws_ec2_metadata";
          inputs = [ "journal" ];
          fields = [ "instance-id" ];
        };
        transforms.routed = {
          type = "remap";
          inputs = [ "instance" ];
          source = ''
            unit = string(._SYSTEMD_UNIT) ?? ""
            ident = string(.SYSLOG_IDENTIFIER) ?? ""
            .source = ${sourceOf}
            .instance_id = del(."instance-id")
          '';
        };
        transforms.shipped = {
          type = "filter";
          inputs = [ "routed" ];
          condition = ''.source != ""'';
        };
        sinks.cloudwatch = {
          type = "aws_cloudwatch_logs";
          inputs = [ "shipped" ];
          group_name = "\${LOG_GROUP}";
          stream_name = "{{ instance_id }}/{{ source }}";
          region = "\${AWS_REGION}";
          create_missing_group = false;
          create_missing_stream = true;
          encoding.codec = "text";
        };
      };
    };
    systemd.services.vector.serviceConfig.EnvironmentFile = logs.env_file;

    systemd.services.inventory-tracker-disk-metric = {
      description = "Publish ${logs.disk_metric} of / to CloudWatch (${logs.metric_namespace})";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      serviceConfig = {
        Type = "oneshot";
        DynamicUser = true;
        EnvironmentFile = logs.env_file;
        ExecStart = "${diskMetric}/bin/inventory-tracker-disk-metric";
      };
    };
    systemd.timers.inventory-tracker-disk-metric = {
      description = "Publish ${logs.disk_metric} every ${toString logs.metric_interval_seconds} s";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = "1min";
        OnUnitActiveSec = "${toString logs.metric_interval_seconds}s";
      };
    };
  };
}
