"""Objects in byte order, from a stream in any order, in bounded memory: an external merge sort.

Listings come back in UTF-8 byte order and the sync engine compares each batch with the tasks in
its key range because of it; inventory rows come in no particular order. Runs of up to
``run_rows`` objects are sorted in memory and, when there is more than one, spilled to a temporary
file each (msgpack frames); a k-way merge, a chunk at a time, then yields them in order. Memory holds one run while
reading and one frame per run while merging, whatever the report's size.

Python orders ``str`` by code point, which is UTF-8 byte order. A key listed twice (a report's own
duplicate) is kept once.

Every row is read before the first page is yielded: a report that fails half-way (a missing
file, a bad checksum) fails before anything was written, so the run can still fall back.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

import msgspec

from labelbridge.storage.base import ObjectInfo

#: Objects sorted in memory at once (about 100 MB of Python objects at 300 bytes each).
RUN_ROWS = 200_000
#: Objects per spilled frame: what the merge holds of each run.
FRAME_ROWS = 2_000

_Row = tuple[str, int, str | None, datetime | None, str | None]


def sorted_pages(
    rows: Iterable[_Row], *, page_size: int = 1000, run_rows: int | None = None
) -> Iterator[list[ObjectInfo]]:
    """``rows`` (``ObjectInfo`` fields: key, size, ETag, last modified, version) as objects in
    byte order of their keys, in pages of ``page_size``, duplicates dropped.

    :param run_rows: objects sorted in memory at once (default :data:`RUN_ROWS`).
    """
    run_rows = run_rows or RUN_ROWS
    runs: list[IO[bytes]] = []
    run: list[_Row] = []
    try:
        for row in rows:
            run.append(row)
            if len(run) >= run_rows:
                runs.append(_spill(run))
                run = []
        run.sort(key=_by_key)
        if runs:
            if run:
                runs.append(_spill(run))
                run = []
            merged: Iterator[_Row] = itertools.chain.from_iterable(_merged(runs))
        else:
            merged = iter(run)
        yield from _paged(merged, page_size)
    finally:
        for spilled in runs:
            spilled.close()


_by_key = operator.itemgetter(0)


def _spill(run: list[_Row]) -> IO[bytes]:
    run.sort(key=_by_key)
    spool = tempfile.TemporaryFile(prefix="lb-inventory-run-")  # noqa: SIM115 (closed by sorted_pages)
    encoder = msgspec.msgpack.Encoder()
    for start in range(0, len(run), FRAME_ROWS):
        frame = encoder.encode(run[start : start + FRAME_ROWS])
        spool.write(len(frame).to_bytes(4, "big"))
        spool.write(frame)
    spool.seek(0)
    return spool


def _frames(spool: IO[bytes]) -> Iterator[list[_Row]]:
    decoder = msgspec.msgpack.Decoder(list[tuple[str, int, str | None, datetime | None, str | None]])
    while header := spool.read(4):
        yield decoder.decode(spool.read(int.from_bytes(header, "big")))


def _merged(spools: list[IO[bytes]]) -> Iterator[list[_Row]]:
    """The sorted runs merged, a chunk at a time, with no Python work per row.

    Each chunk takes, from every run's current frame, the rows up to the smallest last key among
    those frames (``bisect``), and sorts them (``list.sort``: a few sorted pieces, merged in C).
    Every later row of every run is at least that key, so chunks follow one another in order. The
    run whose frame ended at that key moves to its next frame: each chunk makes progress.
    """
    frames = [_frames(spool) for spool in spools]
    current = [next(f, []) for f in frames]
    while live := [n for n, frame in enumerate(current) if frame]:
        bound = min(current[n][-1][0] for n in live)
        chunk: list[_Row] = []
        for n in live:
            frame = current[n]
            cut = bisect.bisect_right(frame, bound, key=_by_key)
            chunk.extend(frame[:cut])
            current[n] = frame[cut:] if cut < len(frame) else next(frames[n], [])
        chunk.sort(key=_by_key)
        yield chunk


def _paged(rows: Iterator[_Row], page_size: int) -> Iterator[list[ObjectInfo]]:
    page: list[ObjectInfo] = []
    append, make = page.append, ObjectInfo
    previous: Any = None
    for row in rows:
        if row[0] != previous:
            previous = row[0]
            append(make(*row))
            if len(page) >= page_size:
                yield page
                page = []
                append = page.append
    if page:
        yield page
