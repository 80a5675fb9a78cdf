"""Presigned requests are cut off by age, and SigV2 (no expiry cap) is refused."""

from __future__ import annotations

from datetime import timedelta

from labelbridge.compliance.buckets.facts import Checks, resource, s3_policy
from labelbridge.compliance.buckets.policy import Statement
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.presign_limits",
    severity=Severity.MEDIUM,
    title="S3 policy caps presigned-URL age and refuses SigV2",
    rationale="A presigned URL is valid until it expires and cannot be revoked; s3:signatureAge bounds how long "
    "a leaked one works, and SigV2 URLs can live for years.",
    remediation='Deny s3:* when {"StringEquals":{"s3:authType":"REST-QUERY-STRING"},'
    '"NumericGreaterThan":{"s3:signatureAge":"600000"}}, and when {"StringNotEquals":'
    '{"s3:signatureversion":"AWS4-HMAC-SHA256"}}',
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    policy = s3_policy(snapshot)
    if policy is None:
        return Finding.failed(RULE, name, "no bucket policy, so no s3:signatureAge limit and SigV2 allowed")
    denies = [s for s in policy.denies() if s.applies_to_everyone() and s.covers_action("s3:GetObject")]
    checks = Checks()
    ages = [age for s in denies if _covers_query_string(s) for age in _age_limits_ms(s)]
    cap_ms = int(settings.max_presign_ttl / timedelta(milliseconds=1))
    if not ages:
        checks.fail("no Deny on s3:signatureAge for REST-QUERY-STRING requests")
    elif min(ages) > cap_ms:
        checks.fail(f"s3:signatureAge limit {min(ages)} ms exceeds max_presign_ttl ({cap_ms} ms)")
    else:
        checks.ok(f"presigned requests older than {min(ages)} ms denied")
    if any(_refuses_sigv2(s) for s in denies):
        checks.ok("SigV2 refused")
    else:
        checks.fail("SigV2 allowed: no Deny on s3:signatureversion other than AWS4-HMAC-SHA256")
    return checks.finding(RULE, name)


def _covers_query_string(statement: Statement) -> bool:
    auth = statement.conditions_on("s3:authType")
    if not auth:
        return True  # an age limit on every request covers presigned ones too
    return any(c.operator.lower() in ("stringequals", "stringlike") and "REST-QUERY-STRING" in c.values for c in auth)


def _age_limits_ms(statement: Statement) -> list[int]:
    limits = []
    for c in statement.conditions_on("s3:signatureAge"):
        if c.operator.lower() in ("numericgreaterthan", "numericgreaterthanequals"):
            for value in c.values:
                try:
                    limits.append(int(float(value)))
                except ValueError:
                    continue
    return limits


def _refuses_sigv2(statement: Statement) -> bool:
    for c in statement.conditions_on("s3:signatureversion"):
        op = c.operator.lower()
        if op in ("stringnotequals", "stringnotlike") and "AWS4-HMAC-SHA256" in c.values:
            return True
        if op in ("stringequals", "stringlike") and "AWS" in c.values:
            return True
    return False
