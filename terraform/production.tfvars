# Production. Applying needs the harness's explicit flag and a staging
# certificate for the same commit; certification alone is read-only.
environment = "production"

# Replace with the operators' addresses (documentation range until then, so
# nothing can reach SSH). A /0 CIDR is refused outside the sandbox.
ssh_allowed_cidrs = ["203.0.113.0/24"]

# Nginx fronts Phoenix; the suites' production policy refuses an exposed 4000.
expose_phoenix_port = false

use_spot = false

# Never delete production backups with the bucket (variables.tf enforces it).
backup_bucket_force_destroy = false
