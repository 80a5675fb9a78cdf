"""Default encryption is SSE-KMS, with an approved key when keys are configured."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.encryption",
    severity=Severity.MEDIUM,
    title="S3 default encryption is SSE-KMS with an approved key",
    rationale="SSE-KMS puts reads behind a key policy and CloudTrail; SSE-S3 keys are not yours to revoke.",
    remediation="aws s3api put-bucket-encryption --bucket BUCKET --server-side-encryption-configuration "
    '\'{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"KEY_ARN"}}]}\'',
)

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    config = snapshot.get("encryption")
    rules = (config or {}).get("Rules") or []
    if not rules:
        return Finding.failed(RULE, name, "no default encryption configured")
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = default.get("SSEAlgorithm")
    if algorithm not in KMS_ALGORITHMS:
        return Finding.failed(RULE, name, f"default encryption is {algorithm}, not SSE-KMS")
    key = default.get("KMSMasterKeyID")
    if settings.kms_key_arns:
        if not key:
            return Finding.failed(RULE, name, "SSE-KMS uses the AWS managed key, not one of kms_key_arns")
        if not any(key == arn or arn.endswith(f"/{key}") or key.endswith(f"/{arn}") for arn in settings.kms_key_arns):
            return Finding.failed(RULE, name, f"SSE-KMS key {key} is not one of kms_key_arns")
    return Finding.passed(RULE, name, f"default encryption {algorithm}" + (f" with {key}" if key else ""))
