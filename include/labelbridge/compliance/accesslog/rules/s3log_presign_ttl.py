"""Presigned URLs must not live longer than ``max_presign_ttl``."""

from __future__ import annotations

from datetime import timedelta

from labelbridge.compliance.accesslog.rules.base import (
    Hit,
    Offence,
    Request,
    RuleContext,
    bucket_resource,
    duration,
    plural,
    span,
)
from labelbridge.compliance.model import RuleMeta, Severity

RULE = RuleMeta(
    id="s3log.presign_ttl",
    severity=Severity.HIGH,
    title="Presigned URL lifetime within the configured limit",
    rationale="A long-lived presigned URL is a bearer token anyone it leaks to can replay until it expires.",
    remediation="Sign with a shorter expiry (labelbridge re-signs before expiry) or lower the signer's session length.",
)


def check(request: Request, ctx: RuleContext) -> Hit | None:
    presign = request.presign
    if presign is None or presign.ttl is None or presign.ttl <= ctx.max_presign_ttl:
        return None
    signer = presign.key_id or request.record.requester or "unknown signer"
    return Hit(bucket_resource(request.record, f" signed by {signer}"), value=int(presign.ttl.total_seconds()))


def describe(offence: Offence, ctx: RuleContext) -> str:
    longest = duration(timedelta(seconds=offence.max_value or 0))
    return (
        f"{plural(offence.requests, 'presigned request')} valid for up to {longest} "
        f"(limit {duration(ctx.max_presign_ttl)}) {span(offence)}"
    )
