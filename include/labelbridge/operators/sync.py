"""Sync operators: one base for every cloud, one small subclass per cloud (see ``base.py``).

Usable in your own DAGs: ``S3SyncOperator(task_id="sync", storage="images")`` syncs the storage
named ``images`` in storages.yaml into the labeling database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from labelbridge.config import Cloud, load_config
from labelbridge.connections import DEFAULT_LABELING_DB_CONN_ID, labeling_db_dsn, make_store, page_source
from labelbridge.lineage import RunLineage, labeling_db_tables, store_dataset
from labelbridge.operators.base import LabelingDbOperator, PerCloud, by_cloud
from labelbridge.operators.links import BucketConsoleLink
from labelbridge.storage import AzureBlobStore, GCSStore, S3Store
from labelbridge.sync import Shard, soft_delete_outside_shards, sync_storage

log = logging.getLogger(__name__)

#: The labeling DB's tables a sync writes (its lineage outputs).
SYNC_TABLES = ("task", "source_object", "quarantine", "sync_run")


class BaseSyncOperator(PerCloud, LabelingDbOperator):
    """Sync one source storage from storages.yaml into the labeling database (any cloud).

    :param storage: the storage's name in storages.yaml.
    :param prefix: list this prefix instead of the storage's own (templated: e.g.
        ``tasks/{{ ds_nodash }}/`` syncs one date partition per DAG run).
    :param shard: a shard descriptor from :func:`labelbridge.sync.plan_shards` (``Shard.to_xcom()``).
    :param from_inventory: ``None`` (default) reads the storage's inventory reports when it has an
        ``inventory`` section, else lists the bucket; ``True`` requires the inventory; ``False`` lists.
    :param config_path: storages.yaml to read (default: ``$LABELBRIDGE_CONFIG``).
    :param labeling_db_conn_id: Postgres connection of the labeling database.
    :returns (XCom): the run's counts: listed, inserted, updated, unchanged, deleted, restored,
        quarantined, seconds. Never keys, contents or URLs.
    """

    template_fields: Sequence[str] = ("prefix",)
    ui_color = "#e8f4ea"
    # A "Bucket" button on the task: the console (never a signed URL) of the prefix this run listed.
    operator_extra_links = (BucketConsoleLink(),)

    def __init__(
        self,
        *,
        storage: str,
        prefix: str | None = None,
        shard: dict[str, Any] | None = None,
        from_inventory: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.storage = storage
        self.prefix = prefix
        self.shard = shard
        self.from_inventory = from_inventory

    def execute(self, context: Context) -> dict[str, int | float | str]:
        config = self.load_config()
        storage = config.storage(self.storage)
        self.require_cloud(storage, "sync")
        shard = Shard.from_xcom(self.shard) if self.shard else None
        prefix = self.prefix if self.prefix is not None else storage.prefix
        where = f"shard {shard.to_xcom()}" if shard else repr(prefix)
        log.info("Syncing storage %s (%s://%s) %s", storage.name, storage.cloud.value, storage.bucket, where)
        dsn, store = self.labeling_dsn(), make_store(storage)
        self.lineage = RunLineage("sync", (store_dataset(store, prefix),), labeling_db_tables(dsn, *SYNC_TABLES))
        counts = sync_storage(
            dsn,
            store,
            storage=storage,
            project=config.projects.get(storage.project),
            exclude_prefixes=config.excluded_prefixes(storage),
            prefix=self.prefix,
            shard=shard,
            run_id=str(context.get("run_id") or "manual"),
            source=page_source(storage, store, from_inventory=self.from_inventory),
        )
        log.info("Sync of %s done: %s", storage.name, counts.summary())
        written = counts.inserted + counts.updated + counts.deleted + counts.restored
        self.lineage = RunLineage(
            "sync",
            (store_dataset(store, prefix, files=counts.listed),),
            labeling_db_tables(dsn, *SYNC_TABLES, rows={"task": written, "quarantine": counts.quarantined}),
            details={"storage": storage.name},
        ).with_counts(counts.as_dict())
        return counts.as_dict()


class S3SyncOperator(BaseSyncOperator):
    store_class = S3Store


class GCSSyncOperator(BaseSyncOperator):
    store_class = GCSStore


class AzureBlobSyncOperator(BaseSyncOperator):
    store_class = AzureBlobStore


SYNC_OPERATORS: dict[Cloud, type[BaseSyncOperator]] = by_cloud(S3SyncOperator, GCSSyncOperator, AzureBlobSyncOperator)


def plan_sync_shards(storage_name: str, prefix: str, *, config_path: str | None = None) -> list[dict[str, Any]]:
    """Shard descriptors for a storage with ``shard_by_prefix`` (called by the DAG's plan task).

    :param prefix: the storage's prefix as rendered for this run.
    """
    from labelbridge.sync import plan_shards

    storage = load_config(config_path).storage(storage_name)
    shards = plan_shards(make_store(storage), prefix, max_shards=storage.max_shards)
    log.info("Storage %s: %d shards over %s", storage_name, len(shards), prefix or "the whole bucket")
    return [shard.to_xcom() for shard in shards]


def finish_sharded_sync(
    storage_name: str,
    shards: list[dict[str, Any]],
    *,
    prefix: str,
    config_path: str | None = None,
    labeling_db_conn_id: str = DEFAULT_LABELING_DB_CONN_ID,
) -> dict[str, int | float | str]:
    """Soft-delete objects in folders no shard covered (folders deleted whole since the plan)."""
    config = load_config(config_path)
    storage = config.storage(storage_name)
    covered = [prefix for shard in shards for prefix in shard.get("prefixes", [])]
    counts = soft_delete_outside_shards(
        labeling_db_dsn(labeling_db_conn_id), make_store(storage), storage=storage, covered=covered, root=prefix,
        project=config.projects.get(storage.project), exclude_prefixes=config.excluded_prefixes(storage),
    )
    log.info("Sharded sync of %s finished: %d tasks in vanished folders soft-deleted", storage_name, counts.deleted)
    return counts.as_dict()
