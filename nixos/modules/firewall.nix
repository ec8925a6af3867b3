# The host firewall: only SSH, HTTP and HTTPS are reachable (spec ports); the
# application port (4000) and PostgreSQL (5432) stay closed, as in the security group.
{ config, lib, ... }:
let
  spec = import ../spec.nix;
in
{
  config = lib.mkIf config.services.inventory-tracker.enable {
    networking.firewall = {
      enable = true;
      allowedTCPPorts = [ spec.ports.ssh spec.ports.http spec.ports.https ];
      allowedUDPPorts = [ ];
      allowPing = true;
      logRefusedConnections = true;
    };
  };
}
