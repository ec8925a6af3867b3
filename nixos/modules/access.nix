# Administrative access: the deploy user (wheel, SSH keys only) and a hardened sshd.
#
# The deploy user (spec deploy_user) applies new configurations with
# `nixos-rebuild switch --target-host deploy@HOST --use-remote-sudo`, so it gets
# passwordless sudo and is a trusted Nix user (to receive store paths).
# Root cannot log in over SSH; no password or keyboard-interactive logins at all.
# Ciphers, MACs, key exchanges and host keys come from spec.json crypto.ssh (the same
# values the sandbox provisioner writes), certified against dev-sec's ssh-baseline
# (suites/crypto_baselines.py): ETM MACs only, no NIST curves, no ECDSA host key,
# a post-quantum hybrid key exchange first.
{ config, lib, ... }:
let
  spec = import ../spec.nix;
  crypto = spec.crypto.ssh;
  cfg = config.services.inventory-tracker.deployUser;
in
{
  options.services.inventory-tracker.deployUser = {
    name = lib.mkOption {
      type = lib.types.str;
      default = spec.deploy_user;
      description = "Name of the administrative user that deploys over SSH.";
    };
    authorizedKeys = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "SSH public keys of the deploy user (on EC2 the instance's key pair is added at boot too).";
    };
  };

  config = lib.mkIf config.services.inventory-tracker.enable {
    users.users.${cfg.name} = {
      isNormalUser = true;
      extraGroups = [ "wheel" ];
      openssh.authorizedKeys.keys = cfg.authorizedKeys;
    };

    security.sudo = {
      enable = true;
      execWheelOnly = true;
      extraRules = [
        {
          users = [ cfg.name ];
          commands = [ { command = "ALL"; options = [ "NOPASSWD" ]; } ];
        }
      ];
    };

    nix.settings.trusted-users = [ "root" cfg.name ];

    services.openssh = {
      enable = true;
      ports = [ spec.ports.ssh ];
      openFirewall = false; # the firewall module opens exactly the declared ports
      hostKeys = map (type: { inherit type; path = "/etc/ssh/ssh_host_${type}_key"; }) crypto.host_key_types;
      settings = {
        KexAlgorithms = crypto.kex_algorithms;
        Ciphers = crypto.ciphers;
        Macs = crypto.macs;
        HostKeyAlgorithms = builtins.concatStringsSep "," crypto.host_key_algorithms;
        PermitRootLogin = lib.mkForce "no";
        PasswordAuthentication = lib.mkForce false;
        KbdInteractiveAuthentication = lib.mkForce false;
        PermitEmptyPasswords = false;
        X11Forwarding = false;
        MaxAuthTries = 3;
        LoginGraceTime = 30;
        AllowUsers = [ cfg.name ];
      };
    };
  };
}
