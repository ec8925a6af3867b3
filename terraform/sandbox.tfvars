# Sandbox: this machine (moto as the AWS API, a container as the instance).
# run_id and public_key are passed by the harness for every run.
environment = "sandbox"

# The sandbox's "internet" is a network namespace on this machine; the sandbox
# policy lets SSH be open to it.
ssh_allowed_cidrs = ["0.0.0.0/0"]

# Nginx fronts Phoenix on 80/443; 4000 stays closed.
expose_phoenix_port = false

use_spot = false

# Every run makes its own bucket; teardown removes it with its test backups.
backup_bucket_force_destroy = true
