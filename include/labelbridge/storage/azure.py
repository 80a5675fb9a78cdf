"""Azure Blob Storage through a ``BlobServiceClient`` (``WasbHook.get_conn()``)."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from labelbridge.clouds import Cloud
from labelbridge.errors import ObjectNotFound, SigningError
from labelbridge.storage.base import ObjectInfo, ObjectStore, SigningIdentity

#: A user delegation key, and so every SAS it signs, lives at most 7 days.
USER_DELEGATION_MAX_TTL = timedelta(days=7)
#: Fetch a delegation key this much longer than the URLs need, so later batches of a run reuse it.
_DELEGATION_KEY_SLACK = timedelta(hours=1)

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
    hook_class = "airflow.providers.microsoft.azure.hooks.wasb.WasbHook"
    hook_conn_arg = "wasb_conn_id"
    default_conn_id = "wasb_default"
    rule_prefix = "azure"
    cli_name = "azure"

    @staticmethod
    def console_url(client: Any, bucket: str, prefix: str) -> str:
        if not str(client.primary_hostname).endswith(".blob.core.windows.net"):
            # Azurite or another endpoint: the container's List Blobs URL (Azurite asks for a key).
            query = urlencode({"restype": "container", "comp": "list", "prefix": prefix})
            return f"{str(client.url).rstrip('/')}/{quote(bucket)}?{query}"
        # The portal's container blade needs the account's ARM resource id (subscription, resource
        # group), which a data-plane connection does not carry: the portal's storage account list.
        return "https://portal.azure.com/#browse/Microsoft.Storage%2FStorageAccounts"

    def __init__(self, client: BlobServiceClient, bucket: str, **kwargs: Any) -> None:
        super().__init__(client, bucket, **kwargs)
        self.container = client.get_container_client(bucket)
        self._delegation_key: Any = None

    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        from azure.storage.blob import BlobPrefix

        blobs: Any  # ItemPaged of blobs, or (walk_blobs) of blobs and prefixes
        if delimiter:
            blobs = self.container.walk_blobs(
                name_starts_with=prefix or None, delimiter=delimiter, results_per_page=self.page_size
            )
        else:
            blobs = self.container.list_blobs(name_starts_with=prefix or None, results_per_page=self.page_size)
        for page in blobs.by_page():
            yield [self._object_info(blob) for blob in page if not isinstance(blob, BlobPrefix)]

    @staticmethod
    def _object_info(blob: Any) -> ObjectInfo:
        return ObjectInfo(
            key=blob.name,
            size_bytes=int(blob.size or 0),
            etag=blob.etag.strip('"') if blob.etag else None,
            last_modified=blob.last_modified,
            version_id=blob.version_id,
        )

    def _list_level(self, prefix: str, delimiter: str) -> Iterator[list[ObjectInfo | str]]:
        from azure.storage.blob import BlobPrefix

        items = self.container.walk_blobs(
            name_starts_with=prefix or None, delimiter=delimiter, results_per_page=self.page_size
        )
        for page in items.by_page():
            yield [
                item.name if isinstance(item, BlobPrefix) else self._object_info(item)
                for item in page
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
        except ResourceNotFoundError as exc:
            if _code_of(exc) != "BlobNotFound":
                raise  # ContainerNotFound: the storage's error, not the object's
            raise ObjectNotFound(f"{self.uri(key)}: no such object") from None
        yield from downloader.chunks()

    def _write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None) -> None:
        from azure.storage.blob import ContentSettings

        settings = ContentSettings(content_type=content_type) if content_type else None
        # upload_blob stages blocks for streams, so memory stays flat for large ones.
        self.container.upload_blob(key, data, overwrite=True, content_settings=settings)

    def _delete(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self.container.delete_blob(key)

    @staticmethod
    def _error_code(exc: Exception) -> str | None:
        from azure.core.exceptions import AzureError, HttpResponseError

        if isinstance(exc, HttpResponseError):
            # The message is the response body, which for an authentication failure quotes the
            # string-to-sign the service computed: only the code and status leave.
            return f"{_code_of(exc)} (HTTP {exc.status_code})" if exc.status_code else _code_of(exc)
        if isinstance(exc, AzureError):
            return type(exc).__name__  # ServiceRequestError: no answer; ServiceResponseError: a broken one
        return None

    # Signing ------------------------------------------------------------------------------

    #: What signs (``SignedUrl.signer``): an account key, or Entra ID through a user delegation key.
    SIGNER_ACCOUNT_KEY: ClassVar[str] = "azure-sas/account-key"
    SIGNER_USER_DELEGATION: ClassVar[str] = "azure-sas/user-delegation"
    #: The signer a storage's ``sas_kind`` requires ("auto" takes either), so callers need not spell them.
    SAS_KIND_SIGNERS: ClassVar[Mapping[str, str]] = {
        "account_key": SIGNER_ACCOUNT_KEY,
        "user_delegation": SIGNER_USER_DELEGATION,
    }

    @classmethod
    def url_ttl_cap(cls, sas_kind: str = "auto") -> timedelta | None:
        # Only an account-key SAS may outlive 7 days (up to the account's own SAS policy); with
        # "auto" the connection may turn out to be Entra ID, so the stricter cap applies.
        return None if sas_kind == "account_key" else USER_DELEGATION_MAX_TTL

    def _signing_identity(self, now: datetime, ttl: timedelta) -> SigningIdentity:
        credential = self.client.credential
        account_key = getattr(credential, "account_key", None)
        if account_key:
            return SigningIdentity(self.SIGNER_ACCOUNT_KEY, None, {"account_key": account_key})
        if hasattr(credential, "get_token"):
            return self._user_delegation_identity(now, ttl)
        raise SigningError(
            f"{self!r}: the Azure connection authenticates with {type(credential).__name__} (a SAS token or "
            "anonymous), which cannot sign a SAS; use an account key, or Entra ID (service principal, "
            "managed identity, workload identity) for a user delegation SAS"
        )

    def _user_delegation_identity(self, now: datetime, ttl: timedelta) -> SigningIdentity:
        from datetime import UTC

        if ttl > USER_DELEGATION_MAX_TTL:
            raise SigningError(f"{self!r}: a user delegation SAS lives at most 7 days; got {ttl}")
        key = self._delegation_key
        if key is None or _parse_time(key.signed_expiry) < now + ttl - _DELEGATION_KEY_SLACK:
            # Start a little early: Azure rejects a key whose start is ahead of its own clock.
            key = self.client.get_user_delegation_key(
                key_start_time=now - timedelta(minutes=5),
                key_expiry_time=min(now + ttl + _DELEGATION_KEY_SLACK, now + USER_DELEGATION_MAX_TTL),
            )
            self._delegation_key = key
        expires_at = _parse_time(key.signed_expiry).astimezone(UTC)
        return SigningIdentity(self.SIGNER_USER_DELEGATION, expires_at, {"user_delegation_key": key})

    def _url_signer(
        self, identity: SigningIdentity, *, signed_at: datetime, expires_at: datetime, ip_range: str | None
    ) -> Callable[[str], str]:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        # spr=https where the endpoint is https; an http endpoint (Azurite, a dev proxy) could
        # never serve an https-only SAS, so it gets "https,http" (Azurite: 403 otherwise).
        protocol = "https" if self.client.scheme == "https" else "https,http"
        sip = sas_ip_range(ip_range) if ip_range else None
        permission = BlobSasPermissions(read=True)
        account = str(self.client.account_name)
        material: dict[str, Any] = identity.material
        # The blob URL as BlobClient.url builds it (quote(name, safe="~/")), without building a
        # BlobClient per key: that alone costs as much as signing (bench/rotate.py).
        container_url = self.container.url.rstrip("/")

        def sign(key: str) -> str:
            sas = generate_blob_sas(
                account, self.bucket, key, permission=permission, expiry=expires_at, ip=sip, protocol=protocol,
                **material,
            )
            return f"{container_url}/{quote(key, safe='~/')}?{sas}"

        return sign


def sas_ip_range(cidr: str) -> str:
    """A CIDR as a SAS ``sip`` value: one address, or ``first-last``.

    :raises SigningError: an IPv6 range (SAS ``sip`` takes IPv4 only).
    """
    network = ipaddress.ip_network(cidr, strict=False)
    if network.version != 4:
        raise SigningError(f"ip_range {cidr}: an Azure SAS can only carry an IPv4 address or range")
    if network.num_addresses == 1:
        return str(network.network_address)
    return f"{network.network_address}-{network.broadcast_address}"


def _code_of(exc: Any) -> str:
    """An HttpResponseError's storage error code (``BlobNotFound``), else its class name."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code)) if code else type(exc).__name__


def _parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
