"""The docker-compose.yml topology on loopback, without Docker: ``python -m devservices.stack start|stop|status|purge``.

Airflow 3.3.2 with the CeleryExecutor (api-server, scheduler, dag-processor, triggerer, one Celery worker),
its metadata and the labeling database on the local PostgreSQL, the local Redis as broker, and the three
cloud emulators. Service names, ports and environment follow docs/deploy.md, which tests/test_compose.py
checks against docker-compose.yml and :func:`shared_env`.

Every process is started in its own session and recorded in ``<state dir>/state.json`` with its start
time, so ``stop`` signals exactly the process groups this script started, never a recycled PID.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.metadata
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import devservices

ROOT = devservices.ROOT
AIRFLOW = str(devservices.VENV_BIN / "airflow")

#: Airflow components in start order (stop goes in reverse), as named in docker-compose.yml.
AIRFLOW_COMPONENTS: dict[str, list[str]] = {
    "airflow-apiserver": ["api-server", "--host", "127.0.0.1", "--port", "{api_port}", "--workers", "1"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker", "--concurrency", "{worker_concurrency}"],
}
HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


@dataclass(frozen=True)
class StackSettings:
    """Where the stack keeps its state and which loopback ports it uses (docs/deploy.md)."""

    state_dir: Path
    name: str = "labelbridge_stack"
    api_port: int = 8080
    scheduler_health_port: int = 8974
    worker_logs_port: int = 8793
    triggerer_logs_port: int = 8794
    moto_port: int = 5001
    fake_gcs_port: int = 4443
    azurite_port: int = 10000
    redis_url: str = "redis://127.0.0.1:6379/0"
    config_path: Path = ROOT / "config" / "storages.yaml"
    worker_concurrency: int = 4

    @classmethod
    def from_env(cls, *, state_dir: Path | None = None, environ: Mapping[str, str] = os.environ) -> StackSettings:
        def port(name: str, default: int) -> int:
            return int(environ.get(f"LABELBRIDGE_STACK_PORT_{name}", default))

        return cls(
            state_dir=state_dir or Path(environ.get("LABELBRIDGE_STACK_DIR") or ROOT / ".stack"),
            name=environ.get("LABELBRIDGE_STACK_NAME", cls.name),
            api_port=port("API", cls.api_port),
            scheduler_health_port=port("SCHEDULER_HEALTH", cls.scheduler_health_port),
            worker_logs_port=port("WORKER_LOGS", cls.worker_logs_port),
            triggerer_logs_port=port("TRIGGERER_LOGS", cls.triggerer_logs_port),
            moto_port=port("MOTO", cls.moto_port),
            fake_gcs_port=port("FAKE_GCS", cls.fake_gcs_port),
            azurite_port=port("AZURITE", cls.azurite_port),
            redis_url=environ.get("LABELBRIDGE_STACK_REDIS_URL", cls.redis_url),
            config_path=Path(environ.get("LABELBRIDGE_CONFIG") or cls.config_path),
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def airflow_database(self) -> str:
        return f"{self.name}_airflow"

    @property
    def labeling_database(self) -> str:
        return f"{self.name}_labeling"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def openlineage_config(self) -> Path:
        """The OpenLineage client config the stack's Airflow reads (compose: config/openlineage.yml)."""
        return self.state_dir / "openlineage.yml"

    @property
    def openlineage_events(self) -> Path:
        """Where the stack's OpenLineage file transport appends its events, one JSON per line."""
        return self.state_dir / "openlineage" / "events.jsonl"


@dataclass(frozen=True)
class Secrets:
    """Generated once per state directory and shared by every component (the JWT secret must match)."""

    fernet_key: str
    jwt_secret: str
    api_secret_key: str
    admin_password: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(
            fernet_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
            jwt_secret=secrets.token_hex(32),
            api_secret_key=secrets.token_hex(32),
            admin_password=secrets.token_urlsafe(18),
        )

    @classmethod
    def load_or_create(cls, state_dir: Path) -> Secrets:
        path = state_dir / "secrets.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        value = cls.generate()
        _write_private(path, json.dumps(asdict(value)))
        # Simple auth manager's password file: the UI and /auth/token log in as admin with it.
        _write_private(state_dir / "passwords.json", json.dumps({"admin": value.admin_password}))
        return value


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def _sqlalchemy_url(server_dsn: str, database: str) -> str:
    return devservices.airflow_postgres_uri(devservices.database_dsn(server_dsn, database)).replace(
        "postgresql://", "postgresql+psycopg2://", 1
    )


def _labeling_connection(server_dsn: str, database: str) -> str:
    import psycopg.conninfo

    params = psycopg.conninfo.conninfo_to_dict(server_dsn)
    conn: dict[str, object] = {"conn_type": "postgres", "host": params.get("host") or "127.0.0.1",
                               "port": int(params.get("port") or 5432), "schema": database,
                               "login": params.get("user") or "postgres"}
    if params.get("password"):
        conn["password"] = params["password"]
    return json.dumps(conn)


def shared_env(settings: StackSettings, *, secrets: Secrets, server_dsn: str) -> dict[str, str]:
    """The variables docker-compose.yml sets on every Airflow service (``x-airflow-env``), for loopback."""
    metadata_url = _sqlalchemy_url(server_dsn, settings.airflow_database)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__FERNET_KEY": secrets.fernet_key,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.jwt_secret,
        "AIRFLOW__API__SECRET_KEY": secrets.api_secret_key,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": settings.redis_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        # Lineage of every task through the OpenLineage provider, configured by a standard client file.
        "AIRFLOW__OPENLINEAGE__CONFIG_PATH": str(settings.openlineage_config),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "labelbridge",
        "AIRFLOW_CONN_LABELING_DB": _labeling_connection(server_dsn, settings.labeling_database),
        "LABELBRIDGE_CONFIG": str(settings.config_path),
        "PYTHONPATH": str(ROOT / "include"),
    }


def stack_only_env(settings: StackSettings) -> dict[str, str]:
    """What one container per process gives compose for free: a home, folders and distinct ports."""
    return {
        "AIRFLOW_HOME": str(settings.state_dir / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(settings.state_dir / "passwords.json"),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(settings.scheduler_health_port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.worker_logs_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.triggerer_logs_port),
        # An edited storages.yaml is re-read within 10 s, not the default 30 s. A DAG whose previous version
        # was written less than [core] min_serialized_dag_update_interval (30 s) ago keeps it until then.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__API__BASE_URL": settings.api_url,
    }


# Process bookkeeping ----------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is gone or a zombie."""
    # Reap it if it is our own exited child (same launcher process), so it does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    start_time: str

    def alive(self) -> bool:
        return _start_time(self.pid) == self.start_time


class State:
    """``state.json``: the processes this stack started, in order, and how to reach it."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.path = settings.state_dir / "state.json"
        raw = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.processes = [Started(**p) for p in raw.get("processes", [])]
        self.info: dict[str, str] = raw.get("info", {})

    def record(self, name: str, pid: int) -> None:
        start_time = _start_time(pid)
        if start_time is None:
            raise RuntimeError(f"{name} (pid {pid}) exited right after it was started")
        self.processes.append(Started(name, pid, start_time))
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = {"processes": [asdict(p) for p in self.processes], "info": self.info}
        self.path.write_text(json.dumps(raw, indent=1))


def _spawn_logged(name: str, args: list[str], env: Mapping[str, str], logs_dir: Path) -> subprocess.Popen[bytes]:
    logs_dir.mkdir(parents=True, exist_ok=True)
    # Output goes to a file: an unread pipe would fill and hang the process.
    with open(logs_dir / f"{name}.log", "ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(env), cwd=ROOT, start_new_session=True)


def _stop_group(process: Started, *, timeout_s: float = 30.0) -> str:
    if not process.alive():
        return "not running"
    # Each process leads its own session (start_new_session): its group holds its children too
    # (uvicorn, Celery pool, DAG parsing processes), and nothing this script did not start.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            return "stopped"
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return f"killed after {timeout_s:.0f}s"


# Readiness ---------------------------------------------------------------------------------------


def api_health(settings: StackSettings) -> dict[str, str] | None:
    """``{component: status}`` from GET /api/v2/monitor/health, or None while the API is down."""
    try:
        with urllib.request.urlopen(f"{settings.api_url}/api/v2/monitor/health", timeout=2) as response:
            body = json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None
    return {name: str(body.get(name, {}).get("status")) for name in HEALTHY_COMPONENTS}


def _worker_ready(settings: StackSettings) -> bool:
    log = settings.logs_dir / "airflow-worker.log"
    # Celery prints "celery@<host> ready." once it consumes from the broker.
    return log.exists() and " ready." in log.read_text(errors="replace")


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False


# Commands ----------------------------------------------------------------------------------------


def _ensure_postgres(settings: StackSettings, state: State) -> str:
    dsn = os.environ.get("LABELBRIDGE_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/postgres"
    if devservices._pg_reachable(dsn):
        return dsn
    import pgserver

    # No server answers: an embedded one in the state dir, left running until `stop`.
    pgdata = settings.state_dir / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    state.info["pgserver"] = str(pgdata)
    return str(server.get_uri())


def _create_database(server_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def check_ui_plugin_registered() -> None:
    """Stop before starting anything if the venv's labelbridge metadata does not register the UI plugin.

    The plugin comes with the installed package (its ``airflow.plugins`` entry point), not from a
    plugins folder; an editable install made before that entry point existed lacks it, and the stack
    would come up without the report view and task summaries.
    """
    from labelbridge.get_provider_info import get_provider_info

    wanted = {plugin["plugin-class"] for plugin in get_provider_info()["plugins"]}
    registered = {ep.value.replace(":", ".") for ep in importlib.metadata.entry_points(group="airflow.plugins")}
    if missing := sorted(wanted - registered):
        raise SystemExit(f"the installed labelbridge registers no airflow.plugins entry point for "
                         f"{', '.join(missing)}: its metadata predates pyproject.toml; rerun scripts/setup.sh")


def start(settings: StackSettings, *, timeout_s: float = 240.0) -> State:
    check_ui_plugin_registered()
    state = State(settings)
    if any(p.alive() for p in state.processes):
        raise SystemExit(f"a stack is already running from {settings.state_dir}: run `scripts/stack.sh stop` first")
    state.processes = []
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    secrets_ = Secrets.load_or_create(settings.state_dir)
    write_openlineage_config(settings)
    server_dsn = _ensure_postgres(settings, state)
    state.info.update(server_dsn=server_dsn, api_url=settings.api_url)
    state.save()

    if not _redis_answers(settings.redis_url):
        port = urllib.parse.urlsplit(settings.redis_url).port or 6379
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise SystemExit(f"no Redis answers at {settings.redis_url} and redis-server is not installed")
        process = _spawn_logged("redis", [redis_server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                          "--appendonly", "no"], os.environ, settings.logs_dir)
        state.record("redis", process.pid)
        devservices.wait_until(lambda: _redis_answers(settings.redis_url), what="redis-server", process=process)

    emulator_env: dict[str, str] = {}
    for name, starter, port in (("moto", devservices.start_moto, settings.moto_port),
                                ("fake-gcs", devservices.start_fake_gcs, settings.fake_gcs_port),
                                ("azurite", devservices.start_azurite, settings.azurite_port)):
        service = starter(port)
        assert service.process is not None
        state.record(name, service.process.pid)
        emulator_env.update(service.env)

    # The caller's AIRFLOW* settings (a test session's unit-test mode, another AIRFLOW_HOME) stay out.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env = {**inherited, **shared_env(settings, secrets=secrets_, server_dsn=server_dsn),
           **stack_only_env(settings), **emulator_env}
    _write_env_script(settings, env)

    # airflow-init: both schemas before any component starts, as in docker-compose.yml.
    for database in (settings.airflow_database, settings.labeling_database):
        _create_database(server_dsn, database)
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    (settings.logs_dir / "airflow-init.log").write_text(migrate.stdout + migrate.stderr)
    if migrate.returncode != 0:
        raise SystemExit(f"airflow db migrate failed; see {settings.logs_dir / 'airflow-init.log'}")
    from labelbridge import db

    db.upgrade(devservices.database_dsn(server_dsn, settings.labeling_database))

    for name, args in AIRFLOW_COMPONENTS.items():
        argv = [AIRFLOW, *(a.format(**asdict(settings)) for a in args)]
        state.record(name, _spawn_logged(name, argv, env, settings.logs_dir).pid)

    deadline = time.monotonic() + timeout_s

    def ready() -> bool:
        for process in state.processes:
            if not process.alive():
                raise SystemExit(f"{process.name} exited during start; see {settings.logs_dir / process.name}.log")
        health = api_health(settings)
        return health is not None and set(health.values()) == {"healthy"} and _worker_ready(settings)

    devservices.wait_until(ready, what="the Airflow stack", timeout_s=max(1.0, deadline - time.monotonic()))
    return state


def write_openlineage_config(settings: StackSettings) -> None:
    """The stack's OpenLineage config: the file transport into the state dir (Marquez: see README, Lineage)."""
    settings.openlineage_events.parent.mkdir(parents=True, exist_ok=True)
    transport = {"type": "file", "log_file_path": str(settings.openlineage_events), "append": True}
    # JSON is YAML: no YAML writer needed for three keys.
    settings.openlineage_config.write_text(json.dumps({"transport": transport}, indent=2) + "\n")


def _write_env_script(settings: StackSettings, env: Mapping[str, str]) -> None:
    prefixes = ("AIRFLOW", "LABELBRIDGE_CONFIG", "STORAGE_EMULATOR_HOST", "AZURITE_", "AWS_DEFAULT_REGION", "GCSFS_")
    keys = [*sorted(k for k in env if k.startswith(prefixes)), "PYTHONPATH"]
    lines = [f"export {k}={_shell_quote(env[k])}" for k in keys]
    lines.append(f"export PATH={_shell_quote(str(devservices.VENV_BIN))}:\"$PATH\"")
    _write_private(settings.state_dir / "env.sh", "\n".join(lines) + "\n")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def stop(settings: StackSettings) -> list[tuple[str, str]]:
    state = State(settings)
    results = [(p.name, _stop_group(p)) for p in reversed(state.processes)]
    if "pgserver" in state.info:
        import pgserver

        pgserver.get_server(state.info.pop("pgserver"), cleanup_mode="stop").cleanup()
        results.append(("postgres (pgserver)", "stopped"))
    state.processes = []
    state.save()
    return results


def purge(settings: StackSettings) -> None:
    state = State(settings)
    server_dsn = state.info.get("server_dsn")
    stop(settings)
    if server_dsn and devservices._pg_reachable(server_dsn):
        import psycopg

        with psycopg.connect(server_dsn, autocommit=True) as conn:
            for database in (settings.airflow_database, settings.labeling_database):
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    shutil.rmtree(settings.state_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/stack.sh", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "purge"])
    args = parser.parse_args(argv)
    settings = StackSettings.from_env()
    if args.command == "start":
        began = time.monotonic()
        try:
            start(settings)
        except BaseException:
            # Leave nothing half-started behind: stop what this run did start, then report.
            for name, outcome in stop(settings):
                print(f"{name:<24} {outcome}", file=sys.stderr)
            raise
        print(f"stack ready in {time.monotonic() - began:.0f}s: {settings.api_url} (user admin, password in "
              f"{settings.state_dir / 'passwords.json'}); `source {settings.state_dir / 'env.sh'}` for the CLI")
    elif args.command == "stop":
        for name, outcome in stop(settings):
            print(f"{name:<24} {outcome}")
    elif args.command == "purge":
        purge(settings)
        print(f"stopped, dropped {settings.airflow_database} and {settings.labeling_database}, "
              f"removed {settings.state_dir}")
    else:
        state = State(settings)
        for process in state.processes:
            print(f"{process.name:<24} pid {process.pid:<8} {'running' if process.alive() else 'NOT RUNNING'}")
        health = api_health(settings)
        print(f"api {settings.api_url}: {health if health is not None else 'not answering'}")
        return 0 if state.processes and all(p.alive() for p in state.processes) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
