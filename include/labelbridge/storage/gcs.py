"""Google Cloud Storage through a ``google.cloud.storage.Client`` (``GCSHook.get_conn()``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

from labelbridge.clouds import Cloud
from labelbridge.errors import ObjectNotFound, SigningError
from labelbridge.storage.base import CHUNK_BYTES, ObjectInfo, ObjectStore, SigningIdentity

if TYPE_CHECKING:
    from google.cloud.storage import Client as GCSClient
else:
    GCSClient = Any


class GCSStore(ObjectStore):
    cloud = Cloud.GCS
    scheme = "gs"
    max_url_ttl: ClassVar[timedelta | None] = timedelta(days=7)  # V4 signing cap
    url_carries_ip_range = False  # bucket IP filtering or VPC-SC enforces ranges instead
    hook_class = "airflow.providers.google.cloud.hooks.gcs.GCSHook"
    hook_conn_arg = "gcp_conn_id"
    default_conn_id = "google_cloud_default"
    rule_prefix = "gcs"
    cli_name = "gcp"
    lists_from_key = True  # objects.list startOffset

    @staticmethod
    def console_url(client: Any, bucket: str, prefix: str) -> str:
        endpoint = str(client.api_endpoint).rstrip("/")
        if urlsplit(endpoint).hostname != "storage.googleapis.com":
            # STORAGE_EMULATOR_HOST (fake-gcs-server): the JSON API's object listing of the prefix.
            return f"{endpoint}/storage/v1/b/{quote(bucket)}/o?{urlencode({'prefix': prefix})}"
        path = f"{quote(bucket)}/{quote(prefix)}" if prefix else quote(bucket)
        project = getattr(client, "project", None)
        return f"https://console.cloud.google.com/storage/browser/{path}" + (
            f"?{urlencode({'project': project})}" if project else ""
        )

    def __init__(self, client: GCSClient, bucket: str, *, signing_credentials: Any = None, **kwargs: Any) -> None:
        super().__init__(client, bucket, **kwargs)
        #: Credentials that sign URLs when they differ from the client's (default: the client's).
        self.signing_credentials = signing_credentials

    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        blobs = self.client.list_blobs(
            self.bucket, prefix=prefix or None, delimiter=delimiter, page_size=self.page_size
        )
        yield from self._pages_of(blobs)

    def _list_from(self, prefix: str, after: str | None) -> Iterator[list[ObjectInfo]]:
        # startOffset includes the name itself: the object named ``after`` is dropped.
        blobs = self.client.list_blobs(
            self.bucket, prefix=prefix or None, start_offset=after, page_size=self.page_size
        )
        for page in self._pages_of(blobs):
            yield [obj for obj in page if obj.key != after] if after is not None else page

    @staticmethod
    def _pages_of(blobs: Any) -> Iterator[list[ObjectInfo]]:
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

    def _write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None) -> None:
        blob = self.client.bucket(self.bucket).blob(key)
        if isinstance(data, bytes):
            blob.upload_from_string(data, content_type=content_type)
        else:
            # Resumable upload in chunks: memory stays flat for large streams.
            blob.chunk_size = 8 * CHUNK_BYTES
            blob.upload_from_file(data, content_type=content_type)

    def _delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self.client.bucket(self.bucket).blob(key).delete()

    @staticmethod
    def _error_code(exc: Exception) -> str | None:
        from google.api_core.exceptions import GoogleAPICallError, GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
        from google.resumable_media import InvalidResponse
        from requests import RequestException

        if isinstance(exc, GoogleAPICallError):
            # The JSON API's reason (notFound, invalid, forbidden) when it gives a short one.
            reasons = [e.get("reason") for e in exc.errors if isinstance(e, dict)]
            reason = reasons[0] if reasons and isinstance(reasons[0], str) and reasons[0].isidentifier() else None
            status = f"HTTP {exc.code}" if exc.code else None
            detail = ", ".join(part for part in (reason, status) if part)
            return f"{type(exc).__name__} ({detail})" if detail else type(exc).__name__
        if isinstance(exc, InvalidResponse):
            # A resumable upload's chunk refused (the client converts only some of these).
            status = getattr(exc.response, "status_code", None)
            return f"InvalidResponse (HTTP {status})" if status else "InvalidResponse"
        if isinstance(exc, GoogleAPIError | GoogleAuthError | RequestException):
            # No answer (ConnectionError, Timeout), or no token (RefreshError, TransportError).
            return type(exc).__name__
        return None

    # Signing ------------------------------------------------------------------------------

    def _signing_identity(self, now: datetime, ttl: timedelta) -> SigningIdentity:
        from google.auth.credentials import AnonymousCredentials, Signing
        from google.oauth2 import service_account

        # google.cloud.Client keeps the credentials GCSHook resolved in _credentials (no getter).
        credentials = self.signing_credentials or getattr(self.client, "_credentials", None)
        # A V4 signed URL stays valid until its own expiry whatever happens to the token or
        # session that signed it (only deleting the key revokes it): no credential expiry.
        if isinstance(credentials, service_account.Credentials):
            return SigningIdentity("gcs-v4/service-account-key", None, {"credentials": credentials})
        if isinstance(credentials, Signing):
            # e.g. impersonated credentials: they sign through the IAM Credentials signBlob API.
            kind = f"gcs-v4/iam-signblob ({type(credentials).__name__})"
            return SigningIdentity(kind, None, {"credentials": credentials})
        email = getattr(credentials, "service_account_email", None)
        if credentials is not None and email and not isinstance(credentials, AnonymousCredentials):
            # Keyless (metadata server, workload identity): the SDK calls signBlob with a token.
            if not credentials.valid:
                from google.auth.transport.requests import Request

                credentials.refresh(Request())
            material = {"service_account_email": credentials.service_account_email, "access_token": credentials.token}
            return SigningIdentity("gcs-v4/iam-signblob", None, material)
        raise SigningError(
            f"{self!r}: the GCS connection's credentials ({type(credentials).__name__}) cannot sign URLs; "
            "use a service account key (keyfile_dict / key_path), impersonation, or a service account "
            "identity allowed to call signBlob"
        )

    def _url_signer(
        self, identity: SigningIdentity, *, signed_at: datetime, expires_at: datetime, ip_range: str | None
    ) -> Callable[[str], str]:
        bucket = self.client.bucket(self.bucket)
        lifetime = expires_at - signed_at
        material: dict[str, Any] = identity.material

        def sign(key: str) -> str:
            url: str = bucket.blob(key).generate_signed_url(
                version="v4", expiration=lifetime, method="GET", **material
            )
            return url

        return sign
