"""Datasets a labelbridge run read and wrote, named as OpenLineage's naming spec names them.

Plain data and pure functions, importing nothing of OpenLineage (see the package's docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from labelbridge.clouds import Cloud

if TYPE_CHECKING:
    from labelbridge.compliance.report.sink import ReportSink
    from labelbridge.storage import ObjectStore

#: The labeling DB's tables live in PostgreSQL's default schema (the migrations name none).
LABELING_DB_SCHEMA = "public"


@dataclass(frozen=True)
class LineageDataset:
    """One dataset a run read or wrote, with what the run did to it when known.

    :param rows: rows (tasks, annotations, URLs) read or written.
    :param files: objects listed or files written.
    :param size: bytes written.
    :param file_format: the export format (coco, yolo, ...), for an export target.
    """

    namespace: str
    name: str
    rows: int | None = None
    files: int | None = None
    size: int | None = None
    file_format: str | None = None


@dataclass(frozen=True)
class RunLineage:
    """A run's lineage: its job kind, datasets in and out, and its counts (numbers only).

    :param job: ``sync``, ``rotate``, ``export``, ``compliance.bucket_settings``, ``label_studio.push``...
    :param details: short strings worth seeing beside the counts (the export format, the report's
        location); never a URL with a signature.
    """

    job: str
    inputs: tuple[LineageDataset, ...] = ()
    outputs: tuple[LineageDataset, ...] = ()
    counts: Mapping[str, int | float] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)

    def with_counts(self, counts: Mapping[str, Any]) -> RunLineage:
        """This lineage with the run's numeric counts (nested or text values are left out)."""
        numbers = {
            k: v for k, v in counts.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        return replace(self, counts=numbers)


# Naming ----------------------------------------------------------------------------------------


def object_path_name(path: str) -> str:
    """A prefix or key as a dataset name: no leading or trailing ``/``; the whole bucket is ``/``
    (as the Google provider's ``extract_ds_name_from_gcs_path`` names it)."""
    stripped = path.strip("/")
    return stripped or "/"


def object_dataset(
    cloud: Cloud, bucket: str, path: str = "", *, account: str | None = None, **stats: Any
) -> LineageDataset:
    """A bucket prefix (or object) in OpenLineage's naming for its cloud.

    S3: ``s3://{bucket}``; GCS: ``gs://{bucket}``; Azure Blob Storage:
    ``wasbs://{container}@{account}.dfs.core.windows.net`` (the spec's ``WASBS``); the name is
    the path inside the bucket.

    :param account: the Azure storage account (required for Azure).
    :param stats: ``rows``, ``files``, ``size``, ``file_format`` (see :class:`LineageDataset`).
    """
    name = object_path_name(path)
    if cloud is Cloud.S3:
        return LineageDataset(f"s3://{bucket}", name, **stats)
    if cloud is Cloud.GCS:
        return LineageDataset(f"gs://{bucket}", name, **stats)
    if not account:
        raise ValueError(f"azure container {bucket!r}: the storage account is needed to name it for lineage")
    return LineageDataset(f"wasbs://{bucket}@{account}.dfs.core.windows.net", name, **stats)


def store_dataset(store: ObjectStore, path: str = "", **stats: Any) -> LineageDataset:
    """A prefix of a store's bucket; the Azure account comes from the store's client."""
    account = getattr(store.client, "account_name", None) if store.cloud is Cloud.AZURE else None
    return object_dataset(store.cloud, store.bucket, path, account=account, **stats)


def local_dataset(path: str, **stats: Any) -> LineageDataset:
    """A file or directory on the worker: namespace ``file``, name its absolute path."""
    return LineageDataset("file", path, **stats)


def postgres_address(dsn: str) -> tuple[str, str]:
    """``(postgres://host:port, database)`` of a libpq DSN or URI; user and password are dropped."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    # A multi-host DSN names its first host; a socket directory or no host is the local server.
    host = str(params.get("host") or "").split(",")[0]
    if not host or host.startswith("/"):
        host = "localhost"
    port = str(params.get("port") or "5432").split(",")[0]
    database = str(params.get("dbname") or params.get("user") or "postgres")
    return f"postgres://{host}:{port}", database


def labeling_db_tables(dsn: str, *tables: str, rows: Mapping[str, int] | None = None) -> tuple[LineageDataset, ...]:
    """The labeling DB's tables in OpenLineage's Postgres naming: ``database.public.table``.

    :param rows: rows written per table, for the tables whose count the run knows.
    """
    namespace, database = postgres_address(dsn)
    written = rows or {}
    return tuple(
        LineageDataset(namespace, f"{database}.{LABELING_DB_SCHEMA}.{table}", rows=written.get(table))
        for table in tables
    )


def label_studio_dataset(url: str, project: int | str) -> LineageDataset:
    """A Label Studio project: namespace the server (``https://host:port[/path]``), name
    ``projects/{id}``. The spec names no annotation tool; this mirrors its HTTP-served datasets."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or "localhost"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return LineageDataset(f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}", f"projects/{project}")


def report_dataset(sink: ReportSink) -> LineageDataset:
    """Where the compliance reports go: one dataset per report folder, a day being one partition."""
    from labelbridge.compliance.report.sink import LocalReportSink, StoreReportSink

    if isinstance(sink, StoreReportSink):
        return store_dataset(sink.store, sink.prefix)
    if isinstance(sink, LocalReportSink):
        return local_dataset(str(sink.root.resolve()))
    raise TypeError(f"no lineage naming for report sink {sink!r}")


__all__ = [
    "LABELING_DB_SCHEMA",
    "LineageDataset",
    "RunLineage",
    "label_studio_dataset",
    "labeling_db_tables",
    "local_dataset",
    "object_dataset",
    "object_path_name",
    "postgres_address",
    "report_dataset",
    "store_dataset",
]
