"""The nightly compliance report (JSON + HTML), shared by the bucket checks and the access-log audit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from labelbridge.compliance.report.html import render_html
from labelbridge.compliance.report.layout import HTML_NAME, JSON_NAME, day_folder, report_html, report_json
from labelbridge.compliance.report.sink import LocalReportSink, ReportSink, StoreReportSink


def write_report(sinks: Sequence[ReportSink], report: Mapping[str, Any]) -> list[str]:
    """Write the report's JSON and HTML to every sink; return where the JSON files are."""
    day = day_folder(str(report["day"]))
    data = json.dumps(report, indent=1, sort_keys=False, default=str).encode()
    page = render_html(report).encode()
    locations = []
    for sink in sinks:
        # HTML first, JSON last: the JSON is what the gate and the next night look for.
        sink.write(report_html(day), page, content_type="text/html; charset=utf-8")
        sink.write(report_json(day), data, content_type="application/json")
        locations.append(sink.location(report_json(day)))
    return locations


def read_report(sink: ReportSink, day: dt.date | str) -> dict[str, Any] | None:
    raw = sink.read(report_json(day))
    return None if raw is None else dict(json.loads(raw))


__all__ = ["HTML_NAME", "JSON_NAME", "LocalReportSink", "ReportSink", "StoreReportSink", "read_report", "write_report"]
