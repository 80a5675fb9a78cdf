"""The nightly compliance report (JSON + HTML), shared by the bucket checks and the access-log audit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from labelbridge.compliance.report.html import render_html
from labelbridge.compliance.report.sink import LocalReportSink, ReportSink, StoreReportSink

JSON_NAME = "compliance.json"
HTML_NAME = "compliance.html"


def write_report(sinks: Sequence[ReportSink], report: Mapping[str, Any]) -> list[str]:
    """Write the report's JSON and HTML to every sink; return where the JSON files are."""
    day = str(report["day"])
    data = json.dumps(report, indent=1, sort_keys=False, default=str).encode()
    page = render_html(report).encode()
    locations = []
    for sink in sinks:
        # HTML first, JSON last: the JSON is what the gate and the next night look for.
        sink.write(f"{day}/{HTML_NAME}", page, content_type="text/html; charset=utf-8")
        sink.write(f"{day}/{JSON_NAME}", data, content_type="application/json")
        locations.append(sink.location(f"{day}/{JSON_NAME}"))
    return locations


def read_report(sink: ReportSink, day: dt.date | str) -> dict[str, Any] | None:
    raw = sink.read(f"{day if isinstance(day, str) else day.isoformat()}/{JSON_NAME}")
    return None if raw is None else dict(json.loads(raw))


__all__ = ["HTML_NAME", "JSON_NAME", "LocalReportSink", "ReportSink", "StoreReportSink", "read_report", "write_report"]
