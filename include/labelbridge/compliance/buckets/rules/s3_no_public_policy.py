"""No policy statement allows everyone (``Principal "*"``) without a network or org condition."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource, s3_policy
from labelbridge.compliance.buckets.policy import Statement
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.no_public_policy",
    severity=Severity.CRITICAL,
    title="S3 bucket policy does not allow everyone",
    rationale='An Allow to Principal "*" is world access unless a condition ties it to your VPC endpoint, '
    "VPC, organization or a source ARN; an IP condition alone is not enough (checkov CKV_AWS_70 agrees).",
    remediation="Add a StringEquals condition on aws:SourceVpce, aws:SourceVpc, aws:PrincipalOrgID or "
    "aws:SourceArn to the statement, or name the principals.",
)

#: Keys that tie an Allow to your own network or organization (checkov CKV_AWS_70's list, plus org ids).
RESTRICTING_KEYS = frozenset(
    {
        "aws:sourcevpce",
        "aws:sourcevpc",
        "aws:principalorgid",
        "aws:sourceorgid",
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:principalaccount",
        "aws:principalarn",
    }
)
#: Operators that restrict to the listed values; negated ones (StringNotEquals) allow everything else.
POSITIVE_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"})


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    policy = s3_policy(snapshot)
    if policy is None:
        return Finding.passed(RULE, name, "no bucket policy")
    public = [s for s in policy.allows() if s.applies_to_everyone() and not _restricted(s)]
    if public:
        labels = ", ".join(s.label for s in public)
        return Finding.failed(
            RULE, name, f'{labels} allows Principal "*" with no VPC endpoint, VPC, org-id or source-ARN condition'
        )
    return Finding.passed(RULE, name, "no Allow to everyone without a restricting condition")


def _restricted(statement: Statement) -> bool:
    # `...IfExists` lets requests without the key through, and so does `ForAllValues:` (true
    # when the request has no value for the key): neither restricts an Allow.
    return any(
        c.key in RESTRICTING_KEYS
        and c.operator.lower() in POSITIVE_OPERATORS
        and not c.if_exists
        and c.set_operator != "ForAllValues"
        for c in statement.conditions
    )
