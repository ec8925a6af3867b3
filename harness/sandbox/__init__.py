"""The sandbox instance: a systemd-nspawn container standing in for the EC2 instance.

Everything here is the real software (Debian 13, systemd, cloud-init, sshd,
nftables); only the hypervisor is replaced by a container.
"""
