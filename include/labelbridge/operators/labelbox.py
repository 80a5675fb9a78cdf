"""Labelbox operators, usable in your own DAGs.

``LabelboxRowsOperator(task_id="rows", project="birds")`` writes the data-row import files of the
project named ``birds`` in storages.yaml (new rows with signed URLs, changed rows after a URL
renewal, removed keys) to the bucket its ``labelbox`` section names; ``LabelboxIngestOperator``
ingests the Labelbox export v2 files dropped in that bucket's ``exports/`` and, when labels
changed, updates the ``labelbridge://labelbox/<project>`` Asset that export DAGs are scheduled on.
No Labelbox key is involved; the buckets' credentials come from the usual Airflow connections.
XCom holds counts and canonical URIs only: never a signed URL.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Context

from labelbridge.connections import labelbox_store, project_stores
from labelbridge.operators.assets import labelbox_alias, labelbox_asset
from labelbridge.operators.base import LabelingDbOperator
from labelbridge.tools.labelbox import ingest_exports, write_rows

log = logging.getLogger(__name__)


class LabelboxOperator(LabelingDbOperator):
    """One job on one project's Labelbox files; the subclasses say which.

    :param project: the project's name in storages.yaml (it has a ``labelbox`` section).
    """

    ui_color = "#e8e3ff"

    def __init__(self, *, project: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project


class LabelboxRowsOperator(LabelboxOperator):
    """Sign what is due, then write the import files: ``new-*``, ``changed-*`` (upsert by global
    key), ``removed-*`` (global keys) and ``manifest.json`` last.

    :returns (XCom): ``location`` (the run's folder URI or None), ``file_uris`` and the counts.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        config = self.load_config()
        project = config.tool_project(self.project, "labelbox")
        result = write_rows(
            self.labeling_dsn(),
            project=project,
            stores=project_stores(config, project.name),
            target=labelbox_store(project),
        )
        return {"location": result.location, "file_uris": result.files, **result.counts.as_dict()}


class LabelboxIngestOperator(LabelboxOperator):
    """Ingest the export v2 NDJSON files newer than the last ingested into the labeling DB.

    Its outlet is an alias: the ``labelbridge://labelbox/<project>`` Asset gets an event only when
    labels changed.

    :param full: read every export file again, not only the new ones.
    :returns (XCom): the ingest counts, some quarantined lines (where and why) and some global keys
        labelbridge never wrote.
    """

    def __init__(self, *, project: str, full: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [labelbox_alias(project)])
        super().__init__(project=project, **kwargs)
        self.full = full

    def execute(self, context: Context) -> dict[str, Any]:
        config = self.load_config()
        project = config.tool_project(self.project, "labelbox")
        result = ingest_exports(self.labeling_dsn(), project=project, store=labelbox_store(project), full=self.full)
        counts = result.counts
        alias = labelbox_alias(project.name)
        if (counts.created + counts.updated + counts.deleted) and any(
            getattr(o, "name", None) == alias.name for o in self.outlets
        ):
            context["outlet_events"][alias].add(labelbox_asset(project.name), extra=dict(counts.as_dict()))
            log.info("labels changed: %s updated for export", labelbox_asset(project.name).uri)
        return result.as_dict()
