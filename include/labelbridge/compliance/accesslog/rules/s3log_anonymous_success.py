"""Anonymous requests must not succeed."""

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
    id="s3log.anonymous_success",
    severity=Severity.HIGH,
    title="No anonymous request succeeds",
    rationale="A 2xx answer to an unsigned request means the bucket or object is public.",
    remediation="Turn on Block Public Access and remove public grants from the bucket policy and ACLs.",
)


def check(request: Request, ctx: RuleContext) -> Hit | None:
    record = request.record
    status = record.http_status
    if not request.client or record.requester is not None or status is None or not 200 <= status < 300:
        return None
    return Hit(bucket_resource(record), note=record.operation)


def describe(offence: Offence, ctx: RuleContext) -> str:
    return f"{plural(offence.requests, 'anonymous request')} answered 2xx ({', '.join(offence.notes)}) {span(offence)}"
