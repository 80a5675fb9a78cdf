"""``scripts/demo.py`` reads like a story: one line (or a small table) per step, well under 100
lines on screen, every command's and Airflow's output in the log file it names, and a failure's
cause on screen.

The demo runs whole, as ``./scripts/demo.sh`` runs it (only its state directory and database
name are the test's own): about 50 s, the sync DAG through ``airflow dags test`` and a Label
Studio of its own included.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import devservices

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo.py"
#: Each step's name starts its line, in this order.
STORY = [
    "services", "seeded", "schema", "storages", "listed", "airflow", "synced", "dry run", "synced",
    "quarantined", "re-synced", "rotated", "label studio", "pushed", "annotated", "pulled", "exported",
    "compliance", "database",
]


@pytest.fixture
def demo_database(services: dict[str, devservices.Service]) -> Iterator[str]:
    name = f"lb_demo_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(services["postgres"].url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_demo(
    state: Path, database: str, services: dict[str, devservices.Service], **env: str
) -> subprocess.CompletedProcess[str]:
    """The demo as a user's shell starts it: no test settings, the test session's PostgreSQL."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, str(DEMO), "--state", str(state), "--database", database],
        env=keep | {"LABELBRIDGE_PG_DSN": services["postgres"].url} | env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_demo_tells_each_step_in_a_line_and_logs_the_rest(
    tmp_path: Path, demo_database: str, services: dict[str, devservices.Service]
) -> None:
    result = run_demo(tmp_path / "demo", demo_database, services)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout
    assert result.stderr == ""  # Airflow's logs and every command's output went to the log file
    assert len(lines) <= 70, result.stdout

    assert [line[:12].strip() for line in lines if line[:12].strip() in STORY] == STORY
    log = tmp_path / "demo" / "demo.log"
    assert lines[1] == f"every command's full output, Airflow's logs included: {log}"
    assert lines[-1].startswith("demo finished in ") and lines[-1].endswith(f"s; full output: {log}")
    for line in lines:
        assert not re.match(r"\d{4}-\d\d-\d\dT", line), f"a log line on screen: {line}"
        assert len(line.replace(str(tmp_path), ".demo")) <= 120, f"too wide for a terminal: {line}"

    def step(name: str) -> str:
        return next(line for line in lines if line.startswith(f"{name:<12} "))

    assert "demo-images: 7 objects" in step("listed")
    assert "demo-images, run by Airflow: 7 listed, 7 inserted, 0 updated, 0 quarantined; run success" in step("synced")
    assert "3 listed, would insert 5 tasks and quarantine 1 file; nothing written" in step("dry run")
    assert re.search(
        r"^ +s3://labelbridge-demo/tasks/broken\.json\n +line 4 column 1: invalid JSON: ", result.stdout, re.M
    )
    assert step("re-synced").endswith("7 listed, 7 unchanged, 0 written (incremental: nothing rewritten)")
    assert step("rotated").startswith("rotated      12 signed URLs written; a canary fetched 3")
    # The loop through Label Studio: tasks in with working signed URLs, a labeler's box back, then exported.
    assert re.match(r"http://127\.0\.0\.1:\d+ \(Label Studio 1\.23", step("label studio")[13:])
    assert re.search(r"12 tasks into Label Studio project \d+ with signed URLs; cat-003.png's URL from there: "
                     r"HTTP 200, image/png", step("pushed"))
    assert "1 annotation made in Label Studio came back, by the server's updated_at cursor" in step("pulled")
    assert re.search(r"^ +status: 12 in sync, 0 pending, earliest URL expiry 20", result.stdout, re.M)
    assert re.search(r"^ +json +12 tasks +3 annotations", result.stdout, re.M)
    assert re.search(r"^ +coco +2 tasks +2 annotations", result.stdout, re.M)
    assert len(re.findall(r"manifest\.json$", result.stdout, re.M)) == 2
    # The compliance verdict in a few lines: the gate, counts and failing rule ids per severity, the report.
    assert "gate FAIL (fails on high and above): 16 pass, 32 fail, 0 error" in step("compliance")
    assert re.search(r"^ +critical +4 fail, 8 pass +s3\.block_public_access$", result.stdout, re.M)
    assert re.search(r"^ +high +8 fail, 4 pass +s3\.ip_restricted, s3\.tls_only$", result.stdout, re.M)
    (report,) = (tmp_path / "demo" / "reports").glob("*/compliance.html")
    assert f"report: {report} (and .json)" in result.stdout
    assert "tasks 12, annotations 3, predictions 1, quarantined files 1, signed URLs 12, exports 2" in step("database")

    text = log.read_text()
    assert "$ airflow dags test labelbridge_sync_demo_images" in text
    assert "[DAG TEST] starting task_id=sync" in text  # Airflow's own logging is in the file
    assert "$ labelbridge compliance check-buckets --report-dir" in text


def test_a_failed_step_shows_its_command_and_cause_on_screen(
    tmp_path: Path, demo_database: str, services: dict[str, devservices.Service]
) -> None:
    # Airflow's metadata DB where no file can be made: `airflow db migrate` fails.
    result = run_demo(
        tmp_path / "demo", demo_database, services,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path}/missing/dir/airflow.db",
    )
    assert result.returncode == 1
    assert result.stderr == ""
    assert "\nFAILED after step 'listed': `airflow db migrate` exited with 1:\n" in result.stdout
    assert "unable to open database file" in result.stdout
    assert result.stdout.endswith(f"full output: {tmp_path / 'demo' / 'demo.log'}\n")
    assert len(result.stdout.splitlines()) < 40
