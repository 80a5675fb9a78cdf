"""The report lists every storage x rule, applies waivers, shows the change since the previous
night, never leaks a signature, and the gate names what broke."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from labelbridge.compliance.buckets.evaluate import evaluate_snapshot
from labelbridge.compliance.buckets.job import check_bucket
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.buckets.targets import BucketTarget, StorageRef, bucket_targets
from labelbridge.compliance.gate import enforce_gate, gate_message
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.compliance.report import read_report, write_report
from labelbridge.compliance.report.build import BucketResult, build_report, finding_from_dict
from labelbridge.compliance.report.html import render_html
from labelbridge.compliance.report.nightly import compile_report
from labelbridge.compliance.report.sink import LocalReportSink, StoreReportSink
from labelbridge.config import Cloud, ComplianceConfig, WaiverConfig, load_config
from tests.compliance.buckets.snapshots import KMS_KEY, snapshot

DAY = dt.date(2026, 11, 22)
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
SETTINGS = ComplianceConfig(
    allowed_cidrs=("10.0.0.0/8",), kms_key_arns=(KMS_KEY,), allowed_account_ids=("111122223333",)
)
TARGET = BucketTarget(
    Cloud.S3, "aws_default", "images", (StorageRef("images", "source"), StorageRef("export", "target"))
)

SIGNED = (
    "GET /images/cat.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261122&"
    "X-Amz-Expires=604800&X-Amz-Signature=0123abcd HTTP/1.1"
)


def _findings(**changes: Any) -> list[Finding]:
    return evaluate_snapshot(snapshot(Cloud.S3, **changes), SETTINGS)


def _report(findings: list[Finding] | None, settings: ComplianceConfig = SETTINGS, **kwargs: Any) -> dict[str, Any]:
    return build_report(
        day=DAY, settings=settings, buckets=[BucketResult(TARGET, findings)], generated_at=NOW, **kwargs
    )


def test_every_storage_on_the_bucket_gets_every_rule_row() -> None:
    report = _report(_findings())
    assert len(report["rows"]) == 2 * 12
    assert {(r["storage"], r["role"]) for r in report["rows"]} == {("images", "source"), ("export", "target")}
    assert report["summary"] | {"blocking": None} == {
        "rows": 24,
        "pass": 24,
        "fail": 0,
        "error": 0,
        "waived": 0,
        "storages": 2,
        "newly_failing": 0,
        "newly_fixed": 0,
        "blocking": None,
        "gate": "pass",
    }
    assert gate_message(report) is None
    assert enforce_gate(report) == 24


def test_gate_fails_naming_rules_and_storages_at_or_above_fail_on() -> None:
    report = _report(_findings(policy=None, versioning={}))
    message = gate_message(report)
    assert message == (
        "compliance gate failed for 2026-11-22: 2 rule(s) at or above high: "
        "s3.ip_restricted [high] failed on export, images; s3.tls_only [high] failed on export, images"
    )
    # medium s3.versioning and s3.presign_limits fail too, but below fail_on
    assert {r["rule_id"] for r in report["rows"] if r["status"] == "fail"} == {
        "s3.ip_restricted",
        "s3.tls_only",
        "s3.presign_limits",
        "s3.versioning",
    }
    with pytest.raises(Exception) as info:
        enforce_gate(report, location="/reports/2026-11-22/compliance.json")
    assert str(info.value) == message + " (report: /reports/2026-11-22/compliance.json)"


def test_errors_block_the_gate_unless_gate_on_error_is_off() -> None:
    findings = _findings(policy="{oops")
    blocked = _report(findings)
    assert gate_message(blocked) == (
        "compliance gate failed for 2026-11-22: 4 rule(s) at or above high: "
        "s3.no_public_policy [critical] could not be checked on export, images; "
        "s3.cross_account [high] could not be checked on export, images; "
        "s3.ip_restricted [high] could not be checked on export, images; "
        "s3.tls_only [high] could not be checked on export, images"
    )
    relaxed = _report(findings, SETTINGS.model_copy(update={"gate_on_error": False}))
    assert gate_message(relaxed) is None
    assert relaxed["summary"]["error"] == 10  # still reported, never counted as pass
    assert relaxed["summary"]["pass"] == 14


def test_a_check_that_did_not_finish_is_error_rows_for_every_rule() -> None:
    from labelbridge.compliance.buckets.rules import rules_for

    report = _report(None, expected_rules={"s3": [r.meta for r in rules_for(Cloud.S3)]})
    assert report["summary"]["error"] == 24
    assert report["rows"][0]["detail"] == "settings not collected: the bucket check task failed; see its log"


def test_waiver_turns_failure_into_waived_until_it_expires() -> None:
    findings = _findings(policy=None)
    active = WaiverConfig(rule="s3.tls_only", storage="images", reason="legacy reader, JIRA-12", expires=DAY)
    expired = WaiverConfig(
        rule="s3.ip_restricted", storage="images", reason="vpn move", expires=DAY - dt.timedelta(days=1)
    )
    unused = WaiverConfig(rule="s3.versioning", storage="images", reason="cheap", expires=DAY)
    report = _report(findings, SETTINGS.model_copy(update={"waivers": (active, expired, unused)}))
    rows = {(r["storage"], r["rule_id"]): r for r in report["rows"]}
    assert rows[("images", "s3.tls_only")]["status"] == "waived"
    assert rows[("images", "s3.tls_only")]["waiver"] == {
        "reason": "legacy reader, JIRA-12",
        "expires": "2026-11-22",
        "active": True,
    }
    assert rows[("export", "s3.tls_only")]["status"] == "fail"  # waivers are per storage
    assert rows[("images", "s3.ip_restricted")]["status"] == "fail"
    assert rows[("images", "s3.ip_restricted")]["detail"] == (
        "no bucket policy, so nothing denies reads from other networks (waiver expired 2026-11-21: vpn move)"
    )
    assert [w["state"] for w in report["waivers"]] == ["active", "expired", "unused"]
    assert gate_message(report) == (
        "compliance gate failed for 2026-11-22: 2 rule(s) at or above high: "
        "s3.ip_restricted [high] failed on export, images; s3.tls_only [high] failed on export"
    )


def test_changes_since_previous_night() -> None:
    yesterday = _report(_findings(versioning={}))
    today = build_report(
        day=DAY + dt.timedelta(days=1),
        settings=SETTINGS,
        buckets=[
            BucketResult(TARGET, _findings(cors={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]}))
        ],
        previous=yesterday,
        generated_at=NOW,
    )
    changes = today["changes"]
    assert changes["previous_day"] == "2026-11-22"
    assert sorted((c["storage"], c["rule_id"], c["was"]) for c in changes["newly_failing"]) == [
        ("export", "s3.cors_restricted", "pass"),
        ("images", "s3.cors_restricted", "pass"),
    ]
    assert sorted((c["storage"], c["rule_id"]) for c in changes["newly_fixed"]) == [
        ("export", "s3.versioning"),
        ("images", "s3.versioning"),
    ]


def test_access_log_audit_rows_and_section_are_in_the_report_and_redacted() -> None:
    rule = RuleMeta("s3log.presign_ttl", Severity.HIGH, "Presigned URLs live at most max_presign_ttl", "why", "fix")
    finding = Finding.failed(rule, "s3://images", f"presigned URL with X-Amz-Expires=604800 in {SIGNED}")
    audit = {
        "findings": [finding.to_dict()],
        "who": [
            {
                "requester": "arn:aws:iam::123456789012:user/sync",
                "remote_ip": "10.1.2.3",
                "auth_type": "QueryString",
                "signature_version": "SigV4",
                "bucket": "images",
                "requests": 3,
                "bytes_sent": 10,
                "distinct_keys": 2,
                "first_seen": "2026-11-22T01:00:00+00:00",
                "last_seen": "2026-11-22T02:00:00+00:00",
            }
        ],
        "objects_read": 2,
        "lines_read": 40,
        "lines_unparsed": 1,
        "unparsed": [
            {"key": "access/2026-11-22-01", "line": 7, "reason": "bad time", "text": SIGNED + " sig=abc&se=2026"}
        ],
    }
    report = _report(_findings(), audit=audit)
    rows = [r for r in report["rows"] if r["source"] == "access_logs"]
    assert [(r["rule_id"], r["status"], r["storage"]) for r in rows] == [("s3log.presign_ttl", "fail", "s3://images")]
    assert report["access_logs"]["who"][0]["requests"] == 3
    text = json.dumps(report) + render_html(report)
    for secret in ("X-Amz-Signature", "sig=", "X-Goog-Signature", "X-Amz-Credential", "0123abcd", "AKIAEXAMPLE"):
        assert secret not in text, secret
    assert gate_message(report) == (
        "compliance gate failed for 2026-11-22: 1 rule(s) at or above high: s3log.presign_ttl [high] failed on s3://images"
    )


def test_access_log_findings_name_the_storage_whose_allowlist_broke_and_its_waiver_matches() -> None:
    from labelbridge.compliance.accesslog.rules import s3log_ip_not_allowed

    rule = s3log_ip_not_allowed.RULE
    own = Finding.failed(rule, "s3://images from 203.0.113.9 (storage images)", "d", storages=["images"])
    global_only = Finding.failed(rule, "s3://images from 198.51.100.7", "d", storages=[])
    waiver = WaiverConfig(rule=rule.id, storage="images", reason="vendor VPN until the move", expires=DAY)
    report = _report(
        _findings(),
        SETTINGS.model_copy(update={"waivers": (waiver,)}),
        audit={"findings": [own.to_dict(), global_only.to_dict()]},
    )
    rows = {r["resource"]: r for r in report["rows"] if r["source"] == "access_logs"}
    assert rows[own.resource]["storage"] == "images"
    assert rows[own.resource]["status"] == "waived"
    assert rows[global_only.resource]["storage"] == global_only.resource  # no storage: the resource
    assert rows[global_only.resource]["status"] == "fail"


def test_finding_round_trips_through_its_dict() -> None:
    for finding in _findings(policy=None):
        assert finding_from_dict(json.loads(json.dumps(finding.to_dict()))) == finding


def test_html_escapes_what_it_shows() -> None:
    rule = RuleMeta("s3.x", Severity.LOW, "t", "r")
    report = _report([Finding.failed(rule, "s3://images", "<script>alert(1)</script>")])
    page = render_html(report)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h1>Compliance report for 2026-11-22</h1>" in page


def test_local_sink_keeps_days_and_finds_the_previous_report(tmp_path: Any) -> None:
    sink = LocalReportSink(tmp_path)
    first = _report(_findings(versioning={}))
    assert write_report([sink], first) == [str(tmp_path / "2026-11-22" / "compliance.json")]
    assert (tmp_path / "2026-11-22" / "compliance.html").read_text().startswith("<!DOCTYPE html>")
    (tmp_path / "2026-11-20").mkdir()  # a day folder without a report is skipped
    assert sink.previous_day("2026-11-23") == "2026-11-22"
    assert sink.previous_day("2026-11-22") is None
    assert read_report(sink, DAY) == first


@pytest.mark.usefixtures("services")
def test_nightly_compile_on_a_bucket_sink_with_a_failed_check(new_store: Any) -> None:
    from labelbridge.compliance.buckets.collectors import S3Collector

    store = new_store(Cloud.S3)
    sink = StoreReportSink(store, "compliance-reports")
    config = load_config()
    targets = bucket_targets(config)
    first, second = targets[0], BucketTarget(Cloud.S3, "aws_default", "never-checked", (StorageRef("ghost", "source"),))
    # The bucket exists only in the test's store: check that one, and let the second "fail".
    live = BucketTarget(Cloud.S3, "aws_default", store.bucket, first.storages)
    counts = check_bucket(S3Collector(store.client), live, settings=SETTINGS, sink=sink, day=DAY.isoformat())  # type: ignore[attr-defined]
    assert counts["fail"] >= 1
    result = compile_report(sinks=[sink], day=DAY, targets=[live, second], settings=SETTINGS, now=NOW)
    assert result["report"] == f"s3://{store.bucket}/compliance-reports/2026-11-22/compliance.json"
    report = read_report(sink, DAY)
    assert report is not None
    ghost = [r for r in report["rows"] if r["storage"] == "ghost"]
    assert len(ghost) == 12 and {r["status"] for r in ghost} == {"error"}
    assert result["error"] == 12
    snap = BucketSnapshot.from_dict(
        json.loads(store.read_bytes(f"compliance-reports/2026-11-22/snapshots/{live.key}.json"))
    )
    assert snap.bucket == store.bucket
    assert sink.days() == ["2026-11-22"]
