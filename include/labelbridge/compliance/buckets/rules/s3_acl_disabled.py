"""ACLs are disabled: object ownership is BucketOwnerEnforced."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.acl_disabled",
    severity=Severity.MEDIUM,
    title="S3 ACLs are disabled (BucketOwnerEnforced)",
    rationale="With ACLs on, any writer can make one object public with x-amz-acl; the policy alone should decide.",
    remediation="aws s3api put-bucket-ownership-controls --bucket BUCKET --ownership-controls "
    "Rules=[{ObjectOwnership=BucketOwnerEnforced}]",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    controls = snapshot.get("ownership_controls")
    rules = (controls or {}).get("Rules") or []
    ownership = rules[0].get("ObjectOwnership") if rules else None
    if ownership != "BucketOwnerEnforced":
        return Finding.failed(RULE, name, f"object ownership is {ownership or 'not set'}, so ACLs still apply")
    return Finding.passed(RULE, name, "object ownership BucketOwnerEnforced")
