"""The labelbridge CLI: the same jobs as the DAGs, against the real services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labelbridge import cli
from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.sync.helpers import rows

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def keep_pytest_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs keep pytest's log capture; the subprocess test checks the real setup."""
    monkeypatch.setattr(cli, "_log_to_stderr", lambda verbose: None)


def output(capsys: pytest.CaptureFixture[str]) -> list[str]:
    # In-process, Airflow's own structlog lines share stdout; a real run sends them to stderr.
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("20")]


@pytest.fixture
def config_file(tmp_path: Path, new_store: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    store = new_store(Cloud.S3)
    store.write("img/a.jpg", b"x")
    store.write("img/b.jpg", b"x")
    store.write("tasks/t.json", json.dumps([{"text": "hi"}]).encode())
    store.write("tasks/bad.json", b"[")
    path = tmp_path / "storages.yaml"
    path.write_text(
        "projects: [{name: p}]\nstorages:\n"
        f"  - {{name: imgs, project: p, cloud: s3, bucket: {store.bucket}, prefix: img/}}\n"
        f"  - {{name: files, project: p, cloud: s3, bucket: {store.bucket}, prefix: tasks/, mode: task_files}}\n"
    )
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(path))
    return path, store.bucket


def test_db_upgrade_is_idempotent(labeling_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["db", "upgrade", "--dsn", labeling_dsn]) == 0
    assert cli.main(["db", "current", "--dsn", labeling_dsn]) == 0
    out = output(capsys)
    assert out[0].startswith("labeling database at revision ")
    assert out[1] == out[0].rsplit(" ", 1)[1]


def test_sync_dry_run_then_sync_then_quarantine_list(
    config_file: tuple[Path, str], labeling_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, bucket = config_file
    assert cli.main(["sync", "imgs", "--dry-run"]) == 0
    assert output(capsys) == [
        f"would insert s3://{bucket}/img/a.jpg", f"would insert s3://{bucket}/img/b.jpg",
    ]
    assert rows(labeling_dsn, "SELECT count(*) FROM task") == [(0,)]

    assert cli.main(["sync", "imgs", "--json"]) == 0
    counts = json.loads(output(capsys)[0])
    assert (counts["listed"], counts["inserted"]) == (2, 2)

    # A quarantined file makes the exit status 1 (fail_on_quarantine), the good file still syncs.
    assert cli.main(["sync", "files"]) == 1
    assert rows(labeling_dsn, "SELECT count(*) FROM task WHERE uri LIKE '%%t.json'") == [(1,)]
    capsys.readouterr()
    assert cli.main(["quarantine", "list", "files", "--json"]) == 0
    [entry] = [json.loads(line) for line in output(capsys)]
    assert (entry["uri"], entry["reason"]) == (
        f"s3://{bucket}/tasks/bad.json", "tasks/bad.json: line 1 column 2: invalid JSON: Expecting value"
    )


def test_templated_prefix_needs_a_logical_date(
    config_file: tuple[Path, str], labeling_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["sync", "imgs", "--prefix", "img/{{ ds_nodash }}/"])
    assert code == 2
    assert "pass --logical-date YYYY-MM-DD" in capsys.readouterr().err
    assert cli.main(["sync", "imgs", "--prefix", "img/{{ ds_nodash }}/", "--logical-date", "2025-01-02"]) == 0


def test_unknown_storage_is_a_clear_error(config_file: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ls", "nope"]) == 2
    assert "no storage named 'nope'" in capsys.readouterr().err


def test_ls_json_output_is_clean_json_lines_with_logs_on_stderr(
    config_file: tuple[Path, str], services: object
) -> None:
    path, bucket = config_file
    # As a user runs it: not in Airflow's unit-test mode, which announces itself on stdout at import.
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    result = subprocess.run(
        [str(BIN / "labelbridge"), "ls", "imgs", "--json"],
        capture_output=True, text=True, env={**env, "LABELBRIDGE_CONFIG": str(path)}, check=True,
    )
    listed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["uri"] for o in listed] == [f"s3://{bucket}/img/a.jpg", f"s3://{bucket}/img/b.jpg"]
    assert result.stderr.rstrip().endswith("2 objects")
