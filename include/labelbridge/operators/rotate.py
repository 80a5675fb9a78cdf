"""Signed-URL rotation operators, usable in your own DAGs.

``RotateUrlsOperator(task_id="rotate", storage="images")`` re-signs the URLs of the storage
named ``images`` in storages.yaml that expire within its lead time. It serves every cloud: what
differs (SDK signer, caps, credential expiry, IP lock) lives in the store classes. As for every
job (see ``base.py``), ``S3RotateUrlsOperator`` and its siblings pin one cloud; the DAG uses them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from labelbridge.config import Cloud, load_config
from labelbridge.connections import DEFAULT_LABELING_DB_CONN_ID, labeling_db_dsn, make_store
from labelbridge.lineage import RunLineage, labeling_db_tables
from labelbridge.operators.base import LabelingDbOperator, PerCloud, by_cloud
from labelbridge.rotate import DEFAULT_BATCH_SIZE, DEFAULT_CANARY_SIZE, IdRange, plan_id_shards, rotate_storage
from labelbridge.storage import AzureBlobStore, GCSStore, S3Store

log = logging.getLogger(__name__)

#: Tasks per mapped rotation shard; one shard below it.
DEFAULT_TASKS_PER_SHARD = 50_000


class RotateUrlsOperator(PerCloud, LabelingDbOperator):
    """Re-sign one source storage's due signed URLs (or one task-id shard of them).

    :param storage: the storage's name in storages.yaml.
    :param id_range: ``[lo, hi)`` task ids from :func:`plan_rotation_shards` (``None`` ends are open).
    :param batch_size: URLs signed and written per transaction.
    :param canary_size: URLs of the first batch fetched before anything is written (0: off, e.g.
        when the worker is outside the storage's ``ip_range``).
    :param config_path: storages.yaml to read (default: ``$LABELBRIDGE_CONFIG``).
    :param labeling_db_conn_id: Postgres connection of the labeling database.
    :returns (XCom): counts only: due, signed, skipped_locked, already_fresh, pruned,
        canary_checked, batches, seconds. Never a URL.
    """

    ui_color = "#fdf1e0"

    def __init__(
        self,
        *,
        storage: str,
        id_range: Sequence[int | None] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        canary_size: int = DEFAULT_CANARY_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.storage = storage
        self.id_range = id_range
        self.batch_size = batch_size
        self.canary_size = canary_size

    def execute(self, context: Context) -> dict[str, int | float]:
        storage = self.load_config().storage(self.storage)
        self.require_cloud(storage, "rotate")
        id_range: IdRange = (self.id_range[0], self.id_range[1]) if self.id_range else (None, None)
        log.info(
            "Rotating signed URLs of storage %s (%s://%s), task ids %s",
            storage.name,
            storage.cloud.value,
            storage.bucket,
            _describe(id_range),
        )
        dsn = self.labeling_dsn()
        # Rotation reads the storage's tasks and their URLs, and writes fresh URLs back.
        self.lineage = RunLineage(
            "rotate", labeling_db_tables(dsn, "task", "task_url"), labeling_db_tables(dsn, "task_url"),
            details={"storage": storage.name},
        )
        result = rotate_storage(
            dsn,
            make_store(storage),
            storage=storage,
            id_range=id_range,
            batch_size=self.batch_size,
            canary_size=self.canary_size,
        )
        self.lineage = RunLineage(
            "rotate",
            labeling_db_tables(dsn, "task", "task_url"),
            labeling_db_tables(dsn, "task_url", rows={"task_url": result.counts.signed + result.counts.pruned}),
            details={"storage": storage.name},
        ).with_counts(result.counts.as_dict())
        return result.counts.as_dict()


class S3RotateUrlsOperator(RotateUrlsOperator):
    store_class = S3Store


class GCSRotateUrlsOperator(RotateUrlsOperator):
    store_class = GCSStore


class AzureBlobRotateUrlsOperator(RotateUrlsOperator):
    store_class = AzureBlobStore


ROTATE_OPERATORS: dict[Cloud, type[RotateUrlsOperator]] = by_cloud(
    S3RotateUrlsOperator, GCSRotateUrlsOperator, AzureBlobRotateUrlsOperator
)


def plan_rotation_shards(
    storage_name: str,
    *,
    tasks_per_shard: int = DEFAULT_TASKS_PER_SHARD,
    config_path: str | None = None,
    labeling_db_conn_id: str = DEFAULT_LABELING_DB_CONN_ID,
) -> list[list[int | None]]:
    """Task-id ranges to map :class:`RotateUrlsOperator` over (called by the DAG's plan task)."""
    storage = load_config(config_path).storage(storage_name)
    shards = plan_id_shards(labeling_db_dsn(labeling_db_conn_id), storage, tasks_per_shard=tasks_per_shard)
    log.info(
        "Storage %s: %d rotation shard(s): %s", storage_name, len(shards), ", ".join(map(_describe, shards))
    )
    return [[lo, hi] for lo, hi in shards]


def _describe(id_range: IdRange) -> str:
    lo, hi = id_range
    return f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'})"
