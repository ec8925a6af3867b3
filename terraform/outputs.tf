output "instance_id" {
  description = "ID of the application instance."
  value       = aws_instance.app.id
}

output "public_ip" {
  description = "The service's public IPv4 address: the Elastic IP, which follows a replaced instance."
  value       = aws_eip.app.public_ip
}

output "eip_allocation_id" {
  description = "Allocation id of the service's Elastic IP."
  value       = aws_eip.app.id
}

output "security_group_id" {
  description = "ID of the instance's security group."
  value       = aws_security_group.web.id
}

output "backup_bucket" {
  description = "Name of the S3 bucket for database backups."
  value       = aws_s3_bucket.backups.bucket
}

output "instance_role" {
  description = "Name of the instance profile's IAM role (backups use its credentials)."
  value       = aws_iam_role.instance.name
}

output "backup_keep_days" {
  description = "Days a backup object may be needed for a restore (retention window + one base-backup interval + 1)."
  value       = local.backup_keep_days
}

output "key_name" {
  description = "Name of the instance's EC2 key pair."
  value       = aws_key_pair.deploy.key_name
}

# The effective settings of this apply, so that checks compare the deployment
# with what was asked for (the harness reads every output).

output "environment" {
  description = "Environment this configuration was applied for."
  value       = var.environment
}

output "run_id" {
  description = "Run id tagged on every resource (RunId)."
  value       = var.run_id
}

output "expose_phoenix_port" {
  description = "Whether the Phoenix port is open to the internet."
  value       = var.expose_phoenix_port
}

output "ssh_allowed_cidrs" {
  description = "CIDRs allowed to reach SSH."
  value       = var.ssh_allowed_cidrs
}

output "use_spot" {
  description = "Whether the instance is a spot instance."
  value       = var.use_spot
}

output "instance_type" {
  description = "Effective instance type."
  value       = local.instance_type
}

output "ami_id" {
  description = "Effective AMI."
  value       = local.ami_id
}

output "log_group" {
  description = "Name of the CloudWatch Logs group the host ships its journal to."
  value       = aws_cloudwatch_log_group.host.name
}

output "log_retention_days" {
  description = "Retention of the log group in days (spec.json logs.retention_days)."
  value       = aws_cloudwatch_log_group.host.retention_in_days
}

output "alarm_names" {
  description = "Names of the instance's CloudWatch alarms, by purpose."
  value = merge(
    { status_check_failed = aws_cloudwatch_metric_alarm.status_check_failed.alarm_name },
    { disk_used_percent_high = aws_cloudwatch_metric_alarm.disk_used_percent_high.alarm_name },
    { for a in aws_cloudwatch_metric_alarm.cpu_credit_balance_low : "cpu_credit_balance_low" => a.alarm_name },
  )
}
