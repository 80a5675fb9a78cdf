"""The report as one self-contained HTML page (no scripts, no external assets), from its JSON.

The page is ``templates/compliance.html.j2`` (package data), rendered by Jinja2 with
autoescaping on: every bucket name, rule text and detail comes from config or a cloud and is
escaped where it is shown. This module only shapes the JSON for the template: the rows split
into what needs attention (failing and erroring, first), waived and passing, and each rule's
trend as the bars of a small inline SVG chart.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import jinja2

TEMPLATE = "templates/compliance.html.j2"

#: The trend chart: one bar per night, oldest left.
BAR_WIDTH = 6
BAR_GAP = 1
CHART_HEIGHT = 22
MIN_SEGMENT = 3
#: Stacked bottom to top; the status names are the bars' CSS classes.
BAR_ORDER = ("pass", "waived", "error", "fail")

ATTENTION_COLUMNS = ("status", "severity", "rule_id", "storage", "role", "resource", "detail", "remediation")
OTHER_COLUMNS = ("status", "severity", "rule_id", "storage", "role", "resource", "detail")


@functools.cache
def _template() -> jinja2.Template:
    source = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = _cell
    return env.from_string(source)


def render_html(report: Mapping[str, Any]) -> str:
    rows = list(report.get("rows", []))
    status = [str(r.get("status", "")).lower() for r in rows]
    summary = report["summary"]
    return _template().render(
        report=report,
        summary=summary,
        counts=", ".join(f"{summary.get(k, 0)} {k}" for k in ("pass", "fail", "error", "waived")),
        attention=[r for r, s in zip(rows, status, strict=True) if s not in ("pass", "waived")],
        waived=[r for r, s in zip(rows, status, strict=True) if s == "waived"],
        passing=[r for r, s in zip(rows, status, strict=True) if s == "pass"],
        attention_columns=ATTENTION_COLUMNS,
        other_columns=OTHER_COLUMNS,
        changes=report.get("changes") or {"previous_day": None},
        trend=trend_charts(report, rows),
        audit=report.get("access_logs"),
    )


def trend_charts(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One chart per rule of the report's ``trend``: failing rules first, then by severity and id."""
    trend = report.get("trend")
    if not trend:
        return []
    nights: list[str] = list(trend["nights"])
    meta: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        meta.setdefault(str(row["rule_id"]), row)
    charts = []
    for rule_id, series in trend["rules"].items():
        tonight = series[-1] or {}
        bad_nights = sum(1 for counts in series if counts and (counts.get("fail") or counts.get("error")))
        charts.append(
            {
                "rule_id": rule_id,
                "title": meta.get(rule_id, {}).get("title", ""),
                "severity": meta.get(rule_id, {}).get("severity", ""),
                "tonight": ", ".join(f"{n} {s}" for s, n in tonight.items() if n),
                "bad_nights": bad_nights,
                "reported_nights": sum(1 for counts in series if counts is not None),
                "bars": _bars(nights, series),
                "bar_width": BAR_WIDTH,
                "width": len(nights) * (BAR_WIDTH + BAR_GAP),
                "height": CHART_HEIGHT,
                "failing": bool(tonight.get("fail") or tonight.get("error")),
            }
        )
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    charts.sort(key=lambda c: (not c["failing"], -c["bad_nights"], order.get(c["severity"], 9), c["rule_id"]))
    return charts


def _bars(nights: Sequence[str], series: Sequence[Mapping[str, int] | None]) -> list[dict[str, Any]]:
    """The rectangles of one chart: per night, its statuses stacked in proportion, or a grey stub."""
    bars = []
    for index, (night, counts) in enumerate(zip(nights, series, strict=True)):
        x = index * (BAR_WIDTH + BAR_GAP)
        total = sum(counts.values()) if counts else 0
        if not counts or not total:
            label = "no report" if counts is None else "not checked"
            bars.append({"x": x, "y": CHART_HEIGHT - 2, "height": 2, "css": "none", "title": f"{night}: {label}"})
            continue
        title = f"{night}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in BAR_ORDER if counts.get(s))
        top = CHART_HEIGHT
        for status, height in _stack(counts, total):
            top -= height
            bars.append({"x": x, "y": top, "height": height, "css": status, "title": title})
    return bars


def _stack(counts: Mapping[str, int], total: int) -> list[tuple[str, int]]:
    """Each present status's share of the bar's height, at least ``MIN_SEGMENT`` pixels so that one
    failing bucket among hundreds still shows; the largest share absorbs the rounding."""
    shares = [(s, max(MIN_SEGMENT, CHART_HEIGHT * counts[s] // total)) for s in BAR_ORDER if counts.get(s)]
    largest = max(range(len(shares)), key=lambda i: shares[i][1])
    status, height = shares[largest]
    shares[largest] = (status, height + CHART_HEIGHT - sum(h for _, h in shares))
    return shares


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value)
