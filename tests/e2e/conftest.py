"""A real deployment for the end-to-end tests: ``scripts/stack.sh`` on free loopback ports.

The stack gets its own state directory, databases, Redis database number and storages.yaml, so it
runs beside a developer's own ``scripts/stack.sh`` stack and leaves nothing behind (``purge``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import devservices
from devservices import stack as stack_module

ROOT = Path(__file__).resolve().parents[2]
STACK_SH = ROOT / "scripts" / "stack.sh"
T = TypeVar("T")

#: The starting storages.yaml: one project, no source storage yet; the test attaches one.
BASE_CONFIG = """\
projects:
  - name: e2e
    title: End-to-end project
    labels: [cat, dog]

storages: []

export_targets:
  - name: e2e-export
    project: e2e
    cloud: s3
    conn_id: aws_default
    bucket: {export_bucket}
    prefix: exports/
    formats: [json]

compliance:
  schedule: "@daily"
  fail_on: critical
  reports_dir: {reports_dir}
"""


def poll(fetch: Callable[[], T | None], *, what: str, timeout_s: float, every_s: float = 1.0) -> T:
    """Call ``fetch`` until it returns something other than None; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fetch()
        if value is not None:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


class AirflowApi:
    """The Airflow 3 REST API (``/api/v2``) with a JWT from the simple auth manager's ``/auth/token``."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url
        token = httpx.post(f"{base_url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        token.raise_for_status()
        self.token = str(token.json()["access_token"])
        self.client = httpx.Client(
            base_url=f"{base_url}/api/v2", headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def dag_or_none(self, dag_id: str) -> dict[str, Any] | None:
        response = self.client.get(f"/dags/{dag_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def task_ids(self, dag_id: str) -> set[str]:
        """The tasks of the DAG's latest serialized version, as the scheduler will create them for a new run."""
        return {task["task_id"] for task in self.get(f"/dags/{dag_id}/tasks")["tasks"]}

    def unpause(self, dag_id: str) -> None:
        self.client.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        response = self.client.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        response.raise_for_status()
        return str(response.json()["dag_run_id"])

    def backfill(self, dag_id: str, from_date: str, to_date: str) -> dict[str, Any]:
        response = self.client.post(
            "/backfills",
            json={"dag_id": dag_id, "from_date": from_date, "to_date": to_date, "max_active_runs": 3,
                  "reprocess_behavior": "none", "run_backwards": False, "dag_run_conf": {}},
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def runs(self, dag_id: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns", limit=100, **params)["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"])

    def wait_for_runs(self, dag_id: str, count: int, *, timeout_s: float, **params: Any) -> list[dict[str, Any]]:
        seen: list[str] = []

        def finished() -> list[dict[str, Any]] | None:
            runs = self.runs(dag_id, **params)
            seen[:] = [f"{r['dag_run_id']}={r['state']}" for r in runs]
            done = [r for r in runs if r["state"] in ("success", "failed")]
            return done if len(runs) >= count and len(done) == len(runs) else None

        try:
            return poll(finished, what=f"{count} finished run(s) of {dag_id}", timeout_s=timeout_s, every_s=2.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {', '.join(seen) or 'no runs'}") from None


@dataclass
class Stack:
    settings: stack_module.StackSettings
    env: dict[str, str]
    api: AirflowApi
    config_path: Path
    reports_dir: Path
    labeling_dsn: str
    started_in_s: float
    export_bucket: str

    def attach_storage(self, entry: str) -> None:
        """Append a storage entry (YAML, indented as a list item) to the stack's storages.yaml."""
        text = self.config_path.read_text().replace("storages: []\n", "storages:\n")
        self.config_path.write_text(text.replace("storages:\n", "storages:\n" + entry, 1))

    def s3(self) -> Any:
        return self._moto_client("s3")

    def sqs(self) -> Any:
        return self._moto_client("sqs")

    def _moto_client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=f"http://127.0.0.1:{self.settings.moto_port}", region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )


def _stack_env(state_dir: Path, config_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    ports = {name: str(devservices.free_port()) for name in
             ("API", "SCHEDULER_HEALTH", "WORKER_LOGS", "TRIGGERER_LOGS", "MOTO", "FAKE_GCS", "AZURITE")}
    env.update({f"LABELBRIDGE_STACK_PORT_{k}": v for k, v in ports.items()})
    env.update(
        LABELBRIDGE_STACK_DIR=str(state_dir),
        LABELBRIDGE_STACK_NAME=f"lb_e2e_{uuid.uuid4().hex[:8]}",
        # Its own Redis database: a developer's stack on database 0 must not take these Celery tasks.
        LABELBRIDGE_STACK_REDIS_URL=f"redis://127.0.0.1:6379/{7 + uuid.uuid4().int % 8}",
        LABELBRIDGE_CONFIG=str(config_path),
    )
    return env


def _keep_logs(settings: stack_module.StackSettings, into: Path) -> None:
    """Copy the components' and tasks' logs and the OpenLineage events out of the state dir that ``purge``
    removes: pytest keeps its last temporary folders, so a failed run can still be read afterwards."""
    for source in (settings.logs_dir, settings.state_dir / "airflow-home" / "logs", settings.openlineage_events.parent):
        if source.exists():
            shutil.copytree(source, into / source.relative_to(settings.state_dir), dirs_exist_ok=True)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("e2e-stack")
    state_dir, reports_dir, config_path = base / "state", base / "reports", base / "storages.yaml"
    reports_dir.mkdir()
    export_bucket = f"lb-e2e-export-{uuid.uuid4().hex[:8]}"
    config_path.write_text(BASE_CONFIG.format(reports_dir=reports_dir, export_bucket=export_bucket))
    env = _stack_env(state_dir, config_path)
    settings = stack_module.StackSettings.from_env(environ=env)
    began = time.monotonic()
    started = subprocess.run([str(STACK_SH), "start"], env=env, cwd=ROOT, capture_output=True, text=True,
                             check=False, timeout=600)
    try:
        assert started.returncode == 0, f"stack.sh start failed:\n{started.stdout}\n{started.stderr[-4000:]}"
        started_in_s = time.monotonic() - began
        password = json.loads((state_dir / "passwords.json").read_text())["admin"]
        state = json.loads((state_dir / "state.json").read_text())
        labeling_dsn = devservices.database_dsn(state["info"]["server_dsn"], settings.labeling_database)
        deployed = Stack(settings, env, AirflowApi(settings.api_url, password), config_path, reports_dir,
                         labeling_dsn, started_in_s, export_bucket)
        deployed.s3().create_bucket(Bucket=export_bucket)
        yield deployed
    finally:
        _keep_logs(settings, base / "stack-logs")
        stopped = subprocess.run([str(STACK_SH), "purge"], env=env, cwd=ROOT, capture_output=True, text=True,
                                 check=False, timeout=300)
        assert stopped.returncode == 0, stopped.stderr[-4000:]
