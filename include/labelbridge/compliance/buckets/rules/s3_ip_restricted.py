"""Object reads from outside the expected networks are denied by the bucket policy."""

from __future__ import annotations

import ipaddress

from labelbridge.compliance.buckets.facts import resource, s3_policy
from labelbridge.compliance.buckets.policy import Condition, networks, objects_arn
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.ip_restricted",
    severity=Severity.HIGH,
    title="S3 object reads are limited to expected networks",
    rationale="A presigned S3 URL cannot carry an IP range; only a policy Deny keeps a leaked URL useless "
    "outside your networks.",
    remediation='Add {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::BUCKET/*",'
    '"Condition":{"NotIpAddress":{"aws:SourceIp":["YOUR/CIDR"]}}} (aws:VpcSourceIp or aws:SourceVpce '
    "for VPC endpoint traffic)",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    policy = s3_policy(snapshot)
    if policy is None:
        return Finding.failed(RULE, name, "no bucket policy, so nothing denies reads from other networks")
    locks = [
        condition
        for statement in policy.denies()
        if statement.applies_to_everyone()
        and statement.covers_action("s3:GetObject")
        and statement.covers_resource(objects_arn(snapshot.bucket))
        for condition in statement.conditions
        if _is_network_lock(condition)
    ]
    if not locks:
        return Finding.failed(
            RULE, name, "no Deny on NotIpAddress aws:SourceIp (or aws:VpcSourceIp / aws:SourceVpce) for object reads"
        )
    expected = networks(settings.allowed_cidrs)
    if expected:
        outside = sorted(
            str(net)
            for lock in locks
            if lock.operator.lower() == "notipaddress"
            for net in networks(lock.values)
            if not any(_within(net, allowed) for allowed in expected)
        )
        if outside:
            return Finding.failed(
                RULE,
                name,
                f"the policy lets in {', '.join(outside)}, outside allowed_cidrs {', '.join(settings.allowed_cidrs)}",
            )
    keys = sorted({lock.key for lock in locks})
    return Finding.passed(RULE, name, f"object reads denied outside the allowed networks ({', '.join(keys)})")


def _is_network_lock(condition: Condition) -> bool:
    if condition.key in ("aws:sourceip", "aws:vpcsourceip"):
        return condition.operator.lower() == "notipaddress"
    if condition.key in ("aws:sourcevpce", "aws:sourcevpc"):
        return condition.operator.lower() in ("stringnotequals", "stringnotlike")
    return False


def _within(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network, allowed: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> bool:
    return net.version == allowed.version and net.subnet_of(allowed)  # type: ignore[arg-type]
