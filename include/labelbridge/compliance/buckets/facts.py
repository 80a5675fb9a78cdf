"""Small helpers the rules share: naming the resource, reading the S3 policy, combining checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from labelbridge.compliance.buckets.policy import Policy, PolicyParseError, parse_policy
from labelbridge.compliance.buckets.snapshot import BucketSnapshot, Unreadable
from labelbridge.compliance.model import Finding, RuleMeta
from labelbridge.storage import store_class


def stray_origins(origins: Iterable[str], allowed: Sequence[str]) -> list[str]:
    """The CORS origins a bucket should not name: ``*`` always; with ``compliance.allowed_origins``
    set, any origin not listed there."""
    listed = {a.rstrip("/") for a in allowed}
    return sorted({o for o in origins if o == "*" or (listed and o.rstrip("/") not in listed)})


def resource(snapshot: BucketSnapshot) -> str:
    """The bucket as reports name it: ``s3://name``, ``gs://name``, ``azure-blob://container``."""
    return f"{store_class(snapshot.cloud).scheme}://{snapshot.bucket}"


def s3_policy(snapshot: BucketSnapshot) -> Policy | None:
    """The bucket policy, parsed; ``None`` when the bucket has none.

    :raises Unreadable: the policy could not be read, or is not a valid policy (with the parse error).
    """
    document = snapshot.get("policy")
    if document is None:
        return None
    try:
        return parse_policy(document)
    except PolicyParseError as exc:
        raise Unreadable(str(exc)) from None


class Checks:
    """Several checks behind one rule: any failure fails it; else any unreadable part is an
    ERROR (the rule could not be verified); else it passes."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.errors: list[str] = []
        self.passes: list[str] = []

    def fail(self, reason: str) -> None:
        self.failures.append(reason)

    def unreadable(self, reason: str) -> None:
        self.errors.append(reason)

    def ok(self, reason: str) -> None:
        self.passes.append(reason)

    def finding(self, rule: RuleMeta, name: str, **evidence: Any) -> Finding:
        if self.failures:
            detail = "; ".join(self.failures)
            if self.errors:
                detail += f" (also {'; '.join(self.errors)})"
            return Finding.failed(rule, name, detail, **evidence)
        if self.errors:
            return Finding.error(rule, name, "; ".join(self.errors), **evidence)
        return Finding.passed(rule, name, "; ".join(self.passes), **evidence)
