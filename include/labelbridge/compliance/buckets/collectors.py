"""Read one bucket's settings once, through the official SDK clients, into a snapshot.

One base class owns the loop (read every section, record why one could not be read, go on);
each cloud's subclass only names its sections and how to read them. A setting that is simply
not configured (no bucket policy, no CORS) is ``None``, not an error: the SDKs raise for those,
and each subclass turns exactly those errors into ``None``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.config import Cloud
from labelbridge.secrets import redact_text

Reader = Callable[[str], Any]


class BucketCollector(ABC):
    """Reads the sections the cloud's rules need, one SDK call (or two) each."""

    cloud: ClassVar[Cloud]

    def collect(self, bucket: str) -> BucketSnapshot:
        settings: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for section, read in self._readers().items():
            try:
                settings[section] = read(bucket)
            except self._read_errors() as exc:
                # Only the SDK's own errors: a bug in a reader should fail loudly, not read as "unreadable".
                errors[section] = redact_text(self._describe(exc))
        return BucketSnapshot(self.cloud, bucket, settings, errors, self._account_id())

    @abstractmethod
    def _readers(self) -> Mapping[str, Reader]:
        """Section name onto a function reading it for one bucket."""

    @abstractmethod
    def _read_errors(self) -> tuple[type[BaseException], ...]:
        """The SDK exceptions that mean "could not read" (denied, missing bucket, unreachable)."""

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, _NotCollected):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"

    def _account_id(self) -> str | None:
        return None


# AWS ----------------------------------------------------------------------------------------


class S3Collector(BucketCollector):
    """S3 bucket settings; account-level Block Public Access too when ``s3control`` is given.

    :param client: a boto3 S3 client (``S3Hook.get_conn()``).
    :param s3control: a boto3 S3 Control client, for the account's Block Public Access.
    :param account_id: the owning account (``sts get-caller-identity``); the cross-account rule allows it.
    """

    cloud = Cloud.S3

    def __init__(self, client: Any, *, s3control: Any = None, account_id: str | None = None) -> None:
        self.client = client
        self.s3control = s3control
        self.account_id = account_id

    def _readers(self) -> Mapping[str, Reader]:
        c = self.client
        return {
            "policy": self._absent_on(lambda b: c.get_bucket_policy(Bucket=b)["Policy"], "NoSuchBucketPolicy"),
            "policy_status": self._absent_on(
                lambda b: c.get_bucket_policy_status(Bucket=b)["PolicyStatus"], "NoSuchBucketPolicy"
            ),
            "public_access_block": self._absent_on(
                lambda b: c.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"],
                "NoSuchPublicAccessBlockConfiguration",
            ),
            "account_public_access_block": self._account_block,
            "acl": lambda b: _without_metadata(c.get_bucket_acl(Bucket=b)),
            "encryption": self._absent_on(
                lambda b: c.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"],
                "ServerSideEncryptionConfigurationNotFoundError",
            ),
            "logging": lambda b: c.get_bucket_logging(Bucket=b).get("LoggingEnabled"),
            "versioning": lambda b: _without_metadata(c.get_bucket_versioning(Bucket=b)),
            "ownership_controls": self._absent_on(
                lambda b: c.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"],
                "OwnershipControlsNotFoundError",
            ),
            "cors": self._absent_on(
                lambda b: {"CORSRules": c.get_bucket_cors(Bucket=b)["CORSRules"]}, "NoSuchCORSConfiguration"
            ),
        }

    def _account_block(self, bucket: str) -> Any:
        from botocore.exceptions import ClientError

        if self.s3control is None or not self.account_id:
            raise _NotCollected("no S3 Control client or account id given")
        try:
            response = self.s3control.get_public_access_block(AccountId=self.account_id)
        except ClientError as exc:
            if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
                return None
            raise
        return response["PublicAccessBlockConfiguration"]

    @staticmethod
    def _absent_on(read: Reader, code: str) -> Reader:
        from botocore.exceptions import ClientError

        def reader(bucket: str) -> Any:
            try:
                return read(bucket)
            except ClientError as exc:
                if _code(exc) == code:
                    return None
                raise

        return reader

    def _read_errors(self) -> tuple[type[BaseException], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return (ClientError, BotoCoreError, _NotCollected)

    def _describe(self, exc: BaseException) -> str:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            return f"{_code(exc)}: {exc.response.get('Error', {}).get('Message', '')}".rstrip(": ")
        return super()._describe(exc)

    def _account_id(self) -> str | None:
        return self.account_id


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _without_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


class _NotCollected(Exception):
    """A section this collector was not given the means to read."""


# GCP ----------------------------------------------------------------------------------------


class GCSCollector(BucketCollector):
    """The bucket resource JSON and its IAM policy, through ``google.cloud.storage.Client``."""

    cloud = Cloud.GCS

    def __init__(self, client: Any) -> None:
        self.client = client

    def _readers(self) -> Mapping[str, Reader]:
        return {"bucket": self._bucket, "iam_policy": self._iam_policy}

    def _bucket(self, name: str) -> Any:
        # _properties is the bucket resource exactly as the JSON API returned it: the same
        # shape as recorded API JSON, so rules read one format.
        return dict(self.client.get_bucket(name)._properties)

    def _iam_policy(self, name: str) -> Any:
        policy = self.client.bucket(name).get_iam_policy(requested_policy_version=3)
        return policy.to_api_repr()

    def _read_errors(self) -> tuple[type[BaseException], ...]:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError

        return (GoogleAPIError, GoogleAuthError)


# Azure --------------------------------------------------------------------------------------


class AzureBlobCollector(BucketCollector):
    """Container and blob-service settings from the data plane; account settings from ARM.

    :param client: a ``BlobServiceClient`` (``WasbHook.get_conn()``).
    :param management: a ``StorageManagementClient``; without it the account-level section
        is unreadable and the rules that need it report ERROR, saying so.
    """

    cloud = Cloud.AZURE

    def __init__(self, client: Any, *, management: Any = None) -> None:
        self.client = client
        self.management = management

    def _readers(self) -> Mapping[str, Reader]:
        return {"account": self._account, "container": self._container, "service_cors": self._service_cors}

    def _account(self, container: str) -> Any:
        if self.management is None:
            raise _NotCollected(
                "no Azure management connection: set compliance.azure_management_conn_id in storages.yaml"
            )
        name = self.client.account_name
        # list() needs no resource group, and its items carry the full properties.
        for account in self.management.storage_accounts.list():
            if account.name == name:
                return account.as_dict()
        raise _NotCollected(f"storage account {name!r} is not visible to the management connection")

    def _container(self, container: str) -> Any:
        props = self.client.get_container_client(container).get_container_properties()
        return {
            "publicAccess": props.public_access,
            "hasImmutabilityPolicy": props.has_immutability_policy,
            "hasLegalHold": props.has_legal_hold,
        }

    def _service_cors(self, container: str) -> Any:
        return [_cors_rule(rule) for rule in self.client.get_service_properties().get("cors") or []]

    def _read_errors(self) -> tuple[type[BaseException], ...]:
        from azure.core.exceptions import AzureError

        return (AzureError, _NotCollected)

    def _describe(self, exc: BaseException) -> str:
        from azure.core.exceptions import HttpResponseError

        if isinstance(exc, HttpResponseError):
            # The full message echoes the request; the code and reason say enough.
            code = getattr(exc, "error_code", None) or type(exc).__name__
            return f"{code}: {exc.reason or ''}".rstrip(": ")
        return super()._describe(exc)


def _cors_rule(rule: Any) -> dict[str, Any]:
    # The data-plane SDK returns comma-joined strings; the management API returns lists.
    return {
        "allowedOrigins": _split(rule.allowed_origins),
        "allowedMethods": _split(rule.allowed_methods),
        "maxAgeInSeconds": rule.max_age_in_seconds,
    }


def _split(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)
