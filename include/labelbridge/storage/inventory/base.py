"""One reader of a cloud's inventory reports; one small subclass per cloud.

A report is a manifest naming data files (CSV, CSV.gz, Parquet or ORC) that together list every
object of a bucket as of the report's date. The base finds the newest complete report, checks it
(the manifest's own checksum where the cloud writes one, every data file present, of the size and
MD5 the manifest says, and as many rows as it counts) and streams its rows file by file: each data
file is copied to a temporary file on disk while its MD5 is computed, then read a row group, stripe
or a few thousand CSV lines at a time. Nothing holds a whole file in memory.

A subclass holds the cloud's layout: where manifests are, what they say, and its column names.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar

from labelbridge.clouds import Cloud
from labelbridge.display import short_name
from labelbridge.errors import InventoryError, ObjectNotFound
from labelbridge.storage.base import CHUNK_BYTES, ObjectInfo, ObjectStore
from labelbridge.storage.columns import ObjectColumns, Row, object_schema, rows_table, utc_times
from labelbridge.storage.inventory.formats import (
    ROWS_PER_BATCH,
    arrow_flag,
    csv_columns,
    integer,
    is_false,
    is_true,
    orc_batches,
    parquet_batches,
    text,
    timestamp,
)

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def column_key(name: str) -> str:
    """A column name compared across formats: ``LastModifiedDate``, ``last_modified_date`` and
    ``Last-Modified-Date`` are one column."""
    return _NOT_ALNUM.sub("", name.lower())


@dataclass(frozen=True)
class ReportFile:
    """One data file of a report, with what its manifest promises about it."""

    key: str
    size_bytes: int | None = None
    md5_hex: str | None = None


@dataclass(frozen=True)
class InventoryReport:
    """One complete report: where its manifest is, as of when, and its data files.

    :param as_of: when the cloud took the listing (the report is complete as of then).
    :param file_format: ``csv``, ``parquet`` or ``orc`` (CSV files may be gzipped: ``.gz``).
    :param columns: the CSV columns when the files carry no header row (S3); else ``None``.
    :param expected_rows: rows the manifest counts, checked after reading, where it counts them.
    """

    manifest_key: str
    as_of: datetime
    file_format: str
    files: tuple[ReportFile, ...]
    columns: tuple[str, ...] | None = None
    expected_rows: int | None = None

    def describe(self, store: ObjectStore) -> str:
        return f"{store.uri(self.manifest_key)} as of {self.as_of:%Y-%m-%dT%H:%M:%SZ}"


class InventoryReader(ABC):
    """The inventory reports of one source bucket, read from where the cloud delivers them.

    :param store: the bucket the reports are delivered to, its prefix where this report
        configuration writes (S3: ``destination-prefix/source-bucket/config-ID/``).
    :param source_bucket: the bucket (Azure: container) the reports list; rows of others are skipped.
    :param max_age: a newest complete report older than this is refused (stale).
    :param file_format: ``csv``, ``parquet`` or ``orc`` refuses a report in another format;
        ``auto`` takes the manifest's.
    """

    cloud: ClassVar[Cloud]
    #: Our field -> the report's column (as :func:`column_key` writes it). ``key`` is required;
    #: ``size``, ``etag``, ``last_modified``, ``version_id``, ``bucket``, ``latest``, ``deleted``
    #: and ``snapshot`` are used when the report has them.
    fields: ClassVar[Mapping[str, str]]

    def __init__(
        self, store: ObjectStore, *, source_bucket: str, max_age: timedelta | None = None,
        file_format: str = "auto", now: datetime | None = None,
    ) -> None:
        self.store = store
        self.file_format = file_format
        self.source_bucket = source_bucket
        self.max_age = max_age
        self.now = now

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store.uri(self.store.prefix)!r})"

    # Finding the report ------------------------------------------------------------------

    def latest(self) -> InventoryReport:
        """The newest complete report; an incomplete newer one is skipped with a warning.

        :raises InventoryError: no complete report, or the newest is older than ``max_age``.
        """
        refused: list[str] = []
        for manifest_key in self._manifest_keys():
            try:
                report = self._read_manifest(manifest_key)
            except InventoryError as exc:
                log.warning("%r: skipping a report: %s", self, exc)
                refused.append(str(exc))
                continue
            if self.file_format not in ("auto", report.file_format):
                raise InventoryError(f"{report.describe(self.store)}: its files are {report.file_format}, "
                                     f"the storage's inventory.format is {self.file_format}")
            self._check_age(report)
            return report
        why = f"; refused: {'; '.join(refused[:3])}" if refused else ""
        raise InventoryError(f"{self!r}: no complete inventory report for {self.source_bucket!r}{why}")

    def _check_age(self, report: InventoryReport) -> None:
        if self.max_age is None:
            return
        age = (self.now or datetime.now(UTC)) - report.as_of
        if age > self.max_age:
            raise InventoryError(
                f"{report.describe(self.store)}: the newest complete report is {_hours(age)} old, "
                f"more than max_age {_hours(self.max_age)}"
            )

    def read_json(self, key: str) -> Any:
        """A manifest (small, read whole), as JSON; a missing or malformed one is an InventoryError."""
        return self._parsed(key, self.read_small(key))

    def read_checked_json(self, key: str, checksum_key: str, *, unfinished: str) -> Any:
        """A manifest as JSON, once the checksum file the cloud writes beside it last holds its MD5.

        The bytes checked are the bytes parsed (one read of each file).

        :param unfinished: the message's words when the checksum file is missing (what is not complete yet).
        """
        data = self.read_small(key)
        try:
            checksum = self.read_small(checksum_key).decode("ascii", "replace")
        except InventoryError:
            raise InventoryError(f"{self.store.uri(key)}: {unfinished} is not complete yet") from None
        self.check_md5(key, data, checksum)
        return self._parsed(key, data)

    def _parsed(self, key: str, data: bytes) -> Any:
        import json

        try:
            return json.loads(data)
        except ValueError as exc:
            raise InventoryError(f"{self.store.uri(key)}: not a JSON manifest: {exc}") from None

    def read_small(self, key: str) -> bytes:
        try:
            return self.store.read_bytes(key)
        except ObjectNotFound:
            raise InventoryError(f"{self.store.uri(key)}: missing") from None

    def check_md5(self, key: str, data: bytes, expected_hex: str) -> None:
        """The cloud's checksum file holds the MD5 of the manifest: compare it."""
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if actual != expected_hex.strip().lower():
            raise InventoryError(f"{self.store.uri(key)}: checksum mismatch (MD5 {actual}, checksum file says "
                                 f"{expected_hex.strip()[:32]}): the report is incomplete or damaged")

    # Reading rows ------------------------------------------------------------------------

    def objects(self, report: InventoryReport) -> Iterator[ObjectInfo]:
        """Every object the report lists (current versions, no delete markers), file by file, in
        the report's order (not byte order)."""
        for table in self.tables(report):
            yield from ObjectColumns(table)

    def rows(self, report: InventoryReport, *, prefix: str = "") -> Iterator[Row]:
        """The report's objects under ``prefix`` as ``ObjectInfo`` fields (key, size, ETag, last
        modified, version), file by file, in the report's order."""
        for table in self.tables(report, prefix=prefix):
            for obj in ObjectColumns(table):
                yield (obj.key, obj.size_bytes, obj.etag, obj.last_modified, obj.version_id)

    def tables(self, report: InventoryReport, *, prefix: str = "") -> Iterator[pa.Table]:
        """The report's objects under ``prefix``, file by file, in the report's order, as Arrow tables
        of :func:`~labelbridge.storage.columns.object_schema` (a row group, stripe or a few thousand
        CSV lines each; possibly empty)."""
        rows = 0
        for file in report.files:
            for table, count in self._file_tables(report, file, prefix):
                rows += count  # as the file holds them, before any filter
                yield table
        if report.expected_rows is not None and rows != report.expected_rows:
            raise InventoryError(f"{report.describe(self.store)}: {rows} rows read, the manifest counts "
                                 f"{report.expected_rows}: the report is incomplete")

    def _rows_of(
        self, columns: Mapping[str, list[Any]], report: InventoryReport, prefix: str
    ) -> Iterator[Row]:
        """A CSV batch's objects under ``prefix``, the row filters applied, values typed."""
        f = self.fields
        keys = columns[f["key"]]
        count = len(keys)
        none = [None] * count
        sizes, etags, times, versions = (
            columns.get(f.get(name, ""), none) for name in ("size", "etag", "last_modified", "version_id")
        )
        decode = self._key_decoder(report)
        buckets, latest, deleted, snapshots = (
            columns.get(f.get(name, "")) for name in ("bucket", "latest", "deleted", "snapshot")
        )
        skip = [False] * count
        for i in range(count) if (buckets or latest or deleted or snapshots) else ():
            # Other buckets' rows, older versions, delete markers and snapshots: not a listing's objects.
            skip[i] = (
                (buckets is not None and buckets[i] is not None and buckets[i] != self.source_bucket)
                or (latest is not None and is_false(latest[i]))
                or (deleted is not None and is_true(deleted[i]))
                or (snapshots is not None and snapshots[i] is not None)
            )
        for key, size, etag, modified, version, skipped in zip(
            keys, sizes, etags, times, versions, skip, strict=True
        ):
            if skipped:
                continue
            key = decode(key)
            if key is None or not key.startswith(prefix):
                continue
            yield (key, integer(size), etag.strip('"') if etag else None, timestamp(modified), text(version))

    def _key_decoder(self, report: InventoryReport) -> Any:
        """How a key column's value becomes the object's key (``None``: not an object of ours)."""
        return text

    def _arrow_keys(self, report: InventoryReport, keys: Any) -> Any:
        """An Arrow key column as the objects' keys, null where a row is not an object of ours.

        By default through :meth:`_key_decoder`, value by value, unless it takes values as they are.
        """
        import pyarrow as pa

        decode = self._key_decoder(report)
        if decode is text:
            return keys
        return pa.array([decode(k) for k in keys.to_pylist()], pa.string())

    def _file_tables(
        self, report: InventoryReport, file: ReportFile, prefix: str
    ) -> Iterator[tuple[pa.Table, int]]:
        """One data file's objects under ``prefix`` as tables, a batch at a time, with the rows it held."""
        with tempfile.TemporaryFile(prefix="lb-inventory-") as spool:
            self._spool(report, file, spool)
            spool.seek(0)
            if report.file_format == "csv":
                for columns, count in self._csv_batches(report, file, spool):
                    yield rows_table(list(self._rows_of(columns, report, prefix))), count
            elif report.file_format == "parquet":
                yield from self._arrow_tables(report, parquet_batches(spool, self._wanted), prefix)
            elif report.file_format == "orc":
                yield from self._arrow_tables(report, orc_batches(spool, self._wanted), prefix)
            else:
                raise InventoryError(f"{report.describe(self.store)}: unknown file format {report.file_format!r}")

    def _arrow_tables(
        self, report: InventoryReport, batches: Iterator[Any], prefix: str
    ) -> Iterator[tuple[pa.Table, int]]:
        """Arrow batches as tables of objects, filtered and typed by Arrow (in C, not per row)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        by_key = {v: k for k, v in self.fields.items()}
        # Kept: this bucket's rows, current versions, no delete markers, no snapshots.
        filters: tuple[tuple[str, Callable[[Any], Any]], ...] = (
            ("bucket", lambda c: pc.equal(c, self.source_bucket)),
            ("latest", lambda c: pc.invert(arrow_flag(c, False))),
            ("deleted", lambda c: pc.invert(arrow_flag(c, True))),
            ("snapshot", lambda c: pc.is_null(c)),
        )
        schema = object_schema()
        for batch in batches:
            named = {by_key[column_key(n)]: batch.column(i) for i, n in enumerate(batch.schema.names)}
            count = batch.num_rows
            keep = pc.is_valid(named["key"])
            for field, test in filters:
                column = named.pop(field, None)
                if column is not None:
                    keep = pc.and_(keep, pc.fill_null(test(column), True))
            table = pa.Table.from_arrays(list(named.values()), names=list(named)).filter(keep)
            keys = self._arrow_keys(report, table.column("key").cast(pa.string()))
            kept = pc.is_valid(keys)
            if prefix:
                kept = pc.and_(kept, pc.starts_with(keys, prefix))
            typed = {"key": keys}
            # Typed as the objects need them: sizes integers, ETags unquoted, versions text.
            if "size" in named:
                typed["size"] = pc.fill_null(table.column("size").cast(pa.int64()), 0)
            if "etag" in named:
                typed["etag"] = pc.utf8_trim(table.column("etag").cast(pa.string()), '"')
            if "version_id" in named:
                typed["version_id"] = table.column("version_id").cast(pa.string())
            if "last_modified" in named:
                typed["last_modified"] = table.column("last_modified")
            objects = pa.Table.from_arrays(list(typed.values()), names=list(typed)).filter(kept)
            yield _with_schema(objects, schema), count

    def _wanted(self, names: list[str]) -> list[str]:
        """The columns of a Parquet or ORC file this reader uses (read those only)."""
        used = set(self.fields.values())
        return [name for name in names if column_key(name) in used]

    def _spool(self, report: InventoryReport, file: ReportFile, spool: IO[bytes]) -> None:
        """Copy one data file to ``spool`` in chunks, checking its size and MD5 against the manifest."""
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        where = f"{report.describe(self.store)}: data file {short_name(file.key)}"
        try:
            with self.store.open(file.key) as reader:
                while chunk := reader.read(CHUNK_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
                    spool.write(chunk)
        except ObjectNotFound:
            raise InventoryError(f"{where} is missing: the report is incomplete") from None
        if file.size_bytes is not None and size != file.size_bytes:
            raise InventoryError(f"{where} has {size} bytes, the manifest says {file.size_bytes}")
        if file.md5_hex is not None and digest.hexdigest() != file.md5_hex.lower():
            raise InventoryError(f"{where} fails its checksum (MD5 {digest.hexdigest()}, the manifest says "
                                 f"{file.md5_hex.lower()})")

    def _csv_batches(
        self, report: InventoryReport, file: ReportFile, spool: IO[bytes]
    ) -> Iterator[tuple[dict[str, list[Any]], int]]:
        raw: IO[bytes] = gzip.GzipFile(fileobj=spool) if file.key.endswith(".gz") else spool  # type: ignore[assignment]
        lines = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.reader(lines)
        if report.columns is not None:
            names = [column_key(c) for c in report.columns]
        else:
            header = next(reader, None)
            if header is None:
                return
            names = [column_key(c) for c in header]
        wanted = [(n, i) for i, n in enumerate(names) if n in set(self.fields.values())]
        if self.fields["key"] not in names:
            raise InventoryError(f"{report.describe(self.store)}: data file {short_name(file.key)} has no "
                                 f"{self.fields['key']!r} column (columns: {', '.join(names)})")
        batch: list[list[str]] = []
        for row in reader:
            batch.append(row)
            if len(batch) >= ROWS_PER_BATCH:
                yield csv_columns(batch, wanted), len(batch)
                batch = []
        if batch:
            yield csv_columns(batch, wanted), len(batch)

    # Cloud-specific ----------------------------------------------------------------------

    @abstractmethod
    def _manifest_keys(self) -> list[str]:
        """Keys of the manifests under the store's prefix, newest first (the report date in the
        path orders them)."""

    @abstractmethod
    def _read_manifest(self, key: str) -> InventoryReport:
        """The report a manifest describes, checked for completeness.

        :raises InventoryError: it is incomplete (a checksum file missing or not matching, a
            status other than success), or not a report of ``source_bucket``.
        """


def _with_schema(objects: pa.Table, schema: pa.Schema) -> pa.Table:
    """A filtered table of our fields as :func:`object_schema` types it; a missing field is null (size: 0)."""
    import pyarrow as pa

    count = objects.num_rows
    columns = []
    for field in schema:
        if field.name not in objects.column_names:
            zero = field.name == "size"
            columns.append(pa.repeat(pa.scalar(0, field.type), count) if zero else pa.nulls(count, field.type))
            continue
        column = objects.column(field.name)
        if field.name == "last_modified":
            if pa.types.is_timestamp(column.type):
                column = utc_times(column)
            else:  # text (Azure's Parquet) or epoch milliseconds
                column = pa.array([timestamp(v) for v in column.to_pylist()], field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f}h" if hours < 72 else f"{hours / 24:.1f}d"
