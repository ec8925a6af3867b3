# build-nixos: build the NixOS system of the inventory-tracker host (flake.nix).
# Packaged by flake.nix (writeShellApplication) into the dev shell; runs with bash too.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: build-nixos [--check] [-- NIX-BUILD-ARGS...]

Build nixosConfigurations.inventory-tracker (nixos/configuration.nix on EC2)
into ./result, without deploying it.

  --check     also run the flake's checks (the NixOS VM test): nix flake check -L
  -h, --help  show this help

Deploy the result with `deploy --run --host ADDRESS`.
USAGE
}

check=false
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --check) check=true; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "build-nixos: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done

root="${INVENTORY_TRACKER_ROOT:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)}"
cd "$root"
nix --extra-experimental-features 'nix-command flakes' build -L \
  .#nixosConfigurations.inventory-tracker.config.system.build.toplevel "${extra[@]}"
if [ "$check" = true ]; then
  nix --extra-experimental-features 'nix-command flakes' flake check -L
fi
echo "built: $(readlink -f result)"
