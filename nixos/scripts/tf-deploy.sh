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

if ! declare -F parse_tf_args >/dev/null; then
  # shellcheck source=lib/tf-common.sh disable=SC1091
  source "${BASH_SOURCE[0]%/*}/lib/tf-common.sh"
fi
parse_tf_args tf-deploy "$@"

locate_tf_files tf-deploy

terraform -chdir="$tfdir" init -input=false
terraform -chdir="$tfdir" apply -var-file="$tfvars" -var "run_id=$run_id" \
  -var "public_key=$(cat "$public_key_file")" "${extra[@]}"
terraform -chdir="$tfdir" output
