"""AWS S3 through a boto3 client (as ``S3Hook.get_conn()`` returns it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar

from labelbridge.config import Cloud
from labelbridge.errors import ObjectNotFound
from labelbridge.storage.base import CHUNK_BYTES, ObjectInfo, ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


class S3Store(ObjectStore):
    cloud = Cloud.S3
    scheme = "s3"
    max_url_ttl: ClassVar[timedelta | None] = timedelta(days=7)  # SigV4: X-Amz-Expires <= 604800
    url_carries_ip_range = False  # only a bucket policy (aws:SourceIp) can lock to an IP range

    def __init__(self, client: S3Client, bucket: str, **kwargs: Any) -> None:
        super().__init__(bucket, **kwargs)
        self.client = client

    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        paginator = self.client.get_paginator("list_objects_v2")
        extra = {"Delimiter": delimiter} if delimiter else {}
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}, **extra
        )
        for page in pages:
            yield [
                ObjectInfo(
                    key=item["Key"],
                    size_bytes=item["Size"],
                    # S3 quotes ETags; the quotes are not part of the value.
                    etag=item["ETag"].strip('"'),
                    last_modified=item["LastModified"],
                )
                for item in page.get("Contents", [])
            ]

    def _list_prefixes(self, prefix: str, delimiter: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter=delimiter):
            for common in page.get("CommonPrefixes", []):
                yield common["Prefix"]

    def _iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self.client.exceptions.NoSuchKey:
            raise ObjectNotFound(f"{self.uri(key)}: no such object") from None
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        if isinstance(data, bytes):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
        else:
            # Managed transfer: multipart above 8 MiB, so memory stays flat for large streams.
            self.client.upload_fileobj(data, self.bucket, key, ExtraArgs=extra or None)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)
