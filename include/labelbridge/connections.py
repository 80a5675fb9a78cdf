"""Airflow Connections into clients, stores, collectors and DSNs: the one place the library meets them.

The storage layer and the jobs receive ready clients and DSNs, so they run and are tested
without a scheduler; the operators and the CLI call these helpers to build them. Airflow is
imported lazily here, so the library packages (which never import this module) stay Airflow-free.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelbridge.clouds import Cloud
from labelbridge.config import AccessLogConfig, ExportTargetConfig, LabelbridgeConfig, ProjectConfig, StorageConfig
from labelbridge.errors import ConfigError
from labelbridge.storage import ObjectStore, S3Store, store_class
from labelbridge.sync.sources import InventorySource, ListingSource, PageSource

# Imported where used: a sync (its CLI command, its task) loads neither compliance nor Label
# Studio's client.
if TYPE_CHECKING:
    from labelbridge.compliance.buckets.collectors import (
        AzureBlobCollector,
        BucketCollector,
        S3Collector,
    )
    from labelbridge.compliance.buckets.targets import BucketTarget
    from labelbridge.compliance.report.sink import ReportSink
    from labelbridge.tools.label_studio.client import LabelStudioClient

log = logging.getLogger(__name__)

DEFAULT_LABELING_DB_CONN_ID = "labeling_db"
#: Under ``$AIRFLOW_HOME`` when storages.yaml names no report place.
DEFAULT_REPORTS_DIR = "compliance-reports"


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


def label_studio_client(conn_id: str) -> LabelStudioClient:
    """A Label Studio client from a ``label_studio`` Airflow Connection (host = URL, password = token)."""
    from labelbridge.hooks.label_studio import LabelStudioHook

    return LabelStudioHook(conn_id).get_conn()


def labelbox_store(project: ProjectConfig) -> ObjectStore:
    """The bucket of the project's ``labelbox`` section: import files written, exports read."""
    assert project.labelbox is not None
    lb = project.labelbox
    return store_class(lb.cloud)(make_client(lb.cloud, lb.conn_id), lb.bucket, prefix=lb.prefix)


def project_stores(config: LabelbridgeConfig, project: str) -> list[tuple[StorageConfig, ObjectStore]]:
    """The project's source storages with their stores: what signs the URLs an annotation tool receives."""
    return [(storage, make_store(storage)) for storage in config.project_storages(project)]


def make_client(cloud: Cloud, conn_id: str, *, in_task: bool = True) -> Any:
    """The SDK client behind the official provider hook for ``cloud`` (the store class names the hook).

    :param in_task: ``False`` where no Airflow task can be running (the CLI). The AWS hook names the
        operator calling it in the client's user agent, found by walking the call stack with
        :func:`inspect.stack`, which reads every frame's source and resolves every loaded module's
        path: 0.08 CPU-s. Outside a task that walk can only find ``Caller/Unknown``, so it is skipped
        and the same user agent is sent.
    """
    store = store_class(cloud)
    module, _, name = store.hook_class.rpartition(".")
    hook = getattr(importlib.import_module(module), name)(**{store.hook_conn_arg: conn_id})
    if not in_task and callable(getattr(hook, "_get_caller", None)):
        hook._get_caller = _unknown_caller
    return hook.get_conn()


def _unknown_caller(target_function_name: str = "execute") -> str:
    """What ``AwsBaseHook._get_caller`` finds with no operator or executor on the stack."""
    return "Unknown"


def make_store(
    entry: StorageConfig | ExportTargetConfig, *, prefix: str | None = None, in_task: bool = True
) -> ObjectStore:
    """An :class:`ObjectStore` for a configured source storage or export target (``in_task``: see
    :func:`make_client`)."""
    kwargs: dict[str, Any] = {"prefix": entry.prefix if prefix is None else prefix}
    if isinstance(entry, StorageConfig):
        kwargs.update(key_regex=entry.key_regex, page_size=entry.page_size, list_concurrency=entry.list_concurrency)
    client = make_client(entry.cloud, entry.conn_id, in_task=in_task)
    return store_class(entry.cloud)(client, entry.bucket, **kwargs)


def page_source(
    storage: StorageConfig, store: ObjectStore, *, from_inventory: bool | None = None, in_task: bool = True
) -> PageSource:
    """Where a sync of ``storage`` reads its objects: its inventory reports when it has an
    ``inventory`` section (or ``from_inventory`` is true), else the bucket's listing.

    :param from_inventory: ``True`` requires the inventory, ``False`` lists; ``None`` follows the config.
    :param in_task: for the reports' client, see :func:`make_client`.
    """
    inventory = storage.inventory
    if from_inventory is False or (from_inventory is None and inventory is None):
        return ListingSource(store)
    if inventory is None:
        raise ConfigError(f"storage {storage.name!r} has no inventory section in storages.yaml")
    from labelbridge.storage.inventory import INVENTORY_READERS

    reports = store_class(storage.cloud)(make_client(storage.cloud, inventory.conn_id, in_task=in_task),
                                         inventory.bucket, prefix=inventory.prefix)
    reader_class = INVENTORY_READERS[storage.cloud]
    extra: dict[str, Any] = {"rule": inventory.rule} if inventory.rule else {}
    reader = reader_class(reports, source_bucket=storage.bucket, max_age=inventory.max_age,
                          file_format=inventory.format, **extra)
    return InventorySource(store, reader, fallback=inventory.fallback)


def access_log_store(entry: AccessLogConfig) -> S3Store:
    """The S3 bucket an access-log entry of storages.yaml names (access logs are S3's)."""
    return S3Store(make_client(Cloud.S3, entry.conn_id), entry.bucket)


# Compliance: bucket-settings collectors and report places -------------------------------------


def collector_for(target: BucketTarget, config: LabelbridgeConfig) -> BucketCollector:
    """The collector that reads ``target``'s bucket settings, with the extra clients its cloud needs."""
    from labelbridge.compliance.buckets.collectors import GCSCollector

    if target.cloud is Cloud.S3:
        return s3_collector(target.conn_id)
    if target.cloud is Cloud.GCS:
        return GCSCollector(make_client(Cloud.GCS, target.conn_id))
    return azure_collector(target.conn_id, config.compliance.azure_management_conn_id)


def s3_collector(conn_id: str) -> S3Collector:
    """An S3 collector with the account's id and an S3 Control client, when the connection allows."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.sts import StsHook
    from botocore.exceptions import BotoCoreError, ClientError

    from labelbridge.compliance.buckets.collectors import S3Collector

    try:
        account_id: str | None = StsHook(aws_conn_id=conn_id).get_account_number()  # type: ignore[no-untyped-call]
    except (BotoCoreError, ClientError) as exc:
        # Without it only the account-level Block Public Access check is skipped (and said so).
        log.warning("%s: cannot tell the AWS account (%s); account-level settings not read", conn_id, exc)
        account_id = None
    s3control = AwsBaseHook(aws_conn_id=conn_id, client_type="s3control").get_conn()
    return S3Collector(make_client(Cloud.S3, conn_id), s3control=s3control, account_id=account_id)


def azure_collector(conn_id: str, management_conn_id: str | None) -> AzureBlobCollector:
    """An Azure collector; with an ARM connection it also reads the account-level settings."""
    from labelbridge.compliance.buckets.collectors import AzureBlobCollector

    management = None
    if management_conn_id:
        from airflow.providers.microsoft.azure.hooks.base_azure import AzureBaseHook
        from azure.mgmt.storage import StorageManagementClient

        management = AzureBaseHook(sdk_client=StorageManagementClient, conn_id=management_conn_id).get_conn()
    return AzureBlobCollector(make_client(Cloud.AZURE, conn_id), management=management)


def report_sinks(config: LabelbridgeConfig) -> list[ReportSink]:
    """Where the report goes, first one first (it also holds the night's parts).

    ``compliance.reports_dir`` (a local or mounted directory) and/or ``compliance.report_storage``
    (an access-log entry, source storage or export target, under ``report_prefix``); with
    neither, ``$AIRFLOW_HOME/compliance-reports``.
    """
    from labelbridge.compliance.report.sink import LocalReportSink, StoreReportSink

    settings = config.compliance
    sinks: list[ReportSink] = []
    if settings.reports_dir:
        sinks.append(LocalReportSink(settings.reports_dir))
    if settings.report_storage:
        sinks.append(StoreReportSink(_report_store(config, settings.report_storage), settings.report_prefix))
    if not sinks:
        home = Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()
        sinks.append(LocalReportSink(home / DEFAULT_REPORTS_DIR))
    return sinks


def _report_store(config: LabelbridgeConfig, name: str) -> ObjectStore:
    for entry in config.compliance.access_logs:
        if entry.name == name:
            return access_log_store(entry)
    bucket_entry = config.storages.get(name) or config.export_targets.get(name)
    if bucket_entry is None:
        known = [a.name for a in config.compliance.access_logs] + list(config.storages) + list(config.export_targets)
        raise ConfigError(
            f"{config.path}: compliance.report_storage: no access-log entry, storage or export target named "
            f"{name!r}; known: {', '.join(known) or 'none'}"
        )
    return make_store(bucket_entry, prefix="")
