"""Fault injection: each job killed, cut off from PostgreSQL, or cut off from its storage mid-run.

The job runs in its own process (:mod:`tests.faults.child`) against a private moto_server reached
through a forwarder (:mod:`tests.faults.proxy`), and pauses at a fixed point well inside the run;
the test injects the fault there, lets it go on, and then:

- the dead run's row says what happened: ``abandoned`` (with ``last_seen_at`` and the counts of
  what it had committed) once the next run of the same job has looked, ``failed`` when the job
  lived to record its own failure; rotation has no run row;
- the rerun ends equal to a clean run of the same job: tasks, annotations and the source bucket
  for sync; tasks with a fresh URL for every URI field for rotation; the published files and
  manifest for export.

docs/reliability.md states these guarantees and points here.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

import devservices
from labelbridge.config import Cloud, ExportTargetConfig, StorageConfig
from labelbridge.connections import make_client
from labelbridge.export import export_target
from labelbridge.rotate.rotation import rotate_storage
from labelbridge.storage import ObjectStore, store_class
from labelbridge.sync import StorageSync
from tests.conftest import create_bucket, unique_bucket
from tests.export.conftest import seed
from tests.faults.proxy import Proxy

ROOT = Path(__file__).resolve().parents[2]
FAULTS = ("sigkill", "db_lost", "storage_down")
#: How long a paused job, a dying process or a retrying SDK may take before the test gives up.
DEADLINE_S = 120.0


@dataclass
class Emulator:
    service: devservices.Service

    @property
    def port(self) -> int:
        return int(self.service.url.rsplit(":", 1)[1])

    def conn_json(self, url: str) -> str:
        conn = json.loads(self.service.env["AIRFLOW_CONN_AWS_DEFAULT"])
        conn["extra"]["endpoint_url"] = url
        return json.dumps(conn)


@pytest.fixture(scope="module")
def emulator(services: dict[str, devservices.Service]) -> Iterator[Emulator]:
    """A moto_server of this module's own: cutting its endpoint never disturbs other tests."""
    service = devservices.start_moto()
    try:
        yield Emulator(service)
    finally:
        service.stop()


@pytest.fixture
def store(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    """A fresh bucket on the private emulator, reached directly (the rerun and the clean run use it)."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", emulator.conn_json(emulator.service.url))
    client = make_client(Cloud.S3, "aws_default")
    bucket = unique_bucket()
    create_bucket(Cloud.S3, client, bucket)
    return store_class(Cloud.S3)(client, bucket)


@pytest.fixture
def clean_dsn(pg_server: str, template_db: str) -> Iterator[str]:
    """A second fresh labeling database, for the clean run the rerun is compared with."""
    name = f"lb_clean_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield devservices.database_dsn(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def source_objects(store: ObjectStore) -> list[tuple[str, str | None, int]]:
    return [(o.key, o.etag, o.size_bytes) for o in store.iter_objects("")]


def tasks_state(dsn: str) -> list[tuple[Any, ...]]:
    tasks = rows(dsn, "SELECT uri, item_index, data, meta, deleted_at IS NULL FROM task ORDER BY uri, item_index")
    return tasks + rows(
        dsn, "SELECT t.uri, a.origin_key, a.result FROM annotation a JOIN task t ON t.id = a.task_id ORDER BY 1, 2"
    )


def storage_config(store: ObjectStore, mode: str) -> StorageConfig:
    return StorageConfig.model_validate({
        "name": "src", "project": "proj", "cloud": "s3", "bucket": store.bucket, "prefix": "", "mode": mode,
        "media_field": "image", "page_size": 10 if mode == "objects" else 2,
    })


def sync_in_process(dsn: str, store: ObjectStore, storage: StorageConfig, *, write_batch: int) -> None:
    paged = store_class(Cloud.S3)(store.client, store.bucket, page_size=storage.page_size)
    with psycopg.connect(dsn) as conn:
        StorageSync(conn, paged, storage, write_batch=write_batch).run(run_id="rerun")


# The jobs ------------------------------------------------------------------------------------


class Job:
    """One job of the matrix: how to fill the bucket, run it paused, rerun it, run it clean, compare."""

    pause: tuple[str, int]
    run_table: str | None = None

    def prepare(self, dsn: str, clean_dsn: str, store: ObjectStore) -> dict[str, Any]:
        raise NotImplementedError

    def rerun(self, dsn: str, store: ObjectStore) -> None:
        raise NotImplementedError

    def clean_run(self, dsn: str, clean_dsn: str, store: ObjectStore) -> None:
        raise NotImplementedError

    def state(self, dsn: str, store: ObjectStore) -> Any:
        raise NotImplementedError

    def clean_state(self, dsn: str, clean_dsn: str, store: ObjectStore) -> Any:
        return self.state(clean_dsn, store)


class SyncObjects(Job):
    """100 objects, pages of 10, batches of 20: paused at page 5, two batches (40 objects) committed."""

    mode = "objects"
    pause = ("page", 5)
    run_table = "sync_run"
    write_batch = 20
    committed: ClassVar[dict[str, int]] = {"listed": 40, "inserted": 40}

    def fill(self, store: ObjectStore) -> None:
        for index in range(100):
            store.write(f"img/{index:03}.jpg", f"pixels {index}".encode())

    def prepare(self, dsn: str, clean_dsn: str, store: ObjectStore) -> dict[str, Any]:
        self.fill(store)
        self.storage = storage_config(store, self.mode)
        return {"job": "sync", "storage": self.storage.model_dump(mode="json"), "write_batch": self.write_batch}

    def rerun(self, dsn: str, store: ObjectStore) -> None:
        sync_in_process(dsn, store, self.storage, write_batch=self.write_batch)

    def clean_run(self, dsn: str, clean_dsn: str, store: ObjectStore) -> None:
        sync_in_process(clean_dsn, store, self.storage, write_batch=self.write_batch)

    def state(self, dsn: str, store: ObjectStore) -> Any:
        return tasks_state(dsn), source_objects(store)


class SyncTaskFiles(SyncObjects):
    """20 task files of 3 tasks each, pages of 2, batches of 4 files: paused with 8 files committed."""

    mode = "task_files"
    write_batch = 4
    committed: ClassVar[dict[str, int]] = {"listed": 8, "inserted": 24}

    def fill(self, store: ObjectStore) -> None:
        for index in range(20):
            tasks = [{"data": {"image": f"s3://{store.bucket}/img/{index}-{n}.jpg", "n": n},
                      "annotations": [{"id": n, "result": [{"value": {"choices": [f"c{n}"]}}]}]} for n in range(3)]
            store.write(f"tasks/{index:02}.json", json.dumps(tasks).encode())


class Export(Job):
    """2,000 tasks (~2 MiB of JSON) from the DB to result.json: paused once 1 MiB was streamed."""

    pause = ("stream", 2**20)
    run_table = "export_run"

    def target(self, store: ObjectStore, name: str) -> ExportTargetConfig:
        return ExportTargetConfig.model_validate(
            {"name": name, "project": "demo", "cloud": "s3", "bucket": store.bucket, "prefix": "exports/",
             "formats": ["json"]}
        )

    def prepare(self, dsn: str, clean_dsn: str, store: ObjectStore) -> dict[str, Any]:
        seed(dsn, [{"data": {"image": f"s3://bkt/img/{i}.jpg", "caption": f"{i} " + "x" * 1000},
                    "annotations": []} for i in range(2000)])
        return {"job": "export", "target": self.target(store, "out").model_dump(mode="json"), "run_key": "r1",
                "batch_size": 100}

    def next_run(self, dsn: str, store: ObjectStore) -> None:
        """The target's next scheduled run: it marks the dead attempt of r1."""
        export_target(dsn, store, target=self.target(store, "out"), fmt="json", run_key="r2", batch_size=100)

    def rerun(self, dsn: str, store: ObjectStore) -> None:
        export_target(dsn, store, target=self.target(store, "out"), fmt="json", run_key="r1", batch_size=100)

    def clean_run(self, dsn: str, clean_dsn: str, store: ObjectStore) -> None:
        # Same DB, another target: the same rows, exported without a fault.
        export_target(dsn, store, target=self.target(store, "clean"), fmt="json", run_key="r1", full=True,
                      batch_size=100)

    def state(self, dsn: str, store: ObjectStore) -> Any:
        return self._published(store, "out")

    def clean_state(self, dsn: str, clean_dsn: str, store: ObjectStore) -> Any:
        return self._published(store, "clean")

    @staticmethod
    def _published(store: ObjectStore, target: str) -> Any:
        # Both targets share the bucket; "clean" is full by request, r1 is full as the first run.
        prefix = "exports/demo/json/r1/"
        files = {o.key[len(prefix):]: store.read_bytes(o.key) for o in store.iter_objects(prefix)}
        manifest = json.loads(files.pop("manifest.json"))
        for volatile in ("target", "watermark"):
            manifest.pop(volatile)
        return files, manifest


class Rotate(Job):
    """100 tasks synced from objects, URLs signed in batches of 10: paused before batch 3."""

    pause = ("sign", 3)

    def prepare(self, dsn: str, clean_dsn: str, store: ObjectStore) -> dict[str, Any]:
        SyncObjects().fill(store)
        self.storage = storage_config(store, "objects")
        for database in (dsn, clean_dsn):
            sync_in_process(database, store, self.storage, write_batch=1000)
        return {"job": "rotate", "storage": self.storage.model_dump(mode="json"), "batch_size": 10}

    def rerun(self, dsn: str, store: ObjectStore) -> None:
        rotate_storage(dsn, store, storage=self.storage, batch_size=10)

    def clean_run(self, dsn: str, clean_dsn: str, store: ObjectStore) -> None:
        rotate_storage(clean_dsn, store, storage=self.storage, batch_size=10)

    def state(self, dsn: str, store: ObjectStore) -> Any:
        # Every live task has a URL for its URI, not due before the lead time (URL strings differ by signing time).
        urls = rows(dsn, "SELECT t.uri, u.field, u.uri, u.expires_at > now() + interval '12 hours' FROM task t"
                         " LEFT JOIN task_url u ON u.task_id = t.id WHERE t.deleted_at IS NULL ORDER BY 1, 2")
        return tasks_state(dsn), urls


JOBS = {"sync_objects": SyncObjects, "sync_task_files": SyncTaskFiles, "export": Export, "rotate": Rotate}


# The child process ---------------------------------------------------------------------------


class Child:
    def __init__(self, spec: dict[str, Any], *, conn_json: str, log: Path) -> None:
        env = {**os.environ, "AIRFLOW_CONN_AWS_DEFAULT": conn_json,
               "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT)])}
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.child", json.dumps(spec)], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        )
        self.log = log
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(b"")

    def wait_paused(self) -> None:
        # Airflow's SDK announces its unit-test configuration on stdout first: skip other lines.
        deadline = time.monotonic() + DEADLINE_S
        line = b""
        while line != b"paused\n":
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = b""
            assert line, f"the job did not reach its pause point\n{self.log.read_text()}"

    def go_on(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.close()

    def wait(self) -> int:
        code = self.process.wait(timeout=DEADLINE_S)
        self._log.close()
        return code


def backends(dsn: str) -> list[int]:
    """The job's sessions on the test's database (labelbridge's connections name themselves)."""
    database = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    return [pid for (pid,) in rows(
        dsn, "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'labelbridge'", database
    )]


def wait_for_backends_to_end(dsn: str) -> None:
    """After SIGKILL PostgreSQL notices the closed socket on its own; the next run comes after that."""
    deadline = time.monotonic() + DEADLINE_S
    while backends(dsn):
        assert time.monotonic() < deadline, "the killed job's sessions outlived the deadline"
        time.sleep(0.05)


def inject(fault: str, child: Child, proxy: Proxy, dsn: str) -> int:
    if fault == "sigkill":
        child.process.send_signal(signal.SIGKILL)
        code = child.wait()
        wait_for_backends_to_end(dsn)
        return code
    if fault == "db_lost":
        pids = backends(dsn)
        assert pids, "the paused job holds no database session"
        with psycopg.connect(dsn, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
    else:
        proxy.cut()
    child.go_on()
    return child.wait()


# The test ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("job_name", list(JOBS))
def test_the_rerun_after_a_fault_mid_run_equals_a_clean_run_and_the_dead_run_is_marked(
    job_name: str, fault: str, emulator: Emulator, store: ObjectStore, labeling_dsn: str, clean_dsn: str,
    tmp_path: Path,
) -> None:
    job = JOBS[job_name]()
    spec = {**job.prepare(labeling_dsn, clean_dsn, store), "dsn": labeling_dsn, "pause": job.pause}
    source_before = source_objects(store)
    proxy = Proxy(emulator.port)
    child = Child(spec, conn_json=emulator.conn_json(proxy.url), log=tmp_path / "child.log")

    child.wait_paused()
    code = inject(fault, child, proxy, labeling_dsn)
    proxy.cut()

    # Rotation signs offline: without its endpoint it still completes (its canary ran before the cut).
    survives = job_name == "rotate" and fault == "storage_down"
    assert (code == 0) is survives, f"exit {code}\n{child.log.read_text()}"
    if isinstance(job, Export):
        # Whatever the fault left under r1, it is not published: no manifest.
        assert [o.key for o in store.iter_objects("exports/demo/json/r1/manifest.json")] == []
        job.next_run(labeling_dsn, store)
        (job.r1_before_rerun,) = rows(  # type: ignore[attr-defined]
            labeling_dsn, "SELECT status, last_seen_at IS NOT NULL, error, counts FROM export_run WHERE run_key = 'r1'"
        )
    job.rerun(labeling_dsn, store)
    if job.run_table is not None:
        assert_dead_run_marked(job, fault, labeling_dsn)

    job.clean_run(labeling_dsn, clean_dsn, store)
    assert job.state(labeling_dsn, store) == job.clean_state(labeling_dsn, clean_dsn, store)
    assert source_objects(store)[: len(source_before)] == source_before  # sync and rotation never write a source


def assert_dead_run_marked(job: Job, fault: str, dsn: str) -> None:
    """Killed or cut off from the DB: ``abandoned``, with what it had committed. Without storage: ``failed``."""
    if isinstance(job, SyncObjects):
        (status, seen, error, *counted), = rows(
            dsn,
            "SELECT status, last_seen_at IS NOT NULL, error, listed, inserted FROM sync_run WHERE run_id = 'faulty'",
        )
        counts: dict[str, Any] = dict(zip(("listed", "inserted"), counted, strict=True))
    else:
        # As the next run (r2) left r1's row; the rerun of r1 then re-opened and completed it.
        status, seen, error, counts = job.r1_before_rerun  # type: ignore[attr-defined]
    assert seen
    if fault == "storage_down":
        # One readable line: the storage, the operation and the SDK's error code, never its message.
        assert status == "failed" and re.search(r"s3://lb-[0-9a-f]+: \w+ .* failed: EndpointConnectionError$", error)
        return
    assert status == "abandoned"
    assert error.startswith("abandoned: its process ended without finishing (killed, crashed or cut off from the"
                            " database); last seen 20")
    if isinstance(job, SyncObjects):
        assert counts == job.committed  # exactly the batches it had committed
    else:
        assert counts == {}  # an export publishes nothing before its manifest: nothing to count
