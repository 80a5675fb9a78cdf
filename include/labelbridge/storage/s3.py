"""AWS S3 through a boto3 client (as ``S3Hook.get_conn()`` returns it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from labelbridge.clouds import Cloud
from labelbridge.errors import ObjectNotFound, SigningError
from labelbridge.storage.base import CHUNK_BYTES, ObjectInfo, ObjectStore, SigningIdentity

log = logging.getLogger(__name__)

#: Key presigned once per batch to learn the endpoint, addressing style and signing scope.
_PROBE_KEY = "labelbridge-presign-probe"


class _DropSigningDetail(logging.Filter):
    """Drops botocore.auth's records: at DEBUG they hold each canonical request and its
    signature, enough to rebuild a presigned URL, and signed URLs never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _hide_signing_detail() -> None:
    logger = logging.getLogger("botocore.auth")
    if not any(isinstance(f, _DropSigningDetail) for f in logger.filters):
        logger.addFilter(_DropSigningDetail())

def _iso_or_default(value: Any) -> Any:
    """A timestamp of a response: ISO 8601 with ``Z`` (a listing's LastModified) by the standard
    library, anything else (RFC 822 headers, epochs) by botocore's own parser."""
    if isinstance(value, str) and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    from botocore.parsers import DEFAULT_TIMESTAMP_PARSER

    return DEFAULT_TIMESTAMP_PARSER(value)


def _parse_timestamps_fast(client: Any) -> None:
    """Parse the client's response timestamps with :func:`_iso_or_default`.

    botocore parses each listed object's LastModified with dateutil: about half of the client's
    CPU per listing page (bench/resync.py), as much as the sync does with the page. The same
    value, as an aware UTC datetime, comes 20 times faster from ``datetime.fromisoformat``.
    Done through the parser factory's documented ``set_parser_defaults`` (botocore's way to
    change how timestamps parse); a client whose factory already has its own parser is left alone.
    """
    factory = getattr(getattr(client, "_endpoint", None), "_response_parser_factory", None)
    defaults = getattr(factory, "_defaults", None)
    if factory is None or not isinstance(defaults, dict) or defaults.get("timestamp_parser") is not None:
        return
    factory.set_parser_defaults(timestamp_parser=_iso_or_default)


if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


class S3Store(ObjectStore):
    cloud = Cloud.S3
    scheme = "s3"
    max_url_ttl: ClassVar[timedelta | None] = timedelta(days=7)  # SigV4: X-Amz-Expires <= 604800
    url_carries_ip_range = False  # only a bucket policy (aws:SourceIp) can lock to an IP range
    hook_class = "airflow.providers.amazon.aws.hooks.s3.S3Hook"
    hook_conn_arg = "aws_conn_id"
    default_conn_id = "aws_default"
    rule_prefix = "s3"
    cli_name = "aws"
    lists_from_key = True  # ListObjectsV2 StartAfter

    @staticmethod
    def console_url(client: Any, bucket: str, prefix: str) -> str:
        endpoint = str(client.meta.endpoint_url).rstrip("/")
        host = urlsplit(endpoint).hostname or ""
        if not host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
            # moto, MinIO, a proxy: no console to go to; the prefix's listing is what is there.
            return f"{endpoint}/{quote(bucket)}?{urlencode({'list-type': 2, 'prefix': prefix})}"
        # Console domain per AWS partition, as the Amazon provider's links use them.
        consoles = {"aws": "aws.amazon.com", "aws-cn": "amazonaws.cn", "aws-us-gov": "amazonaws-us-gov.com"}
        domain = consoles.get(client.meta.partition, consoles["aws"])
        query = urlencode({"region": client.meta.region_name, "prefix": prefix, "showversions": "false"})
        return f"https://console.{domain}/s3/buckets/{quote(bucket)}?{query}"

    client: S3Client

    def __init__(self, client: S3Client, bucket: str, **kwargs: Any) -> None:
        super().__init__(client, bucket, **kwargs)
        _parse_timestamps_fast(client)

    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        yield from self._paginate(prefix, {"Delimiter": delimiter} if delimiter else {})

    def _list_from(self, prefix: str, after: str | None) -> Iterator[list[ObjectInfo]]:
        yield from self._paginate(prefix, {"StartAfter": after} if after is not None else {})

    def _paginate(self, prefix: str, extra: dict[str, str]) -> Iterator[list[ObjectInfo]]:
        paginator = self.client.get_paginator("list_objects_v2")
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

    def _write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        if isinstance(data, bytes):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
        else:
            # Managed transfer: multipart above 8 MiB, so memory stays flat for large streams.
            self.client.upload_fileobj(data, self.bucket, key, ExtraArgs=extra or None)

    def _delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    @staticmethod
    def _error_code(exc: Exception) -> str | None:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        # boto3's managed transfers wrap a ClientError in S3UploadFailedError, whose message quotes it.
        if isinstance(exc, Boto3Error) and isinstance(exc.__context__, ClientError):
            exc = exc.__context__
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code") or "no error code")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status is None:
                return code
            # An error without a body (a HEAD, some proxies) has its status as its code.
            return f"HTTP {status}" if code == str(status) else f"{code} (HTTP {status})"
        if isinstance(exc, BotoCoreError | Boto3Error):
            # No answer, or the SDK refused before sending (EndpointConnectionError, ReadTimeoutError,
            # NoCredentialsError, ParamValidationError): its name says which.
            return type(exc).__name__
        return None

    # Signing ------------------------------------------------------------------------------

    def _signing_identity(self, now: datetime, ttl: timedelta) -> SigningIdentity:
        from botocore.credentials import RefreshableCredentials

        # botocore has no public accessor for a client's credentials; this is the object its
        # own request signer uses, so the URL is signed by exactly what the connection resolved.
        credentials = self.client._get_credentials()
        if credentials is None:
            raise SigningError(f"{self!r}: the AWS connection has no credentials; an anonymous client cannot sign")
        # Refreshes a temporary session (assumed role, web identity, instance profile) that is
        # close to expiry, so the expiry read below is that of the credentials that sign.
        frozen = credentials.get_frozen_credentials()
        expires_at: datetime | None = None
        if isinstance(credentials, RefreshableCredentials):
            expires_at = credentials._expiry_time  # no public getter; set on every refresh
        elif frozen.token:
            log.warning(
                "%r: temporary credentials (%s) with an unknown expiry sign these URLs; they die with the session",
                self,
                credentials.method,
            )
        return SigningIdentity(f"s3-sigv4/{credentials.method}", expires_at, material=frozen)

    def _url_signer(
        self, identity: SigningIdentity, *, signed_at: datetime, expires_at: datetime, ip_range: str | None
    ) -> Callable[[str], str]:
        from botocore.auth import S3SigV4QueryAuth
        from botocore.awsrequest import AWSRequest
        from botocore.utils import percent_encode

        _hide_signing_detail()
        seconds = int((expires_at - signed_at).total_seconds())
        # One presign through the client resolves the endpoint, addressing style and signing
        # scope exactly as S3Hook.generate_presigned_url would. Per key, botocore's own SigV4
        # query signer then runs directly: the client path re-resolves the endpoint rules for
        # every call and is 3-4x slower (bench/rotate.py).
        probe = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": _PROBE_KEY}, ExpiresIn=seconds
        )
        parts = urlsplit(probe)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise SigningError(
                f"{self!r}: the S3 client presigns with SigV2 (no 7-day cap, deprecated); set the AWS "
                "connection's extra to {\"config_kwargs\": {\"signature_version\": \"s3v4\"}}"
            )
        _access_key, _date, region, service, _terminator = query["X-Amz-Credential"].split("/")
        extra = {k: v for k, v in query.items() if not k.startswith("X-Amz-")}
        base = f"{parts.scheme}://{parts.netloc}{parts.path.removesuffix(_PROBE_KEY)}"
        auth = S3SigV4QueryAuth(identity.material, service, region, expires=seconds)

        def sign(key: str) -> str:
            # percent_encode(safe="/~") is how botocore's serializer puts a Key in the path.
            request = AWSRequest(method="GET", url=base + percent_encode(key, safe="/~"), params=extra)
            auth.add_auth(request)
            return str(request.url)

        return sign
