# The inventory-tracker host: one module per concern, every value from spec.json.
#
# Used by the flake's nixosConfigurations.inventory-tracker (together with ./ec2.nix,
# nixpkgs' amazon image module) and by the VM test in ./tests/vm.nix (without it).
# services.inventory-tracker.package (the Phoenix release) is set by the flake.
{ ... }:
{
  imports = [
    ./modules/inventory-tracker.nix
    ./modules/postgresql.nix
    ./modules/nginx.nix
    ./modules/access.nix
    ./modules/firewall.nix
    ./modules/journald.nix
    ./modules/backup.nix
    ./modules/logs.nix
  ];

  services.inventory-tracker.enable = true;

  time.timeZone = "UTC";
  system.stateVersion = "25.05";
}
