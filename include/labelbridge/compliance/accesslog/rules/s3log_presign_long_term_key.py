"""Presigned URLs must be signed with temporary credentials, not an IAM user's access key."""

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
    id="s3log.presign_long_term_key",
    severity=Severity.HIGH,
    title="Presigned URLs signed with temporary credentials",
    rationale="A URL signed with a long-term AKIA key lives up to 7 days and is revoked only by deactivating the key.",
    remediation="Sign from a role session (ASIA credentials), e.g. the Airflow worker's instance or pod role.",
)


def check(request: Request, ctx: RuleContext) -> Hit | None:
    presign = request.presign
    if presign is None or presign.key_type != "AKIA":
        return None
    return Hit(bucket_resource(request.record, f" signed by {presign.key_id}"))


def describe(offence: Offence, ctx: RuleContext) -> str:
    return f"{plural(offence.requests, 'presigned request')} signed with a long-term AKIA key {span(offence)}"
