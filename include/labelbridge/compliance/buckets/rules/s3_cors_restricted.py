"""No CORS rule allows any origin, nor (with ``compliance.allowed_origins``) one not listed."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource, stray_origins
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.cors_restricted",
    severity=Severity.MEDIUM,
    title="S3 CORS names its origins",
    rationale='AllowedOrigin "*" lets any web page use a leaked signed URL from a user\'s browser; '
    "with PUT/POST/DELETE it can also write.",
    remediation="List your labeling UI's origins (e.g. https://label.example.com) in AllowedOrigins, "
    "exactly those of compliance.allowed_origins when it is set.",
)

WRITE_METHODS = ("PUT", "POST", "DELETE")


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    cors = snapshot.get("cors")
    rules = (cors or {}).get("CORSRules") or []
    if not rules:
        return Finding.passed(RULE, name, "no CORS configuration")
    wild = [rule for rule in rules if stray_origins(rule.get("AllowedOrigins", []), settings.allowed_origins)]
    if not wild:
        return Finding.passed(RULE, name, "every CORS rule names its allowed origins")
    writes = sorted({m.upper() for rule in wild for m in rule.get("AllowedMethods", []) if m.upper() in WRITE_METHODS})
    stray = stray_origins([o for rule in wild for o in rule.get("AllowedOrigins", [])], settings.allowed_origins)
    detail = f"a CORS rule allows origin {', '.join(stray)}"
    if writes:
        detail += f" with {', '.join(writes)}"
    return Finding.failed(RULE, name, detail)
