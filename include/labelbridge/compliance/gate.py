"""The gate: the night fails when a rule at or above ``fail_on`` fails unwaived.

ERROR rows (a setting could not be read, a check task died) block too when ``gate_on_error``
is on (the default): a bucket whose policy nobody could read has not been shown compliant,
and a gate that passes on "could not look" is how access quietly goes unchecked. Waived rows
never block; an expired waiver's row is a failure again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labelbridge.compliance.model import Severity
from labelbridge.errors import ComplianceError

_VERB = {"fail": "failed", "error": "could not be checked"}


def blocking_rows(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The report rows that fail the gate, as the report's own ``fail_on`` / ``gate_on_error`` say."""
    threshold = Severity.parse(str(report["fail_on"]))
    statuses = {"fail", "error"} if report.get("gate_on_error", True) else {"fail"}
    return [
        row for row in report["rows"] if row["status"] in statuses and Severity.parse(str(row["severity"])) >= threshold
    ]


def gate_message(report: Mapping[str, Any]) -> str | None:
    """Why the gate fails, naming each broken rule and where; ``None`` when it passes."""
    blocking = blocking_rows(report)
    if not blocking:
        return None
    by_rule: dict[tuple[str, str, str], list[str]] = {}
    for row in blocking:
        by_rule.setdefault((row["rule_id"], row["severity"], row["status"]), []).append(row["storage"])
    parts = [
        f"{rule_id} [{severity}] {_VERB[status]} on {', '.join(sorted(set(where)))}"
        for (rule_id, severity, status), where in sorted(
            by_rule.items(), key=lambda item: (-Severity.parse(item[0][1]), item[0])
        )
    ]
    rules = len({rule_id for rule_id, _, _ in by_rule})
    return f"compliance gate failed for {report['day']}: {rules} rule(s) at or above {report['fail_on']}: " + "; ".join(
        parts
    )


def enforce_gate(report: Mapping[str, Any], *, location: str = "") -> int:
    """Raise when the gate fails; else return how many rows were checked.

    :raises ComplianceError: naming the broken rules, the storages and where the report is.
    """
    message = gate_message(report)
    if message is not None:
        raise ComplianceError(message + (f" (report: {location})" if location else ""))
    return len(report["rows"])
