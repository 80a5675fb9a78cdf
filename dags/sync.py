"""
### labelbridge sync: one DAG per source storage in storages.yaml

Lists the storage's bucket (or container) page by page and writes its tasks into the labeling
database: **objects mode** makes every matching object a task; **task_files mode** reads Label
Studio JSON / JSON Lines task files (annotations and predictions included). Reruns are
incremental and idempotent; objects that vanished are soft-deleted after a complete listing.

* `sync`: counts (listed, inserted, updated, unchanged, deleted, restored, quarantined) in XCom
  and in the `sync_run` table; updates the storage's Asset, which export DAGs are scheduled on.
* `check_quarantine`: fails when bad task files were set aside (the rest was synced):
  `labelbridge quarantine list <storage>` says where and why.
* A storage with an `inventory` section reads the newest complete inventory report (S3
  Inventory, GCS Storage Insights, Azure Blob Inventory) instead of listing: the run's counts say
  which report (`source`), a complete listing as of its date.
* A prefix with `{{ ds_nodash }}` syncs one date partition per run:
  `airflow backfill create --dag-id <this dag> --from-date … --to-date …` fills a date range.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

from labelbridge.config import StorageConfig, load_config
from labelbridge.operators.assets import load_config_for_dags, storage_asset, sync_dag_id
from labelbridge.operators.sync import SYNC_OPERATORS, finish_sharded_sync, plan_sync_shards
from labelbridge.sync import quarantine_gate

# Invalid entries show as DAG import warnings in the UI; the valid storages still get their DAGs.
CONFIG = load_config_for_dags()


def build(storage: StorageConfig) -> None:
    @dag(
        dag_id=sync_dag_id(storage.name),
        schedule=storage.schedule,
        start_date=pendulum.datetime(
            storage.start_date.year, storage.start_date.month, storage.start_date.day, tz="UTC"
        ),
        catchup=False,
        max_active_runs=4,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
        tags=["labelbridge", "sync", storage.cloud.value, f"project:{storage.project}"],
        doc_md=__doc__,
        description=f"Sync {storage.cloud.value}://{storage.bucket}/{storage.prefix} ({storage.mode.value}) "
        f"into project {storage.project}" + (" from its inventory reports" if storage.inventory else ""),
    )
    def sync_storage_dag() -> None:
        operator = SYNC_OPERATORS[storage.cloud]

        # A gate: its failure is a verdict on the data, which a retry would not change.
        @task(retries=0)
        def check_quarantine(counts: Any) -> int:
            runs = [counts] if isinstance(counts, dict) else list(counts)
            return quarantine_gate(load_config().storage(storage.name), runs)

        if not storage.shard_by_prefix:
            sync = operator(
                task_id="sync", storage=storage.name, prefix=storage.prefix, outlets=[storage_asset(storage.name)]
            )
            check_quarantine(sync.output)
            return

        @task
        def plan(prefix: str) -> list[dict[str, Any]]:
            return plan_sync_shards(storage.name, prefix)

        @task(outlets=[storage_asset(storage.name)])
        def finish(shards: list[dict[str, Any]], prefix: str) -> dict[str, int | float]:
            return finish_sharded_sync(storage.name, shards, prefix=prefix)

        shards = plan(storage.prefix)
        synced = operator.partial(task_id="sync", storage=storage.name).expand(shard=shards)
        synced >> finish(shards, storage.prefix)
        check_quarantine(synced.output)

    sync_storage_dag()


for _storage in CONFIG.storages.values():
    build(_storage)
