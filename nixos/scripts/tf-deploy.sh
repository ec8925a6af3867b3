# tf-deploy: create or update the AWS infrastructure with Terraform (terraform/).
# Packaged by flake.nix (writeShellApplication) into the dev shell; runs with bash too.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: tf-deploy [ENVIRONMENT] [--run-id ID] [--public-key FILE] [-- TERRAFORM-APPLY-ARGS...]

Create or update the inventory-tracker infrastructure (EC2 instance, security
group, backup bucket) with `terraform init` and `terraform apply` in terraform/.

  ENVIRONMENT        staging (default) or production; the variables come from
                     terraform/ENVIRONMENT.tfvars
  --run-id ID        names the key pair and the bucket (default: ENVIRONMENT)
  --public-key FILE  OpenSSH public key of the deploy user
                     (default: ~/.ssh/id_ed25519.pub)
  -h, --help         show this help

Terraform asks for confirmation before it changes anything. The certified way
to deploy is `pytest -m staging` (see README); production applies go through
its gate (`pytest -m production --allow-production-apply`).
USAGE
}

environment=staging
run_id=""
public_key_file="${HOME:-/root}/.ssh/id_ed25519.pub"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --run-id) run_id="${2:?--run-id needs a value}"; shift 2 ;;
    --public-key) public_key_file="${2:?--public-key needs a file}"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "tf-deploy: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) environment="$1"; shift ;;
  esac
done

root="${INVENTORY_TRACKER_ROOT:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)}"
tfdir="$root/terraform"
tfvars="$tfdir/$environment.tfvars"
[ -f "$tfvars" ] || { echo "tf-deploy: no $tfvars (environments: staging, production)" >&2; exit 66; }
[ -f "$public_key_file" ] || { echo "tf-deploy: no public key at $public_key_file (use --public-key)" >&2; exit 66; }
run_id="${run_id:-$environment}"

terraform -chdir="$tfdir" init -input=false
terraform -chdir="$tfdir" apply -var-file="$tfvars" -var "run_id=$run_id" \
  -var "public_key=$(cat "$public_key_file")" "${extra[@]}"
terraform -chdir="$tfdir" output
