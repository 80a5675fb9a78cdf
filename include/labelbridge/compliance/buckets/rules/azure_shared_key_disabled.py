"""Shared key (account key) access is off, so only Entra ID and user delegation SAS work."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="azure.shared_key_disabled",
    severity=Severity.HIGH,
    title="Azure shared key access is disabled",
    rationale="An account key signs SAS tokens of any lifetime that only a key rotation revokes; user delegation "
    "SAS last at most 7 days and can be revoked.",
    remediation="az storage account update -n ACCOUNT --allow-shared-key-access false (sign with user delegation keys)",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    account = snapshot.get("account") or {}
    allowed = (account.get("properties") or {}).get("allowSharedKeyAccess")
    if allowed is False:
        return Finding.passed(RULE, name, "shared key access disabled")
    return Finding.failed(RULE, name, "shared key access allowed" + (" (not set: allowed)" if allowed is None else ""))
