"""One interface over a bucket or container; one small subclass per cloud.

The base owns everything the clouds share: key filtering, canonical URIs, turning a stream of
chunks into a file object, and turning an SDK's error into one readable line. Subclasses hold the
SDK calls and the cloud's limits, nothing else.

Errors. Each operation (list, read, write, delete, sign) calls the SDK in one place here, and an
error of the cloud's SDK (a refusal or a lost connection) leaves as one line::

    s3://bucket: write "exports/run/a.json" failed: NoSuchBucket (HTTP 404)

the storage, the operation, the key (escaped, shortened past 80 characters) and the cloud's error
code, never the cloud's message: Azure's can quote the string-to-sign, and any can echo a URL.
Anything else (a bug, an error of the stream being uploaded) passes through unchanged.
"""

from __future__ import annotations

import hashlib
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any, ClassVar

from labelbridge.clouds import Cloud
from labelbridge.display import escaped, short_name
from labelbridge.errors import LabelbridgeError, SigningError, StorageError

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """One object as a listing reports it; the facts sync uses to detect a change."""

    key: str
    size_bytes: int
    etag: str | None
    last_modified: datetime | None
    version_id: str | None = None


@dataclass(frozen=True)
class SigningIdentity:
    """What signs a store's URLs, and when URLs it signed die at the latest.

    :param kind: e.g. ``s3-sigv4/assume-role``, ``gcs-v4/service-account-key``,
        ``azure-sas/user-delegation``: stored on every URL and logged each run.
    :param expires_at: when the signing credentials (STS session, delegation key) expire;
        ``None`` when they do not cut a URL's life short.
    :param material: the credentials or key themselves; never printed (``repr=False``).
    """

    kind: str
    expires_at: datetime | None
    material: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SignedUrl:
    """A signed GET URL for one object, with the limits it was signed with.

    ``url`` is a secret (it grants access): it is left out of ``repr`` so that it cannot reach a
    log line or a traceback by accident. Log ``uri`` and ``expires_at`` instead.
    """

    uri: str
    url: str = field(repr=False)
    signed_at: datetime
    #: min(signed_at + requested_ttl, credential_expires_at)
    expires_at: datetime
    requested_ttl: timedelta
    #: The IP range the URL itself carries (Azure ``sip``); ``None`` where only a bucket policy can.
    ip_range: str | None
    signer: str
    credential_expires_at: datetime | None


class ObjectStore(ABC):
    """One bucket or container, narrowed by a prefix and a key pattern.

    :param client: the SDK client behind the cloud's Airflow hook (``S3Hook``, ``GCSHook``, ``WasbHook``).
    :param bucket: S3/GCS bucket name, or Azure container name.
    :param prefix: only keys under it are listed (a prefix, not a folder: no ``/`` is added).
    :param key_regex: only keys in which this pattern is found (``re.search``) are listed.
    :param page_size: objects asked for per listing request.
    :param list_concurrency: listing requests in flight at once for a whole-scope listing
        (:mod:`labelbridge.storage.parallel`); 1 lists page after page.
    """

    cloud: ClassVar[Cloud]
    scheme: ClassVar[str]
    #: Longest lifetime a signed URL of this cloud can have; ``None`` when only a setting caps it.
    max_url_ttl: ClassVar[timedelta | None]
    #: Whether the signed URL itself can carry an allowed IP range (else a bucket policy must).
    url_carries_ip_range: ClassVar[bool]

    # The cloud's facts outside the SDK, here so that one class says everything about its cloud.
    #: Dotted path of the Airflow provider hook whose ``get_conn()`` returns this store's client;
    #: a string, so storage/ never imports Airflow (``labelbridge.connections`` imports it).
    hook_class: ClassVar[str]
    #: The hook's connection-id keyword (``aws_conn_id``, ``gcp_conn_id``, ``wasb_conn_id``).
    hook_conn_arg: ClassVar[str]
    #: The connection an entry of storages.yaml without ``conn_id`` uses: the provider's default.
    default_conn_id: ClassVar[str]
    #: The first part of this cloud's bucket-rule ids (``s3`` in ``s3.tls_only``).
    rule_prefix: ClassVar[str]
    #: The cloud's name on the CLI (``check-bucket --cloud aws``) and in saved bucket snapshots.
    cli_name: ClassVar[str]
    #: Whether a listing can start after any key (:meth:`_list_from`): a parallel listing then
    #: splits the key space in ranges; otherwise it splits by the scope's first-level folders.
    lists_from_key: ClassVar[bool] = False

    @staticmethod
    @abstractmethod
    def console_url(client: Any, bucket: str, prefix: str) -> str:
        """Where a person looks at ``bucket``/``prefix``: the cloud console, or an emulator's listing.

        Never a signed URL. Reads only the client's endpoint, region and account; makes no request.
        """

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        prefix: str = "",
        key_regex: str | None = None,
        page_size: int = 1000,
        list_concurrency: int = 1,
    ) -> None:
        #: The SDK client the official hook returns; subclasses narrow its type.
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.key_pattern = re.compile(key_regex) if key_regex else None
        self.page_size = page_size
        if list_concurrency < 1:
            raise ValueError(f"list_concurrency must be at least 1, got {list_concurrency}")
        self.list_concurrency = list_concurrency

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
        prefix = self.prefix if prefix is None else prefix
        with self._cloud_call("list prefix", prefix):
            for page in self._raw_pages(prefix, delimiter):
                kept = [obj for obj in page if self.wants(obj.key)]
                if kept:
                    yield kept

    def _raw_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        """The unfiltered listing in key order: in parallel where asked for and possible."""
        from labelbridge.storage.parallel import prefix_pages, ranged_pages

        if delimiter is None and self.list_concurrency > 1:
            if self.lists_from_key:
                return ranged_pages(
                    self._list_from, prefix, concurrency=self.list_concurrency, page_size=self.page_size
                )
            split = prefix_pages(
                self._list_level(prefix, "/"),
                lambda folder: self._list_pages(folder, None),
                concurrency=self.list_concurrency,
                page_size=self.page_size,
            )
            if split is not None:
                return split
        return self._list_pages(prefix, delimiter)

    def iter_objects(self, prefix: str | None = None, *, recursive: bool = True) -> Iterator[ObjectInfo]:
        for page in self.iter_pages(prefix, recursive=recursive):
            yield from page

    def list_prefixes(self, prefix: str | None = None, *, delimiter: str = "/") -> Iterator[str]:
        """The "folders" one level below ``prefix``, for sharding a listing over mapped tasks."""
        prefix = self.prefix if prefix is None else prefix
        with self._cloud_call("list prefix", prefix):
            yield from self._list_prefixes(prefix, delimiter)

    def wants(self, key: str) -> bool:
        """Whether the listing keeps ``key``: not a folder marker, and matching the key pattern."""
        # Filter once, here; subclasses only page through the raw listing.
        if key.endswith("/"):
            return False
        return self.key_pattern is None or self.key_pattern.search(key) is not None

    def wanted(self, keys: Any) -> Any:
        """:meth:`wants` of each key of an Arrow string array, as a boolean array.

        Folder markers are found by Arrow; the key pattern is searched with Python's ``re``, key by
        key, as :meth:`wants` does (Arrow's RE2 reads some patterns otherwise).
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        not_folder = pc.invert(pc.ends_with(keys, "/"))
        if self.key_pattern is None:
            return not_folder
        search = self.key_pattern.search
        matches = pa.array([search(key) is not None for key in keys.to_pylist()], pa.bool_())
        return pc.and_(not_folder, matches)

    # Reading and writing -------------------------------------------------------------------

    def open(self, key: str) -> IO[bytes]:
        """A buffered, streaming reader over one object; chunks are fetched as it is read.

        :raises ObjectNotFound: the object does not exist (raised on the first read at the latest).
        :raises StorageError: the cloud refused the read, or could not be reached.
        """
        return io.BufferedReader(ChunkStream(self._read_chunks(key)), buffer_size=CHUNK_BYTES)

    def _read_chunks(self, key: str) -> Iterator[bytes]:
        with self._cloud_call("read", key):
            yield from self._iter_chunks(key)

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as reader:
            return reader.read()

    def write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> None:
        """Write one object, streaming from ``data`` (multipart or block upload where large).

        :raises StorageError: the cloud refused the write (a name it does not take, a missing
            bucket, no permission), or could not be reached.
        """
        with self._cloud_call("write", key):
            self._write(key, data, content_type=content_type)

    def delete(self, key: str) -> None:
        """Delete one object; deleting a missing object is not an error.

        :raises StorageError: the cloud refused the delete, or could not be reached.
        """
        with self._cloud_call("delete", key):
            self._delete(key)

    # Errors -------------------------------------------------------------------------------

    @contextmanager
    def _cloud_call(self, operation: str, key: str) -> Iterator[None]:
        """Within the block, an error of the cloud's SDK becomes a :class:`StorageError`."""
        try:
            yield
        except LabelbridgeError:
            raise
        except Exception as exc:
            failure = self._failure(exc, operation, key)
            if failure is None:
                raise
            raise failure from None

    def _failure(
        self, exc: Exception, operation: str, key: str, *, error: type[LabelbridgeError] = StorageError
    ) -> LabelbridgeError | None:
        """The one-line error for ``exc`` if it is the cloud SDK's, else ``None``.

        Raised ``from None`` by the callers: the SDK's exception, chained, would print its message.
        """
        code = self._error_code(exc)
        if code is None:
            return None
        storage = escaped(f"{self.scheme}://{self.bucket}")
        return error(f"{storage}: {operation} {short_name(key)} failed: {escaped(code)}")

    # Cloud-specific -----------------------------------------------------------------------

    @abstractmethod
    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        """The raw listing, one SDK page at a time; with a delimiter, objects at that level only."""

    def _list_from(self, prefix: str, after: str | None) -> Iterator[list[ObjectInfo]]:
        """The raw listing of keys under ``prefix`` that sort after ``after`` (``lists_from_key``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list from a key")

    def _list_level(self, prefix: str, delimiter: str) -> Iterator[list[ObjectInfo | str]]:
        """One level below ``prefix`` in key order: its objects, and its folders as ``str``."""
        raise NotImplementedError(f"{type(self).__name__} does not list a level with its folders")

    @abstractmethod
    def _list_prefixes(self, prefix: str, delimiter: str) -> Iterator[str]:
        """Common prefixes one level below ``prefix``."""

    @abstractmethod
    def _iter_chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks of about CHUNK_BYTES, fetched lazily."""

    @abstractmethod
    def _write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None) -> None:
        """Upload one object with the SDK (see :meth:`write`)."""

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Delete one object with the SDK, a missing one silently (see :meth:`delete`)."""

    @staticmethod
    @abstractmethod
    def _error_code(exc: Exception) -> str | None:
        """The cloud's error code and HTTP status (``NoSuchBucket (HTTP 404)``), or the SDK's
        exception name for a request that got no answer (``EndpointConnectionError``), when
        ``exc`` is an error of this cloud's SDK; ``None`` for anything else.

        Never the error's message: clouds put request details (Azure: the string-to-sign) there.
        """

    # Signing ------------------------------------------------------------------------------

    @classmethod
    def url_ttl_cap(cls, sas_kind: str = "auto") -> timedelta | None:
        """The longest URL lifetime this cloud allows for ``sas_kind`` (Azure only), for config checks."""
        return cls.max_url_ttl

    def sign_urls(
        self, keys: Sequence[str], ttl: timedelta, *, ip_range: str | None = None, now: datetime | None = None
    ) -> list[SignedUrl]:
        """Sign read-only GET URLs for ``keys``, through the cloud SDK's own signer.

        Each URL lives ``ttl``, or until the signing credentials expire if that comes first:
        the stored ``expires_at`` is the earlier of the two, so rotation comes in time.

        :param ip_range: CIDR the URL is locked to where the URL can carry it (Azure ``sip``);
            elsewhere a bucket policy must enforce it and the URL records ``ip_range=None``.
        :param now: the signing time (aware); defaults to the clock. It sets the expiry the
            URLs are signed with (S3 and GCS stamp their own clock as the start).
        :raises SigningError: the lifetime is over the cloud's cap, nothing can sign, or the
            cloud refused a request signing needs (one line, as :meth:`write`'s errors).
        """
        if ttl <= timedelta(0):
            raise SigningError(f"{self!r}: URL lifetime must be positive, got {ttl}")
        cap = self.max_url_ttl
        if cap is not None and ttl > cap:
            raise SigningError(f"{self!r}: URL lifetime {ttl} exceeds the {self.cloud.value} cap of {cap}")
        # Whole seconds: the signed parameters are whole seconds, and the stored expiry must
        # never be later than the one in the URL.
        signed_at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        key = keys[0] if keys else ""
        urls: list[SignedUrl] = []
        # One try around the batch, not one per key: signing is rotation's hot path. The SDK
        # makes requests here for a delegation key (Azure), a token or signBlob (keyless GCS).
        try:
            identity = self._signing_identity(signed_at, ttl)
            credential_expires_at = identity.expires_at.astimezone(UTC) if identity.expires_at is not None else None
            expires_at = signed_at + ttl
            if credential_expires_at is not None and credential_expires_at < expires_at:
                expires_at = credential_expires_at.replace(microsecond=0)
            if expires_at <= signed_at:
                raise SigningError(
                    f"{self!r}: the signing credentials ({identity.kind}) "
                    f"expired at {credential_expires_at:%Y-%m-%dT%H:%M:%SZ}"
                )
            sign = self._url_signer(identity, signed_at=signed_at, expires_at=expires_at, ip_range=ip_range)
            carried_ip = ip_range if self.url_carries_ip_range else None
            for key in keys:
                urls.append(
                    SignedUrl(
                        uri=self.uri(key),
                        url=sign(key),
                        signed_at=signed_at,
                        expires_at=expires_at,
                        requested_ttl=ttl,
                        ip_range=carried_ip,
                        signer=identity.kind,
                        credential_expires_at=credential_expires_at,
                    )
                )
        except LabelbridgeError:
            raise
        except Exception as exc:
            failure = self._failure(exc, "sign", key, error=SigningError)
            if failure is None:
                raise
            raise failure from None
        return urls

    def sign_url(
        self, key: str, ttl: timedelta, *, ip_range: str | None = None, now: datetime | None = None
    ) -> SignedUrl:
        """One URL; see :meth:`sign_urls`, which signs a batch with one credential lookup."""
        return self.sign_urls([key], ttl, ip_range=ip_range, now=now)[0]

    @abstractmethod
    def _signing_identity(self, now: datetime, ttl: timedelta) -> SigningIdentity:
        """Resolve (and refresh if due) what signs; fetch a delegation key if the cloud needs one.

        :raises SigningError: the connection's credentials cannot sign URLs.
        """

    @abstractmethod
    def _url_signer(
        self, identity: SigningIdentity, *, signed_at: datetime, expires_at: datetime, ip_range: str | None
    ) -> Callable[[str], str]:
        """A function signing one key's GET URL with the SDK's signer, valid until ``expires_at``."""


class ChunkStream(io.RawIOBase):
    """A read-only raw stream over an iterator of byte chunks: an object being downloaded, or a
    file an export is encoding while it uploads.

    ``readinto`` fills the whole buffer unless the chunks end: S3's non-seekable multipart upload
    takes a short read for the last part. ``tell`` counts the bytes read (GCS's resumable upload
    asks for it). With ``hash=True`` the SHA-256 of what passed through is kept (:meth:`sha256`).
    Closing the stream closes the iterator, so an abandoned download is released at once.
    """

    def __init__(self, chunks: Iterator[bytes], *, hash: bool = False) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._hash = hashlib.sha256() if hash else None
        #: Bytes read so far.
        self.size = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                if self._hash is not None:
                    self._hash.update(chunk)
                self._pending = memoryview(chunk)
            take = min(len(view) - filled, len(self._pending))
            view[filled : filled + take] = self._pending[:take]
            self._pending = self._pending[take:]
            filled += take
        self.size += filled
        return filled

    def drained(self) -> bool:
        """Whether the reader took every byte; an upload may stop early without saying so.

        Asks the iterator for one more chunk, which is lost if there is one: call it once, at the end.
        """
        return not self._pending and next(self._chunks, None) is None

    def sha256(self) -> str:
        """The hex SHA-256 of the bytes the chunks held so far (``hash=True`` only)."""
        if self._hash is None:
            raise ValueError("this ChunkStream was made without hash=True")
        return self._hash.hexdigest()

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()
