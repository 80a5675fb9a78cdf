"""Each rule's pass/fail over the last nights, read from the earlier reports in the same sink.

The report's ``trend`` section::

    {"nights": ["2026-10-24", ..., "2026-11-22"],          # NIGHTS calendar days, the report's own last
     "rules": {"s3.tls_only": [null, ..., {"pass": 3, "fail": 1, "error": 0, "waived": 0}], ...}}

One entry per night and rule: the status counts of that rule's rows (every storage it judged),
``null`` where that night has no report. The rules are tonight's. Only reports under the
window's day folders are read, at most ``NIGHTS - 1`` of them, and only their counts are kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelbridge.compliance.report.layout import report_json
from labelbridge.compliance.report.sink import ReportSink

log = logging.getLogger(__name__)

#: How many nights the trend shows, the report's own included.
NIGHTS = 30
STATUSES = ("pass", "fail", "error", "waived")

RuleCounts = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Night:
    """One earlier night: the day and, per rule id, how many of its rows had each status."""

    day: str
    counts: RuleCounts


def rule_counts(rows: Iterable[Mapping[str, Any]]) -> RuleCounts:
    """Per rule id, the number of rows with each status (an unknown status counts as an error)."""
    counts: RuleCounts = {}
    for row in rows:
        per_rule = counts.setdefault(str(row["rule_id"]), dict.fromkeys(STATUSES, 0))
        status = str(row["status"]).lower()
        per_rule[status if status in per_rule else "error"] += 1
    return counts


def window(day: dt.date, *, nights: int = NIGHTS) -> list[str]:
    """The ``nights`` calendar days ending with ``day``, oldest first, as day-folder names."""
    return [(day - dt.timedelta(days=back)).isoformat() for back in range(nights - 1, -1, -1)]


def read_nights(sink: ReportSink, day: dt.date, *, nights: int = NIGHTS) -> list[Night]:
    """The earlier nights in ``day``'s window that have a report, oldest first.

    Lists the sink's day folders (one name per day, never the files under them) and reads the
    report JSON of at most ``nights - 1`` of them. A report that cannot be parsed is skipped with
    a warning: tonight's report must not fail because an old one is damaged.
    """
    earlier = set(window(day, nights=nights)[:-1])
    found = []
    for folder in sink.days():
        if folder not in earlier:
            continue
        raw = sink.read(report_json(folder))
        if raw is None:
            continue  # a night whose report task never finished: shown as "no report"
        try:
            rows = json.loads(raw)["rows"]
            found.append(Night(folder, rule_counts(rows)))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("trend: skipping %s, not a readable report: %s", sink.location(report_json(folder)), exc)
    return found


def trend_section(
    day: dt.date, rows: Sequence[Mapping[str, Any]], earlier: Iterable[Night], *, nights: int = NIGHTS
) -> dict[str, Any]:
    """The report's ``trend``: tonight's rules over the window, ``None`` for nights without a report."""
    days = window(day, nights=nights)
    by_day = {night.day: night.counts for night in earlier}
    by_day[days[-1]] = rule_counts(rows)
    rules = sorted(by_day[days[-1]])
    return {
        "nights": days,
        "rules": {
            rule: [by_day[d].get(rule, dict.fromkeys(STATUSES, 0)) if d in by_day else None for d in days]
            for rule in rules
        },
    }
