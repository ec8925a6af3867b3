# tf-destroy: destroy the AWS infrastructure made by tf-deploy (terraform/).
# Packaged by flake.nix (writeShellApplication) into the dev shell; runs with bash too.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: tf-destroy [ENVIRONMENT] [--run-id ID] [--public-key FILE] [-- TERRAFORM-DESTROY-ARGS...]

Destroy the inventory-tracker infrastructure of ENVIRONMENT (default: staging)
with `terraform destroy` in terraform/, using terraform/ENVIRONMENT.tfvars.
Terraform lists what it will destroy and asks for confirmation.
Production is refused unless --i-mean-production is given.

  --run-id ID        the run id used at deploy time (default: ENVIRONMENT)
  --public-key FILE  the public key used at deploy time (default: ~/.ssh/id_ed25519.pub)
  -h, --help         show this help
USAGE
}

environment=staging
run_id=""
public_key_file="${HOME:-/root}/.ssh/id_ed25519.pub"
production_ok=false
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --run-id) run_id="${2:?--run-id needs a value}"; shift 2 ;;
    --public-key) public_key_file="${2:?--public-key needs a file}"; shift 2 ;;
    --i-mean-production) production_ok=true; shift ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "tf-destroy: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) environment="$1"; shift ;;
  esac
done

if [ "$environment" = production ] && [ "$production_ok" != true ]; then
  echo "tf-destroy: refusing to destroy production without --i-mean-production" >&2
  exit 65
fi

root="${INVENTORY_TRACKER_ROOT:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)}"
tfdir="$root/terraform"
tfvars="$tfdir/$environment.tfvars"
[ -f "$tfvars" ] || { echo "tf-destroy: no $tfvars" >&2; exit 66; }
[ -f "$public_key_file" ] || { echo "tf-destroy: no public key at $public_key_file (use --public-key)" >&2; exit 66; }
run_id="${run_id:-$environment}"

terraform -chdir="$tfdir" init -input=false
terraform -chdir="$tfdir" destroy -var-file="$tfvars" -var "run_id=$run_id" \
  -var "public_key=$(cat "$public_key_file")" "${extra[@]}"
