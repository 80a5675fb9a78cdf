"""Azure Blob Inventory: per rule run a manifest, its checksum file, and CSV or Parquet files.

Layout (https://learn.microsoft.com/en-us/azure/storage/blobs/blob-inventory, "Inventory run")::

    <destination container>/YYYY/MM/DD/HH-MM-SS/<ruleName>/<ruleName>-manifest.json
    <destination container>/YYYY/MM/DD/HH-MM-SS/<ruleName>/<ruleName>-manifest.checksum
    <destination container>/YYYY/MM/DD/HH-MM-SS/<ruleName>/<ruleName>_<n>.csv | .parquet

The checksum file holds the MD5 of the manifest and is written last: it marks the run complete.
The manifest says ``status`` (``Succeeded``), ``inventoryStartTime``, ``files`` (``blob``, ``size``),
``summary.objectCount`` and ``ruleDefinition`` (``format``, ``objectType``, ``schemaFields``). CSV
files have a header row of the schema fields. A blob's ``Name`` is ``<container>/<blob name>``:
a rule may cover several containers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from labelbridge.clouds import Cloud
from labelbridge.errors import InventoryError
from labelbridge.storage.inventory.base import InventoryReader, InventoryReport, ReportFile
from labelbridge.storage.inventory.formats import timestamp


class AzureInventoryReader(InventoryReader):
    """Blob Inventory runs of one rule; the store is the destination container (its prefix: where
    the dated folders start, usually empty).

    :param rule: the inventory rule's name; ``None`` takes the newest run of any rule.
    """

    cloud = Cloud.AZURE
    fields: ClassVar[Mapping[str, str]] = {
        "key": "name", "size": "contentlength", "etag": "etag", "last_modified": "lastmodified",
        "version_id": "versionid", "latest": "iscurrentversion", "deleted": "deleted", "snapshot": "snapshot",
    }

    def __init__(self, *args: Any, rule: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rule = rule

    def _manifest_keys(self) -> list[str]:
        suffix = f"/{self.rule}-manifest.json" if self.rule else "-manifest.json"
        keys = [o.key for o in self.store.iter_objects(self.store.prefix) if o.key.endswith(suffix)]
        return sorted(keys, reverse=True)  # YYYY/MM/DD/HH-MM-SS sorts as it reads

    def _read_manifest(self, key: str) -> InventoryReport:
        manifest = self.read_checked_json(
            key, key.removesuffix(".json") + ".checksum", unfinished="no checksum file beside it: the run"
        )
        where = self.store.uri(key)
        if manifest.get("status") != "Succeeded":
            raise InventoryError(f"{where}: status {manifest.get('status')!r}, not 'Succeeded'")
        try:
            rule = manifest["ruleDefinition"]
            if rule.get("objectType", "blob") != "blob":
                raise InventoryError(f"{where}: a {rule.get('objectType')!r} inventory, not a blob inventory")
            file_format = str(rule["format"]).lower()
            files = tuple(ReportFile(key=f["blob"], size_bytes=int(f["size"])) for f in manifest["files"])
            as_of = timestamp(manifest["inventoryStartTime"])
            count = (manifest.get("summary") or {}).get("objectCount")
        except (KeyError, TypeError, ValueError) as exc:
            raise InventoryError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from None
        if file_format not in ("csv", "parquet"):
            raise InventoryError(f"{where}: unknown format {file_format!r}")
        assert as_of is not None
        return InventoryReport(key, as_of, file_format, files,
                               expected_rows=int(count) if count is not None else None)

    def _key_decoder(self, report: InventoryReport) -> Callable[[Any], str | None]:
        head = f"{self.source_bucket}/"

        def key(value: Any) -> str | None:
            # Blobs of the rule's other containers are not this storage's.
            return value[len(head):] if isinstance(value, str) and value.startswith(head) else None

        return key

    def _arrow_keys(self, report: InventoryReport, keys: Any) -> Any:
        import pyarrow.compute as pc

        head = f"{self.source_bucket}/"
        ours = pc.starts_with(keys, head)
        # Null where the blob is another container's, as _key_decoder's None.
        return pc.if_else(ours, pc.utf8_slice_codeunits(keys, len(head)), None)
