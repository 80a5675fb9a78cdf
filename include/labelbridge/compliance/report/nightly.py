"""Assemble the night's report from the staged parts, write it, and say where it is."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from labelbridge.compliance.buckets.job import read_part
from labelbridge.compliance.buckets.rules import RULE_PREFIX, rules_for
from labelbridge.compliance.buckets.targets import BucketTarget
from labelbridge.compliance.report import read_report, write_report
from labelbridge.compliance.report.build import BucketResult, build_report
from labelbridge.compliance.report.sink import ReportSink
from labelbridge.compliance.report.trend import read_nights
from labelbridge.config import ComplianceConfig

log = logging.getLogger(__name__)


def compile_report(
    *,
    sinks: Sequence[ReportSink],
    day: dt.date,
    targets: Sequence[BucketTarget],
    settings: ComplianceConfig,
    audit: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Merge the bucket parts staged in ``sinks[0]`` with the audit, write the report to every sink.

    The change list compares with the latest earlier report in ``sinks[0]``, the trend reads the
    earlier reports of the last 30 nights there.

    :param audit: the day's merged access-log audit (``AccessLogAudit.to_dict()``), if any.

    :returns: small counts and the report's location, for XCom.
    """
    staging = sinks[0]
    day_text = day.isoformat()
    buckets = [BucketResult(target, read_part(staging, target, day=day_text)) for target in targets]
    missing = [r.target.key for r in buckets if r.findings is None]
    if missing:
        log.warning("no bucket-check result for %s: reported as ERROR rows", ", ".join(missing))
    previous_day = staging.previous_day(day_text)
    previous = read_report(staging, previous_day) if previous_day else None
    expected = {cloud.value: [r.meta for r in rules_for(cloud)] for cloud in RULE_PREFIX}
    report = build_report(
        day=day,
        settings=settings,
        buckets=buckets,
        audit=audit,
        previous=previous,
        generated_at=now,
        expected_rules=expected,
        earlier_nights=read_nights(staging, day),
    )
    locations = write_report(sinks, report)
    summary = report["summary"]
    log.info(
        "compliance report for %s at %s: %d pass, %d fail, %d error, %d waived; gate %s",
        day_text,
        ", ".join(locations),
        summary["pass"],
        summary["fail"],
        summary["error"],
        summary["waived"],
        summary["gate"],
    )
    return {
        "report": locations[0],
        "rows": summary["rows"],
        "fail": summary["fail"],
        "error": summary["error"],
        "waived": summary["waived"],
        "blocking": len(summary["blocking"]),
    }
