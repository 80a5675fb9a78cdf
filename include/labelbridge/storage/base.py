"""One interface over a bucket or container; one small subclass per cloud.

The base owns everything the clouds share: key filtering, canonical URIs, turning a stream of
chunks into a file object. Subclasses hold the SDK calls and the cloud's limits, nothing else.
"""

from __future__ import annotations

import io
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, ClassVar

from labelbridge.config import Cloud

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """One object as a listing reports it; the facts sync uses to detect a change."""

    key: str
    size_bytes: int
    etag: str | None
    last_modified: datetime | None
    version_id: str | None = None


class ObjectStore(ABC):
    """One bucket or container, narrowed by a prefix and a key pattern.

    :param bucket: S3/GCS bucket name, or Azure container name.
    :param prefix: only keys under it are listed (a prefix, not a folder: no ``/`` is added).
    :param key_regex: only keys in which this pattern is found (``re.search``) are listed.
    :param page_size: objects asked for per listing request.
    """

    cloud: ClassVar[Cloud]
    scheme: ClassVar[str]
    #: Longest lifetime a signed URL of this cloud can have; ``None`` when only a setting caps it.
    max_url_ttl: ClassVar[timedelta | None]
    #: Whether the signed URL itself can carry an allowed IP range (else a bucket policy must).
    url_carries_ip_range: ClassVar[bool]

    def __init__(self, bucket: str, *, prefix: str = "", key_regex: str | None = None, page_size: int = 1000):
        self.bucket = bucket
        self.prefix = prefix
        self.key_pattern = re.compile(key_regex) if key_regex else None
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri(self.prefix)!r})"

    # Naming -------------------------------------------------------------------------------

    def uri(self, key: str) -> str:
        """The canonical URI stored on tasks, e.g. ``s3://bucket/key``; never a signed URL."""
        return f"{self.scheme}://{self.bucket}/{key}"

    def key_from_uri(self, uri: str) -> str:
        """The key of one of this store's URIs.

        :raises ValueError: the URI belongs to another bucket or cloud.
        """
        head = f"{self.scheme}://{self.bucket}/"
        if not uri.startswith(head):
            raise ValueError(f"{uri!r} is not in {head}")
        return uri[len(head) :]

    # Listing ------------------------------------------------------------------------------

    def iter_pages(self, prefix: str | None = None, *, recursive: bool = True) -> Iterator[list[ObjectInfo]]:
        """Stream the listing one page at a time, filtered; folder markers are skipped.

        Pages keep their boundaries so callers can write one batch per page. Pages that the
        filter empties are skipped.

        :param recursive: ``False`` lists only the objects directly under ``prefix`` (not those
            in its "folders"): the root shard of a sharded listing.
        """
        delimiter = None if recursive else "/"
        for page in self._list_pages(self.prefix if prefix is None else prefix, delimiter):
            kept = [obj for obj in page if self._wanted(obj.key)]
            if kept:
                yield kept

    def iter_objects(self, prefix: str | None = None, *, recursive: bool = True) -> Iterator[ObjectInfo]:
        for page in self.iter_pages(prefix, recursive=recursive):
            yield from page

    def list_prefixes(self, prefix: str | None = None, *, delimiter: str = "/") -> Iterator[str]:
        """The "folders" one level below ``prefix``, for sharding a listing over mapped tasks."""
        return self._list_prefixes(self.prefix if prefix is None else prefix, delimiter)

    def _wanted(self, key: str) -> bool:
        # Filter once, here; subclasses only page through the raw listing.
        if key.endswith("/"):
            return False
        return self.key_pattern is None or self.key_pattern.search(key) is not None

    # Reading and writing -------------------------------------------------------------------

    def open(self, key: str) -> IO[bytes]:
        """A buffered, streaming reader over one object; chunks are fetched as it is read.

        :raises ObjectNotFound: the object does not exist (raised on the first read at the latest).
        """
        return io.BufferedReader(_ChunkReader(self._iter_chunks(key)), buffer_size=CHUNK_BYTES)

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as reader:
            return reader.read()

    @abstractmethod
    def write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> None:
        """Write one object, streaming from ``data`` (multipart or block upload where large)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete one object; deleting a missing object is not an error."""

    # Cloud-specific -----------------------------------------------------------------------

    @abstractmethod
    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        """The raw listing, one SDK page at a time; with a delimiter, objects at that level only."""

    @abstractmethod
    def _list_prefixes(self, prefix: str, delimiter: str) -> Iterator[str]:
        """Common prefixes one level below ``prefix``."""

    @abstractmethod
    def _iter_chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks of about CHUNK_BYTES, fetched lazily."""


class _ChunkReader(io.RawIOBase):
    """A read-only raw stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()
