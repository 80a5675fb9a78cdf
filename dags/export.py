"""
### labelbridge export: one DAG per export target in storages.yaml

Writes the target's project to its bucket (or container) in each configured format, one task per
format, under `<prefix>/<project>/<format>/<run id>/`, with `manifest.json` written last: a
reader that sees the manifest sees a complete, verified export.

* Runs when any of the target's source storages was synced (their Assets), when a pull brought
  annotations from Label Studio (`labelbridge://label-studio/<project>`), and/or on the target's
  `schedule` cron.
* Incremental by default (what changed since the last verified export of this target and
  format); trigger with `full: true` to rebuild the whole snapshot.
* Clearing a task reruns the same run: same window, byte-identical files. The watermark moves
  only after the upload and the manifest were verified.
* XCom holds counts only; see `docs/export.md` for formats and export rules.
"""

from __future__ import annotations

import functools
import operator
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag

from labelbridge.config import ExportTargetConfig
from labelbridge.operators.assets import (
    export_asset,
    export_dag_id,
    ground_truth_asset,
    label_studio_asset,
    labelbox_asset,
    load_config_for_dags,
    storage_asset,
)
from labelbridge.operators.export import EXPORT_OPERATORS

CONFIG = load_config_for_dags()


def schedule_of(target: ExportTargetConfig) -> Any:
    """Source storages' Assets and, for a project labeled in Label Studio or Labelbox, its pulls' or
    ingests' Asset (any of them), the cron, both, or nothing (manual runs only)."""
    assets = [storage_asset(name) for name in target.sources]
    project = CONFIG.projects.get(target.project)
    if project is not None and project.label_studio is not None:
        assets.append(label_studio_asset(project.name))
    if project is not None and project.ground_truth is not None:
        assets.append(ground_truth_asset(project.name))
    if project is not None and project.labelbox is not None:
        assets.append(labelbox_asset(project.name))
    condition = functools.reduce(operator.or_, assets) if assets else None
    if condition is not None and target.schedule:
        return AssetOrTimeSchedule(timetable=CronTriggerTimetable(target.schedule, timezone="UTC"), assets=condition)
    return condition if condition is not None else target.schedule


def build(target: ExportTargetConfig) -> DAG:
    @dag(
        dag_id=export_dag_id(target.name),
        schedule=schedule_of(target),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        # Runs of one target move one watermark: one at a time keeps windows adjacent.
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
        params={"full": Param(False, type="boolean", description="rebuild the whole snapshot")},
        tags=["labelbridge", "export", target.cloud.value, f"project:{target.project}"],
        doc_md=__doc__,
        description=f"Export project {target.project} to {target.cloud.value}://{target.bucket}/{target.prefix} "
        f"as {', '.join(target.formats)}",
    )
    def export_target_dag() -> None:
        export_operator = EXPORT_OPERATORS[target.cloud]
        for fmt in target.formats:
            export_operator(
                task_id=f"export_{fmt}",
                target=target.name,
                fmt=fmt,
                full="{{ params.full }}",
                outlets=[export_asset(target.name, fmt)],
            )

    return export_target_dag()


DAGS: dict[str, DAG] = {export_dag_id(t.name): build(t) for t in CONFIG.export_targets.values()}
