"""Storage layer: one :class:`ObjectStore` interface, one subclass per cloud."""

from __future__ import annotations

from labelbridge.config import Cloud
from labelbridge.storage.azure import AzureBlobStore
from labelbridge.storage.base import ObjectInfo, ObjectStore
from labelbridge.storage.gcs import GCSStore
from labelbridge.storage.s3 import S3Store

STORE_CLASSES: dict[Cloud, type[ObjectStore]] = {
    Cloud.S3: S3Store,
    Cloud.GCS: GCSStore,
    Cloud.AZURE: AzureBlobStore,
}


def store_class(cloud: Cloud | str) -> type[ObjectStore]:
    return STORE_CLASSES[Cloud(cloud)]


__all__ = ["STORE_CLASSES", "AzureBlobStore", "GCSStore", "ObjectInfo", "ObjectStore", "S3Store", "store_class"]
