"""Overwritten or deleted objects can be recovered: versioning or soft delete is on."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="gcs.versioning",
    severity=Severity.MEDIUM,
    title="GCS versioning or soft delete is on",
    rationale="Without either, an overwrite or delete of an image or export loses the labeled original.",
    remediation="gcloud storage buckets update gs://BUCKET --versioning (or --soft-delete-duration=7d)",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    bucket = snapshot.get("bucket") or {}
    versioning = (bucket.get("versioning") or {}).get("enabled") is True
    retention = int((bucket.get("softDeletePolicy") or {}).get("retentionDurationSeconds") or 0)
    if versioning:
        return Finding.passed(RULE, name, "versioning enabled")
    if retention > 0:
        return Finding.passed(RULE, name, f"soft delete keeps deleted objects {retention} s")
    return Finding.failed(RULE, name, "versioning and soft delete both off")
