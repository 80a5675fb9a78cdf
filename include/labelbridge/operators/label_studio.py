"""Label Studio operators, usable in your own DAGs.

``LabelStudioPushOperator(task_id="push", project="birds")`` pushes the tasks of the project named
``birds`` in storages.yaml to the Label Studio project its ``label_studio`` section names;
``LabelStudioRenewOperator`` renews the signed URLs Label Studio holds before they expire;
``LabelStudioPullOperator`` brings the annotations made there back into the labeling DB and, when
any changed, updates the ``labelbridge://label-studio/<project>`` Asset that export DAGs are
scheduled on. The Label Studio server and token come from the Airflow Connection
``label_studio.conn_id`` (type ``label_studio``). XCom holds counts only: never a URL or a token.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import Context

from labelbridge.config import LabelbridgeConfig, LabelStudioConfig, ProjectConfig
from labelbridge.connections import label_studio_client, project_stores
from labelbridge.lineage import RunLineage, label_studio_dataset, labeling_db_tables
from labelbridge.operators.assets import label_studio_alias, label_studio_asset
from labelbridge.operators.base import LabelingDbOperator
from labelbridge.tools.label_studio import LabelStudioClient, pull_project, push_project, renew_project

log = logging.getLogger(__name__)


class LabelStudioOperator(LabelingDbOperator):
    """One job on one project's Label Studio project; the subclasses say which.

    :param project: the project's name in storages.yaml (it has a ``label_studio`` section).
    :param config_path: storages.yaml to read (default: ``$LABELBRIDGE_CONFIG``).
    :param labeling_db_conn_id: Postgres connection of the labeling database.
    """

    ui_color = "#ffe9e3"

    def __init__(self, *, project: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project

    def execute(self, context: Context) -> dict[str, Any]:
        config = self.load_config()
        project = config.tool_project(self.project, "label_studio")
        with label_studio_client(_settings(project).conn_id) as client:
            return self.run(client, config, project, context)

    def run(
        self, client: LabelStudioClient, config: LabelbridgeConfig, project: ProjectConfig, context: Context
    ) -> dict[str, Any]:
        raise NotImplementedError


class LabelStudioPushOperator(LabelStudioOperator):
    """Import new tasks (with freshly signed URLs), update changed ones in place, and delete the
    vanished ones Label Studio may lose (``label_studio.vanished``).

    :returns (XCom): ``label_studio_project`` and the push counts (imported, updated, deleted,
        kept_annotated, adopted, duplicates_removed, deleted_in_tool, waiting_for_urls, ...).
    """

    def run(
        self, client: LabelStudioClient, config: LabelbridgeConfig, project: ProjectConfig, context: Context
    ) -> dict[str, Any]:
        result = push_project(
            self.labeling_dsn(),
            client,
            project=project,
            stores=project_stores(config, project.name),
            config_dir=config.path.parent,
        )
        counts = result.counts.as_dict()
        self.lineage = RunLineage(
            "label_studio.push",
            labeling_db_tables(self.labeling_dsn(), "task", "task_url"),
            (label_studio_dataset(client.url, result.label_studio_project),),
            details={"project": project.name},
        ).with_counts(counts)
        return {"label_studio_project": result.label_studio_project, **counts}


class LabelStudioRenewOperator(LabelStudioOperator):
    """Renew the signed URLs Label Studio holds, in expiry order: the due ones and this run's share
    of the spread (tasks / (url_ttl - lead time) per second), with a canary read back from Label
    Studio. Warns, with the numbers and the fix, when that rate is more than the server absorbs.

    :param max_seconds: stop PATCHing after this long; what is left is due next run (default:
        nine tenths of the gap between two runs of ``label_studio.schedule``, so runs never pile up).
    :returns (XCom): the renewal counts and ``plan`` (tasks, due, steady_rate_per_s, over_capacity, ...).
    """

    def __init__(self, *, max_seconds: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_seconds = max_seconds

    def run(
        self, client: LabelStudioClient, config: LabelbridgeConfig, project: ProjectConfig, context: Context
    ) -> dict[str, Any]:
        interval = _settings(project).interval
        result = renew_project(
            self.labeling_dsn(),
            client,
            project=project,
            stores=project_stores(config, project.name),
            config_dir=config.path.parent,
            interval=interval,
            max_seconds=self.max_seconds if self.max_seconds is not None else 0.9 * interval / timedelta(seconds=1),
        )
        remote = result.label_studio_project
        self.lineage = RunLineage(
            "label_studio.renew",
            labeling_db_tables(self.labeling_dsn(), "tool_task"),
            (label_studio_dataset(client.url, remote if remote is not None else _settings(project).project),),
            details={"project": project.name},
        ).with_counts(result.counts.as_dict())
        return {**result.counts.as_dict(), "plan": result.plan.as_dict() if result.plan else None}


class LabelStudioPullOperator(LabelStudioOperator):
    """Bring annotations created, edited, skipped or deleted in Label Studio since the last pull
    into the labeling DB (``origin = 'tool'``), and notice tasks deleted there by hand.

    Its outlet is an alias: the ``labelbridge://label-studio/<project>`` Asset gets an event only
    when annotations changed, so exports scheduled on it do not rerun after every empty pull.

    :param check_deleted: also list the project's task ids to notice tasks deleted by hand.
    :returns (XCom): the pull counts (created, updated, deleted, unchanged, deleted_in_tool, ...).
    """

    def __init__(self, *, project: str, check_deleted: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [label_studio_alias(project)])
        super().__init__(project=project, **kwargs)
        self.check_deleted = check_deleted

    def run(
        self, client: LabelStudioClient, config: LabelbridgeConfig, project: ProjectConfig, context: Context
    ) -> dict[str, Any]:
        result = pull_project(
            self.labeling_dsn(),
            client,
            project=project,
            config_dir=config.path.parent,
            check_deleted=self.check_deleted,
        )
        counts = result.counts.as_dict()
        self.lineage = RunLineage(
            "label_studio.pull",
            (label_studio_dataset(client.url, result.label_studio_project),),
            labeling_db_tables(self.labeling_dsn(), "annotation",
                               rows={"annotation": int(counts["created"] + counts["updated"] + counts["deleted"])}),
            details={"project": project.name},
        ).with_counts(counts)
        changed = counts["created"] + counts["updated"] + counts["deleted"] + counts["deleted_in_tool"]
        alias = label_studio_alias(project.name)
        if changed and any(getattr(o, "name", None) == alias.name for o in self.outlets):
            context["outlet_events"][alias].add(label_studio_asset(project.name), extra=dict(counts))
            log.info("annotations changed: %s updated for export", label_studio_asset(project.name).uri)
        return {"label_studio_project": result.label_studio_project, **counts}


def _settings(project: ProjectConfig) -> LabelStudioConfig:
    assert project.label_studio is not None  # label_studio_project() refuses a project without one
    return project.label_studio
