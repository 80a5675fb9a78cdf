"""
### labelbridge export: one DAG per export target in storages.yaml

Writes the target's project to its bucket (or container) in each configured format, one task per
format, under `<prefix>/<project>/<format>/<run id>/`, with `manifest.json` written last: a
reader that sees the manifest sees a complete, verified export.

* Runs when any of the target's source storages was synced (their Assets), and/or on the
  target's `schedule` cron.
* Incremental by default (what changed since the last verified export of this target and
  format); trigger with `full: true` to rebuild the whole snapshot.
* Clearing a task reruns the same run: same window, byte-identical files. The watermark moves
  only after the upload and the manifest were verified.
* XCom holds counts only; see `docs/export.md` for formats and export rules.
"""

from __future__ import annotations

import functools
import operator
import warnings
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, dag

from labelbridge.config import ExportTargetConfig, load_config
from labelbridge.operators.export import EXPORT_OPERATORS

CONFIG = load_config()
for problem in CONFIG.problems:
    warnings.warn(f"labelbridge: {problem}", stacklevel=1)


def export_dag_id(name: str) -> str:
    return f"labelbridge_export_{name.replace('-', '_')}"


def schedule_of(target: ExportTargetConfig) -> Any:
    """Source storages' Assets (any of them), the cron, both, or nothing (manual runs only)."""
    assets = [Asset(f"labelbridge://storage/{name}") for name in target.sources]
    condition = functools.reduce(operator.or_, assets) if assets else None
    if condition is not None and target.schedule:
        from airflow.sdk.definitions.timetables.assets import AssetOrTimeSchedule
        from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable

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
                outlets=[Asset(f"labelbridge://export/{target.name}/{fmt}")],
            )

    return export_target_dag()


DAGS: dict[str, DAG] = {export_dag_id(t.name): build(t) for t in CONFIG.export_targets.values()}
