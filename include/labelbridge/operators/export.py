"""Export operators: one base, one small subclass per cloud.

Usable in your own DAGs: ``S3ExportOperator(task_id="export_coco", target="demo-export", fmt="coco")``
exports the target's project in COCO to its bucket, incrementally since the last verified run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context

from labelbridge.config import Cloud, load_config
from labelbridge.export.run import export_target, image_field_of
from labelbridge.operators.connections import (
    DEFAULT_LABELING_DB_CONN_ID,
    labeling_db_dsn,
    make_store,
    require_cloud,
)

log = logging.getLogger(__name__)


class BaseExportOperator(BaseOperator):
    """Export one export target's project in one format; the watermark moves after verification.

    :param target: the export target's name in storages.yaml.
    :param fmt: one of the target's formats (json, json_min, jsonl, csv, coco, yolo, voc).
    :param run_key: names the run's folder (templated; default the DAG run id): a retry or a
        cleared task of the same run rewrites the same files.
    :param full: rebuild the whole snapshot instead of exporting what changed (templated:
        ``"{{ params.full }}"`` works; "true"/"false" strings are read as booleans).
    :param config_path: storages.yaml to read (default: ``$LABELBRIDGE_CONFIG``).
    :param labeling_db_conn_id: Postgres connection of the labeling database.
    :returns (XCom): counts (files, bytes, tasks and annotations exported, skipped, deleted).
    """

    template_fields: Sequence[str] = ("run_key", "full")
    cloud: ClassVar[Cloud]
    ui_color = "#eae8f4"

    def __init__(
        self,
        *,
        target: str,
        fmt: str,
        run_key: str = "{{ run_id }}",
        full: bool | str = False,
        config_path: str | None = None,
        labeling_db_conn_id: str = DEFAULT_LABELING_DB_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.fmt = fmt
        self.run_key = run_key
        self.full = full
        self.config_path = config_path
        self.labeling_db_conn_id = labeling_db_conn_id

    def execute(self, context: Context) -> dict[str, int]:
        config = load_config(self.config_path)
        target = config.export_target(self.target)
        require_cloud(self, self.cloud, target, "export")
        full = self.full if isinstance(self.full, bool) else str(self.full).strip().lower() in ("true", "1", "yes")
        log.info("Exporting %s as %s to %s://%s (%s)", target.project, self.fmt, target.cloud.value, target.bucket,
                 "full" if full else "incremental")
        result = export_target(
            labeling_db_dsn(self.labeling_db_conn_id),
            make_store(target, prefix=""),
            target=target,
            fmt=self.fmt,
            run_key=str(self.run_key),
            full=full,
            image_field=image_field_of(config, target),
        )
        return result.counts()


class S3ExportOperator(BaseExportOperator):
    cloud = Cloud.S3


class GCSExportOperator(BaseExportOperator):
    cloud = Cloud.GCS


class AzureBlobExportOperator(BaseExportOperator):
    cloud = Cloud.AZURE


EXPORT_OPERATORS: dict[Cloud, type[BaseExportOperator]] = {
    Cloud.S3: S3ExportOperator,
    Cloud.GCS: GCSExportOperator,
    Cloud.AZURE: AzureBlobExportOperator,
}
