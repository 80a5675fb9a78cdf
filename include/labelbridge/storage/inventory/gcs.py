"""GCS Storage Insights inventory reports: one manifest per report, CSV or Parquet shards.

Layout (https://cloud.google.com/storage/docs/insights/inventory-reports)::

    DESTINATION_PATH/REPORT_CONFIG_ID_SNAPSHOT_TIME_manifest.json
    DESTINATION_PATH/REPORT_CONFIG_ID_SNAPSHOT_TIME_SHARD.csv | .parquet

The manifest is written once every shard is: ``snapshot_time`` (the report is complete as of
then), ``shard_count``, ``report_shards_file_names`` and ``records_processed`` (rows in all shards),
and the ``report_config`` that made it (``csv_options`` or ``parquet_options``;
``object_metadata_report_options``: ``metadata_fields``, ``storage_filters.bucket``). It carries no
checksum: completeness is the manifest, every shard present and the row count. CSV shards have a
header row unless ``csv_options.header_required`` is false.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from labelbridge.clouds import Cloud
from labelbridge.errors import InventoryError
from labelbridge.storage.inventory.base import InventoryReader, InventoryReport, ReportFile
from labelbridge.storage.inventory.formats import timestamp


class GCSInventoryReader(InventoryReader):
    """Storage Insights inventory reports; the store's prefix is the configuration's destination path."""

    cloud = Cloud.GCS
    # generation is GCS's version id; the listing reports it too (GCSStore), so both agree.
    fields: ClassVar[Mapping[str, str]] = {
        "key": "name", "size": "size", "etag": "etag", "last_modified": "updated", "version_id": "generation",
        "bucket": "bucket",
    }

    def _manifest_keys(self) -> list[str]:
        keys = [o.key for o in self.store.iter_objects(self.store.prefix) if o.key.endswith("_manifest.json")]
        # REPORT_CONFIG_ID_SNAPSHOT_TIME_manifest.json: ISO times sort as they read.
        return sorted(keys, reverse=True)

    def _read_manifest(self, key: str) -> InventoryReport:
        manifest = self.read_json(key)
        where = self.store.uri(key)
        try:
            config: dict[str, Any] = manifest.get("report_config") or {}
            options = config.get("object_metadata_report_options") or {}
            bucket = (options.get("storage_filters") or {}).get("bucket")
            names = list(manifest["report_shards_file_names"])
            shard_count = int(manifest["shard_count"])
            as_of: datetime | None = timestamp(manifest["snapshot_time"])
            rows = int(manifest["records_processed"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InventoryError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from None
        if bucket is not None and bucket != self.source_bucket:
            raise InventoryError(f"{where}: lists bucket {bucket!r}, not {self.source_bucket!r}")
        if len(names) != shard_count:
            raise InventoryError(f"{where}: names {len(names)} shards of {shard_count}: the report is incomplete")
        assert as_of is not None
        file_format = "parquet" if "parquet_options" in config else "csv"
        columns = None
        csv_options = config.get("csv_options") or {}
        if file_format == "csv" and csv_options.get("header_required") is False:
            columns = tuple(options.get("metadata_fields") or ())
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        files = tuple(ReportFile(key=folder + name) for name in names)
        return InventoryReport(key, as_of, file_format, files, columns=columns, expected_rows=rows)
