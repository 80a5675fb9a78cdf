"""Cloud inventory reports as a source of listings: one reader base, one small subclass per cloud.

``INVENTORY_READERS[cloud]`` reads that cloud's reports (S3 Inventory, GCS Storage Insights
inventory reports, Azure Blob Inventory); :func:`~labelbridge.storage.inventory.order.sorted_pages`
turns their rows, which come in no order, into pages in byte order, as a listing returns them.
"""

from __future__ import annotations

from labelbridge.clouds import Cloud
from labelbridge.storage.inventory.azure import AzureInventoryReader
from labelbridge.storage.inventory.base import InventoryReader, InventoryReport, ReportFile
from labelbridge.storage.inventory.gcs import GCSInventoryReader
from labelbridge.storage.inventory.order import sorted_pages
from labelbridge.storage.inventory.s3 import S3InventoryReader

INVENTORY_READERS: dict[Cloud, type[InventoryReader]] = {
    cls.cloud: cls for cls in (S3InventoryReader, GCSInventoryReader, AzureInventoryReader)
}

__all__ = [
    "INVENTORY_READERS", "AzureInventoryReader", "GCSInventoryReader", "InventoryReader", "InventoryReport",
    "ReportFile", "S3InventoryReader", "sorted_pages",
]
