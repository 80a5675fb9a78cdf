"""Storage layer: one :class:`ObjectStore` interface, one subclass per cloud (see README.md)."""

from __future__ import annotations

from labelbridge.clouds import Cloud
from labelbridge.storage.azure import AzureBlobStore
from labelbridge.storage.base import ObjectInfo, ObjectStore
from labelbridge.storage.gcs import GCSStore
from labelbridge.storage.s3 import S3Store

#: The one registry of clouds: each store class carries its cloud's facts (see README.md).
STORE_CLASSES: dict[Cloud, type[ObjectStore]] = {cls.cloud: cls for cls in (S3Store, GCSStore, AzureBlobStore)}


def store_class(cloud: Cloud | str) -> type[ObjectStore]:
    return STORE_CLASSES[Cloud(cloud)]


__all__ = ["STORE_CLASSES", "AzureBlobStore", "GCSStore", "ObjectInfo", "ObjectStore", "S3Store", "store_class"]
