# AWS resources whatsapp-notif needs: three SQS queues with DLQs, PostgreSQL (RDS),
# Redis (ElastiCache) and the IAM role its pods assume (IRSA). Not applied by CI: `make
# test` cannot reach AWS. Adjust sizes, networking and retention to your account.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.40" }
  }
}

variable "prefix" {
  type    = string
  default = "notif" # QUEUE_PREFIX
}
variable "max_receive_count" {
  type    = number
  default = 5 # receives before a message moves to its DLQ
}
variable "vpc_id" { type = string }
variable "subnet_ids" { type = list(string) }
variable "eks_oidc_provider_arn" { type = string }
variable "eks_oidc_provider_url" { type = string } # without https://
variable "namespace" {
  type    = string
  default = "notif"
}
variable "service_account" {
  type    = string
  default = "notif-whatsapp-notif"
}

locals {
  queues = ["dispatch-high", "dispatch", "events"]
}

resource "aws_sqs_queue" "dlq" {
  for_each                  = toset(local.queues)
  name                      = "${var.prefix}-${each.key}-dlq"
  message_retention_seconds = 1209600 # 14 days
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "work" {
  for_each                   = toset(local.queues)
  name                       = "${var.prefix}-${each.key}"
  visibility_timeout_seconds = 30
  receive_wait_time_seconds  = 10
  message_retention_seconds  = 345600 # 4 days
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_provider_url}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.service_account}"]
    }
  }
}

resource "aws_iam_role" "pods" {
  name               = "${var.prefix}-whatsapp-notif"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "sqs" {
  statement {
    actions = [
      "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
    ]
    resources = concat(
      [for q in aws_sqs_queue.work : q.arn],
      [for q in aws_sqs_queue.dlq : q.arn],
    )
  }
}

resource "aws_iam_role_policy" "sqs" {
  role   = aws_iam_role.pods.id
  policy = data.aws_iam_policy_document.sqs.json
}

resource "aws_db_subnet_group" "db" {
  name       = "${var.prefix}-db"
  subnet_ids = var.subnet_ids
}

resource "aws_db_instance" "postgres" {
  identifier                   = "${var.prefix}-postgres"
  engine                       = "postgres"
  engine_version               = "16"
  instance_class               = "db.t4g.medium"
  allocated_storage            = 50
  db_name                      = "notif"
  username                     = "notif"
  manage_master_user_password  = true # the password lives in Secrets Manager
  db_subnet_group_name         = aws_db_subnet_group.db.name
  backup_retention_period      = 14
  deletion_protection          = true
  storage_encrypted            = true
  performance_insights_enabled = true
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${var.prefix}-postgres-final"
}

resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.prefix}-redis"
  subnet_ids = var.subnet_ids
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id       = "${var.prefix}-redis"
  description                = "whatsapp-notif rate limits and breaker state"
  engine                     = "redis"
  node_type                  = "cache.t4g.small"
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  transit_encryption_enabled = true
  at_rest_encryption_enabled = true
  subnet_group_name          = aws_elasticache_subnet_group.redis.name
}

output "queue_urls" { value = { for k, q in aws_sqs_queue.work : k => q.url } }
output "role_arn" { value = aws_iam_role.pods.arn } # serviceAccount.annotations
output "database_endpoint" { value = aws_db_instance.postgres.endpoint }
output "redis_endpoint" { value = aws_elasticache_replication_group.redis.primary_endpoint_address }
