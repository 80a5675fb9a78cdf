"""The account forbids blob public access, and the container is private."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import Checks, resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot, Unreadable
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="azure.no_public_access",
    severity=Severity.CRITICAL,
    title="Azure blob public access is off",
    rationale="A public container serves every blob (and, at level 'container', its listing) without a SAS.",
    remediation="az storage account update -n ACCOUNT --allow-blob-public-access false",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    checks = Checks()
    try:
        account = snapshot.get("account") or {}
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        # Accounts created before the 2023 default change report null, which means allowed.
        allowed = (account.get("properties") or {}).get("allowBlobPublicAccess")
        if allowed is False:
            checks.ok("account disallows blob public access")
        else:
            checks.fail("the account allows blob public access" + (" (not set: allowed)" if allowed is None else ""))
    try:
        container = snapshot.get("container") or {}
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        level = container.get("publicAccess")
        if level:
            checks.fail(f"container public access level is {level}")
        else:
            checks.ok("container is private")
    return checks.finding(RULE, resource(snapshot))
