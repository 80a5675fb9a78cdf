"""
### labelbridge events: one DAG per source storage with an `events` section in storages.yaml

New objects become tasks within seconds. The storage's queue (S3 notifications to SQS, GCS
Pub/Sub, Azure Event Grid to a Storage Queue) is watched by the triggerer, which holds no worker
slot while it waits; each batch of messages starts a run of this DAG.

* `sync_events`: syncs only the objects the batch names (created, overwritten, deleted), then
  deletes the messages. Duplicates and late, older events change nothing. Counts in XCom and
  in the `sync_run` table (run id of this DAG run).
* A lost event is caught by the storage's scheduled sync DAG. Triggered by hand, this DAG
  drains what is queued (as `labelbridge events drain <storage>` does).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from labelbridge.config import StorageConfig
from labelbridge.operators.assets import load_config_for_dags
from labelbridge.operators.events import EVENT_SYNC_OPERATORS, events_asset, events_dag_id

CONFIG = load_config_for_dags()


def build(storage: StorageConfig) -> None:
    @dag(
        dag_id=events_dag_id(storage.name),
        schedule=[events_asset(storage)],
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=8,
        default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
        tags=["labelbridge", "events", storage.cloud.value, f"project:{storage.project}"],
        doc_md=__doc__,
        description=f"Bucket events of {storage.cloud.value}://{storage.bucket}/{storage.prefix} "
        f"into project {storage.project}",
    )
    def events_dag() -> None:
        EVENT_SYNC_OPERATORS[storage.cloud](task_id="sync_events", storage=storage.name)

    events_dag()


for _storage in CONFIG.storages.values():
    if _storage.events is not None:
        build(_storage)
