"""Server access logging is on and delivered to another bucket."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.access_logging",
    severity=Severity.MEDIUM,
    title="S3 server access logging goes to a separate bucket",
    rationale="Access logs are the only record of who used a presigned URL, from where; logs written into the "
    "bucket itself log their own delivery without end and share its access.",
    remediation="aws s3api put-bucket-logging --bucket BUCKET --bucket-logging-status "
    '\'{"LoggingEnabled":{"TargetBucket":"LOG_BUCKET","TargetPrefix":"BUCKET/"}}\'',
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    logging = snapshot.get("logging")
    target = (logging or {}).get("TargetBucket")
    if not target:
        return Finding.failed(RULE, name, "server access logging off")
    if target == snapshot.bucket:
        return Finding.failed(RULE, name, "server access logs are delivered into the bucket itself")
    prefix = logging.get("TargetPrefix", "")
    return Finding.passed(RULE, name, f"access logs delivered to s3://{target}/{prefix}")
