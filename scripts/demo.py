"""The demo: labelbridge's jobs on the bundled storages.yaml, with no cloud account.

Starts PostgreSQL (the machine's own when it answers, else an embedded one), moto_server (S3) and
Label Studio (installed in .ls-venv by setup) on loopback, seeds the bucket ``labelbridge-demo``
with a few images and Label Studio task files (one of them broken on purpose), then runs the sync
DAG through Airflow and the other jobs through the CLI: the tasks go to a Label Studio project
with signed URLs, a labeler's annotation made through its REST API comes back and is exported.
Run it with ``./scripts/demo.sh``; ``--keep-running`` leaves Label Studio up to look at in a browser.

The screen gets the story: one line per step (what happened, in numbers) with the command that
did it, and a small table where a step has one; well under 100 lines. Everything the commands
and Airflow print goes to ``<state>/demo.log``, whose path is printed first and last; when a
step fails, the screen shows the command, its exit code and the lines of its output that say
why. The ``labelbridge`` commands run in this process through the CLI's own ``main()`` (what
the console script calls), which spares a few seconds of imports per command; the sync DAG runs
in a subprocess, ``airflow dags test``, as a user would run it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import devservices  # noqa: E402

BIN = Path(sys.executable).parent
BUCKET = "labelbridge-demo"
IMAGES = {
    "cat-001": (200, 120, 80), "cat-002": (190, 110, 70), "cat-003": (180, 100, 60),
    "dog-001": (90, 60, 30), "dog-002": (100, 70, 40), "bird-001": (40, 120, 200), "bird-002": (50, 130, 210),
}
#: The step names, in the order the story tells them (tests/test_demo.py checks each is there).
STEPS = (
    "services", "seeded", "schema", "storages", "listed", "airflow", "synced", "dry run", "synced",
    "quarantined", "re-synced", "rotated", "label studio", "pushed", "annotated", "pulled", "exported",
    "compliance", "database",
)
#: The Label Studio project the bundled storages.yaml names for project ``demo``.
LABEL_STUDIO_PROJECT = "labelbridge demo"
SEVERITIES = ("critical", "high", "medium", "low", "info")
#: How many lines of a failed command's output the screen shows.
FAILURE_LINES = 15


class DemoFailed(Exception):
    """A step failed; the message says which command and why."""


def png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """A solid-colour PNG, built by hand so the demo needs no imaging library."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@dataclass(frozen=True)
class Output:
    code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


class Story:
    """The screen (one line per step) and the log file (everything else)."""

    def __init__(self, screen: TextIO, log_path: Path) -> None:
        self.screen = screen
        self.log_path = log_path
        self.step_name: str | None = None

    def say(self, text: str = "") -> None:
        print(text, file=self.screen, flush=True)

    def step(self, name: str, text: str, *, command: str | None = None) -> None:
        self.step_name = name
        self.say(f"{name:<12} {text}")
        if command:
            self.detail(f"$ {command}")

    def detail(self, text: str) -> None:
        self.say(f"{'':<12} {text}")

    def table(self, rows: Sequence[tuple[str, ...]]) -> None:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.detail("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    @staticmethod
    def log(text: str) -> None:
        """A line in the log (file descriptor 2 is the log file while the demo runs)."""
        sys.__stderr__.write(text.rstrip("\n") + "\n")  # type: ignore[union-attr]
        sys.__stderr__.flush()  # type: ignore[union-attr]

    def labelbridge(self, *args: str, ok: tuple[int, ...] = (0,)) -> Output:
        """``labelbridge ARGS``, run in this process by the console script's own ``main()``."""
        from labelbridge.cli import main

        command = "labelbridge " + " ".join(args)
        self.log(f"\n$ {command}")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
            except Exception as exc:
                self.log(traceback.format_exc())
                raise DemoFailed(f"`{command}` raised {type(exc).__name__}: {exc}") from exc
        self.log(out.getvalue() + err.getvalue())
        if code not in ok:
            raise DemoFailed(f"`{command}` exited with {code}:\n" + _cause(err.getvalue() or out.getvalue()))
        return Output(code, out.getvalue(), err.getvalue())

    def airflow(self, *args: str) -> None:
        """``airflow ARGS`` in a subprocess whose output goes to the log only."""
        command = "airflow " + " ".join(args)
        self.log(f"\n$ {command}")
        start = self.log_path.stat().st_size
        result = subprocess.run([str(BIN / "airflow"), *args], env=os.environ, cwd=ROOT, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            with self.log_path.open(errors="replace") as log:
                log.seek(start)
                output = log.read()
            raise DemoFailed(f"`{command}` exited with {result.returncode}:\n" + _cause(output))


def _cause(output: str) -> str:
    """The lines of a failed command's output that say why: its errors, else its last lines."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if any(word in line for word in ("error", "ERROR", "Error", "failed", "FAILED"))]
    shown = (errors or lines)[-FAILURE_LINES:]
    return "\n".join(f"    {line[:200]}" for line in shown) or "    (no output)"


def shown_path(path: Path) -> str:
    """A path relative to the checkout when it is inside it (``.demo/demo.log``)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def counts_text(counts: dict[str, Any], keys: tuple[str, ...]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in keys if k in counts)


def seed_bucket() -> None:
    from labelbridge.config import Cloud
    from labelbridge.connections import make_client

    s3 = make_client(Cloud.S3, "aws_default")
    s3.create_bucket(Bucket=BUCKET)
    for name, rgb in IMAGES.items():
        s3.put_object(Bucket=BUCKET, Key=f"images/{name}.png", Body=png(rgb), ContentType="image/png")
    for path in sorted((ROOT / "demo" / "sample" / "tasks").iterdir()):
        s3.put_object(Bucket=BUCKET, Key=f"tasks/{path.name}", Body=path.read_bytes())
    # The access-log bucket the bundled compliance settings name.
    s3.create_bucket(Bucket=f"{BUCKET}-logs")


def exported_objects() -> list[tuple[str, str]]:
    from labelbridge.config import Cloud
    from labelbridge.connections import make_client
    from labelbridge.storage import S3Store

    store = S3Store(make_client(Cloud.S3, "aws_default"), BUCKET, prefix="exports/")
    return [(f"{obj.size_bytes:>6}", f"s3://{BUCKET}/{obj.key}") for obj in store.iter_objects()]


def prepare_database(server: devservices.Service, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        # A fresh labeling database each time, so the demo always shows the same story.
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return devservices.database_dsn(server.url, name)


def tell(story: Story, *, state: Path, database: str) -> None:
    """Every step of the demo, each told in a line or a small table."""
    import psycopg
    import psycopg.conninfo

    postgres = devservices.start_postgres()
    services.append(postgres)
    # Label Studio takes 20-45 s to start (Django migrations): it starts while the first steps run.
    label_studio = LabelStudioStarting(postgres.url)
    services.append(label_studio)
    moto = devservices.start_moto()
    services.append(moto)
    os.environ.update(moto.env)
    dsn = prepare_database(postgres, database)
    os.environ["AIRFLOW_CONN_LABELING_DB"] = devservices.airflow_postgres_uri(dsn)
    where = psycopg.conninfo.conninfo_to_dict(postgres.url)
    story.step(
        "services",
        f"PostgreSQL {where.get('host') or 'local'}:{where.get('port') or 5432} (database {database}), "
        f"S3 (moto_server) {moto.url}",
    )
    seed_bucket()
    story.step("seeded", f"s3://{BUCKET}: {len(IMAGES)} images, 3 Label Studio task files (tasks/broken.json "
               "broken on purpose)")

    out = story.labelbridge("db", "upgrade")
    story.step("schema", (out.stdout.strip() or "labeling database migrated"), command="labelbridge db upgrade")

    rows = story.labelbridge("storages", "list", "--json").json_lines()
    story.step("storages", f"{len(rows)} in config/storages.yaml", command="labelbridge storages list")
    story.table([
        (r["name"], r["role"], f"{r['cloud']}://{r['bucket']}/{r['prefix']}",
         r.get("mode") or "formats " + ", ".join(r.get("formats", ())))
        for r in rows
    ])

    objects = story.labelbridge("ls", "demo-images", "--json").json_lines()
    names = [o["uri"].rsplit("/", 1)[-1] for o in objects]
    story.step(
        "listed",
        f"demo-images: {len(objects)} objects, {sum(o['size_bytes'] for o in objects)} bytes, streamed page by "
        f"page ({names[0]} ... {names[-1]})" if objects else "demo-images: no objects",
        command="labelbridge ls demo-images",
    )

    story.airflow("db", "migrate")
    story.step("airflow", f"metadata database ready (SQLite under {shown_path(state / 'airflow')})",
               command="airflow db migrate")
    story.airflow("dags", "test", "labelbridge_sync_demo_images")
    with psycopg.connect(dsn) as conn:
        run = conn.execute(
            "SELECT r.run_id, r.status, r.listed, r.inserted, r.updated, r.quarantined FROM sync_run r "
            "JOIN storage s ON s.id = r.storage_id WHERE s.name = 'demo-images' ORDER BY r.id DESC LIMIT 1"
        ).fetchone()
    if run is None:
        raise DemoFailed("`airflow dags test labelbridge_sync_demo_images` passed but left no sync run")
    story.step(
        "synced",
        f"demo-images, run by Airflow: {run[2]} listed, {run[3]} inserted, {run[4]} updated, "
        f"{run[5]} quarantined; run {run[1]}",
        command="airflow dags test labelbridge_sync_demo_images",
    )

    # Exit code 1: demo-tasks sets fail_on_quarantine, and one file is quarantined.
    dry = story.labelbridge("sync", "demo-tasks", "--dry-run", "--json", ok=(0, 1))
    (counts,) = dry.json_lines()
    would = Counter(line.split()[1] for line in dry.stdout.splitlines() if line.startswith("would "))
    story.step(
        "dry run",
        f"demo-tasks (JSON task files): {counts['listed']} listed, would insert {would['insert']} tasks and "
        f"quarantine {counts['quarantined']} file; nothing written",
        command="labelbridge sync demo-tasks --dry-run",
    )
    (counts,) = story.labelbridge("sync", "demo-tasks", "--json", ok=(0, 1)).json_lines()
    story.step(
        "synced",
        f"demo-tasks: {counts_text(counts, ('listed', 'inserted', 'updated', 'quarantined'))}",
        command="labelbridge sync demo-tasks",
    )
    held = story.labelbridge("quarantine", "list", "--json").json_lines()
    story.step("quarantined", f"{len(held)} file set aside with where and why; the run went on",
               command="labelbridge quarantine list")
    for entry in held:
        story.detail(f"  {entry['uri']}")
        story.detail(f"    {entry['reason'].split(': ', 1)[-1]}")  # the reason starts with the key again

    (counts,) = story.labelbridge("sync", "demo-images", "--json").json_lines()
    written = sum(counts[k] for k in ("inserted", "updated", "deleted", "restored"))
    story.step(
        "re-synced",
        f"demo-images: {counts['listed']} listed, {counts['unchanged']} unchanged, {written} written"
        + (" (incremental: nothing rewritten)" if not written else ""),
        command="labelbridge sync demo-images",
    )

    rotated = story.labelbridge("rotate", "demo-images", "demo-tasks", "--json").json_lines()
    story.step(
        "rotated",
        f"{sum(r['signed'] for r in rotated)} signed URLs written; a canary fetched "
        f"{sum(r['canary_checked'] for r in rotated)} before any was stored",
        command="labelbridge rotate demo-images demo-tasks",
    )
    story.table([
        (r["storage"], f"{r['signed']} of {r['due']} due signed", f"by {r['signer'] or '-'}") for r in rotated
    ])

    loop_through_label_studio(story, label_studio.wait(), dsn)

    exports = story.labelbridge("export", "demo-export").json_lines()
    story.step(
        "exported",
        f"demo-export: {len(exports)} formats to s3://{BUCKET}/exports/, each with its manifest written last",
        command="labelbridge export demo-export",
    )
    story.table([
        (e["format"], f"{e['tasks_exported']} tasks", f"{e['annotations_exported']} annotations",
         f"{e['files']} file(s), {e['bytes']} bytes")
        for e in exports
    ])
    story.table(exported_objects())

    reports = state / "reports"
    story.labelbridge("compliance", "check-buckets", "--report-dir", str(reports), ok=(0, 1))  # 1: the gate failed
    (report_file,) = reports.glob("*/compliance.json")
    report = json.loads(report_file.read_text())
    summary = report["summary"]
    story.step(
        "compliance",
        f"gate {summary['gate'].upper()} (fails on {report['fail_on']} and above): "
        f"{counts_text(summary, ('pass', 'fail', 'error', 'waived'))} over {summary['storages']} storages",
        command=f"labelbridge compliance check-buckets --report-dir {shown_path(reports)}",
    )
    by_severity: dict[str, Counter[str]] = {}
    failing: dict[str, set[str]] = {}
    for row in report["rows"]:
        by_severity.setdefault(row["severity"], Counter())[row["status"]] += 1
        if row["status"] in ("fail", "error"):
            failing.setdefault(row["severity"], set()).add(row["rule_id"])
    verdict = []
    for severity, counts in sorted(by_severity.items(), key=lambda item: SEVERITIES.index(item[0])):
        # Many failing rules wrap onto continuation lines rather than run off the terminal.
        rules = textwrap.wrap(", ".join(sorted(failing.get(severity, ()))), 64) or ["-"]
        verdict.append((severity, counts_text(dict(counts), ("fail", "error", "waived", "pass")), rules[0]))
        verdict.extend(("", "", more) for more in rules[1:])
    story.table(verdict)
    story.detail("(a fresh emulator bucket has none of these settings: the gate is meant to fail here)")
    story.detail(f"report: {shown_path(report_file.with_suffix('.html'))} (and .json)")

    with psycopg.connect(dsn) as conn:
        held_counts = []
        for label, query in (
            ("tasks", "SELECT count(*) FROM task WHERE deleted_at IS NULL"),
            ("annotations", "SELECT count(*) FROM annotation"),
            ("predictions", "SELECT count(*) FROM prediction"),
            ("quarantined files", "SELECT count(*) FROM quarantine WHERE resolved_at IS NULL"),
            ("signed URLs", "SELECT count(*) FROM task_url"),
            ("exports", "SELECT count(*) FROM export_run WHERE status = 'success'"),
        ):
            held_counts.append(f"{label} {conn.execute(query).fetchone()[0]}")  # type: ignore[index]
        runs = conn.execute(
            "SELECT s.name, r.run_id, r.status, r.listed, r.inserted, r.unchanged, r.quarantined "
            "FROM sync_run r JOIN storage s ON s.id = r.storage_id ORDER BY r.id"
        ).fetchall()
    story.step("database", ", ".join(held_counts))
    story.table([
        (name, run_id[:24], status, f"listed {listed}", f"inserted {inserted}", f"unchanged {unchanged}",
         f"quarantined {quarantined}")
        for name, run_id, status, listed, inserted, unchanged, quarantined in runs
    ])


class LabelStudioStarting:
    """Label Studio starting in a thread; :meth:`wait` returns it once it answers."""

    def __init__(self, server_dsn: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="label-studio")
        self._future = self._pool.submit(devservices.start_label_studio, server_dsn)
        self._pool.shutdown(wait=False)

    def wait(self) -> devservices.LabelStudioServer:
        return self._future.result()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._future.result().stop()


def loop_through_label_studio(story: Story, server: devservices.LabelStudioServer, dsn: str) -> None:
    """Tasks into Label Studio with signed URLs, a labeler's annotation made there, pulled back."""
    import httpx
    import psycopg

    from labelbridge.tools.label_studio import LabelStudioClient

    conn = {"conn_type": "label_studio", "host": server.url, "password": server.token}
    os.environ["AIRFLOW_CONN_LABEL_STUDIO_DEFAULT"] = json.dumps(conn)
    story.step("label studio", f"{server.url} (Label Studio 1.23 from .ls-venv): it holds no cloud credential")

    (pushed,) = story.labelbridge("label-studio", "push", "demo", "--json").json_lines()
    client = LabelStudioClient(server.url, server.token)
    project_id = int(pushed["label_studio_project"])
    tasks = client.list_tasks(project_id, include=("id", "data"), page=1, page_size=100)
    image = next(t for t in tasks if t["data"]["image"].split("?")[0].endswith("/cat-003.png"))
    answer = httpx.get(image["data"]["image"], timeout=10)
    story.step(
        "pushed",
        f"{pushed['imported']} tasks into Label Studio project {project_id} with signed URLs; cat-003.png's URL "
        f"from there: HTTP {answer.status_code}, {answer.headers.get('content-type')}",
        command="labelbridge label-studio push demo",
    )

    box = {
        "from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": 64,
        "original_height": 64, "image_rotation": 0,
        "value": {"x": 20, "y": 25, "width": 50, "height": 45, "rotation": 0, "rectanglelabels": ["cat"]},
    }  # fmt: skip
    client.request("POST", f"/api/tasks/{image['id']}/annotations/", json_body={"result": [box], "lead_time": 4.2})
    story.step("annotated", "a labeler draws a 'cat' box on cat-003.png in Label Studio (its REST API, as the "
               "browser does)")

    (pulled,) = story.labelbridge("label-studio", "pull", "demo", "--json").json_lines()
    with psycopg.connect(dsn) as db:
        tool = db.execute("SELECT count(*) FROM annotation WHERE origin = 'tool'").fetchone()
    story.step(
        "pulled",
        f"{pulled['created']} annotation made in Label Studio came back, by the server's updated_at cursor "
        f"({tool[0] if tool else 0} with origin 'tool')",
        command="labelbridge label-studio pull demo",
    )
    (status,) = story.labelbridge("label-studio", "status", "demo", "--json").json_lines()
    renewal = status["renewal"] or {}
    story.detail(
        f"status: {status['in_sync']} in sync, {status['pending']} pending, earliest URL expiry "
        f"{str(renewal.get('earliest_expiry'))[:16]}, renewal needs {renewal.get('steady_rate_per_s')} PATCH/s "
        f"of {renewal.get('max_patch_rate_per_s')}"
    )


def keep_running(story: Story, services_up: Sequence[Any]) -> None:
    """Leave Label Studio and the S3 emulator up until Ctrl-C, to look at the tasks in a browser."""
    server = next(s for s in services_up if isinstance(s, LabelStudioStarting)).wait()
    story.say()
    story.say(f"Label Studio is up at {server.url}/projects/ : log in as {server.email} / {server.password}")
    story.say("the images load from the S3 emulator through their signed URLs; Ctrl-C stops everything")
    threading.Event().wait()


#: Started services, stopped in reverse order whatever happens.
services: list[Any] = []


@contextlib.contextmanager
def output_to_log(log_path: Path) -> Iterator[TextIO]:
    """Point file descriptors 1 and 2 at the log (so every library, Airflow and subprocess writes
    there) and yield the original stdout for the story."""
    sys.stdout.flush()
    sys.stderr.flush()
    screen = open(os.dup(1), "w", encoding="utf-8", errors="replace")  # noqa: SIM115
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield screen
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        screen.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=ROOT / ".demo", help="where the demo keeps what it makes")
    parser.add_argument("--database", default="labelbridge_demo", help="labeling database (dropped and recreated)")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave Label Studio and S3 up afterwards, until Ctrl-C"
    )
    args = parser.parse_args(argv)
    state: Path = args.state.resolve()
    started = time.monotonic()
    shutil.rmtree(state, ignore_errors=True)
    (state / "airflow").mkdir(parents=True)
    log_path = state / "demo.log"
    os.environ.update(
        AIRFLOW_HOME=str(state / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        LABELBRIDGE_CONFIG=str(ROOT / "config" / "storages.yaml"),
        LABELBRIDGE_REPORTS_DIR=str(state / "reports"),
    )
    with output_to_log(log_path) as screen:
        story = Story(screen, log_path)
        story.say("labelbridge demo: config/storages.yaml with PostgreSQL, S3 (moto), Label Studio on loopback")
        story.say(f"every command's full output, Airflow's logs included: {shown_path(log_path)}")
        story.say()
        try:
            tell(story, state=state, database=args.database)
            story.say()
            story.say(f"demo finished in {time.monotonic() - started:.0f}s; full output: {shown_path(log_path)}")
            if args.keep_running:
                keep_running(story, services)
        except Exception as exc:
            story.log(traceback.format_exc())
            cause = str(exc) if isinstance(exc, DemoFailed) else f"{type(exc).__name__}: {exc}"
            where = f"after step {story.step_name!r}" if story.step_name else "before the first step"
            story.say(f"\nFAILED {where}: {cause}")
            story.say(f"full output: {shown_path(log_path)}")
            return 1
        except KeyboardInterrupt:
            story.say(f"\ninterrupted; full output so far: {shown_path(log_path)}")
            return 130
        finally:
            for service in reversed(services):
                service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
