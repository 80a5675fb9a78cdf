"""Where a run's files go: bytes flow from the DB cursor, through a format, into the target as they come.

A format hands :class:`RunOutput` an iterator of byte chunks; the upload pulls from it (S3 multipart
``upload_fileobj``, GCS resumable upload, Azure staged blocks), so nothing holds a whole file. Size and
SHA-256 are computed on the way through. Every file written is appended to an on-disk spool (not a
list: a YOLO export of a million images has a million files), from which the manifest is rendered and
against which the upload is verified.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Protocol, runtime_checkable

from labelbridge.errors import ExportError, StorageError
from labelbridge.export.records import dumps_json
from labelbridge.storage.base import ChunkStream, ObjectInfo

COALESCE_BYTES = 1024 * 1024
#: Small files are written on this many threads, a batch of files per hand-over.
WRITER_THREADS = 8
SMALL_FILES_PER_BATCH = 64
MANIFEST_NAME = "manifest.json"
_MASK64 = (1 << 64) - 1


class ExportTarget(Protocol):
    """What export needs from a place to write: an :class:`ObjectStore`, or a local directory."""

    def write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> None: ...

    def iter_objects(self, prefix: str | None = None) -> Iterator[ObjectInfo]: ...

    def delete(self, key: str) -> None: ...

    def read_bytes(self, key: str) -> bytes: ...


@runtime_checkable
class DeferredWrites(Protocol):
    """A target that can take small files now and write them before :meth:`finish_writes` returns."""

    def write_later(self, key: str, data: bytes) -> None: ...

    def finish_writes(self) -> None: ...

    def abandon_writes(self) -> None: ...


@runtime_checkable
class SizeListing(Protocol):
    """A target that can list ``(key, size)`` pairs more cheaply than :class:`ObjectInfo` records, in any order."""

    def iter_sizes(self, prefix: str) -> Iterator[tuple[str, int]]: ...


@dataclass
class Tally:
    """What one file holds; formats count as they encode."""

    tasks: int = 0
    annotations: int = 0
    regions: int = 0


@dataclass(frozen=True)
class FileEntry:
    name: str
    size_bytes: int
    sha256: str
    tasks: int
    annotations: int
    regions: int


def coalesce(chunks: Iterable[bytes], size: int = COALESCE_BYTES) -> Iterator[bytes]:
    """Join small chunks (one per task) into pieces of about ``size`` bytes."""
    parts: list[bytes] = []
    pending = 0
    for chunk in chunks:
        parts.append(chunk)
        pending += len(chunk)
        if pending >= size:
            yield b"".join(parts)
            parts, pending = [], 0
    if parts:
        yield b"".join(parts)


def _fingerprint(name: str, size: int) -> int:
    # Python's own (salted) hash: written and listed are compared within one process.
    return hash((name, size)) & _MASK64


class RunOutput:
    """The files of one export run under ``run_prefix``; the manifest is written by the caller, last.

    Small files (YOLO and VOC write one per image) go out on ``writer_threads`` threads,
    ``SMALL_FILES_PER_BATCH`` at a time, so a million PUTs to a bucket do not wait for each other.
    :meth:`flush` waits for them and raises the first failure; :meth:`verify` flushes first. With
    ``writer_threads=0`` a target that offers :class:`DeferredWrites` (a local directory) writes
    them in its own way, any other inline: on a local disk creating a file is kernel CPU and every
    ``os`` call takes the GIL back, so threads only add contention (measured: twice the kernel time
    per file on tmpfs).
    """

    def __init__(self, target: ExportTarget, run_prefix: str, *, writer_threads: int = WRITER_THREADS) -> None:
        self.target = target
        self.run_prefix = run_prefix
        self.files = 0
        self.total_bytes = 0
        self._fingerprint = 0
        # Closed by close(): the spool lives as long as the run, across several methods.
        self._spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self._writer_threads = writer_threads
        self._writers: ThreadPoolExecutor | None = None
        self._batch: list[tuple[str, bytes, str | None]] = []
        self._in_flight: deque[Future[None]] = deque()
        self._deferred = target if writer_threads == 0 and isinstance(target, DeferredWrites) else None

    def close(self) -> None:
        if self._writers is not None:
            self._writers.shutdown(wait=True, cancel_futures=True)
        if self._deferred is not None:
            self._deferred.abandon_writes()  # a no-op after a flush
        self._spool.close()

    def key(self, name: str) -> str:
        return self.run_prefix + name

    def clear(self) -> None:
        """Remove what an earlier attempt of this run left: the manifest first, so no reader trusts the rest."""
        self.target.delete(self.key(MANIFEST_NAME))
        for obj in self.target.iter_objects(self.run_prefix):
            self.target.delete(obj.key)

    def write_stream(
        self, name: str, chunks: Iterable[bytes], *, tally: Tally, content_type: str | None = None
    ) -> FileEntry:
        stream = ChunkStream(coalesce(chunks), hash=True)
        try:
            self.target.write(self.key(name), stream, content_type=content_type)  # type: ignore[arg-type]
        except (OSError, ValueError) as exc:
            raise StorageError(f"{self.key(name)}: upload failed: {type(exc).__name__}: {exc}") from exc
        if not stream.drained():
            raise ExportError(f"{self.key(name)}: the upload stopped before the end of the stream")
        sha256 = stream.sha256()
        self._record(name, stream.size, sha256, tally)
        return FileEntry(name, stream.size, sha256, tally.tasks, tally.annotations, tally.regions)

    def write_bytes(self, name: str, data: bytes, *, tally: Tally, content_type: str | None = None) -> None:
        """Write one small file, or hand it to the writer threads (written by the next :meth:`flush`)."""
        key = self.run_prefix + name
        if self._deferred is not None:
            self._deferred.write_later(key, data)
        elif self._writer_threads == 0:
            self._write_one(key, data, content_type)
        else:
            self._batch.append((key, data, content_type))
            if len(self._batch) == SMALL_FILES_PER_BATCH:
                self._send_batch()
        self._record(name, len(data), hashlib.sha256(data).hexdigest(), tally)

    def flush(self) -> None:
        """Wait until every small file handed over is written; raise the first failure."""
        if self._deferred is not None:
            self._deferred.finish_writes()
        if self._batch:
            self._send_batch()
        while self._in_flight:
            self._in_flight.popleft().result()

    def _send_batch(self) -> None:
        if self._writers is None:
            self._writers = ThreadPoolExecutor(self._writer_threads, thread_name_prefix="labelbridge-export-write")
        self._in_flight.append(self._writers.submit(self._write_batch, self._batch))
        self._batch = []
        # Bounded: the format waits rather than queueing a whole export in memory.
        while len(self._in_flight) > 2 * self._writer_threads:
            self._in_flight.popleft().result()

    def _write_batch(self, batch: list[tuple[str, bytes, str | None]]) -> None:
        for key, data, content_type in batch:
            self._write_one(key, data, content_type)

    def _write_one(self, key: str, data: bytes, content_type: str | None) -> None:
        try:
            self.target.write(key, data, content_type=content_type)
        except (OSError, ValueError) as exc:
            raise StorageError(f"{key}: upload failed: {type(exc).__name__}: {exc}") from exc

    def _record(self, name: str, size: int, sha256: str, tally: Tally) -> None:
        # The manifest's own spelling of the entry (json.dumps of asdict), so rendering copies lines.
        self._spool.write(
            f'{{"name": {dumps_json(name)}, "size_bytes": {size}, "sha256": "{sha256}", "tasks": {tally.tasks}, '
            f'"annotations": {tally.annotations}, "regions": {tally.regions}}}\n'
        )
        self.files += 1
        self.total_bytes += size
        self._fingerprint = (self._fingerprint + _fingerprint(name, size)) & _MASK64

    def iter_entries_json(self) -> Iterator[str]:
        """Every file written so far, one JSON object each, as the manifest lists them."""
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            yield line[:-1]
        self._spool.seek(0, os.SEEK_END)

    def verify(self) -> None:
        """Check the target holds exactly the files written, with their sizes.

        Streams the listing and compares count, total bytes and an order-independent fingerprint of
        (name, size) pairs: O(1) memory for any number of files.
        """
        self.flush()
        files = total = fingerprint = 0
        start = len(self.run_prefix)
        listing = (
            self.target.iter_sizes(self.run_prefix) if isinstance(self.target, SizeListing)
            else ((obj.key, obj.size_bytes) for obj in self.target.iter_objects(self.run_prefix))
        )
        for key, size in listing:
            name = key[start:]
            if name == MANIFEST_NAME:
                continue
            files += 1
            total += size
            fingerprint += _fingerprint(name, size)
        fingerprint &= _MASK64
        if (files, total) != (self.files, self.total_bytes):
            raise ExportError(
                f"{self.run_prefix}: verification failed: wrote {self.files} files ({self.total_bytes} bytes), "
                f"the target lists {files} files ({total} bytes)"
            )
        if fingerprint != self._fingerprint:
            raise ExportError(
                f"{self.run_prefix}: verification failed: the names or sizes listed differ from those written"
            )
