"""
### labelbridge Label Studio: one DAG per project labeled in Label Studio

The labeling database and a Label Studio project kept in step over Label Studio's REST API. Label
Studio holds no cloud credential: its tasks carry signed URLs that labelbridge renews.

Runs after any of the project's storages was synced (their Assets) and on `label_studio.schedule`
(hourly by default):

* `pull`: annotations created, edited, skipped or deleted in Label Studio since the last pull,
  by the server's own `updated_at` cursor, into the labeling DB (`origin = 'tool'`); notices tasks
  deleted there by hand. When annotations changed it updates `labelbridge://label-studio/<project>`,
  which the project's export DAGs are scheduled on.
* `push`: new tasks imported in batches with freshly signed URLs, changed objects updated in
  place (annotations kept), vanished ones deleted only when unannotated (`label_studio.vanished`).
  A rerun, or a run killed mid-import, never duplicates a task.
* `renew`: the URLs Label Studio holds renewed before they expire, in expiry order, spread so
  the steady state is tasks / (url_ttl - lead time) PATCHes per second; a warning with the numbers
  and the fix when that is more than the server absorbs (`label_studio.max_patch_rate`).

XCom holds counts only. `labelbridge label-studio status <project>` says how many tasks are in
sync, pending, and when the earliest URL in Label Studio expires. See `docs/label-studio.md`.
"""

from __future__ import annotations

import functools
import operator
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, dag

from labelbridge.config import ProjectConfig
from labelbridge.operators.assets import label_studio_dag_id, load_config_for_dags, storage_asset
from labelbridge.operators.label_studio import (
    LabelStudioPullOperator,
    LabelStudioPushOperator,
    LabelStudioRenewOperator,
)

CONFIG = load_config_for_dags()


def schedule_of(project: ProjectConfig) -> Any:
    """The project's storages' Assets (any of them) or its cron, whichever comes first."""
    assert project.label_studio is not None
    assets = [storage_asset(s.name) for s in CONFIG.project_storages(project.name)]
    cron = CronTriggerTimetable(project.label_studio.schedule, timezone="UTC")
    if not assets:
        return cron
    return AssetOrTimeSchedule(timetable=cron, assets=functools.reduce(operator.or_, assets))


def build(project: ProjectConfig) -> DAG:
    assert project.label_studio is not None

    @dag(
        dag_id=label_studio_dag_id(project.name),
        schedule=schedule_of(project),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        # One run at a time: two pushes would race for the same new tasks (they would reconcile, but slowly).
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
        tags=["labelbridge", "label-studio", f"project:{project.name}"],
        doc_md=__doc__,
        description=f"Keep project {project.name} in step with Label Studio project {project.label_studio.project}",
    )
    def label_studio_dag() -> None:
        pull = LabelStudioPullOperator(task_id="pull", project=project.name)
        push = LabelStudioPushOperator(task_id="push", project=project.name)
        renew = LabelStudioRenewOperator(task_id="renew", project=project.name)
        pull >> push >> renew

    return label_studio_dag()


DAGS: dict[str, DAG] = {label_studio_dag_id(p.name): build(p) for p in CONFIG.label_studio_projects()}
