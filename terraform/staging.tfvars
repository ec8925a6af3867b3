# Staging: the staging AWS account. run_id and public_key are passed by the
# harness (or on the command line: -var run_id=... -var public_key="$(cat key.pub)").
environment = "staging"

# Replace with the operators' / CI runner's addresses. 203.0.113.0/24 is a
# documentation range (RFC 5737): nothing can reach SSH until it is replaced.
# A /0 CIDR is refused outside the sandbox (see variables.tf).
ssh_allowed_cidrs = ["203.0.113.0/24"]

expose_phoenix_port = false

# true: a cheaper persistent spot instance, stopped (not terminated) on interruption.
use_spot = false

# Staging backups are test data; a staging teardown may delete them.
backup_bucket_force_destroy = true
