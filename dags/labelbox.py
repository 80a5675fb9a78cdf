"""
### labelbridge Labelbox: one DAG per project with a `labelbox` section

Labelbox works on files in a bucket here: labelbridge holds no Labelbox key. Runs after any of the
project's storages was synced (their Assets) and on `labelbox.schedule` (hourly by default):

* `ingest`: the Labelbox export v2 NDJSON files dropped in `<labelbox.prefix>exports/` since the last
  run, into the labeling DB (`origin = 'tool'`, Label Studio result JSON); a bad line is
  quarantined (file URI, line number, why) to `<prefix>quarantine/`, the rest ingested. When labels
  changed it updates `labelbridge://labelbox/<project>`, which the project's export DAGs are
  scheduled on.
* `rows`: signs what is due, then writes the data-row import files to
  `<prefix>imports/<dataset>/<run>/`: `new-*.json` (rows with signed URLs), `changed-*.json`
  (upsert by `global_key` after a URL renewal or a rewritten object), `removed-*.json` (global keys
  of vanished objects), `manifest.json` last. Your upload step uploads what is there.

XCom holds counts and canonical URIs only. See `docs/labelbox.md`.
"""

from __future__ import annotations

import functools
import operator
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, dag

from labelbridge.config import ProjectConfig
from labelbridge.operators.assets import labelbox_dag_id, load_config_for_dags, storage_asset
from labelbridge.operators.labelbox import LabelboxIngestOperator, LabelboxRowsOperator

CONFIG = load_config_for_dags()


def schedule_of(project: ProjectConfig) -> Any:
    """The project's storages' Assets (any of them) or its cron, whichever comes first."""
    assert project.labelbox is not None
    assets = [storage_asset(s.name) for s in CONFIG.project_storages(project.name)]
    cron = CronTriggerTimetable(project.labelbox.schedule, timezone="UTC")
    if not assets:
        return cron
    return AssetOrTimeSchedule(timetable=cron, assets=functools.reduce(operator.or_, assets))


def build(project: ProjectConfig) -> DAG:
    assert project.labelbox is not None

    @dag(
        dag_id=labelbox_dag_id(project.name),
        schedule=schedule_of(project),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        # One run at a time: two would write the same new rows into two folders.
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
        tags=["labelbridge", "labelbox", f"project:{project.name}"],
        doc_md=__doc__,
        description=f"Labelbox files of project {project.name} (dataset {project.labelbox.dataset})",
    )
    def labelbox_dag() -> None:
        ingest = LabelboxIngestOperator(task_id="ingest", project=project.name)
        rows = LabelboxRowsOperator(task_id="rows", project=project.name)
        ingest >> rows

    return labelbox_dag()


DAGS: dict[str, DAG] = {labelbox_dag_id(p.name): build(p) for p in CONFIG.labelbox_projects()}
