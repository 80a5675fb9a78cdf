"""Export operators: one base for every cloud, one small subclass per cloud (see ``base.py``).

Usable in your own DAGs: ``S3ExportOperator(task_id="export_coco", target="demo-export", fmt="coco")``
exports the target's project in COCO to its bucket, incrementally since the last verified run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from labelbridge.config import Cloud
from labelbridge.connections import make_store
from labelbridge.export.run import export_target, image_field_of
from labelbridge.lineage import RunLineage, labeling_db_tables, store_dataset
from labelbridge.operators.base import LabelingDbOperator, PerCloud, by_cloud
from labelbridge.storage import AzureBlobStore, GCSStore, S3Store

log = logging.getLogger(__name__)

#: The labeling DB's tables an export reads (its lineage inputs).
EXPORT_TABLES = ("task", "annotation", "prediction")


class BaseExportOperator(PerCloud, LabelingDbOperator):
    """Export one export target's project in one format (any cloud); the watermark moves after verification.

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
    ui_color = "#eae8f4"

    def __init__(
        self,
        *,
        target: str,
        fmt: str,
        run_key: str = "{{ run_id }}",
        full: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.fmt = fmt
        self.run_key = run_key
        self.full = full

    def execute(self, context: Context) -> dict[str, int]:
        config = self.load_config()
        target = config.export_target(self.target)
        self.require_cloud(target, "export")
        full = self.full if isinstance(self.full, bool) else str(self.full).strip().lower() in ("true", "1", "yes")
        log.info("Exporting %s as %s to %s://%s (%s)", target.project, self.fmt, target.cloud.value, target.bucket,
                 "full" if full else "incremental")
        dsn, store = self.labeling_dsn(), make_store(target, prefix="")
        # One dataset per target, project and format: each run's folder below it is one version.
        folder = f"{target.prefix.rstrip('/')}/{target.project}/{self.fmt}"
        inputs = labeling_db_tables(dsn, *EXPORT_TABLES)
        details = {"target": target.name, "format": self.fmt, "mode": "full" if full else "incremental"}
        self.lineage = RunLineage("export", inputs, (store_dataset(store, folder, file_format=self.fmt),),
                                  details=details)
        result = export_target(
            dsn,
            store,
            target=target,
            fmt=self.fmt,
            run_key=str(self.run_key),
            full=full,
            image_field=image_field_of(config, target),
        )
        counts = result.counts()
        written = store_dataset(store, folder, rows=counts["annotations_exported"], files=counts["files"],
                                size=counts["bytes"], file_format=self.fmt)
        self.lineage = RunLineage("export", inputs, (written,), details=details).with_counts(counts)
        return counts


class S3ExportOperator(BaseExportOperator):
    store_class = S3Store


class GCSExportOperator(BaseExportOperator):
    store_class = GCSStore


class AzureBlobExportOperator(BaseExportOperator):
    store_class = AzureBlobStore


EXPORT_OPERATORS: dict[Cloud, type[BaseExportOperator]] = by_cloud(
    S3ExportOperator, GCSExportOperator, AzureBlobExportOperator
)
