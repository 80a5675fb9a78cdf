"""No ACL grant to AllUsers / AuthenticatedUsers, and S3 does not call the policy public."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import Checks, resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot, Unreadable
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.no_public_acl",
    severity=Severity.CRITICAL,
    title="S3 bucket is not public by ACL or policy status",
    rationale="A grant to AllUsers or AuthenticatedUsers (any AWS account) makes objects readable "
    "without a signed URL.",
    remediation="Remove the public grants (aws s3api put-bucket-acl --acl private) and disable ACLs "
    "with object ownership BucketOwnerEnforced.",
)

PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
}


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    checks = Checks()
    try:
        acl = snapshot.get("acl") or {}
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        public = sorted(
            {
                f"{PUBLIC_GROUPS[grant['Grantee']['URI']]}:{grant.get('Permission', '?')}"
                for grant in acl.get("Grants", [])
                if grant.get("Grantee", {}).get("URI") in PUBLIC_GROUPS
            }
        )
        if public:
            checks.fail(f"ACL grants {', '.join(public)}")
        else:
            checks.ok("ACL grants nothing to AllUsers or AuthenticatedUsers")
    try:
        status = snapshot.get("policy_status")
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        if status and status.get("IsPublic") is True:
            checks.fail("S3 reports the bucket policy as public (PolicyStatus.IsPublic)")
        else:
            checks.ok("policy status not public")
    return checks.finding(RULE, resource(snapshot))
