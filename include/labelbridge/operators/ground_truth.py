"""SageMaker Ground Truth operators, usable in your own DAGs.

``GroundTruthManifestOperator(task_id="manifest", project="birds")`` writes the tasks of the
project named ``birds`` in storages.yaml that no manifest held yet as a Ground Truth input manifest
under its ``ground_truth.manifests`` (``full=True``: every task); ``GroundTruthIngestOperator``
ingests the labeling jobs' output manifests under ``ground_truth.outputs`` not ingested yet and,
when annotations changed, updates the ``labelbridge://ground-truth/<project>`` Asset that export DAGs
are scheduled on. S3 is reached through the Amazon connection ``ground_truth.conn_id``. XCom holds
counts and the manifest's ``s3://`` URI only.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Context

from labelbridge.config import GroundTruthConfig
from labelbridge.operators.assets import ground_truth_alias, ground_truth_asset
from labelbridge.operators.base import LabelingDbOperator

log = logging.getLogger(__name__)


def location_store(gt: GroundTruthConfig, location: str) -> Any:
    """The S3 store of ``ground_truth.manifests`` or ``.outputs``, through the Amazon provider's S3Hook."""
    from labelbridge.clouds import Cloud
    from labelbridge.connections import make_client
    from labelbridge.storage import S3Store

    bucket, _ = gt.split(location)
    return S3Store(make_client(Cloud.S3, gt.conn_id), bucket)


class GroundTruthOperator(LabelingDbOperator):
    """One job on one project's Ground Truth manifests; the subclasses say which.

    :param project: the project's name in storages.yaml (it has a ``ground_truth`` section).
    :param full: ``manifest``: write every live task, not only new ones; ``ingest``: read every
        output manifest again, ingested or not (templated).
    """

    ui_color = "#ffe8c2"
    template_fields = ("full",)

    def __init__(self, *, project: str, full: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.full = full

    @property
    def is_full(self) -> bool:
        return self.full is True or str(self.full).lower() == "true"


class GroundTruthManifestOperator(GroundTruthOperator):
    """Write the project's new tasks (``source-ref`` / ``source`` JSON Lines) as an input manifest.

    :returns (XCom): ``manifest`` (its ``s3://`` URI, or None when nothing was new), ``lines``,
        ``refused`` (tasks per storage Ground Truth cannot read), ``no_source``, ``refusals`` (why).
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from labelbridge.connections import project_stores
        from labelbridge.tools.ground_truth import write_manifest

        config = self.load_config()
        project = config.tool_project(self.project, "ground_truth")
        assert project.ground_truth is not None
        result = write_manifest(
            self.labeling_dsn(),
            project=project,
            stores=project_stores(config, project.name),
            manifest_store=location_store(project.ground_truth, project.ground_truth.manifests),
            full=self.is_full,
        )
        return result.as_dict()


class GroundTruthIngestOperator(GroundTruthOperator):
    """Ingest the labeling jobs' output manifests not ingested yet into the labeling DB (``origin = 'tool'``).

    Its outlet is an alias: ``labelbridge://ground-truth/<project>`` gets an event only when
    annotations were created or updated.

    :returns (XCom): the ingest counts (manifests_read, manifests_skipped, lines, created, updated,
        unchanged, unlabeled, quarantined, boxes_clipped) and the manifests read.
    """

    def __init__(self, *, project: str, **kwargs: Any) -> None:
        kwargs.setdefault("outlets", [ground_truth_alias(project)])
        super().__init__(project=project, **kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        from labelbridge.tools.ground_truth import ingest_outputs

        config = self.load_config()
        project = config.tool_project(self.project, "ground_truth")
        assert project.ground_truth is not None
        result = ingest_outputs(
            self.labeling_dsn(),
            project=project,
            output_store=location_store(project.ground_truth, project.ground_truth.outputs),
            full=self.is_full,
        )
        counts = result.counts
        alias = ground_truth_alias(project.name)
        if counts.created + counts.updated and any(getattr(o, "name", None) == alias.name for o in self.outlets):
            context["outlet_events"][alias].add(ground_truth_asset(project.name), extra=counts.as_dict())
            log.info("annotations changed: %s updated for export", ground_truth_asset(project.name).uri)
        if counts.quarantined:
            log.warning("%d output lines quarantined: `labelbridge ground-truth quarantine %s` lists them",
                        counts.quarantined, project.name)  # fmt: skip
        return result.as_dict()
