"""Uniform bucket-level access is on, so object ACLs cannot open single objects."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="gcs.uniform_access",
    severity=Severity.MEDIUM,
    title="GCS uniform bucket-level access is on",
    rationale="With fine-grained ACLs one object can be made public without any IAM change to notice.",
    remediation="gcloud storage buckets update gs://BUCKET --uniform-bucket-level-access",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    bucket = snapshot.get("bucket") or {}
    uniform = bucket.get("iamConfiguration", {}).get("uniformBucketLevelAccess", {})
    if uniform.get("enabled") is not True:
        return Finding.failed(RULE, name, "uniform bucket-level access off: object ACLs apply")
    return Finding.passed(RULE, name, "uniform bucket-level access on")
