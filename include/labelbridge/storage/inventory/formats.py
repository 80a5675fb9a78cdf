"""Reading inventory data files and their values: CSV rows, Parquet row groups, ORC stripes, and
the conversions every cloud's columns need (text, integers, flags, timestamps)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

#: Rows handed on together (a CSV chunk; Parquet batches are cut to it too).
ROWS_PER_BATCH = 20_000


def csv_columns(rows: list[list[str]], wanted: list[tuple[str, int]]) -> dict[str, list[Any]]:
    # An empty CSV field is a field the report left blank (S3: VersionId of an unversioned bucket).
    return {name: [(row[i] if i < len(row) and row[i] != "" else None) for row in rows] for name, i in wanted}


def parquet_batches(spool: IO[bytes], wanted: Any) -> Iterator[Any]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(spool)
    # One row group at a time: iter_batches reads them in turn. In this thread: Arrow's decoding
    # threads each kept memory of their own, and the peak RSS grew with the report (1M objects:
    # +45 MB over 100k with them, +15 MB without), for no CPU saved.
    columns = wanted(parquet.schema_arrow.names)
    yield from parquet.iter_batches(batch_size=ROWS_PER_BATCH, columns=columns, use_threads=False)


def orc_batches(spool: IO[bytes], wanted: Any) -> Iterator[Any]:
    import pyarrow.orc as orc

    orc_file = orc.ORCFile(spool)
    columns = wanted(orc_file.schema.names)
    for stripe in range(orc_file.nstripes):  # one stripe at a time
        yield orc_file.read_stripe(stripe, columns=columns)


def arrow_flag(column: Any, value: bool) -> Any:
    """Where a boolean column (or a "true"/"false" string column: Azure's Parquet) is ``value``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(column.type):
        return pc.equal(column, value)
    return pc.equal(pc.utf8_lower(column.cast(pa.string())), "true" if value else "false")


def text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def integer(value: Any) -> int:
    if value is None or value == "":
        return 0
    return int(value)


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def timestamp(value: Any) -> datetime | None:
    """A timestamp column: Arrow's datetime, an ISO 8601 string (any fraction), or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    text = str(value).strip().replace("Z", "+00:00")
    # Azure writes seven fractional digits; Python reads up to six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
