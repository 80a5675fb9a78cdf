"""``labelbridge compliance ...``: the grouped spellings, and the earlier ones kept as hidden aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelbridge.cli import build_parser, main
from labelbridge.config import Cloud
from tests.compliance.accesslog.lines import line, presigned
from tests.compliance.buckets.snapshots import GOOD

#: Each grouped command and the spelling it replaced.
SPELLINGS = [
    (["compliance", "check-bucket"], ["check-bucket"]),
    (["compliance", "check-buckets"], ["check-buckets"]),
    (["compliance", "logs-parse"], ["logs", "parse"]),
    (["compliance", "logs-audit"], ["logs", "audit"]),
]


def test_the_group_and_the_old_spellings_read_the_same_arguments() -> None:
    parser = build_parser()
    for new, old in SPELLINGS:
        grouped = vars(parser.parse_args([*new, *_minimal_args(new)]))
        aliased = vars(parser.parse_args([*old, *_minimal_args(new)]))
        assert grouped["handler"] is aliased["handler"], new
        drop = {"command", "compliance_command", "logs_command"}
        assert {k: v for k, v in grouped.items() if k not in drop} == {
            k: v for k, v in aliased.items() if k not in drop
        }, new


def _minimal_args(command: list[str]) -> list[str]:
    return {
        "check-bucket": ["--cloud", "aws", "snap.json"],
        "check-buckets": ["--json"],
        "logs-parse": ["a.log"],
        "logs-audit": ["--files", "a.log"],
    }[command[-1]]


def test_help_lists_the_group_and_hides_the_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = [row.split()[0] for row in capsys.readouterr().out.splitlines() if row.startswith("    ")]
    assert "compliance" in listed
    assert not {"check-bucket", "check-buckets", "logs"} & set(listed)


def test_grouped_check_bucket_judges_a_snapshot_as_the_alias_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(json.dumps(GOOD[Cloud.S3]))
    config = tmp_path / "storages.yaml"
    config.write_text("projects: [{name: p}]\n")
    args = ["--cloud", "aws", str(snapshot), "--config", str(config)]

    grouped = main(["compliance", "check-bucket", *args]), capsys.readouterr().out
    aliased = main(["check-bucket", *args]), capsys.readouterr().out

    assert grouped == aliased
    assert {row["rule_id"] for row in json.loads(grouped[1])} >= {"s3.tls_only"}


def test_grouped_logs_parse_prints_as_the_alias_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "a.log"
    log.write_text(presigned() + "\n" + line() + "\n", encoding="utf-8")

    grouped = main(["compliance", "logs-parse", str(log), "--jsonl"]), capsys.readouterr()
    aliased = main(["logs", "parse", str(log), "--jsonl"]), capsys.readouterr()

    assert (grouped[0], grouped[1].out, grouped[1].err) == (aliased[0], aliased[1].out, aliased[1].err)
    assert grouped[1].err == "2 records, 0 unparsed lines\n"
