"""Values every compliance rule shares: rule metadata, findings and their status.

A rule is a pure function over facts a collector fetched once; it returns :class:`Finding`
values. ``ERROR`` means the facts could not be read (access denied, a policy that is not
JSON): it is never reported as a failure of the rule itself, and never as a pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so a gate can say "fail on HIGH and above"."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {value!r}; expected one of {names}") from None


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class RuleMeta:
    """What a report says about a rule, whatever it finds.

    :param id: stable identifier, part of the interface (``s3.tls_only``).
    :param rationale: one line: why the rule exists.
    :param remediation: one line: how to make it pass.
    """

    id: str
    severity: Severity
    title: str
    rationale: str
    remediation: str = ""


@dataclass(frozen=True)
class Finding:
    """The outcome of one rule on one resource (a bucket, a log day, a requester)."""

    rule: RuleMeta
    resource: str
    status: Status
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def passed(cls, rule: RuleMeta, resource: str, detail: str, **evidence: Any) -> Finding:
        return cls(rule, resource, Status.PASS, detail, evidence)

    @classmethod
    def failed(cls, rule: RuleMeta, resource: str, detail: str, **evidence: Any) -> Finding:
        return cls(rule, resource, Status.FAIL, detail, evidence)

    @classmethod
    def error(cls, rule: RuleMeta, resource: str, detail: str, **evidence: Any) -> Finding:
        return cls(rule, resource, Status.ERROR, detail, evidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule.id,
            "title": self.rule.title,
            "severity": self.rule.severity.label,
            "status": self.status.value,
            "resource": self.resource,
            "detail": self.detail,
            "rationale": self.rule.rationale,
            "remediation": self.rule.remediation,
            "evidence": self.evidence,
        }
