terraform {
  # 1.9+ lets a variable's validation refer to other variables (ssh_allowed_cidrs
  # checks var.environment).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
