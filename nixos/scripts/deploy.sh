# deploy: print (default) or run the deployment steps of inventory-tracker.
# Packaged by flake.nix (writeShellApplication) into the dev shell; runs with bash too.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy [--run --host ADDRESS] [--user USER] [--key FILE]

Without --run: print the deployment steps. With --run: apply the NixOS
configuration to a running instance:
  nixos-rebuild switch --flake .#inventory-tracker \
    --target-host USER@ADDRESS --use-remote-sudo

  --run           run the switch instead of printing the steps
  --host ADDRESS  the instance's address (terraform output public_ip)
  --user USER     the deploy user (default: deploy)
  --key FILE      SSH private key of the deploy user (default: ssh's own choice)
  -h, --help      show this help

The secrets file (/etc/inventory-tracker/env: DATABASE_URL, SECRET_KEY_BASE,
DATABASE_PASSWORD_SCRAM) is written on the host by the deployment, never by Nix.
USAGE
}

steps() {
  cat <<'STEPS'
Deployment steps (the certified path is `pytest -m staging`, then production):
  1. tf-deploy staging              # EC2 instance, security group, backup bucket
  2. build-nixos --check            # build the host system, run the NixOS VM test
  3. write /etc/inventory-tracker/env on the host (mode 0600, owner inventory)
  4. deploy --run --host <public_ip>   # nixos-rebuild switch as the deploy user
  5. curl -fsS http://<public_ip>/health
  6. pytest -m staging --reuse <run_id>  # certify the deployment
  7. for production: pytest -m production (read-only), then with
     --allow-production-apply once staging is certified for the same commit
STEPS
}

run=false
host=""
user=deploy
key=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --run) run=true; shift ;;
    --host) host="${2:?--host needs an address}"; shift 2 ;;
    --user) user="${2:?--user needs a name}"; shift 2 ;;
    --key) key="${2:?--key needs a file}"; shift 2 ;;
    *) echo "deploy: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done

if [ "$run" != true ]; then
  steps
  exit 0
fi
[ -n "$host" ] || { echo "deploy: --run needs --host ADDRESS" >&2; exit 64; }
root="${INVENTORY_TRACKER_ROOT:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)}"
cd "$root"
ssh_opts="-o StrictHostKeyChecking=accept-new -o ConnectTimeout=10"
if [ -n "$key" ]; then
  ssh_opts="$ssh_opts -i $key -o IdentitiesOnly=yes"
fi
NIX_SSHOPTS="$ssh_opts" nixos-rebuild switch --flake .#inventory-tracker \
  --target-host "$user@$host" --use-remote-sudo
