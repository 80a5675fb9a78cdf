"""
### labelbridge URL rotation: keep every task's signed URLs working

Hourly, and after any storage's sync (its `labelbridge://storage/<name>` asset), for each source
storage in storages.yaml: re-sign the signed URLs stored on its tasks
that are missing (new tasks from sync), were signed for another URI, or expire within the
storage's lead time (`url_lead_time`, by default the last fifth of `url_ttl`). The labeling tool
reads them through the `task_with_urls` view.

* `<storage>.plan`: splits the project's tasks into task-id ranges (about 50,000 tasks each).
* `<storage>.rotate`: one mapped task per range; signs in batches of 1,000 with one `UPSERT`
  per batch, skipping rows an overlapping run holds. Before the first batch is written a
  canary fetches a few new URLs; if one fails, nothing is written and the task fails.
* The log names the signer (`s3-sigv4/assume-role`, `gcs-v4/service-account-key`,
  `azure-sas/user-delegation`, …) and when its credentials expire; XCom holds counts only.
  No URL, signature or SAS token is ever logged.

Limits and IP locks per cloud: docs/signed-urls.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, TaskGroup, dag, task

from labelbridge.operators.assets import ROTATE_DAG_ID, load_config_for_dags, storage_asset
from labelbridge.operators.rotate import ROTATE_OPERATORS, plan_rotation_shards

CONFIG = load_config_for_dags()


# New tasks get URLs right after the sync that made them, and URLs never wait over an hour.
SYNCED = [storage_asset(name) for name in CONFIG.storages]
SCHEDULE = (
    AssetOrTimeSchedule(timetable=CronTriggerTimetable("@hourly", timezone="UTC"), assets=AssetAny(*SYNCED))
    if SYNCED
    else "@hourly"
)


@dag(
    dag_id=ROTATE_DAG_ID,
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    # Overlapping runs are safe (row locks), but one at a time keeps the load even.
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["labelbridge", "signed-urls"],
    doc_md=__doc__,
    description="Re-sign signed URLs before they expire, per source storage",
)
def labelbridge_rotate_urls() -> None:
    for storage in CONFIG.storages.values():
        with TaskGroup(group_id=storage.name, tooltip=f"{storage.cloud.value}://{storage.bucket}"):

            @task(task_id="plan")
            def plan(name: str) -> list[list[int | None]]:
                return plan_rotation_shards(name)

            ROTATE_OPERATORS[storage.cloud].partial(task_id="rotate", storage=storage.name).expand(
                id_range=plan(storage.name)
            )


labelbridge_rotate_urls()
