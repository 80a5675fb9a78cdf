"""Real services on loopback for every test: PostgreSQL, moto_server, fake-gcs-server, Azurite.

Each test gets a fresh labeling database (cloned from a migrated template) and fresh buckets.
Airflow connections reach the emulators through AIRFLOW_CONN_* variables, as in production.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

# Airflow reads its settings at import: point it at a throwaway home before anything imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="labelbridge-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# dag.test() serializes the DAGs of the configured bundle: the project's own dags/.
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parents[1] / "dags"))

# Imported here, once: Airflow announces its unit-test configuration on stdout at first import,
# which would otherwise land inside whichever test imports it first.
import airflow.sdk.log  # noqa: E402, F401
import psycopg  # noqa: E402
import pytest  # noqa: E402

import devservices  # noqa: E402
from labelbridge import db  # noqa: E402
from labelbridge.config import Cloud  # noqa: E402
from labelbridge.connections import make_client  # noqa: E402
from labelbridge.storage import ObjectStore, store_class  # noqa: E402

CLOUDS = [Cloud.S3, Cloud.GCS, Cloud.AZURE]
DEFAULT_CONN_IDS = {cloud: store_class(cloud).default_conn_id for cloud in CLOUDS}


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, devservices.Service]]:
    started: dict[str, devservices.Service] = {}
    try:
        for name, start in (
            ("postgres", devservices.start_postgres),
            ("s3", devservices.start_moto),
            ("gcs", devservices.start_fake_gcs),
            ("azure", devservices.start_azurite),
        ):
            started[name] = start()
            os.environ.update(started[name].env)
        yield started
    finally:
        for service in started.values():
            service.stop()


@pytest.fixture(scope="session")
def pg_server(services: dict[str, devservices.Service]) -> str:
    """DSN of a server-wide database, for creating per-test databases."""
    return services["postgres"].url


@pytest.fixture(scope="session")
def label_studio(pg_server: str) -> Iterator[devservices.LabelStudioServer]:
    """A real Label Studio on loopback, once per session (start-up runs its migrations: 20-45 s)."""
    server = devservices.start_label_studio(pg_server)
    try:
        yield server
    finally:
        server.stop()


def _admin(pg_server: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(pg_server, autocommit=True)


@pytest.fixture(scope="session")
def template_db(pg_server: str) -> Iterator[str]:
    """A database migrated once per session; each test clones it (CREATE DATABASE … TEMPLATE)."""
    name = f"lb_template_{uuid.uuid4().hex[:8]}"
    with _admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db.upgrade(devservices.database_dsn(pg_server, name))
    yield name
    with _admin(pg_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def labeling_dsn(pg_server: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated labeling database for this test, also as AIRFLOW_CONN_LABELING_DB."""
    name = f"lb_test_{uuid.uuid4().hex[:10]}"
    with _admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    dsn = devservices.database_dsn(pg_server, name)
    previous = os.environ.get("AIRFLOW_CONN_LABELING_DB")
    os.environ["AIRFLOW_CONN_LABELING_DB"] = devservices.airflow_postgres_uri(dsn)
    yield dsn
    if previous is None:
        os.environ.pop("AIRFLOW_CONN_LABELING_DB", None)
    else:
        os.environ["AIRFLOW_CONN_LABELING_DB"] = previous
    with _admin(pg_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_bucket(cloud: Cloud, client: object, name: str) -> None:
    """Create a bucket (container) on an emulator; product code never creates buckets."""
    if cloud is Cloud.S3:
        client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    elif cloud is Cloud.GCS:
        client.create_bucket(name)  # type: ignore[attr-defined]
    else:
        client.create_container(name)  # type: ignore[attr-defined]


def unique_bucket(prefix: str = "lb") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


StoreFactory = Callable[..., ObjectStore]


@pytest.fixture
def new_store(services: dict[str, devservices.Service]) -> StoreFactory:
    """Make an empty bucket on a cloud's emulator and return its store, built from the hook."""

    def factory(cloud: Cloud, *, bucket: str | None = None, **kwargs: object) -> ObjectStore:
        client = make_client(cloud, DEFAULT_CONN_IDS[cloud])
        name = bucket or unique_bucket()
        create_bucket(cloud, client, name)
        return store_class(cloud)(client, name, **kwargs)  # type: ignore[arg-type]

    return factory


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's own metadata DB (SQLite in the throwaway AIRFLOW_HOME), for dag.test()."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture(params=CLOUDS, ids=[c.value for c in CLOUDS])
def cloud(request: pytest.FixtureRequest) -> Cloud:
    """Parametrizes a behaviour test over S3, GCS and Azure: the subclasses must agree."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def gcs_signer() -> object:
    """Service-account credentials that sign GCS URLs offline (fake-gcs-server has no signer of its own)."""
    from tests.rotate.verify import service_account_credentials

    return service_account_credentials()


@pytest.fixture
def signing_store(new_store: StoreFactory, gcs_signer: object) -> StoreFactory:
    """Like ``new_store``, but a GCS store signs with ``gcs_signer``."""

    def factory(cloud: Cloud, **kwargs: object) -> ObjectStore:
        if cloud is Cloud.GCS:
            kwargs.setdefault("signing_credentials", gcs_signer)
        return new_store(cloud, **kwargs)

    return factory
