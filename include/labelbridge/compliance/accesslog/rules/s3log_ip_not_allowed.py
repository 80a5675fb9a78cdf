"""Requests must come from an allowed network (``allowed_cidrs``, IPv4 and IPv6)."""

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
    rationale="A request from outside the labeling team's networks means a URL or credential left the perimeter.",
    remediation="Add a bucket-policy Deny on aws:SourceIp (and aws:VpcSourceIp), or add the network to allowed_cidrs.",
)


def not_evaluated(ctx: RuleContext) -> str | None:
    return None if ctx.allowed_networks else "compliance.allowed_cidrs is empty"


def check(request: Request, ctx: RuleContext) -> Hit | None:
    ip = request.record.remote_ip
    if not request.client or ip is None or not ctx.allowed_networks:
        return None
    if ctx.ip_allowed(ip) is False:
        return Hit(bucket_resource(request.record, f" from {ip}"), note=request.record.requester or "anonymous")
    return None


def describe(offence: Offence, ctx: RuleContext) -> str:
    return f"{plural(offence.requests, 'request')} from outside allowed_cidrs {span(offence)}"
