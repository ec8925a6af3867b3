# Values that describe the application (ports, instance type, AMI, volume size)
# come from ../spec.json (see locals in main.tf); a variable left at null falls
# back to the spec's value.

variable "environment" {
  description = "Deployment environment: sandbox, staging or production."
  type        = string

  validation {
    condition     = contains(["sandbox", "staging", "production"], var.environment)
    error_message = "environment must be one of sandbox, staging, production."
  }
}

variable "run_id" {
  description = "Identifier of the deployment run; it names the key pair and the bucket and is the RunId tag used by leak sweeps."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,19}$", var.run_id))
    error_message = "run_id must be 2-20 characters of lowercase letters, digits and hyphens (it becomes part of an S3 bucket name)."
  }
}

variable "public_key" {
  description = "OpenSSH public key installed as the instance's key pair."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+", var.public_key))
    error_message = "public_key must be one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-*)."
  }
}

variable "ssh_allowed_cidrs" {
  description = "IPv4 CIDRs allowed to reach SSH (22). The whole internet (0.0.0.0/0) is accepted only in the sandbox."
  type        = list(string)

  validation {
    condition     = length(var.ssh_allowed_cidrs) > 0 && alltrue([for cidr in var.ssh_allowed_cidrs : can(cidrhost(cidr, 0))])
    error_message = "ssh_allowed_cidrs must be a non-empty list of IPv4 CIDRs such as 203.0.113.10/32."
  }

  validation {
    condition     = var.environment == "sandbox" || !anytrue([for cidr in var.ssh_allowed_cidrs : endswith(cidr, "/0")])
    error_message = "SSH may be open to the whole internet (a /0 CIDR) only in the sandbox; list your operators' addresses instead."
  }
}

variable "expose_phoenix_port" {
  description = "Open the Phoenix port (4000) to the internet. Nginx on 80/443 fronts the application, so this stays false except for debugging."
  type        = bool
  default     = false
}

variable "use_spot" {
  description = "Run the instance as a persistent spot instance (stopped, not terminated, on interruption)."
  type        = bool
  default     = false
}

variable "instance_type" {
  description = "EC2 instance type; null uses spec.json's instance.type (t2.micro)."
  type        = string
  default     = null
}

variable "ami_id" {
  description = "AMI of the instance; null uses spec.json's instance.ami (Debian 13) in the sandbox and the newest NixOS AMI of spec.json's instance.nixos_ami in staging and production."
  type        = string
  default     = null
}

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "backup_bucket_force_destroy" {
  description = "Let terraform destroy delete the backup bucket together with its backups (sandbox and staging only)."
  type        = bool
  default     = false

  validation {
    condition     = !(var.backup_bucket_force_destroy && var.environment == "production")
    error_message = "Production backups are never deleted with the bucket: backup_bucket_force_destroy must be false in production."
  }
}

variable "backup_archive_after_days" {
  description = "Days after which backup objects move to long-term storage (S3 Glacier Flexible Retrieval)."
  type        = number
  default     = 30
}

variable "backup_noncurrent_expire_days" {
  description = "Days after which overwritten or deleted backup object versions are removed."
  type        = number
  default     = 90
}
