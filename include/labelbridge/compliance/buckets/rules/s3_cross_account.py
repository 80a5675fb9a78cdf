"""Only the owning account and allow-listed accounts are named in Allow statements."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource, s3_policy
from labelbridge.compliance.buckets.policy import account_of
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.cross_account",
    severity=Severity.HIGH,
    title="S3 policy grants no unknown AWS account",
    rationale="An Allow to another account's principal lets everyone that account trusts read the labeling data.",
    remediation="Remove the principal, or add its account to compliance.allowed_account_ids in storages.yaml.",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    policy = s3_policy(snapshot)
    if policy is None:
        return Finding.passed(RULE, name, "no bucket policy")
    allowed = set(settings.allowed_account_ids)
    if snapshot.account_id:
        allowed.add(snapshot.account_id)
    # Principal "*" is s3.no_public_policy's to judge; service principals are AWS itself.
    foreign = sorted(
        {
            account
            for statement in policy.allows()
            if statement.principal is not None
            for principal in statement.principal.aws
            if (account := account_of(principal)) is not None and account not in allowed
        }
    )
    if foreign:
        return Finding.failed(RULE, name, f"Allow to account(s) not on allowed_account_ids: {', '.join(foreign)}")
    return Finding.passed(RULE, name, "no Allow to an account outside the allowlist")
