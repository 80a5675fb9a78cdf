"""Requests must come from allowed networks (IPv4 and IPv6): ``compliance.allowed_cidrs`` for
every bucket, and for a request under an S3 storage's bucket and prefix that storage's own
``allowed_cidrs`` (by default its ``ip_range``) as well.

A request is judged against every list that covers it and breaks the rule when it is outside any
of them; it counts once, on a resource that names the storages whose list it broke, so the
finding says whose perimeter was crossed.
"""

from __future__ import annotations

from labelbridge.compliance.accesslog.rules.base import (
    Hit,
    Offence,
    Request,
    RuleContext,
    bucket_resource,
    plural,
    span,
)
from labelbridge.compliance.model import RuleMeta, Severity

RULE = RuleMeta(
    id="s3log.ip_not_allowed",
    severity=Severity.HIGH,
    title="Requests come from allowed networks",
    rationale=(
        "A request from outside the labeling team's networks (compliance.allowed_cidrs, and a storage's own "
        "allowed_cidrs or ip_range under its prefix) means a URL or credential left the perimeter."
    ),
    remediation=(
        "Add a bucket-policy Deny on aws:SourceIp (and aws:VpcSourceIp), or add the network to the list the "
        "finding names: compliance.allowed_cidrs, or the storage's allowed_cidrs."
    ),
)


def not_evaluated(ctx: RuleContext) -> str | None:
    if ctx.allowed_networks or ctx.storage_allowlists:
        return None
    return "compliance.allowed_cidrs is empty and no s3 storage sets allowed_cidrs or ip_range"


def check(request: Request, ctx: RuleContext) -> Hit | None:
    record = request.record
    ip = record.remote_ip
    if not request.client or ip is None:
        return None
    outside_global = bool(ctx.allowed_networks) and ctx.ip_allowed(ip) is False
    storages = ctx.storages_refusing(record.bucket, record.key, ip)
    if not outside_global and not storages:
        return None
    suffix = f" from {ip}"
    if storages:
        suffix += f" ({_storages(storages)})"
    return Hit(bucket_resource(record, suffix), note=record.requester or "anonymous", storages=storages)


def describe(offence: Offence, ctx: RuleContext) -> str:
    broken = []
    # Every hit on a resource came from the one IP it names, so its global verdict is that IP's.
    if ctx.allowed_networks and any(ctx.ip_allowed(ip) is False for ip in offence.remote_ips):
        broken.append("allowed_cidrs")
    if offence.storages:
        broken.append(f"the allowed networks of {_storages(offence.storages)}")
    return f"{plural(offence.requests, 'request')} from outside {' and '.join(broken)} {span(offence)}"


def _storages(names: tuple[str, ...] | list[str]) -> str:
    return ("storage " if len(names) == 1 else "storages ") + ", ".join(names)
