"""End to end through a real Airflow 3 deployment: scheduler, CeleryExecutor, API server, dag-processor.

Run with ``.venv/bin/python -m pytest tests/e2e -m e2e``. ``dag.test()`` elsewhere proves the DAGs'
logic; these tests prove what users touch: a bucket attached in storages.yaml becomes a DAG, a
backfill over a date-partitioned prefix runs through Celery, and the other DAGs run on schedule.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import psycopg.conninfo
import pytest

from tests.e2e.browser import CHROMIUM, Browser
from tests.e2e.conftest import Stack, poll

pytestmark = pytest.mark.e2e

DATES = ("20250101", "20250102", "20250103")
OUTSIDE_BACKFILL = "20250104"
SYNC_DAG = "labelbridge_sync_e2e_dated"


def seed_bucket(stack: Stack, bucket: str) -> dict[str, list[str]]:
    """Images under incoming/<yyyymmdd>/, 2 to 5 per day, plus files the key regex leaves out."""
    s3 = stack.s3()
    s3.create_bucket(Bucket=bucket)
    keys: dict[str, list[str]] = {}
    for offset, day in enumerate((*DATES, OUTSIDE_BACKFILL)):
        keys[day] = [f"incoming/{day}/img-{n:02d}.jpg" for n in range(2 + offset)]
        for key in keys[day]:
            s3.put_object(Bucket=bucket, Key=key, Body=f"jpeg {key}".encode())
        s3.put_object(Bucket=bucket, Key=f"incoming/{day}/notes.txt", Body=b"not an image")
    return keys


def live_task_uris(stack: Stack) -> set[str]:
    with psycopg.connect(stack.labeling_dsn) as conn:
        rows = conn.execute(
            "SELECT t.uri FROM task t JOIN project p ON p.id = t.project_id"
            " WHERE p.name = 'e2e' AND t.deleted_at IS NULL"
        ).fetchall()
    return {row[0] for row in rows}


@pytest.fixture(scope="module")
def backfilled(stack: Stack) -> dict[str, Any]:
    """Attach a date-partitioned bucket, wait for its DAG, backfill three days, wait for the runs."""
    bucket = f"lb-e2e-{uuid.uuid4().hex[:10]}"
    keys = seed_bucket(stack, bucket)
    assert stack.api.dag_or_none(SYNC_DAG) is None
    stack.attach_storage(
        f"""\
  - name: e2e-dated
    project: e2e
    cloud: s3
    conn_id: aws_default
    bucket: {bucket}
    prefix: "incoming/{{{{ ds_nodash }}}}/"
    mode: objects
    key_regex: '\\.jpg$'
    schedule: "@daily"
    start_date: 2025-01-01
"""
    )
    dag = poll(lambda: stack.api.dag_or_none(SYNC_DAG), what=f"{SYNC_DAG} to be parsed", timeout_s=120)
    # New DAGs start paused (DAGS_ARE_PAUSED_AT_CREATION); the scheduler runs no backfill run of a
    # paused DAG, so attaching a bucket means unpausing its DAG, as a user does in the UI.
    stack.api.unpause(SYNC_DAG)
    backfill = stack.api.backfill(SYNC_DAG, "2025-01-01T00:00:00Z", "2025-01-03T00:00:00Z")
    runs = stack.api.wait_for_runs(SYNC_DAG, len(DATES), timeout_s=300, run_type="backfill")
    return {"bucket": bucket, "keys": keys, "dag": dag, "backfill": backfill, "runs": runs}


def test_attached_bucket_gets_a_sync_dag_tagged_by_cloud_and_job(backfilled: dict[str, Any]) -> None:
    dag = backfilled["dag"]
    assert {tag["name"] for tag in dag["tags"]} == {"labelbridge", "sync", "s3", "project:e2e"}
    where = f"s3://{backfilled['bucket']}/incoming/{{{{ ds_nodash }}}}/"
    assert dag["description"] == f"Sync {where} (objects) into project e2e"


def test_backfill_runs_one_successful_run_per_logical_date(backfilled: dict[str, Any]) -> None:
    runs = backfilled["runs"]
    assert sorted((r["logical_date"][:10], r["state"], r["run_type"]) for r in runs) == [
        ("2025-01-01", "success", "backfill"),
        ("2025-01-02", "success", "backfill"),
        ("2025-01-03", "success", "backfill"),
    ]


def test_labeling_db_holds_exactly_the_three_partitions(stack: Stack, backfilled: dict[str, Any]) -> None:
    bucket, keys = backfilled["bucket"], backfilled["keys"]
    expected = {f"s3://{bucket}/{key}" for day in DATES for key in keys[day]}
    assert live_task_uris(stack) == expected
    assert len(expected) == 2 + 3 + 4


def test_each_run_reports_its_partition_counts_in_xcom(stack: Stack, backfilled: dict[str, Any]) -> None:
    inserted = {}
    for run in backfilled["runs"]:
        task = f"/dags/{SYNC_DAG}/dagRuns/{run['dag_run_id']}/taskInstances/sync"
        entry = stack.api.get(f"{task}/xcomEntries/return_value")
        inserted[run["logical_date"][:10]] = entry["value"]["inserted"]
    assert inserted == {"2025-01-01": 2, "2025-01-02": 3, "2025-01-03": 4}


#: The rotation, export and compliance DAGs, each with the task whose lineage and results the tests read.
OTHER_DAGS = {"labelbridge_rotate_urls": "e2e-dated.rotate", "labelbridge_export_e2e_export": "export_json",
              "labelbridge_compliance": "report"}


@pytest.fixture(scope="module")
def other_runs(stack: Stack, backfilled: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rotation, export and compliance DAGs, each triggered once and run by the scheduler."""
    def parsed_with(dag_id: str, task_id: str) -> bool | None:
        return True if stack.api.dag_or_none(dag_id) is not None and task_id in stack.api.task_ids(dag_id) else None

    run_ids = {}
    for dag_id, task_id in OTHER_DAGS.items():
        # The rotation DAG has one task group per storage, read from storages.yaml when the file is parsed.
        # The e2e-dated storage was attached seconds after the stack wrote the DAG without it, and the
        # dag-processor writes a changed DAG at most every [core] min_serialized_dag_update_interval (30 s):
        # a run created before that is one of the old DAG, with no task at all, and succeeds doing nothing.
        poll(lambda dag_id=dag_id, task_id=task_id: parsed_with(dag_id, task_id),
             what=f"{dag_id} to be parsed with its task {task_id}", timeout_s=120)
        stack.api.unpause(dag_id)
        run_ids[dag_id] = stack.api.trigger(dag_id)
    finished = {}
    for dag_id, run_id in run_ids.items():
        runs = stack.api.wait_for_runs(dag_id, 1, timeout_s=300, run_type="manual")
        finished[dag_id] = next(r for r in runs if r["dag_run_id"] == run_id)
    return finished


def test_rotation_and_export_run_through_the_scheduler(stack: Stack, other_runs: dict[str, dict[str, Any]]) -> None:
    for dag_id in ("labelbridge_rotate_urls", "labelbridge_export_e2e_export"):
        run = other_runs[dag_id]
        # A run of a DAG version without the task also "succeeds": its task must have run.
        states = {ti["task_id"]: ti["state"] for ti in stack.api.task_instances(dag_id, run["dag_run_id"])}
        assert (run["state"], states.get(OTHER_DAGS[dag_id])) == ("success", "success"), states
    listed = stack.s3().list_objects_v2(Bucket=stack.export_bucket, Prefix="exports/")
    assert [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith("manifest.json")] != []


def test_compliance_writes_its_report_through_the_scheduler(
    stack: Stack, other_runs: dict[str, dict[str, Any]]
) -> None:
    run = other_runs["labelbridge_compliance"]
    instances = stack.api.task_instances("labelbridge_compliance", run["dag_run_id"])
    states = {ti["task_id"]: ti["state"] for ti in instances}
    # Fresh emulator buckets have no Block Public Access: a critical rule fails, so the gate fails
    # the run after the report is written, as it would for a user's misconfigured bucket.
    assert (states["report"], states["gate"], run["state"]) == ("success", "failed", "failed"), states
    reports = sorted(stack.reports_dir.rglob("compliance.html"))
    assert len(reports) == 1


def test_every_job_reports_its_lineage_through_openlineage(
    stack: Stack, backfilled: dict[str, Any], other_runs: dict[str, dict[str, Any]]
) -> None:
    """The stack's OpenLineage provider writes each task's events to a file (devservices/stack.py)."""
    complete: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        # Tasks append while this reads: what follows the last newline may be half an event.
        lines = stack.settings.openlineage_events.read_text().split("\n")[:-1]
        complete[:] = [e for e in map(json.loads, lines) if e["eventType"] in ("COMPLETE", "FAIL")]
        return complete

    def of(job: str) -> list[dict[str, Any]]:
        return [e for e in complete if re.fullmatch(job, e["job"]["name"])]

    def counts(job: str, key: str) -> int:
        return sum(e["run"]["facets"]["labelbridge"]["counts"][key] for e in of(job))

    sync, rotate = f"{SYNC_DAG}\\.sync", r"labelbridge_rotate_urls\.e2e-dated\.rotate"
    export, report = r"labelbridge_export_e2e_export\.export_json", r"labelbridge_compliance\.report"
    tasks = len(live_task_uris(stack))
    # A task reports its state before its listeners run (the task SDK's run() sends it, finalize() then
    # emits), so a run can be "success" a moment before its last task's COMPLETE event is written. The
    # storage's asset also starts rotation and export runs of its own: between them they sign and export
    # each task once, whichever run comes first.
    try:
        poll(lambda: True if read() and all(of(job) for job in (sync, report))
             and counts(rotate, "signed") == tasks and counts(export, "tasks_exported") == tasks else None,
             timeout_s=60, what=f"OpenLineage COMPLETE events of sync, rotate and export ({tasks} tasks) and report")
    except AssertionError as exc:
        seen = sorted({f"{e['eventType']} {e['job']['name']}" for e in complete})
        raise AssertionError(f"{exc}; events seen: {seen}; {lineage_warnings(stack)}") from None

    def names(datasets: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(d["namespace"], d["name"]) for d in datasets}

    assert all(e["job"]["namespace"] == "labelbridge" for e in complete)
    server = psycopg.conninfo.conninfo_to_dict(stack.labeling_dsn)
    labeling_db = f"postgres://{server.get('host') or '127.0.0.1'}:{server.get('port') or 5432}"

    def tables(*names: str) -> set[tuple[str, str]]:
        return {(labeling_db, f"{stack.settings.labeling_database}.public.{name}") for name in names}

    syncs = of(sync)
    assert {n for e in syncs for n in names(e["inputs"])} >= {
        (f"s3://{backfilled['bucket']}", f"incoming/{day}") for day in DATES
    }
    assert all(names(e["outputs"]) == tables("task", "source_object", "quarantine", "sync_run") for e in syncs)
    assert {e["run"]["facets"]["labelbridge"]["counts"]["inserted"] for e in syncs} >= {2, 3, 4}

    rotations = of(rotate)
    assert all((names(e["inputs"]), names(e["outputs"])) == (tables("task", "task_url"), tables("task_url"))
               for e in rotations)
    assert {e["run"]["facets"]["labelbridge"]["details"]["storage"] for e in rotations} == {"e2e-dated"}

    exports = of(export)
    assert all((names(e["inputs"]), names(e["outputs"])) == (
        tables("task", "annotation", "prediction"), {(f"s3://{stack.export_bucket}", "exports/e2e/json")}
    ) for e in exports)
    assert {e["outputs"][0]["facets"]["labelbridgeExport"]["format"] for e in exports} == {"json"}

    # The report's run facet says what the report file says: rows judged and the blocking ones (the
    # manual run and the day's scheduled one judge the same buckets and write the same report).
    (summary_file,) = stack.reports_dir.rglob("compliance.json")
    summary = json.loads(summary_file.read_text())["summary"]
    reports = [e for e in of(report) if e["run"]["facets"]["labelbridge"]["details"]["day"] == summary_file.parent.name]
    assert reports
    for event in reports:
        assert names(event["inputs"]) >= {(f"s3://{b}", "/") for b in (backfilled["bucket"], stack.export_bucket)}
        assert names(event["outputs"]) == {("file", str(stack.reports_dir))}
        facet_counts = event["run"]["facets"]["labelbridge"]["counts"]
        assert {k: facet_counts[k] for k in ("rows", "fail", "error", "waived")} == {
            k: summary[k] for k in ("rows", "fail", "error", "waived")
        }
        assert facet_counts["blocking"] == len(summary["blocking"]) > 0

    lineage = json.dumps([[e["inputs"], e["outputs"], e["run"]["facets"].get("labelbridge")] for e in complete])
    for marker in ("password", "X-Amz-Signature", "sig=", "X-Goog-Signature"):
        assert marker not in lineage


def lineage_warnings(stack: Stack) -> str:
    """What the stack's task and worker logs say about OpenLineage emission going wrong, for a failure message."""
    signs = ("OpenLineage", "overtime", "error calling listener")
    logs = [*sorted((stack.settings.state_dir / "airflow-home" / "logs").rglob("*.log")),
            stack.settings.logs_dir / "airflow-worker.log"]
    found = [f"{log.relative_to(stack.settings.state_dir)}: {line[:400]}" for log in logs if log.exists()
             for line in log.read_text(errors="replace").splitlines()
             if any(sign in line for sign in signs) and not re.search(r"Successfully emitted|will use `\w+` transport",
                                                                      line)]
    return "log lines: " + ("\n".join(found[-40:]) or "none")


# The committed docs/screenshots are refreshed on request (LABELBRIDGE_SCREENSHOTS=docs/screenshots);
# a plain test run leaves the working tree as it was.
SCREENSHOTS = Path(os.environ.get("LABELBRIDGE_SCREENSHOTS") or Path(tempfile.gettempdir()) / "labelbridge-screenshots")


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("chromium is missing: `apt-get install -y chromium` (the project's setup installs it)")
    opened = Browser()
    # The simple auth manager's JWT as the UI's own login cookie: no login form to script.
    opened.set_cookie(stack.settings.api_url, "_token", stack.api.token)
    yield opened
    opened.close()


def test_ui_lists_the_backfill_runs_of_the_sync_dag(
    stack: Stack, backfilled: dict[str, Any], browser: Browser
) -> None:
    browser.goto(f"{stack.settings.api_url}/dags/{SYNC_DAG}/runs")
    browser.wait_for_text(*(f"backfill__{d[:4]}-{d[4:6]}-{d[6:]}T00:00:00+00:00" for d in DATES))
    browser.screenshot(SCREENSHOTS / "sync-runs.png")
    browser.goto(f"{stack.settings.api_url}/dags/{SYNC_DAG}")
    browser.wait_for_text("sync", "check_quarantine", "project:e2e", "Failed Runs")
    browser.screenshot(SCREENSHOTS / "sync-grid.png")


def test_compliance_report_shows_the_blocking_rule_rows(
    stack: Stack, other_runs: dict[str, dict[str, Any]], browser: Browser
) -> None:
    # Opened as the "Compliance report" link does: through the plugin's view, with the UI's cookie.
    links = stack.api.get(f"/dags/labelbridge_compliance/dagRuns/{other_runs['labelbridge_compliance']['dag_run_id']}"
                          "/taskInstances/report/links")
    browser.goto(links["extra_links"]["Compliance report"])
    text = browser.wait_for_text("Gate: FAIL", "s3.block_public_access", "lb-e2e-", "Needs attention", "Passing (")
    # The templated report lists failing rows first, passing ones last.
    assert text.index("Needs attention") < text.index("Passing (")
    browser.screenshot(SCREENSHOTS / "compliance-report.png")


# Extra links, the report view and task summaries (labelbridge/ui/plugin.py) ------------------


def test_each_sync_task_links_to_the_bucket_prefix_it_listed(stack: Stack, backfilled: dict[str, Any]) -> None:
    bucket, keys = backfilled["bucket"], backfilled["keys"]
    moto = f"http://127.0.0.1:{stack.settings.moto_port}"
    for run in backfilled["runs"]:
        day = run["logical_date"][:10].replace("-", "")
        links = stack.api.get(f"/dags/{SYNC_DAG}/dagRuns/{run['dag_run_id']}/taskInstances/sync/links")
        # moto has no console: the link is the rendered prefix's plain (unsigned) listing.
        assert links == {
            "extra_links": {"Bucket": f"{moto}/{bucket}?list-type=2&prefix=incoming%2F{day}%2F"},
            "total_entries": 1,
        }
        listing = httpx.get(links["extra_links"]["Bucket"], timeout=10).text
        assert all(f"<Key>{key}</Key>" in listing for key in keys[day])
        assert OUTSIDE_BACKFILL not in listing


def _report_link(stack: Stack, run: dict[str, Any]) -> str:
    links = stack.api.get(f"/dags/labelbridge_compliance/dagRuns/{run['dag_run_id']}/taskInstances/report/links")
    return str(links["extra_links"]["Compliance report"])


def test_compliance_task_links_to_its_report_served_by_the_plugin(
    stack: Stack, other_runs: dict[str, dict[str, Any]]
) -> None:
    (report,) = stack.reports_dir.rglob("compliance.html")
    day = report.parent.name
    link = _report_link(stack, other_runs["labelbridge_compliance"])
    assert link == f"{stack.settings.api_url}/labelbridge/reports/{day}/compliance.html"

    assert httpx.get(link, timeout=10).status_code == 401
    page = httpx.get(link, headers={"Authorization": f"Bearer {stack.api.token}"}, timeout=10)
    assert page.status_code == 200
    assert page.text == report.read_text()
    # The findings tables name the bucket each row judged; the trend table below them has one row per rule.
    rows = page.text.split("<tr")[1:]
    finding_rows = [row for row in rows if "s3.block_public_access" in row and 'class="resource"' in row]
    assert finding_rows and all("lb-e2e-" in row for row in finding_rows)
    assert any("s3.block_public_access" in row and "<svg" in row for row in rows)
    # Only report files: the staged parts beside the report are not served.
    parts = httpx.get(f"{stack.settings.api_url}/labelbridge/reports/{day}/parts", timeout=10,
                      headers={"Authorization": f"Bearer {stack.api.token}"})
    assert parts.status_code == 404


def test_task_pages_show_the_extra_link_buttons_and_the_summary_tab(
    stack: Stack, backfilled: dict[str, Any], other_runs: dict[str, dict[str, Any]], browser: Browser
) -> None:
    api = stack.settings.api_url
    run = other_runs["labelbridge_compliance"]
    task_page = f"{api}/dags/labelbridge_compliance/runs/{run['dag_run_id']}/tasks/report"
    # Airflow 3.3 shows a task instance's extra links as buttons in its Details tab.
    browser.goto(f"{task_page}/details")
    browser.wait_for_text("Extra Links")
    assert browser.wait_for_link("Compliance report") == _report_link(stack, run)
    browser.screenshot(SCREENSHOTS / "compliance-task-links.png")
    browser.goto(f"{task_page}/plugin/labelbridge-summary")
    text = browser.wait_for_frame_text("/labelbridge/tasks/", "report summary", "Open the compliance report")
    assert re.search(r"rows \d+, fail \d+, error \d+, waived \d+, blocking \d+", text), text
    browser.screenshot(SCREENSHOTS / "compliance-task-summary.png")

    first = sorted(backfilled["runs"], key=lambda r: r["logical_date"])[0]
    sync_page = f"{api}/dags/{SYNC_DAG}/runs/{first['dag_run_id']}/tasks/sync"
    browser.goto(f"{sync_page}/details")
    browser.wait_for_text("Extra Links")
    bucket_link = browser.wait_for_link("Bucket")
    assert bucket_link.endswith(f"/{backfilled['bucket']}?list-type=2&prefix=incoming%2F20250101%2F")
    browser.goto(f"{sync_page}/plugin/labelbridge-summary")
    text = browser.wait_for_frame_text("/labelbridge/tasks/", "sync summary", " in ")
    counts = stack.api.get(f"/dags/{SYNC_DAG}/dagRuns/{first['dag_run_id']}/taskInstances/sync/xcomEntries/"
                           "return_value")["value"]
    line = f"listed {counts['listed']}, inserted 2, updated 0, unchanged 0, deleted 0, restored 0, quarantined 0 in "
    assert line in text
    browser.screenshot(SCREENSHOTS / "sync-task-summary.png")
