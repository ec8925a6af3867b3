#!/bin/bash
# First-boot setup of the inventory-tracker instance, run once by cloud-init
# (EC2 user data; in the sandbox the same bytes, read back from the API, are
# handed to cloud-init through a NoCloud seed).
#
# Installs Nix, creates the deploy user with the instance's key pair, hardens
# sshd, and leaves a completion marker. Paths match spec.json (user_data.log,
# user_data.marker, deploy_user). Everything is logged to the log file and to
# cloud-init's own output log.
set -euo pipefail

LOG=/var/log/user-data.log
MARKER=/var/lib/user-data/done
DEPLOY_USER=deploy

exec > >(tee -a "$LOG") 2>&1
trap 'echo "user-data: ERROR: command failed with status $? at line $LINENO" >&2' ERR
echo "user-data: start $(date -u +%Y-%m-%dT%H:%M:%SZ)"
export DEBIAN_FRONTEND=noninteractive

# --- Nix (prefer the distribution's package) --------------------------------
if ! command -v nix >/dev/null 2>&1; then
    echo "user-data: installing nix-bin"
    apt-get update -q
    apt-get install -y -q nix-bin
fi
echo "user-data: $(nix --version)"

# --- the instance's public key ------------------------------------------------
imds_key() {
    # EC2 instance metadata, IMDSv2 (token first). Fails fast where there is none.
    command -v curl >/dev/null 2>&1 || return 1
    local token
    token=$(curl -fsS --connect-timeout 2 --max-time 5 -X PUT \
        -H "X-aws-ec2-metadata-token-ttl-seconds: 300" \
        http://169.254.169.254/latest/api/token) || return 1
    curl -fsS --connect-timeout 2 --max-time 5 \
        -H "X-aws-ec2-metadata-token: $token" \
        http://169.254.169.254/latest/meta-data/public-keys/0/openssh-key
}

default_user_keys() {
    # cloud-init installed the key pair on its default user: "admin" on
    # Debian's EC2 AMIs, "debian" with Debian's generic cloud-init config.
    local user file
    for user in admin debian; do
        file=$(getent passwd "$user" | cut -d: -f6)/.ssh/authorized_keys
        if getent passwd "$user" >/dev/null && [ -s "$file" ]; then
            grep -E '^(ssh-|ecdsa-|sk-)' "$file" && return 0
        fi
    done
    return 1
}

PUBLIC_KEY=$(imds_key || default_user_keys || true)
if [ -z "$PUBLIC_KEY" ]; then
    echo "user-data: ERROR: no public key found (neither IMDS nor the cloud-init default user)" >&2
    exit 1
fi
echo "user-data: public key found ($(printf '%s\n' "$PUBLIC_KEY" | wc -l) line(s))"

# --- the deploy user -------------------------------------------------------------
if ! id "$DEPLOY_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash --user-group "$DEPLOY_USER"
fi
usermod --lock "$DEPLOY_USER"   # no password: key-based login only
home=$(getent passwd "$DEPLOY_USER" | cut -d: -f6)
install -d -m 0700 -o "$DEPLOY_USER" -g "$DEPLOY_USER" "$home/.ssh"
printf '%s\n' "$PUBLIC_KEY" > "$home/.ssh/authorized_keys"
chown "$DEPLOY_USER:$DEPLOY_USER" "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"

sudoers=/etc/sudoers.d/90-$DEPLOY_USER
printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$DEPLOY_USER" > "$sudoers.tmp"
chmod 0440 "$sudoers.tmp"
visudo -cf "$sudoers.tmp"
mv "$sudoers.tmp" "$sudoers"

# --- sshd hardening (first match wins, so the drop-in sorts first) -------------
install -d -m 0755 /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/00-hardening.conf <<'CONF'
# Written by user_data.sh: key-only SSH, no root login.
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
CONF
sshd -t
# Reload a running sshd; with socket activation the next connection reads the new config anyway.
systemctl try-reload-or-restart ssh.service

# --- done ------------------------------------------------------------------------
install -d -m 0755 "$(dirname "$MARKER")"
date -u +%Y-%m-%dT%H:%M:%SZ > "$MARKER"
echo "user-data: finished $(date -u +%Y-%m-%dT%H:%M:%SZ)"
