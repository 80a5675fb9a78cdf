"""Which buckets the nightly check reads: every configured storage, grouped by bucket.

Sources, export targets and access-log buckets often share a bucket (``images/`` and
``exports/`` prefixes of one bucket); its settings are read once and reported per storage,
so a waiver or a report row still names the storage the team knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from labelbridge.config import Cloud, LabelbridgeConfig


@dataclass(frozen=True)
class StorageRef:
    storage: str
    role: str  # "source", "target" or "access_logs"


@dataclass(frozen=True)
class BucketTarget:
    """One bucket (or container) to read, and the configured storages on it."""

    cloud: Cloud
    conn_id: str
    bucket: str
    storages: tuple[StorageRef, ...]

    @property
    def key(self) -> str:
        """A stable file-name-safe id: ``s3-aws_default-images``."""
        return f"{self.cloud.value}-{self.conn_id}-{self.bucket}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud.value,
            "conn_id": self.conn_id,
            "bucket": self.bucket,
            "storages": [{"storage": s.storage, "role": s.role} for s in self.storages],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BucketTarget:
        return cls(
            Cloud(data["cloud"]),
            str(data["conn_id"]),
            str(data["bucket"]),
            tuple(StorageRef(str(s["storage"]), str(s["role"])) for s in data["storages"]),
        )


def bucket_targets(config: LabelbridgeConfig) -> list[BucketTarget]:
    """Every bucket behind a source, an export target or an access-log entry, in config order."""
    entries: Iterable[tuple[Cloud, str, str, StorageRef]] = [
        *((s.cloud, s.conn_id, s.bucket, StorageRef(s.name, "source")) for s in config.storages.values()),
        *((t.cloud, t.conn_id, t.bucket, StorageRef(t.name, "target")) for t in config.export_targets.values()),
        *((Cloud.S3, a.conn_id, a.bucket, StorageRef(a.name, "access_logs")) for a in config.compliance.access_logs),
    ]
    grouped: dict[tuple[Cloud, str, str], list[StorageRef]] = {}
    for cloud, conn_id, bucket, ref in entries:
        grouped.setdefault((cloud, conn_id, bucket), []).append(ref)
    return [BucketTarget(cloud, conn_id, bucket, tuple(refs)) for (cloud, conn_id, bucket), refs in grouped.items()]
