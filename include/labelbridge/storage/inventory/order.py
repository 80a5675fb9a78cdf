"""Objects in byte order, from a stream in any order, in bounded memory: an external merge sort, in Arrow.

Listings come back in UTF-8 byte order and the sync engine compares each batch with the tasks in
its key range because of it; inventory rows come in no particular order. Tables of objects
(:func:`~labelbridge.storage.columns.object_schema`) are gathered into runs of up to ``run_rows``
objects, each sorted by Arrow (``sort_indices`` on the keys as binary: byte order, and stable) and,
when there is more than one, spilled to a temporary file each (Arrow IPC, record batches of
``FRAME_ROWS``). A k-way merge, a chunk at a time, then yields them in order. Memory holds one run
while reading and one frame per run while merging, whatever the report's size. No step does
Python work per object.

A key listed twice (a report's own duplicate) is kept once: its first row in the report's order.

Every row is read before the first page is yielded: a report that fails half-way (a missing
file, a bad checksum) fails before anything was written, so the run can still fall back.
"""

from __future__ import annotations

import bisect
import tempfile
from collections.abc import Iterable, Iterator
from functools import partial
from typing import IO, TYPE_CHECKING, Any

from labelbridge.storage.columns import ObjectColumns, Row, object_schema, rows_table

if TYPE_CHECKING:
    import pyarrow as pa

#: Objects sorted in memory at once (about 10 MB in Arrow at 100 bytes each, twice while sorting):
#: small enough that a report of 100k objects and one of millions peak alike.
RUN_ROWS = 100_000
#: Objects per spilled record batch: what the merge holds of each run (a million objects: ten runs,
#: 40k objects held while merging).
FRAME_ROWS = 4096
#: Row tuples gathered into one table by :func:`sorted_pages`.
_ROWS_PER_TABLE = 20_000


def sorted_tables(tables: Iterable[pa.Table], *, run_rows: int | None = None) -> Iterator[pa.Table]:
    """The objects of ``tables`` in byte order of their keys, duplicates dropped, in chunks of any size.

    :param run_rows: objects sorted in memory at once (default :data:`RUN_ROWS`).
    """
    run_rows = run_rows or RUN_ROWS
    runs: list[IO[bytes]] = []
    last: pa.Table | None = None
    try:
        for run in _regrouped(tables, run_rows):
            if run.num_rows == run_rows:
                runs.append(_spill(_sorted(run)))
            else:  # the last, shorter run: kept in memory, spilled only if others were
                last = _sorted(run)
        if not runs:
            yield from _deduped([last] if last is not None else [])
            return
        if last is not None:
            runs.append(_spill(last))
            last = None
        yield from _deduped(_merged(runs))
    finally:
        for spilled in runs:
            spilled.close()


def sorted_object_pages(
    tables: Iterable[pa.Table], *, page_size: int = 1000, run_rows: int | None = None
) -> Iterator[ObjectColumns]:
    """:func:`sorted_tables` in pages of ``page_size`` objects (the last may be shorter)."""
    for page in _regrouped(sorted_tables(tables, run_rows=run_rows), page_size):
        yield ObjectColumns(page.combine_chunks())


def _regrouped(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """``tables`` cut and joined into tables of ``rows`` rows each (the last may be shorter)."""
    import pyarrow as pa

    held: list[pa.Table] = []
    count = 0
    for table in tables:
        while table.num_rows:
            piece = table.slice(0, rows - count)
            table = table.slice(piece.num_rows)
            held.append(piece)
            count += piece.num_rows
            if count == rows:
                yield pa.concat_tables(held)
                held, count = [], 0
    if count:
        yield pa.concat_tables(held)


def sorted_pages(
    rows: Iterable[Row], *, page_size: int = 1000, run_rows: int | None = None
) -> Iterator[ObjectColumns]:
    """Row tuples (``ObjectInfo`` fields: key, size, ETag, last modified, version) as pages of
    objects in byte order of their keys, duplicates dropped (:func:`sorted_object_pages`)."""
    return sorted_object_pages(_tables_of(rows), page_size=page_size, run_rows=run_rows)


def _tables_of(rows: Iterable[Row]) -> Iterator[pa.Table]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _ROWS_PER_TABLE:
            yield rows_table(batch)
            batch = []
    if batch:
        yield rows_table(batch)


def _sorted(table: pa.Table) -> pa.Table:
    """``table`` in byte order of its keys; rows with equal keys stay in their order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = table.combine_chunks()
    # Binary, not text: Arrow compares the bytes either way today, and binary says so.
    order = pc.sort_indices(table.column("key").cast(pa.binary()))
    return table.take(order).combine_chunks()


def _spill(run: pa.Table) -> IO[bytes]:
    import pyarrow as pa

    spool = tempfile.TemporaryFile(prefix="lb-inventory-run-")  # noqa: SIM115 (closed by sorted_tables)
    with pa.ipc.new_stream(spool, run.schema) as writer:
        writer.write_table(run, max_chunksize=FRAME_ROWS)
    spool.seek(0)
    return spool


def _merged(spools: list[IO[bytes]]) -> Iterator[pa.Table]:
    """The sorted runs merged, a chunk at a time, with no Python work per row.

    Each chunk takes, from every run's current frame, the rows up to the smallest last key among
    those frames (a binary search on the frame's sorted keys), and sorts them (a stable sort of the
    pieces, taken in run order: equal keys keep the report's order). Every later row of every run
    is at least that key, so chunks follow one another in order. The run whose frame ended at that
    key moves to its next frame: each chunk makes progress.
    """
    import pyarrow as pa

    readers = [pa.ipc.open_stream(spool) for spool in spools]
    current: list[Any] = [_next_frame(reader) for reader in readers]
    while live := [n for n, frame in enumerate(current) if frame is not None]:
        # Python orders str by code point, which is UTF-8 byte order: the same order as the sort.
        bound = min(_key(current[n], current[n].num_rows - 1) for n in live)
        pieces = []
        for n in live:
            frame = current[n]
            cut = bisect.bisect_right(range(frame.num_rows), bound, key=partial(_key, frame))
            pieces.append(frame.slice(0, cut))
            current[n] = frame.slice(cut) if cut < frame.num_rows else _next_frame(readers[n])
        yield _sorted(pa.Table.from_batches(pieces, schema=object_schema()))


def _next_frame(reader: Any) -> Any:
    try:
        frame = reader.read_next_batch()
    except StopIteration:
        return None
    return frame if frame.num_rows else _next_frame(reader)


def _key(frame: Any, index: int) -> str:
    return str(frame.column(0)[index].as_py())


def _deduped(chunks: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Sorted chunks less every row whose key equals the row's before it (in this chunk or the last)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    previous: str | None = None
    for chunk in chunks:
        if not chunk.num_rows:
            continue
        chunk = chunk.combine_chunks()
        keys = chunk.column("key").chunk(0) if chunk.column("key").num_chunks else chunk.column("key")
        first_differs = previous is None or keys[0].as_py() != previous
        differs = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
        previous = keys[len(keys) - 1].as_py()
        if first_differs and pc.all(differs).as_py() is not False:
            yield chunk
            continue
        kept = chunk.filter(pa.concat_arrays([pa.array([first_differs]), differs]))
        if kept.num_rows:
            yield kept
