"""``labelbridge logs parse`` and ``logs audit --files``: no scheduler, no bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelbridge.cli import main
from tests.compliance.accesslog.lines import SIGNATURE, line, presigned


def test_parse_jsonl_prints_27_fields_and_line_no_and_bad_lines_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "2019-02-06-00-00-00-A"
    log.write_text(presigned() + "\n" + "broken line\n" + line(fields=18) + "\n", encoding="utf-8")
    assert main(["logs", "parse", str(log), "--jsonl"]) == 1
    captured = capsys.readouterr()
    rows = [json.loads(row) for row in captured.out.splitlines()]
    assert [row["line_no"] for row in rows] == [1, 3]
    assert len(rows[0]) == 28 and rows[0]["time"] == "2019-02-06T00:00:38+00:00"
    assert rows[0]["request_uri"].endswith("X-Amz-Signature=REDACTED HTTP/1.1")
    assert rows[1]["tls_version"] is None and rows[1]["http_status"] == 200
    assert captured.err == f"{log}:2: ends after field 2 of at least 18\n2 records, 1 unparsed lines\n"
    assert SIGNATURE not in captured.out + captured.err


def test_audit_local_files_prints_the_report_and_passes_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "a.log"
    log.write_text(line() + "\n", encoding="utf-8")
    config = tmp_path / "storages.yaml"
    config.write_text("compliance:\n  allowed_cidrs: ['192.0.2.0/24']\n", encoding="utf-8")
    assert main(["logs", "audit", "--config", str(config), "--files", str(log), "--day", "2019-02-06"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["lines_read"], report["failed_findings"]) == (1, 0)
    assert {row["rule_id"]: row["failed"] for row in report["rules"]}["s3log.ip_not_allowed"] == 0
