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

if ! declare -F parse_tf_args >/dev/null; then
  # shellcheck source=lib/tf-common.sh disable=SC1091
  source "${BASH_SOURCE[0]%/*}/lib/tf-common.sh"
fi
parse_tf_args tf-destroy "$@"

refuse_unconfirmed_production tf-destroy

locate_tf_files tf-destroy

terraform -chdir="$tfdir" init -input=false
terraform -chdir="$tfdir" destroy -var-file="$tfvars" -var "run_id=$run_id" \
  -var "public_key=$(cat "$public_key_file")" "${extra[@]}"
