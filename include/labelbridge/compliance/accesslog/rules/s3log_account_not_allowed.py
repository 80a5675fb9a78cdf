"""Requesters must belong to an allowed AWS account (``allowed_account_ids``)."""

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
    id="s3log.account_not_allowed",
    severity=Severity.HIGH,
    title="Requesters belong to allowed AWS accounts",
    rationale="A principal from another account reading the data means a policy or ACL grants it cross-account access.",
    remediation="Remove the cross-account grant, or add the account to allowed_account_ids.",
)


def not_evaluated(ctx: RuleContext) -> str | None:
    return None if ctx.allowed_account_ids else "compliance.allowed_account_ids is empty"


def check(request: Request, ctx: RuleContext) -> Hit | None:
    # Only IAM/STS ARNs name an account; canonical user ids do not, and are not judged.
    account = request.account_id
    if account is None or not ctx.allowed_account_ids or account in ctx.allowed_account_ids:
        return None
    return Hit(bucket_resource(request.record, f" by account {account}"), note=request.record.requester)


def describe(offence: Offence, ctx: RuleContext) -> str:
    return (
        f"{plural(offence.requests, 'request')} by principals of an account not in allowed_account_ids {span(offence)}"
    )
