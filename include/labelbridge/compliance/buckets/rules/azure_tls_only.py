"""The account takes HTTPS only, with TLS 1.2 or newer."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import Checks, resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="azure.tls_only",
    severity=Severity.HIGH,
    title="Azure storage account requires HTTPS and TLS 1.2+",
    rationale="SAS tokens sent over HTTP or old TLS can be read on the way and replayed.",
    remediation="az storage account update -n ACCOUNT --https-only true --min-tls-version TLS1_2",
)

MODERN_TLS = ("TLS1_2", "TLS1_3")


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    account = snapshot.get("account") or {}
    properties = account.get("properties") or {}
    checks = Checks()
    if properties.get("supportsHttpsTrafficOnly") is True:
        checks.ok("HTTPS only")
    else:
        checks.fail("HTTPS-only (secure transfer required) is off")
    tls = properties.get("minimumTlsVersion")
    if tls in MODERN_TLS:
        checks.ok(f"minimum TLS {tls}")
    else:
        checks.fail(f"minimum TLS version is {tls or 'not set (TLS1_0)'}, below TLS1_2")
    return checks.finding(RULE, name)
