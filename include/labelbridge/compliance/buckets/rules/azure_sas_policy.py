"""An account SAS expiration policy blocks over-long SAS, and no CORS rule allows any origin."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import Checks, resource, stray_origins
from labelbridge.compliance.buckets.snapshot import BucketSnapshot, Unreadable
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="azure.sas_policy",
    severity=Severity.MEDIUM,
    title="Azure SAS expiration policy blocks long SAS; CORS names its origins",
    rationale='Without a Block policy, a SAS signed with the account key can be valid for years; CORS "*" lets '
    "any web page use a leaked one.",
    remediation="az storage account update -n ACCOUNT --sas-expiration-period 1.00:00:00 (expiration action "
    "Block), and list your UI's origins in the blob service CORS rules.",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    checks = Checks()
    try:
        account = snapshot.get("account") or {}
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        policy = (account.get("properties") or {}).get("sasPolicy") or {}
        period = policy.get("sasExpirationPeriod")
        action = policy.get("expirationAction")
        if not period:
            checks.fail("no SAS expiration policy")
        elif action != "Block":
            checks.fail(f"SAS expiration policy ({period}) only logs (action {action or 'Log'}), does not Block")
        else:
            checks.ok(f"SAS longer than {period} blocked")
    try:
        cors = snapshot.get("service_cors") or []
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        stray = stray_origins([o for rule in cors for o in rule.get("allowedOrigins", [])], settings.allowed_origins)
        if stray:
            checks.fail(f"a blob service CORS rule allows origin {', '.join(stray)}")
        else:
            checks.ok("CORS names only allowed origins" if settings.allowed_origins else "no CORS origin *")
    return checks.finding(RULE, resource(snapshot))
