"""Usage logs are written for the bucket."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="gcs.logging",
    severity=Severity.MEDIUM,
    title="GCS usage logs are on",
    rationale="Usage logs record which IP fetched which object with a signed URL.",
    remediation="gcloud storage buckets update gs://BUCKET --log-bucket=gs://LOG_BUCKET --log-object-prefix=BUCKET",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    bucket = snapshot.get("bucket") or {}
    log_bucket = (bucket.get("logging") or {}).get("logBucket")
    if not log_bucket:
        return Finding.failed(RULE, name, "no usage logs")
    if log_bucket == snapshot.bucket:
        return Finding.failed(RULE, name, "usage logs are written into the bucket itself")
    return Finding.passed(RULE, name, f"usage logs go to gs://{log_bucket}")
