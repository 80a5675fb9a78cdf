"""Requests must be signed with Signature Version 4."""

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
    id="s3log.sigv2",
    severity=Severity.MEDIUM,
    title="Requests signed with SigV4",
    rationale="SigV2 is deprecated, weaker, and cannot be limited with s3:signatureAge.",
    remediation="Upgrade the client SDK; deny s3:signatureversion AWS in the bucket policy.",
)


def check(request: Request, ctx: RuleContext) -> Hit | None:
    record = request.record
    if record.signature_version != "SigV2":
        return None
    return Hit(
        bucket_resource(record, f" by {record.requester or 'anonymous'}"),
        note=record.user_agent and record.user_agent[:80],
    )


def describe(offence: Offence, ctx: RuleContext) -> str:
    return f"{plural(offence.requests, 'SigV2 request')} {span(offence)}"
