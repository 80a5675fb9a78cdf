"""Where a run's pages of objects come from: the bucket's listing, or the cloud's inventory report.

The engine (:class:`~labelbridge.sync.engine.StorageSync`) takes any :class:`PageSource`: pages of
:class:`ObjectInfo` (lists, or :class:`~labelbridge.storage.columns.ObjectColumns`) in byte order
of their keys, filtered by the storage's key pattern, that together are every object of the scope
as of one moment. Identity, change detection, soft deletes
and quarantine are the engine's and do not change with the source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from labelbridge.errors import InventoryError
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.sync.scope import Scope

if TYPE_CHECKING:  # the readers load with a storage that has an inventory, not with every sync
    import pyarrow as pa

    from labelbridge.storage.inventory import InventoryReader

log = logging.getLogger(__name__)

#: Objects per page of an inventory: the engine's default write batch (``engine.WRITE_BATCH``).
PAGE_ROWS = 5000


class PageSource(Protocol):
    """Pages of one scope's objects, in byte order, as one complete listing.

    :attr describe: which source the run used, for its summary (set once :meth:`pages` began);
        ``None`` for the bucket's own listing, which runs have always used and need not name.
    :attr as_of: when the pages were a complete listing; ``None``: now (a live listing).
    """

    describe: str | None
    as_of: datetime | None

    def pages(self, scope: Scope) -> Iterator[Sequence[ObjectInfo]]: ...


class ListingSource:
    """The bucket's own listing, page by page (what every run used before inventories)."""

    as_of: datetime | None = None
    describe: str | None = None

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def pages(self, scope: Scope) -> Iterator[Sequence[ObjectInfo]]:
        return self.store.iter_pages(scope.prefix, recursive=scope.recursive)


class InventorySource:
    """The newest complete inventory report of the storage's bucket, in byte order.

    Rows are filtered as the listing filters them (the scope's prefix, the store's key pattern,
    folder markers), then sorted in bounded memory (:func:`sorted_object_pages`), all in Arrow
    tables: its pages are :class:`~labelbridge.storage.columns.ObjectColumns`. Every file is read and
    checked before the first page: a report refused half-way writes nothing, and with
    ``fallback="list"`` the run lists the bucket instead, saying so in its summary.

    :param store: the source storage's store (its key pattern; its listing for the fallback).
    :param reader: the inventory reader of the bucket the reports are delivered to.
    :param page_rows: objects per page. A report's pages cost no request each; as large as the
        engine's write batch, each prefetched page is a whole batch, made while the one before
        is written.
    """

    def __init__(
        self, store: ObjectStore, reader: InventoryReader, *, fallback: Literal["list", "fail"] = "fail",
        page_rows: int = PAGE_ROWS,
    ) -> None:
        self.store = store
        self.reader = reader
        self.fallback = fallback
        self.page_rows = page_rows
        self.describe: str | None = "inventory"
        self.as_of: datetime | None = None

    def pages(self, scope: Scope) -> Iterator[Sequence[ObjectInfo]]:
        pages = self._report_pages(scope)
        try:
            first = next(pages, None)  # every file is read and checked by now
        except InventoryError as exc:
            if self.fallback == "fail":
                raise
            log.warning("%s: inventory refused, listing the bucket instead: %s", self.store, exc)
            self.as_of = None
            self.describe = f"listing (inventory refused: {exc})"
            yield from self.store.iter_pages(scope.prefix, recursive=scope.recursive)
            return
        if first is not None:
            yield first
            yield from pages

    def _report_pages(self, scope: Scope) -> Iterator[Sequence[ObjectInfo]]:
        from labelbridge.storage.inventory.order import sorted_object_pages

        report = self.reader.latest()
        self.as_of = report.as_of
        self.describe = f"inventory {report.describe(self.reader.store)} (a complete listing as of its date)"
        log.info("%s: reading %s, %d files", self.store, self.describe, len(report.files))
        tables = (self._in_scope(table, scope) for table in self.reader.tables(report, prefix=scope.prefix))
        yield from sorted_object_pages(tables, page_size=self.page_rows)

    def _in_scope(self, table: pa.Table, scope: Scope) -> pa.Table:
        """The rows a listing of ``scope`` would return (the reader kept those under its prefix)."""
        import pyarrow.compute as pc

        if not table.num_rows:
            return table
        table = table.combine_chunks()
        keys = table.column("key").chunk(0)
        keep = self.store.wanted(keys)
        if not scope.recursive:  # this level only: no "/" after the prefix
            below = pc.utf8_slice_codeunits(keys, len(scope.prefix))
            keep = pc.and_(keep, pc.invert(pc.match_substring(below, "/")))
        return table.filter(keep)
