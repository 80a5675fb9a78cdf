"""Every S3 Block Public Access flag is on, for the bucket and (when readable) the account."""

from __future__ import annotations

import dataclasses

from labelbridge.compliance.buckets.facts import Checks, resource
from labelbridge.compliance.buckets.snapshot import BucketSnapshot, Unreadable
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.block_public_access",
    severity=Severity.CRITICAL,
    title="S3 Block Public Access is fully on",
    rationale="One public ACL or policy statement exposes every labeling image; the four flags stop both.",
    remediation="aws s3api put-public-access-block --bucket BUCKET --public-access-block-configuration "
    "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
)

FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    checks = Checks()
    try:
        bucket_flags = snapshot.get("public_access_block")
    except Unreadable as exc:
        checks.unreadable(str(exc))
    else:
        _check(checks, "bucket", bucket_flags)
    # The issue asks for the account level "when readable": many roles may not read it,
    # so an unreadable account block is noted in the detail rather than made an ERROR.
    account_note = ""
    try:
        account_flags = snapshot.get("account_public_access_block")
    except Unreadable as exc:
        account_note = f" (account level not checked: {exc})"
    else:
        _check(checks, "account", account_flags)
    finding = checks.finding(RULE, resource(snapshot))
    if account_note and not checks.failures:
        return dataclasses.replace(finding, detail=finding.detail + account_note)
    return finding


def _check(checks: Checks, level: str, flags: object) -> None:
    if not isinstance(flags, dict):
        checks.fail(f"no {level}-level Block Public Access configuration")
        return
    off = [name for name in FLAGS if flags.get(name) is not True]
    if off:
        checks.fail(f"{level}-level {', '.join(off)} off")
    else:
        checks.ok(f"all four {level}-level flags on")
