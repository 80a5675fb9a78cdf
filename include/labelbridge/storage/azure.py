"""Azure Blob Storage through a ``BlobServiceClient`` (``WasbHook.get_conn()``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar

from labelbridge.config import Cloud
from labelbridge.errors import ObjectNotFound
from labelbridge.storage.base import ObjectInfo, ObjectStore

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient
else:
    BlobServiceClient = Any


class AzureBlobStore(ObjectStore):
    """``bucket`` is the container; URIs read ``azure-blob://container/blob``, as Label Studio's."""

    cloud = Cloud.AZURE
    scheme = "azure-blob"
    # Account/service SAS have no hard cap (an account's SAS policy may set one); a user
    # delegation SAS is capped at 7 days by its delegation key, checked when signing.
    max_url_ttl: ClassVar[timedelta | None] = None
    url_carries_ip_range = True  # SAS `sip`

    def __init__(self, client: BlobServiceClient, bucket: str, **kwargs: Any) -> None:
        super().__init__(bucket, **kwargs)
        self.client = client
        self.container = client.get_container_client(bucket)

    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        from azure.storage.blob import BlobPrefix

        if delimiter:
            blobs = self.container.walk_blobs(
                name_starts_with=prefix or None, delimiter=delimiter, results_per_page=self.page_size
            )
        else:
            blobs = self.container.list_blobs(name_starts_with=prefix or None, results_per_page=self.page_size)
        for page in blobs.by_page():
            yield [
                ObjectInfo(
                    key=blob.name,
                    size_bytes=int(blob.size or 0),
                    etag=blob.etag.strip('"') if blob.etag else None,
                    last_modified=blob.last_modified,
                    version_id=blob.version_id,
                )
                for blob in page
                if not isinstance(blob, BlobPrefix)
            ]

    def _list_prefixes(self, prefix: str, delimiter: str) -> Iterator[str]:
        from azure.storage.blob import BlobPrefix

        for item in self.container.walk_blobs(name_starts_with=prefix or None, delimiter=delimiter):
            if isinstance(item, BlobPrefix):
                yield item.name

    def _iter_chunks(self, key: str) -> Iterator[bytes]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloader = self.container.download_blob(key)
        except ResourceNotFoundError:
            raise ObjectNotFound(f"{self.uri(key)}: no such object") from None
        yield from downloader.chunks()

    def write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> None:
        from azure.storage.blob import ContentSettings

        settings = ContentSettings(content_type=content_type) if content_type else None
        # upload_blob stages blocks for streams, so memory stays flat for large ones.
        self.container.upload_blob(key, data, overwrite=True, content_settings=settings)

    def delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.container.delete_blob(key)
        except ResourceNotFoundError:
            pass
