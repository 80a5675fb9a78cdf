"""The nightly compliance report: every storage x rule, the access-log audit, and what changed.

The JSON document is the interface (the gate and tomorrow's diff read it); the HTML page is
rendered from it. Shape::

    {"report_version": 1, "day": "2026-11-22", "generated_at": "...", "fail_on": "high",
     "gate_on_error": true,
     "summary": {"rows": 40, "pass": 31, "fail": 5, "error": 2, "waived": 2, "blocking": [...],
                 "gate": "fail"},
     "rows": [{"source": "buckets", "storage": "images", "role": "source", "cloud": "s3",
               "resource": "s3://images", "rule_id": "s3.tls_only", "title": "...",
               "severity": "high", "status": "fail", "detail": "...", "remediation": "...",
               "waiver": null}, ...],
     "access_logs": {"objects_read": 24, "lines_read": 9000, "lines_unparsed": 3,
                     "who": [...], "unparsed": [...]} | null,
     "waivers": [{"rule": ..., "storage": ..., "reason": ..., "expires": ..., "state": "active"}],
     "changes": {"previous_day": "2026-11-21", "newly_failing": [...], "newly_fixed": [...]},
     "trend": {"nights": ["2026-10-24", ..., "2026-11-22"],
               "rules": {"s3.tls_only": [null, ..., {"pass": 1, "fail": 1, "error": 0, "waived": 0}]}}}

``trend`` is each rule's status counts over the last 30 nights (:mod:`.trend`).

Every string in it has been through :func:`~labelbridge.compliance.report.redact.redact`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelbridge.compliance.buckets.targets import BucketTarget
from labelbridge.compliance.gate import blocking_rows
from labelbridge.compliance.model import Finding, RuleMeta, Severity, Status
from labelbridge.compliance.report.redact import redact
from labelbridge.compliance.report.trend import Night, trend_section
from labelbridge.config import ComplianceConfig, WaiverConfig

REPORT_VERSION = 1
WAIVED = "waived"
#: How many access-log "who" rows the report keeps (they are sorted by requests, busiest first).
MAX_WHO_ROWS = 1000
MAX_UNPARSED_ROWS = 100


def finding_from_dict(data: Mapping[str, Any]) -> Finding:
    """Rebuild a :class:`Finding` from :meth:`Finding.to_dict` output (it carries the rule's metadata)."""
    rule = RuleMeta(
        id=str(data["rule_id"]),
        severity=Severity.parse(str(data["severity"])),
        title=str(data.get("title", "")),
        rationale=str(data.get("rationale", "")),
        remediation=str(data.get("remediation", "")),
    )
    return Finding(
        rule, str(data["resource"]), Status(data["status"]), str(data["detail"]), dict(data.get("evidence") or {})
    )


@dataclass(frozen=True)
class BucketResult:
    """One bucket's findings, or ``None`` when its check task did not finish."""

    target: BucketTarget
    findings: Sequence[Finding] | None


def build_report(
    *,
    day: dt.date,
    settings: ComplianceConfig,
    buckets: Iterable[BucketResult],
    audit: Mapping[str, Any] | None = None,
    previous: Mapping[str, Any] | None = None,
    generated_at: dt.datetime | None = None,
    expected_rules: Mapping[str, Sequence[RuleMeta]] | None = None,
    earlier_nights: Iterable[Night] = (),
) -> dict[str, Any]:
    """Assemble the report document.

    :param buckets: each checked bucket and its findings; ``findings=None`` makes ERROR rows
        (for every rule in ``expected_rules[cloud]``) so a failed check never reads as a pass.
    :param audit: the merged access-log audit as ``AccessLogAudit.to_dict()`` returns it.
    :param previous: the previous night's report, for the change list.
    :param earlier_nights: the counts of earlier nights' reports (:func:`.trend.read_nights`), for the trend.
    """
    rows: list[dict[str, Any]] = []
    for result in buckets:
        rows.extend(_bucket_rows(result, expected_rules or {}))
    audit_section = None
    if audit is not None:
        for item in audit.get("findings", []):
            # A request that broke a storage's own allowlist names that storage: waivers match it.
            storages = [str(s) for s in (item.get("evidence") or {}).get("storages") or ()]
            row = _row(
                finding_from_dict(item),
                source="access_logs",
                storage=", ".join(storages) or str(item["resource"]),
                role="access_logs",
                cloud="s3",
            )
            row["storages"] = storages
            rows.append(row)
        audit_section = {
            "objects_read": audit.get("objects_read", 0),
            "lines_read": audit.get("lines_read", 0),
            "lines_unparsed": audit.get("lines_unparsed", 0),
            "who": list(audit.get("who", []))[:MAX_WHO_ROWS],
            "who_total": len(audit.get("who", [])),
            "unparsed": list(audit.get("unparsed", []))[:MAX_UNPARSED_ROWS],
            "unreadable": list(audit.get("unreadable", [])),
            "not_evaluated": list(audit.get("not_evaluated", [])),
        }
    waivers = _apply_waivers(rows, settings.waivers, day)
    rows.sort(key=_row_order)
    document: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "day": day.isoformat(),
        "generated_at": (generated_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "fail_on": settings.fail_on,
        "gate_on_error": settings.gate_on_error,
        "rows": rows,
        "access_logs": audit_section,
        "waivers": waivers,
        "changes": _changes(rows, previous),
        "trend": trend_section(day, rows, earlier_nights),
    }
    document["summary"] = _summary(document)
    return redact(document)  # type: ignore[no-any-return]


def _bucket_rows(result: BucketResult, expected: Mapping[str, Sequence[RuleMeta]]) -> list[dict[str, Any]]:
    target = result.target
    resource = f"{_scheme(target)}://{target.bucket}"
    if result.findings is None:
        findings = [
            Finding.error(rule, resource, "settings not collected: the bucket check task failed; see its log")
            for rule in expected.get(target.cloud.value, ())
        ]
    else:
        findings = list(result.findings)
    return [
        _row(finding, source="buckets", storage=ref.storage, role=ref.role, cloud=target.cloud.value)
        for ref in target.storages
        for finding in findings
    ]


def _scheme(target: BucketTarget) -> str:
    from labelbridge.storage import store_class

    return store_class(target.cloud).scheme


def _row(finding: Finding, *, source: str, storage: str, role: str, cloud: str) -> dict[str, Any]:
    return {
        "source": source,
        "storage": storage,
        "role": role,
        "cloud": cloud,
        "resource": finding.resource,
        "rule_id": finding.rule.id,
        "title": finding.rule.title,
        "severity": finding.rule.severity.label,
        "status": finding.status.value,
        "detail": finding.detail,
        "remediation": finding.rule.remediation,
        "waiver": None,
    }


_STATUS_ORDER = {"fail": 0, "error": 1, WAIVED: 2, "pass": 3}


def _waiver_names(waiver: WaiverConfig, row: Mapping[str, Any]) -> bool:
    return row["storage"] == waiver.storage or waiver.storage in row.get("storages", ())


def _row_order(row: Mapping[str, Any]) -> tuple[int, int, str, str]:
    return (
        _STATUS_ORDER.get(row["status"], 9),
        -Severity.parse(row["severity"]),
        row["storage"],
        row["rule_id"],
    )


def _apply_waivers(rows: list[dict[str, Any]], waivers: Iterable[WaiverConfig], day: dt.date) -> list[dict[str, Any]]:
    """Turn failures covered by an unexpired waiver into "waived"; an expired one fails again."""
    states = []
    for waiver in waivers:
        matched = [r for r in rows if r["rule_id"] == waiver.rule and _waiver_names(waiver, r)]
        active = waiver.expires >= day
        note = {"reason": waiver.reason, "expires": waiver.expires.isoformat(), "active": active}
        for row in matched:
            row["waiver"] = note
            if row["status"] == "fail":
                if active:
                    row["status"] = WAIVED
                else:
                    row["detail"] += f" (waiver expired {waiver.expires.isoformat()}: {waiver.reason})"
        state = "expired" if not active else ("active" if any(r["status"] == WAIVED for r in matched) else "unused")
        states.append(
            {
                "rule": waiver.rule,
                "storage": waiver.storage,
                "reason": waiver.reason,
                "expires": waiver.expires.isoformat(),
                "state": state,
            }
        )
    return states


def _key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (row["source"], row["storage"], row["rule_id"], row["resource"])


def _changes(rows: Sequence[Mapping[str, Any]], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    if previous is None:
        return {"previous_day": None, "newly_failing": [], "newly_fixed": []}
    before = {_key(r): r["status"] for r in previous.get("rows", [])}
    brief = ("storage", "rule_id", "resource", "severity", "status", "detail")
    newly_failing = [
        {k: r[k] for k in brief} | {"was": before.get(_key(r))}
        for r in rows
        if r["status"] == "fail" and before.get(_key(r)) != "fail"
    ]
    newly_fixed = [
        {k: r[k] for k in brief} | {"was": "fail"}
        for r in rows
        if r["status"] in ("pass", WAIVED) and before.get(_key(r)) == "fail"
    ]
    return {"previous_day": previous.get("day"), "newly_failing": newly_failing, "newly_fixed": newly_fixed}


def _summary(document: Mapping[str, Any]) -> dict[str, Any]:
    rows = document["rows"]
    counts = Counter(r["status"] for r in rows)
    blocking = blocking_rows(document)
    return {
        "rows": len(rows),
        **{status: counts.get(status, 0) for status in ("pass", "fail", "error", WAIVED)},
        "storages": len({r["storage"] for r in rows if r["source"] == "buckets"}),
        "newly_failing": len(document["changes"]["newly_failing"]),
        "newly_fixed": len(document["changes"]["newly_fixed"]),
        "blocking": [
            {k: r[k] for k in ("rule_id", "storage", "resource", "severity", "status", "detail")} for r in blocking
        ],
        "gate": "fail" if blocking else "pass",
    }
