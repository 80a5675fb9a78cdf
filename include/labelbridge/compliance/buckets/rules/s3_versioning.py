"""Object versioning is on."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.versioning",
    severity=Severity.MEDIUM,
    title="S3 versioning is enabled",
    rationale="Without versions an overwrite or delete of an image or export loses the labeled original.",
    remediation="aws s3api put-bucket-versioning --bucket BUCKET --versioning-configuration Status=Enabled",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    versioning = snapshot.get("versioning")
    status = (versioning or {}).get("Status")
    if status != "Enabled":
        return Finding.failed(RULE, name, f"versioning {status.lower() if status else 'never enabled'}")
    return Finding.passed(RULE, name, "versioning enabled")
