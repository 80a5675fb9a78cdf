"""No IAM binding to allUsers / allAuthenticatedUsers, and public access prevention enforced."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import Checks, resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot, Unreadable
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="gcs.no_public_access",
    severity=Severity.CRITICAL,
    title="GCS bucket is not public",
    rationale="A binding to allUsers or allAuthenticatedUsers serves every object without a signed URL; "
    "public access prevention blocks such bindings outright.",
    remediation="gcloud storage buckets update gs://BUCKET --public-access-prevention, and remove the "
    "allUsers / allAuthenticatedUsers bindings.",
)

PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    checks = Checks()
    try:
        policy = snapshot.get("iam_policy") or {}
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        public = sorted(
            f"{member} as {binding.get('role', '?')}"
            for binding in policy.get("bindings", [])
            for member in binding.get("members", [])
            if member in PUBLIC_MEMBERS
        )
        if public:
            checks.fail(f"IAM binds {', '.join(public)}")
        else:
            checks.ok("no allUsers / allAuthenticatedUsers binding")
    try:
        bucket = snapshot.get("bucket") or {}
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        prevention = bucket.get("iamConfiguration", {}).get("publicAccessPrevention")
        if prevention != "enforced":
            checks.fail(f"public access prevention is {prevention or 'unspecified'}, not enforced")
        else:
            checks.ok("public access prevention enforced")
    return checks.finding(RULE, resource(snapshot))
