"""The report people look at: failing rows first with their remediation, each rule's pass/fail
over the last 30 nights as an inline chart read from the earlier reports, everything escaped."""

from __future__ import annotations

import datetime as dt
import glob
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from labelbridge.compliance.buckets.evaluate import evaluate_snapshot
from labelbridge.compliance.buckets.targets import BucketTarget, StorageRef
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.compliance.report import read_report, write_report
from labelbridge.compliance.report.build import BucketResult, build_report
from labelbridge.compliance.report.html import render_html
from labelbridge.compliance.report.sink import LocalReportSink, ReportSink, StoreReportSink
from labelbridge.compliance.report.trend import NIGHTS, read_nights
from labelbridge.config import Cloud
from tests.compliance.buckets.snapshots import snapshot
from tests.compliance.report.test_report import SETTINGS, TARGET
from tests.conftest import StoreFactory

ROOT = Path(__file__).resolve().parents[3]
DAY = dt.date(2026, 11, 22)
PASS_ALL: dict[str, Any] = {}
NO_VERSIONING: dict[str, Any] = {"versioning": {}}
NO_POLICY: dict[str, Any] = {"policy": None}


def _night(sink: ReportSink, day: dt.date, **changes: Any) -> dict[str, Any]:
    """What a night does: judge the bucket, read the earlier nights, write the report."""
    findings = evaluate_snapshot(snapshot(Cloud.S3, **changes), SETTINGS)
    report = build_report(
        day=day,
        settings=SETTINGS,
        buckets=[BucketResult(TARGET, findings)],
        generated_at=dt.datetime.combine(day, dt.time(2), dt.UTC),
        earlier_nights=read_nights(sink, day),
    )
    write_report([sink], report)
    return report


def _chart(page: str, rule_id: str) -> tuple[str, list[tuple[str, str]]]:
    """The trend table row of one rule: its whole HTML, and (css class, hover title) of each bar."""
    start = page.index("<h2>Each rule over the last")
    page = page[start : page.index("</table>", start)]
    (row,) = re.findall(rf'<tr[^>]*><td class="rule_id">{re.escape(rule_id)}</td>.*?</svg></td></tr>', page, re.S)
    return row, re.findall(r'<rect class="(\w+)"[^>]*><title>([^<]*)</title></rect>', row)


def test_trend_shows_each_rule_over_several_nights(tmp_path: Path) -> None:
    sink = LocalReportSink(tmp_path)
    _night(sink, DAY - dt.timedelta(days=4), **NO_VERSIONING)
    (tmp_path / (DAY - dt.timedelta(days=3)).isoformat()).mkdir()  # the report task never ran that night
    _night(sink, DAY - dt.timedelta(days=2), **PASS_ALL)
    _night(sink, DAY - dt.timedelta(days=1), **NO_VERSIONING)
    tonight = _night(sink, DAY, **NO_POLICY)

    trend = tonight["trend"]
    assert len(trend["nights"]) == NIGHTS == 30
    assert trend["nights"][0] == "2026-10-24" and trend["nights"][-1] == "2026-11-22"
    two_storages_fail = {"pass": 0, "fail": 2, "error": 0, "waived": 0}
    two_storages_pass = {"pass": 2, "fail": 0, "error": 0, "waived": 0}
    assert trend["rules"]["s3.versioning"][-5:] == [
        two_storages_fail, None, two_storages_pass, two_storages_fail, two_storages_pass
    ]
    assert trend["rules"]["s3.tls_only"][-5:] == [
        two_storages_pass, None, two_storages_pass, two_storages_pass, two_storages_fail
    ]
    assert trend["rules"]["s3.tls_only"][:25] == [None] * 25  # nothing before the first night
    assert read_report(sink, DAY) == tonight  # the trend is kept in the JSON too

    page = (tmp_path / "2026-11-22" / "compliance.html").read_text()
    row, bars = _chart(page, "s3.versioning")
    assert bars[-5:] == [
        ("fail", "2026-11-18: 2 fail"),
        ("none", "2026-11-19: no report"),
        ("pass", "2026-11-20: 2 pass"),
        ("fail", "2026-11-21: 2 fail"),
        ("pass", "2026-11-22: 2 pass"),
    ]
    assert bars[0] == ("none", "2026-10-24: no report")
    assert len(bars) == 30  # one bar per night: each night here is all pass or all fail
    assert "<td>2 of 4</td>" in row  # nights failing, of the nights with a report
    tls_row, tls_bars = _chart(page, "s3.tls_only")
    assert tls_row.startswith('<tr class="fail">') and tls_bars[-1] == ("fail", "2026-11-22: 2 fail")
    # Failing rules first, then those that failed most nights: drift at the top.
    start = page.index("<h2>Each rule over the last")
    charted = re.findall(r'<td class="rule_id">([\w.]+)</td>', page[start : page.index("</table>", start)])
    assert charted[:2] == ["s3.ip_restricted", "s3.tls_only"]  # failing tonight, high
    assert charted[2:4] == ["s3.presign_limits", "s3.versioning"]  # s3.presign_limits fails tonight too
    assert len(charted) == 12


def test_a_night_with_some_storages_failing_stacks_its_bar(tmp_path: Path) -> None:
    rule = RuleMeta("s3.versioning", Severity.MEDIUM, "Versioning on", "why", "fix")
    findings = [Finding.passed(rule, "s3://images", "on")]
    second = BucketTarget(Cloud.S3, "aws_default", "b2", (StorageRef("b2", "source"),))
    other = BucketResult(second, [Finding.failed(rule, "s3://b2", "off")])
    report = build_report(day=DAY, settings=SETTINGS, buckets=[BucketResult(TARGET, findings), other])
    _, bars = _chart(render_html(report), "s3.versioning")
    tonight = [b for b in bars if b[1].startswith("2026-11-22")]
    assert tonight == [("pass", "2026-11-22: 2 pass, 1 fail"), ("fail", "2026-11-22: 2 pass, 1 fail")]


def test_trend_reads_at_most_the_earlier_nights_of_its_window(tmp_path: Path, caplog: Any) -> None:
    read_paths: list[str] = []

    class CountingSink(LocalReportSink):
        def read(self, path: str) -> bytes | None:
            read_paths.append(path)
            return super().read(path)

    sink = CountingSink(tmp_path)
    rows = [{"rule_id": "s3.tls_only", "status": "pass"}]
    for back in range(1, 41):  # 40 earlier nights
        day = (DAY - dt.timedelta(days=back)).isoformat()
        sink.write(f"{day}/compliance.json", json.dumps({"rows": rows}).encode(), content_type="application/json")
    sink.write("2026-11-20/compliance.json", b'{"rows": [{"rule_id": ', content_type="application/json")

    nights = read_nights(sink, DAY)

    assert len(read_paths) == NIGHTS - 1
    assert sorted(read_paths)[0] == "2026-10-24/compliance.json"  # nothing older is opened
    assert [n.day for n in nights][-2:] == ["2026-11-19", "2026-11-21"]  # the damaged night is skipped
    assert len(nights) == NIGHTS - 2
    assert f"trend: skipping {tmp_path / '2026-11-20' / 'compliance.json'}, not a readable report" in caplog.text


@pytest.mark.usefixtures("services")
def test_trend_reads_the_earlier_reports_from_a_bucket_sink(new_store: StoreFactory, cloud: Cloud) -> None:
    sink = StoreReportSink(new_store(cloud, prefix=""), "compliance-reports/")
    _night(sink, DAY - dt.timedelta(days=2), **NO_VERSIONING)
    _night(sink, DAY - dt.timedelta(days=1), **PASS_ALL)
    tonight = _night(sink, DAY, **NO_VERSIONING)
    assert [None if c is None else c["fail"] for c in tonight["trend"]["rules"]["s3.versioning"][-4:]] == [
        None, 2, 0, 2
    ]
    page = sink.read("2026-11-22/compliance.html")
    assert page is not None
    assert [t for _, t in _chart(page.decode(), "s3.versioning")[1][-3:]] == [
        "2026-11-20: 2 fail", "2026-11-21: 2 pass", "2026-11-22: 2 fail"
    ]


def test_failing_rows_come_first_with_their_remediation_wrapped() -> None:
    findings = evaluate_snapshot(snapshot(Cloud.S3, public_access_block=None), SETTINGS)
    page = render_html(build_report(day=DAY, settings=SETTINGS, buckets=[BucketResult(TARGET, findings)]))
    attention, passing = page.index("<h2>Needs attention (2)</h2>"), page.index("<h2>Passing (22)</h2>")
    assert attention < page.index("<h2>Each rule over the last 30 nights</h2>") < passing
    table = page[attention:page.index("</table>", attention)]
    assert table.count('<tr class="fail">') == 2
    assert '<td class="rule_id">s3.block_public_access</td>' in table
    assert (
        '<td class="remediation">aws s3api put-public-access-block --bucket BUCKET --public-access-block-configuration '
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true</td>"
    ) in table
    # A long command wraps inside a bounded column instead of running off the screen.
    assert "td.detail,td.remediation,td.reason{min-width:14rem;max-width:34rem;white-space:normal;" \
           "overflow-wrap:anywhere}" in page
    assert "remediation" not in page[passing:]  # passing rows need no fix


def test_everything_from_config_and_clouds_is_escaped_and_nothing_is_fetched() -> None:
    hostile = '<img src=x onerror="alert(1)">'
    rule = RuleMeta("s3.versioning", Severity.MEDIUM, f"title {hostile}", "why", f"run {hostile}")
    target = BucketTarget(Cloud.S3, "aws_default", "images", (StorageRef(hostile, "source"),))
    report = build_report(
        day=DAY,
        settings=SETTINGS,
        buckets=[BucketResult(target, [Finding.failed(rule, f"s3://{hostile}", f"detail {hostile}")])],
    )
    page = render_html(report)
    assert "<img" not in page and 'onerror="' not in page
    escaped = "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"
    assert page.count(escaped) >= 5  # storage, resource, detail, fix, title
    for external in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert external not in page.replace(escaped, ""), external


def test_the_template_ships_with_the_package() -> None:
    """pyproject's package data covers every file of templates/, so a built install renders the report."""
    package = ROOT / "include" / "labelbridge"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["labelbridge"]
    shipped = {Path(p) for pattern in patterns for p in glob.glob(pattern, root_dir=package, recursive=True)}
    templates = {p.relative_to(package) for p in (package / "compliance" / "report" / "templates").rglob("*")}
    assert templates and templates <= shipped
