"""S3 Inventory: ``manifest.json`` + ``manifest.checksum`` per report, CSV.gz, ORC or Parquet files.

Layout (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory-location.html)::

    destination-prefix/source-bucket/config-ID/YYYY-MM-DDTHH-MMZ/manifest.json
    destination-prefix/source-bucket/config-ID/YYYY-MM-DDTHH-MMZ/manifest.checksum   MD5 of manifest.json
    destination-prefix/source-bucket/config-ID/data/<uuid>.csv.gz | .orc | .parquet

The manifest names ``sourceBucket``, ``fileFormat`` (CSV, ORC, Parquet), ``fileSchema`` (for CSV the
column names, comma-separated: CSV files have no header row), ``creationTimestamp`` (epoch ms) and
``files`` (``key``, ``size``, ``MD5checksum``). In CSV the key is URL-encoded; in ORC and Parquet
it is not (https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-inventory.html).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from labelbridge.clouds import Cloud
from labelbridge.errors import InventoryError
from labelbridge.storage.inventory.base import InventoryReader, InventoryReport, ReportFile
from labelbridge.storage.inventory.formats import text

_REPORT_FOLDER = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z)/$")
_FORMATS = {"csv": "csv", "orc": "orc", "parquet": "parquet"}


class S3InventoryReader(InventoryReader):
    """S3 Inventory of one configuration; the store's prefix is ``destination-prefix/source-bucket/config-ID/``."""

    cloud = Cloud.S3
    fields: ClassVar[Mapping[str, str]] = {
        "key": "key", "size": "size", "etag": "etag", "last_modified": "lastmodifieddate", "bucket": "bucket",
        "latest": "islatest", "deleted": "isdeletemarker",
    }
    # No version_id: a listing (ListObjectsV2) reports none, and the task's version must be the
    # same whichever source saw the object last, or every switch would rewrite every task.

    def _manifest_keys(self) -> list[str]:
        folders = [p for p in self.store.list_prefixes(self.store.prefix) if _REPORT_FOLDER.search(p)]
        return [folder + "manifest.json" for folder in sorted(folders, reverse=True)]

    def _read_manifest(self, key: str) -> InventoryReport:
        folder = key.removesuffix("manifest.json")
        manifest = self.read_checked_json(
            key, folder + "manifest.checksum", unfinished="no manifest.checksum beside it: the report"
        )
        where = self.store.uri(key)
        if manifest.get("sourceBucket") != self.source_bucket:
            raise InventoryError(f"{where}: lists bucket {manifest.get('sourceBucket')!r}, not {self.source_bucket!r}")
        file_format = _FORMATS.get(str(manifest.get("fileFormat", "")).lower())
        if file_format is None:
            raise InventoryError(f"{where}: unknown fileFormat {manifest.get('fileFormat')!r}")
        columns = None
        if file_format == "csv":
            columns = tuple(c.strip() for c in str(manifest.get("fileSchema", "")).split(","))
        try:
            files = tuple(
                ReportFile(key=f["key"], size_bytes=int(f["size"]), md5_hex=f.get("MD5checksum"))
                for f in manifest["files"]
            )
            as_of = _as_of(manifest.get("creationTimestamp"), folder)
        except (KeyError, TypeError, ValueError) as exc:
            raise InventoryError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from None
        return InventoryReport(key, as_of, file_format, files, columns=columns)

    def _key_decoder(self, report: InventoryReport) -> Callable[[Any], str | None]:
        if report.file_format != "csv":
            return text
        # CSV keys are URL-encoded as HTML forms do (a space is "+", a "+" is "%2B").
        return lambda value: None if value is None else unquote_plus(value)


def _as_of(creation_ms: Any, folder: str) -> datetime:
    if creation_ms not in (None, ""):
        return datetime.fromtimestamp(int(creation_ms) / 1000, UTC)
    match = _REPORT_FOLDER.search(folder)
    if match is None:
        raise ValueError(f"no creationTimestamp and no date in {folder!r}")
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H-%MZ").replace(tzinfo=UTC)
