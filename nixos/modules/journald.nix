# journald: persistent, bounded logs of every unit (application, Nginx, PostgreSQL).
{ config, lib, ... }:
{
  config = lib.mkIf config.services.inventory-tracker.enable {
    services.journald.extraConfig = ''
      Storage=persistent
      Compress=yes
      SystemMaxUse=1G
      SystemKeepFree=1G
      MaxRetentionSec=1month
    '';
  };
}
