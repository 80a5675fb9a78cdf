"""A page of objects held as Arrow columns, for sources that read many objects at once (inventory
reports): the engine and the objects-mode writer work on its columns in C, and it still reads as a
sequence of :class:`ObjectInfo` wherever a writer wants objects one by one.

Building one ``ObjectInfo`` per object, then a URI and a line of COPY text from it, was most of
the client's time in a million-object inventory sync; on columns each is one Arrow call per batch.

pyarrow is imported when a page is made or read, never by importing this module: the CLI and the
listing path, which make none, do not pay for the import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

from labelbridge.storage.base import ObjectInfo

if TYPE_CHECKING:
    import pyarrow as pa

#: The columns of a page, as :class:`ObjectInfo` names its fields but ``size`` (``size_bytes``).
OBJECT_COLUMNS = ("key", "size", "etag", "last_modified", "version_id")

#: One object's listing facts, as :class:`ObjectInfo` takes them: key, size, ETag, last modified, version.
Row = tuple[str, int, str | None, datetime | None, str | None]


def object_schema() -> pa.Schema:
    """The columns' types: key and versions as text, sizes as integers, times in µs UTC."""
    import pyarrow as pa

    return pa.schema([
        ("key", pa.string()), ("size", pa.int64()), ("etag", pa.string()),
        ("last_modified", pa.timestamp("us", tz="UTC")), ("version_id", pa.string()),
    ])


def rows_table(rows: Sequence[Row]) -> pa.Table:
    """Row tuples (key, size, ETag, last modified, version) as a table of :func:`object_schema`."""
    import pyarrow as pa

    schema = object_schema()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(OBJECT_COLUMNS)
    return pa.Table.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)], schema=schema
    )


def utc_times(column: Any) -> Any:
    """A timestamp column (any unit, zoned or naive: naive is UTC) in µs, zoned UTC."""
    import pyarrow as pa

    # Through the integers: a zoned unit cast keeps the instant, a naive value is read as UTC.
    micros = column.cast(pa.timestamp("us", tz=column.type.tz), safe=False).cast(pa.int64())
    return micros.cast(pa.timestamp("us", tz="UTC"))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def python_times(column: Any) -> list[datetime | None]:
    """A µs timestamp column as Python values; through integers, twenty times faster than Arrow's
    own conversion of a zoned timestamp."""
    import pyarrow as pa

    epoch, step = _EPOCH, timedelta
    micros = column.cast(pa.int64()).to_pylist()
    return [None if us is None else epoch + step(microseconds=us) for us in micros]


class ObjectColumns(Sequence[ObjectInfo]):
    """Objects as a table of :func:`object_schema` (chunked or not); a ``Sequence[ObjectInfo]``.

    Indexing or iterating makes ``ObjectInfo`` values (for the paths that want objects one by
    one); the fast paths use :attr:`table` and the column helpers.
    """

    __slots__ = ("table",)

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    @classmethod
    def concat(cls, pages: Iterable[ObjectColumns]) -> ObjectColumns:
        """The pages as one, in one chunk: Arrow's calls then run once per batch, not per page."""
        import pyarrow as pa

        return cls(pa.concat_tables([page.table for page in pages]).combine_chunks())

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @overload
    def __getitem__(self, index: int) -> ObjectInfo: ...
    @overload
    def __getitem__(self, index: slice) -> ObjectColumns: ...

    def __getitem__(self, index: int | slice) -> ObjectInfo | ObjectColumns:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("ObjectColumns slices take no step")
            return ObjectColumns(self.table.slice(start, max(0, stop - start)))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return next(iter(ObjectColumns(self.table.slice(index, 1))))

    def __iter__(self) -> Iterator[ObjectInfo]:
        t = self.table
        return map(
            ObjectInfo, t.column("key").to_pylist(), t.column("size").to_pylist(), t.column("etag").to_pylist(),
            python_times(t.column("last_modified")), t.column("version_id").to_pylist(),
        )

    def __repr__(self) -> str:
        return f"ObjectColumns({len(self)} objects)"

    def keys(self) -> Any:
        """The key column (Arrow)."""
        return self.table.column("key")

    def uri_column(self, head: str) -> Any:
        """Each object's URI, ``head`` + key (Arrow): ``head`` is the store's URI of the empty key."""
        import pyarrow.compute as pc

        return pc.binary_join_element_wise(head, self.keys(), "")

    def versions(self) -> Any:
        """The version a task records (Arrow): the version id where there is one, else the ETag."""
        import pyarrow.compute as pc

        return pc.coalesce(self.table.column("version_id"), self.table.column("etag"))

    def where(self, mask: Any) -> ObjectColumns:
        """The objects where the boolean ``mask`` holds."""
        return ObjectColumns(self.table.filter(mask))

    def without_prefixes(self, prefixes: Sequence[str]) -> ObjectColumns:
        """The objects whose keys start with none of ``prefixes``."""
        if not prefixes or not len(self):
            return self
        import pyarrow.compute as pc

        keys = self.keys()
        under = pc.starts_with(keys, prefixes[0])
        for prefix in prefixes[1:]:
            under = pc.or_(under, pc.starts_with(keys, prefix))
        return self.where(pc.invert(under))
