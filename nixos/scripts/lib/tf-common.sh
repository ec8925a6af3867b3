# tf-common: what tf-deploy and tf-destroy share (arguments, the files they need).
# flake.nix puts this text before each of them; run with bash, they source it.

# parse_tf_args NAME ARGS...: sets environment, run_id, public_key_file,
# production_ok and extra (the arguments after --), or exits 64 on a bad option.
# Only tf-destroy takes --i-mean-production.
parse_tf_args() {
  local name="$1"
  shift
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
      --i-mean-production) [ "$name" = tf-destroy ] || unknown_option "$name" "$1"; production_ok=true; shift ;;
      --) shift; extra=("$@"); break ;;
      -*) unknown_option "$name" "$1" ;;
      *) environment="$1"; shift ;;
    esac
  done
}

unknown_option() {
  echo "$1: unknown option $2 (see --help)" >&2
  exit 64
}

# refuse_unconfirmed_production NAME: production only with --i-mean-production (exit 65).
refuse_unconfirmed_production() {
  if [ "$environment" = production ] && [ "$production_ok" != true ]; then
    echo "$1: refusing to destroy production without --i-mean-production" >&2
    exit 65
  fi
}

# locate_tf_files NAME: sets tfdir and tfvars, defaults run_id to the environment,
# or exits 66 naming the missing variables file or public key.
locate_tf_files() {
  local name="$1" root
  root="${INVENTORY_TRACKER_ROOT:-$(git rev-parse --show-toplevel 2>/dev/null || pwd)}"
  tfdir="$root/terraform"
  tfvars="$tfdir/$environment.tfvars"
  [ -f "$tfvars" ] || { echo "$name: no $tfvars (environments: staging, production)" >&2; exit 66; }
  [ -f "$public_key_file" ] || { echo "$name: no public key at $public_key_file (use --public-key)" >&2; exit 66; }
  run_id="${run_id:-$environment}"
}
