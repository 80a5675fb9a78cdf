"""
### labelbridge Ground Truth: one DAG per project labeled in SageMaker Ground Truth

Ground Truth runs only in AWS and exchanges its work as files in S3: this DAG writes them and
reads them back. Runs after any of the project's storages was synced (their Assets) and on
`ground_truth.schedule` (hourly by default):

* `ingest`: every labeling job's `output.manifest` under `ground_truth.outputs` not ingested yet,
  streamed line by line, into the labeling DB as annotations from the tool (`origin = 'tool'`,
  Label Studio result JSON, so every export format reads them); a bad line is quarantined with its
  manifest and line number, the rest ingested. When annotations changed it updates
  `labelbridge://ground-truth/<project>`, which the project's export DAGs are scheduled on.
* `manifest`: the tasks no manifest held yet, as an input manifest (`source-ref` / `source` JSON
  Lines) under `ground_truth.manifests`, uploaded whole once complete. Storages Ground Truth cannot
  read (GCS, Azure, an S3 bucket in another region) are refused with why.

Trigger with `{"full": true}` for a full manifest (and re-reading every output manifest).
XCom holds counts and `s3://` URIs only. See `docs/ground-truth.md`.
"""

from __future__ import annotations

import functools
import operator
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag

from labelbridge.config import ProjectConfig
from labelbridge.operators.assets import ground_truth_dag_id, load_config_for_dags, storage_asset
from labelbridge.operators.ground_truth import GroundTruthIngestOperator, GroundTruthManifestOperator

CONFIG = load_config_for_dags()


def schedule_of(project: ProjectConfig) -> Any:
    """The project's storages' Assets (any of them) or its cron, whichever comes first."""
    assert project.ground_truth is not None
    assets = [storage_asset(s.name) for s in CONFIG.project_storages(project.name)]
    cron = CronTriggerTimetable(project.ground_truth.schedule, timezone="UTC")
    if not assets:
        return cron
    return AssetOrTimeSchedule(timetable=cron, assets=functools.reduce(operator.or_, assets))


def build(project: ProjectConfig) -> DAG:
    assert project.ground_truth is not None

    @dag(
        dag_id=ground_truth_dag_id(project.name),
        schedule=schedule_of(project),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        # One run at a time: two manifest runs would both write the same new tasks.
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
        params={"full": Param(False, type="boolean", description="write every task; re-read every output")},
        tags=["labelbridge", "ground-truth", f"project:{project.name}"],
        doc_md=__doc__,
        description=f"Ground Truth manifests of project {project.name} in {project.ground_truth.manifests}",
    )
    def ground_truth_dag() -> None:
        full = "{{ params.full }}"
        ingest = GroundTruthIngestOperator(task_id="ingest", project=project.name, full=full)
        manifest = GroundTruthManifestOperator(task_id="manifest", project=project.name, full=full)
        ingest >> manifest

    return ground_truth_dag()


DAGS: dict[str, DAG] = {ground_truth_dag_id(p.name): build(p) for p in CONFIG.ground_truth_projects()}
