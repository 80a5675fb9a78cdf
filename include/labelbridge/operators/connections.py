"""Airflow Connections into clients and DSNs: the one place the library meets them.

The storage layer and the jobs receive ready clients and DSNs, so they run and are tested
without a scheduler; operators and the CLI call these helpers to build them.
"""

from __future__ import annotations

from typing import Any

from labelbridge.config import Cloud, ExportTargetConfig, StorageConfig
from labelbridge.errors import ConfigError
from labelbridge.storage import ObjectStore, store_class

DEFAULT_LABELING_DB_CONN_ID = "labeling_db"


def labeling_db_dsn(conn_id: str = DEFAULT_LABELING_DB_CONN_ID) -> str:
    """A libpq DSN from a Postgres-type Airflow Connection (extras such as sslmode pass through)."""
    from airflow.sdk import BaseHook
    from psycopg.conninfo import make_conninfo

    conn = BaseHook.get_connection(conn_id)
    params: dict[str, Any] = {
        "host": conn.host or None,
        "port": conn.port or None,
        "user": conn.login or None,
        "password": conn.password or None,
        "dbname": conn.schema or None,
    }
    extra = conn.extra_dejson
    # A URI's query (e.g. ?host=/run/postgresql for a socket) lands in extras.
    params.update({k: v for k, v in extra.items() if k in _LIBPQ_PARAMS})
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


_LIBPQ_PARAMS = frozenset(
    {"host", "hostaddr", "port", "dbname", "sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout",
     "options", "target_session_attrs", "application_name"}
)


def make_client(cloud: Cloud, conn_id: str) -> Any:
    """The SDK client behind the official provider hook for ``cloud``."""
    if cloud is Cloud.S3:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=conn_id).get_conn()
    if cloud is Cloud.GCS:
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        return GCSHook(gcp_conn_id=conn_id).get_conn()
    from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

    return WasbHook(wasb_conn_id=conn_id).get_conn()


def make_store(entry: StorageConfig | ExportTargetConfig, *, prefix: str | None = None) -> ObjectStore:
    """An :class:`ObjectStore` for a configured source storage or export target."""
    kwargs: dict[str, Any] = {"prefix": entry.prefix if prefix is None else prefix}
    if isinstance(entry, StorageConfig):
        kwargs.update(key_regex=entry.key_regex, page_size=entry.page_size)
    return store_class(entry.cloud)(make_client(entry.cloud, entry.conn_id), entry.bucket, **kwargs)


def require_cloud(operator: object, expected: Cloud, entry: StorageConfig | ExportTargetConfig, kind: str) -> None:
    """A per-cloud operator refuses an entry on another cloud, naming the operator to use.

    :param kind: what the operator does ("sync", "export"), for the message.
    """
    if entry.cloud is not expected:
        what = "storage" if isinstance(entry, StorageConfig) else "export target"
        raise ConfigError(
            f"{what} {entry.name!r} is on {entry.cloud.value}; use the "
            f"{entry.cloud.value} {kind} operator, not {type(operator).__name__}"
        )
