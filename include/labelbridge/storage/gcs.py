"""Google Cloud Storage through a ``google.cloud.storage.Client`` (``GCSHook.get_conn()``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar

from labelbridge.config import Cloud
from labelbridge.errors import ObjectNotFound
from labelbridge.storage.base import CHUNK_BYTES, ObjectInfo, ObjectStore

if TYPE_CHECKING:
    from google.cloud.storage import Client as GCSClient
else:
    GCSClient = Any


class GCSStore(ObjectStore):
    cloud = Cloud.GCS
    scheme = "gs"
    max_url_ttl: ClassVar[timedelta | None] = timedelta(days=7)  # V4 signing cap
    url_carries_ip_range = False  # bucket IP filtering or VPC-SC enforces ranges instead

    def __init__(self, client: GCSClient, bucket: str, **kwargs: Any) -> None:
        super().__init__(bucket, **kwargs)
        self.client = client

    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        blobs = self.client.list_blobs(
            self.bucket, prefix=prefix or None, delimiter=delimiter, page_size=self.page_size
        )
        for page in blobs.pages:
            yield [
                ObjectInfo(
                    key=blob.name,
                    size_bytes=int(blob.size or 0),
                    etag=blob.etag,
                    last_modified=blob.updated,
                    # The generation changes on every overwrite: it is GCS's version id.
                    version_id=str(blob.generation) if blob.generation is not None else None,
                )
                for blob in page
            ]

    def _list_prefixes(self, prefix: str, delimiter: str) -> Iterator[str]:
        blobs = self.client.list_blobs(self.bucket, prefix=prefix or None, delimiter=delimiter)
        for page in blobs.pages:
            yield from sorted(page.prefixes)

    def _iter_chunks(self, key: str) -> Iterator[bytes]:
        from google.api_core.exceptions import NotFound

        blob = self.client.bucket(self.bucket).blob(key)
        try:
            with blob.open("rb", chunk_size=CHUNK_BYTES) as reader:
                while chunk := reader.read(CHUNK_BYTES):
                    yield chunk
        except NotFound:
            raise ObjectNotFound(f"{self.uri(key)}: no such object") from None

    def write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> None:
        blob = self.client.bucket(self.bucket).blob(key)
        if isinstance(data, bytes):
            blob.upload_from_string(data, content_type=content_type)
        else:
            # Resumable upload in chunks: memory stays flat for large streams.
            blob.chunk_size = 8 * CHUNK_BYTES
            blob.upload_from_file(data, content_type=content_type)

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self.client.bucket(self.bucket).blob(key).delete()
        except NotFound:
            pass
