"""The report as one self-contained HTML page (no scripts, no external assets), from its JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.fail{background:#fde2e1}.error{background:#fff3cd}.waived{background:#e8e8f8}.pass{background:#e6f4ea}
.gate-fail{color:#b00020}.gate-pass{color:#137333}
"""


def render_html(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>labelbridge compliance {escape(report['day'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Compliance report for {escape(report['day'])}</h1>",
        f'<p class="gate-{escape(summary["gate"])}"><strong>Gate: {escape(summary["gate"].upper())}</strong> '
        f"(fails on {escape(report['fail_on'])} and above"
        f"{', errors included' if report.get('gate_on_error', True) else ''}). "
        f"Generated {escape(report['generated_at'])}.</p>",
        "<p>"
        + ", ".join(f"{summary[k]} {k}" for k in ("pass", "fail", "error", "waived"))
        + f" across {summary['storages']} storages.</p>",
    ]
    if summary["blocking"]:
        parts.append("<h2>Blocking</h2>")
        parts.append(_table(summary["blocking"], ("rule_id", "severity", "status", "storage", "resource", "detail")))
    changes = report["changes"]
    parts.append("<h2>Since the previous report</h2>")
    if changes["previous_day"] is None:
        parts.append("<p>No earlier report to compare with.</p>")
    else:
        parts.append(f"<p>Compared with {escape(changes['previous_day'])}.</p>")
        parts.append(f"<h3>Newly failing ({len(changes['newly_failing'])})</h3>")
        parts.append(_table(changes["newly_failing"], ("rule_id", "severity", "storage", "was", "detail")))
        parts.append(f"<h3>Newly fixed ({len(changes['newly_fixed'])})</h3>")
        parts.append(_table(changes["newly_fixed"], ("rule_id", "severity", "storage", "status")))
    parts.append("<h2>Every storage and rule</h2>")
    parts.append(
        _table(
            report["rows"],
            ("status", "severity", "rule_id", "storage", "role", "resource", "detail", "remediation"),
            status_column=True,
        )
    )
    if report.get("waivers"):
        parts.append("<h2>Waivers</h2>")
        parts.append(_table(report["waivers"], ("rule", "storage", "state", "expires", "reason")))
    audit = report.get("access_logs")
    if audit is not None:
        parts.append("<h2>S3 access logs</h2>")
        parts.append(
            f"<p>{audit['objects_read']} log objects, {audit['lines_read']} lines, "
            f"{audit['lines_unparsed']} unparsed.</p>"
        )
        who = audit.get("who", [])
        if who:
            shown = f" (first {len(who)} of {audit['who_total']})" if audit.get("who_total", 0) > len(who) else ""
            parts.append(f"<h3>Who read what{shown}</h3>")
            parts.append(_table(who, tuple(who[0].keys())))
        for title, key in (("Rules not evaluated", "not_evaluated"), ("Unreadable log objects", "unreadable")):
            if audit.get(key):
                parts.append(f"<h3>{title}</h3>")
                parts.append(_table(audit[key], tuple(audit[key][0].keys())))
        if audit.get("unparsed"):
            parts.append("<h3>Unparsed lines</h3>")
            parts.append(_table(audit["unparsed"], tuple(audit["unparsed"][0].keys())))
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(rows: Sequence[Mapping[str, Any]], columns: Iterable[str], *, status_column: bool = False) -> str:
    columns = tuple(columns)
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        css = f' class="{escape(str(row.get("status", "")))}"' if status_column else ""
        cells = "".join(f"<td>{escape(_cell(row.get(c)))}</td>" for c in columns)
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value)
