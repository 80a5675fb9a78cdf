"""The account firewall denies by default and lets in listed IP ranges only."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import Checks, resource
from labelbridge.compliance.buckets.policy import networks
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="azure.network_restricted",
    severity=Severity.HIGH,
    title="Azure storage firewall denies by default",
    rationale="With default action Allow a leaked SAS works from any network; the firewall applies to SAS requests.",
    remediation="az storage account update -n ACCOUNT --default-action Deny, then "
    "az storage account network-rule add -n ACCOUNT --ip-address YOUR/CIDR",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    account = snapshot.get("account") or {}
    properties = account.get("properties") or {}
    acls = properties.get("networkAcls") or {}
    checks = Checks()
    if properties.get("publicNetworkAccess") == "Disabled":
        checks.ok("public network access disabled")
        return checks.finding(RULE, name)
    if acls.get("defaultAction") != "Deny":
        checks.fail(f"default network action is {acls.get('defaultAction') or 'Allow (not set)'}")
    ranges = [rule.get("value", "") for rule in acls.get("ipRules") or [] if rule.get("action", "Allow") == "Allow"]
    if not ranges:
        checks.fail("no IP rules")
    else:
        expected = networks(settings.allowed_cidrs)
        outside = [
            str(net)
            for net in networks(ranges)
            if expected and not any(net.version == ok.version and net.subnet_of(ok) for ok in expected)  # type: ignore[arg-type]
        ]
        if outside:
            checks.fail(f"IP rules allow {', '.join(outside)}, outside allowed_cidrs")
        else:
            checks.ok(f"default action Deny with {len(ranges)} IP rule(s)")
    return checks.finding(RULE, name)
