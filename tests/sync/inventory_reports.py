"""Inventory reports written into emulator buckets in each cloud's documented layout.

The emulators produce no inventories, so these writers do, from the objects a listing of the
source bucket returns (the same ETags and generations as the cloud would report):

* S3 Inventory: https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html
  (``<prefix>/<YYYY-MM-DDTHH-MMZ>/manifest.json`` + ``manifest.checksum``, the MD5 of the manifest;
  ``data/<uuid>.csv.gz``), the manifest as its example shows it (``sourceBucket``, ``fileFormat``,
  ``fileSchema``, ``creationTimestamp``, ``files[key, size, MD5checksum]``), and the fields of
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html: CSV without a
  header row, URL-encoded keys; ORC and Parquet columns ``bucket, key, version_id, is_latest,
  is_delete_marker, size, last_modified_date, e_tag, storage_class``.
* GCS Storage Insights inventory reports: https://cloud.google.com/storage/docs/insights/inventory-reports
  (``REPORT_CONFIG_ID_SNAPSHOT_TIME_manifest.json`` with ``report_config``, ``records_processed``,
  ``snapshot_time``, ``shard_count``, ``report_shards_file_names``; shards
  ``REPORT_CONFIG_ID_SNAPSHOT_TIME_<n>.csv|.parquet``, CSV with a header row of the metadata fields).
* Azure Blob Inventory: https://learn.microsoft.com/en-us/azure/storage/blobs/blob-inventory
  (``YYYY/MM/DD/HH-MM-SS/<rule>/<rule>-manifest.json`` and ``<rule>-manifest.checksum``, the
  manifest's MD5, written last; ``status``, ``inventoryStartTime``, ``files[blob, size]``,
  ``summary.objectCount``, ``ruleDefinition.format/schemaFields``; CSV with a header row; ``Name``
  is ``<container>/<blob>``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq

from labelbridge.config import Cloud
from labelbridge.storage import ObjectInfo, ObjectStore

S3_CSV_SCHEMA = ("Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag",
                 "StorageClass")
GCS_FIELDS = ("project", "bucket", "name", "location", "size", "timeCreated", "updated", "storageClass", "etag",
              "generation", "contentType")
AZURE_FIELDS = ("Name", "Creation-Time", "Last-Modified", "Etag", "Content-Length", "BlobType", "AccessTier")


def _iso(when: datetime | None, *, digits: int = 3) -> str:
    when = (when or datetime(2026, 1, 1, tzinfo=UTC)).astimezone(UTC)
    fraction = f"{when.microsecond:06d}{'0' * 6}"[:digits]
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"


def _split(objects: Sequence[ObjectInfo], files: int, seed: int) -> list[list[ObjectInfo]]:
    """The objects shuffled (reports are in no order) and dealt into ``files`` files."""
    shuffled = list(objects)
    random.Random(seed).shuffle(shuffled)
    return [shuffled[n::files] for n in range(files)]


def _csv_bytes(header: Sequence[str] | None, rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _arrow_bytes(table: pa.Table, fmt: str) -> bytes:
    sink = io.BytesIO()
    if fmt == "orc":
        orc.write_table(table, sink)
    else:
        pq.write_table(table, sink, row_group_size=max(1, table.num_rows // 3 or 1))
    return sink.getvalue()


#: How a cloud types a Parquet column: (field, the column's CSV values, the shard's objects) -> array.
ArrowColumn = Callable[[str, list[Any], list[ObjectInfo]], pa.Array]


def _shard_bytes(
    fmt: str, fields: Sequence[str], values: dict[str, list[Any]], part: list[ObjectInfo], arrow_column: ArrowColumn
) -> bytes:
    """One shard of a GCS or Azure report: CSV with a header row of ``fields``, or Parquet typed by ``arrow_column``."""
    if fmt == "csv":
        return _csv_bytes(fields, [list(row) for row in zip(*(values[f] for f in fields), strict=True)])
    return _arrow_bytes(pa.table({f: arrow_column(f, values[f], part) for f in fields}), fmt)


def _write_manifest(
    reports: ObjectStore, manifest: dict[str, Any], key: str, checksum_key: str, *, indent: int
) -> None:
    """The manifest, then its checksum file (the manifest's MD5, hex) after it, as S3 and Azure write them."""
    body = json.dumps(manifest, indent=indent).encode()
    reports.write(key, body)
    reports.write(checksum_key, hashlib.md5(body).hexdigest().encode())


# S3 -------------------------------------------------------------------------------------------


def s3_row(bucket: str, obj: ObjectInfo, schema: Sequence[str]) -> list[Any]:
    values = {
        "Bucket": bucket, "Key": quote_plus(obj.key), "VersionId": "", "IsLatest": "true",
        "IsDeleteMarker": "false", "Size": obj.size_bytes, "LastModifiedDate": _iso(obj.last_modified),
        "ETag": obj.etag or "", "StorageClass": "STANDARD", "IsMultipartUploaded": "false",
        "ReplicationStatus": "", "EncryptionStatus": "SSE-S3", "ChecksumAlgorithm": "",
    }
    return [values[c] for c in schema]


def write_s3_report(
    reports: ObjectStore,
    source_bucket: str,
    objects: Sequence[ObjectInfo],
    *,
    when: datetime,
    fmt: str = "csv",
    files: int = 3,
    schema: Sequence[str] = S3_CSV_SCHEMA,
    extra_rows: Sequence[list[Any]] = (),
    seed: int = 1,
) -> dict[str, Any]:
    """Write one report under ``reports.prefix`` (``destination-prefix/source-bucket/config-ID/``)."""
    entries = []
    for n, part in enumerate(_split(objects, files, seed)):
        if fmt == "csv":
            rows = [s3_row(source_bucket, o, schema) for o in part] + (list(extra_rows) if n == 0 else [])
            body = gzip.compress(_csv_bytes(None, rows), mtime=0)
            ext = "csv.gz"
        else:
            table = pa.table({
                "bucket": pa.array([source_bucket] * len(part), pa.string()),
                "key": pa.array([o.key for o in part], pa.string()),
                "version_id": pa.array([None] * len(part), pa.string()),
                "is_latest": pa.array([True] * len(part)),
                "is_delete_marker": pa.array([False] * len(part)),
                "size": pa.array([o.size_bytes for o in part], pa.int64()),
                "last_modified_date": pa.array([o.last_modified for o in part], pa.timestamp("ms", tz="UTC")),
                "e_tag": pa.array([o.etag for o in part], pa.string()),
                "storage_class": pa.array(["STANDARD"] * len(part), pa.string()),
            })
            body = _arrow_bytes(table, fmt)
            ext = fmt
        key = f"{reports.prefix}data/{uuid.uuid4()}.{ext}"
        reports.write(key, body)
        entries.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{reports.bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(when.timestamp() * 1000)),
        "fileFormat": {"csv": "CSV", "orc": "ORC", "parquet": "Parquet"}[fmt],
        "fileSchema": ", ".join(schema) if fmt == "csv" else "message s3.inventory { ... }",
        "files": entries,
    }
    folder = f"{reports.prefix}{when:%Y-%m-%dT%H-%MZ}/"
    _write_manifest(reports, manifest, folder + "manifest.json", folder + "manifest.checksum", indent=4)
    return {"folder": folder, "manifest": manifest}


# GCS ------------------------------------------------------------------------------------------


def write_gcs_report(
    reports: ObjectStore,
    source_bucket: str,
    objects: Sequence[ObjectInfo],
    *,
    when: datetime,
    fmt: str = "csv",
    files: int = 3,
    fields: Sequence[str] = GCS_FIELDS,
    config_id: str = "3bd5c2e4-0c5e-4a0c-9b2a-8a3b1f0c1d2e",
    seed: int = 1,
) -> dict[str, Any]:
    stem = f"{reports.prefix}{config_id}_{_iso(when, digits=0)}"
    names = []
    for n, part in enumerate(_split(objects, files, seed)):
        values = {
            "project": ["1234567890"] * len(part), "bucket": [source_bucket] * len(part),
            "name": [o.key for o in part], "location": ["US"] * len(part),
            "size": [o.size_bytes for o in part], "timeCreated": [_iso(o.last_modified) for o in part],
            "updated": [_iso(o.last_modified) for o in part], "storageClass": ["STANDARD"] * len(part),
            "etag": [o.etag for o in part], "generation": [o.version_id for o in part],
            "contentType": ["image/jpeg"] * len(part),
        }
        body = _shard_bytes(fmt, fields, values, part, _gcs_column)
        name = f"{stem}_{n}.{fmt}"
        reports.write(name, body)
        names.append(name.rsplit("/", 1)[-1])
    options: dict[str, Any] = (
        {"csv_options": {"record_separator": "\n", "delimiter": ",", "header_required": True}}
        if fmt == "csv" else {"parquet_options": {}}
    )
    manifest = {
        "report_config": {
            "name": f"projects/1234567890/locations/us/reportConfigs/{config_id}",
            **options,
            "object_metadata_report_options": {
                "metadata_fields": list(fields),
                "storage_filters": {"bucket": source_bucket},
                "storage_destination_options": {"bucket": reports.bucket, "destination_path": reports.prefix},
            },
        },
        "records_processed": len(objects),
        "snapshot_time": _iso(when, digits=0),
        "shard_count": len(names),
        "report_shards_file_names": names,
    }
    reports.write(f"{stem}_manifest.json", json.dumps(manifest).encode())
    return {"manifest_key": f"{stem}_manifest.json", "manifest": manifest}


def _gcs_column(field: str, values: list[Any], part: list[ObjectInfo]) -> pa.Array:
    """Parquet columns typed as BigQuery reads them: sizes and generations integers, times timestamps."""
    if field in ("size", "generation"):
        return pa.array([None if v is None else int(v) for v in values], pa.int64())
    if field in ("updated", "timeCreated"):
        return pa.array([o.last_modified for o in part], pa.timestamp("us", tz="UTC"))
    return pa.array(values, pa.string())


# Azure ----------------------------------------------------------------------------------------


def write_azure_report(
    reports: ObjectStore,
    container: str,
    objects: Sequence[ObjectInfo],
    *,
    when: datetime,
    fmt: str = "csv",
    files: int = 3,
    fields: Sequence[str] = AZURE_FIELDS,
    rule: str = "images-daily",
    status: str = "Succeeded",
    seed: int = 1,
) -> dict[str, Any]:
    folder = f"{reports.prefix}{when:%Y/%m/%d/%H-%M-%S}/{rule}/"
    entries = []
    for n, part in enumerate(_split(objects, files, seed)):
        values: dict[str, list[Any]] = {
            "Name": [f"{container}/{o.key}" for o in part],
            "Creation-Time": [_iso(o.last_modified, digits=7) for o in part],
            "Last-Modified": [_iso(o.last_modified, digits=7) for o in part],
            "Etag": [o.etag for o in part], "Content-Length": [o.size_bytes for o in part],
            "BlobType": ["BlockBlob"] * len(part), "AccessTier": ["Hot"] * len(part),
            "VersionId": [o.version_id for o in part], "IsCurrentVersion": ["true"] * len(part),
            "Snapshot": [None] * len(part), "Content-MD5": [""] * len(part),
        }
        body = _shard_bytes(fmt, fields, values, part, _azure_column)
        blob = f"{folder}{rule}_1000000_{n}.{fmt}"
        reports.write(blob, body)
        entries.append({"blob": blob, "size": len(body)})
    manifest = {
        "destinationContainer": reports.bucket,
        "endpoint": "http://127.0.0.1:10000/devstoreaccount1",
        "files": entries,
        "inventoryCompletionTime": _iso(when, digits=0),
        "inventoryStartTime": _iso(when, digits=0),
        "ruleDefinition": {
            "filters": {"blobTypes": ["blockBlob"], "includeBlobVersions": False, "includeSnapshots": False},
            "format": fmt, "objectType": "blob", "schedule": "daily", "schemaFields": list(fields),
        },
        "ruleName": rule,
        "status": status,
        "summary": {"objectCount": len(objects), "totalObjectSize": sum(o.size_bytes for o in objects)},
        "version": "1.0",
    }
    _write_manifest(reports, manifest, f"{folder}{rule}-manifest.json", f"{folder}{rule}-manifest.checksum", indent=2)
    return {"folder": folder, "manifest": manifest}


def _azure_column(field: str, values: list[Any], part: list[ObjectInfo]) -> pa.Array:
    """Parquet columns as Azure writes them: every field a string."""
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def write_report(cloud: Cloud, reports: ObjectStore, source_bucket: str, objects: Sequence[ObjectInfo],
                 **kwargs: Any) -> dict[str, Any]:
    writer = {Cloud.S3: write_s3_report, Cloud.GCS: write_gcs_report, Cloud.AZURE: write_azure_report}[cloud]
    return writer(reports, source_bucket, objects, **kwargs)


#: Where each cloud's writer puts one configuration's reports (the reader's store prefix).
REPORT_PREFIX = {Cloud.S3: "inventory/{bucket}/daily/", Cloud.GCS: "reports/", Cloud.AZURE: ""}
