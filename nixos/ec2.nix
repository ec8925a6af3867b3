# The EC2 platform of the inventory-tracker host: nixpkgs' amazon image module.
#
# The instance runs a NixOS AMI (spec instance.ami names the image Terraform
# uses; for NixOS use a NixOS AMI of the region). nixpkgs' EC2 support writes the
# instance's key pair to /etc/ec2-metadata/public-keys-0-openssh-key at boot;
# the unit below authorises it for the deploy user (root cannot log in over SSH).
{ config, lib, modulesPath, ... }:
let
  deploy = config.services.inventory-tracker.deployUser.name;
  home = config.users.users.${deploy}.home;
  group = config.users.users.${deploy}.group;
  metadataKey = "/etc/ec2-metadata/public-keys-0-openssh-key";
in
{
  imports = [ "${modulesPath}/virtualisation/amazon-image.nix" ];

  # The deploy user's SSH key from the instance's key pair (EC2 metadata).
  systemd.services.deploy-user-ec2-key = {
    description = "Authorise the EC2 key pair for the ${deploy} user";
    wantedBy = [ "multi-user.target" ];
    before = [ "sshd.service" ];
    after = [ "fetch-ec2-metadata.service" ];
    unitConfig.ConditionPathExists = metadataKey;
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
    };
    script = ''
      keys=${home}/.ssh/authorized_keys
      install -d -m 0700 -o ${deploy} -g ${group} ${home}/.ssh
      touch "$keys"
      if ! grep -qxF -f ${metadataKey} "$keys"; then
        cat ${metadataKey} >> "$keys"
      fi
      chown ${deploy}:${group} "$keys"
      chmod 0600 "$keys"
    '';
  };
}
