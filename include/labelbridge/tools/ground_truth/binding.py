"""A labeling project bound to its Ground Truth manifests, and which of its storages Ground Truth can read.

Ground Truth reads the manifest and every object through the labeling job's own IAM role, in the
job's region only. A GCS or Azure storage, or an S3 bucket in another region, cannot be served:
its tasks are refused (left out of the manifest, counted, said why), never silently written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from labelbridge.clouds import Cloud
from labelbridge.config import GroundTruthConfig, ProjectConfig, StorageConfig
from labelbridge.errors import AnnotationToolError, ConfigError, StorageError
from labelbridge.storage import ObjectStore
from labelbridge.tools.base import ToolBinding

log = logging.getLogger(__name__)

#: How Ground Truth users keep the objects private to their workforce: the compliance rule that checks it.
IP_RESTRICTION_HINT = (
    "Ground Truth's workers fetch objects through presigned URLs it makes itself; to keep them to your "
    "workforce's networks, restrict the bucket policy with aws:SourceIp / aws:VpcSourceIp (checked by the "
    "compliance rule s3.ip_restricted; see docs/ground-truth.md)"
)


class GroundTruthError(AnnotationToolError):
    """Ground Truth cannot be given this project's tasks, or its output cannot be read."""


class GroundTruthBinding(ToolBinding):
    """tool_project rows of Ground Truth: ``remote_project`` is the manifests location."""

    tool = "ground_truth"


@dataclass(frozen=True)
class StorageVerdict:
    """Whether Ground Truth can read one of the project's storages, and if not, why."""

    storage: str
    head: str  # the canonical URI start of its objects, e.g. ``s3://bucket/``
    servable: bool
    reason: str = ""


def ground_truth_config(project: ProjectConfig) -> GroundTruthConfig:
    if project.ground_truth is None:
        raise ConfigError(f"project {project.name!r} has no ground_truth section in storages.yaml")
    return project.ground_truth


def bucket_region(client: Any, bucket: str) -> str:
    """The bucket's region (``GetBucketLocation``: no constraint means us-east-1)."""
    answer = client.get_bucket_location(Bucket=bucket)
    return str(answer.get("LocationConstraint") or "us-east-1")


def judge_storages(
    gt: GroundTruthConfig, stores: list[tuple[StorageConfig, ObjectStore]]
) -> list[StorageVerdict]:
    """Each storage of the project: servable by Ground Truth in ``gt.region``, or refused and why."""
    verdicts = []
    for storage, store in stores:
        head = store.uri("")
        if storage.cloud is not Cloud.S3:
            verdicts.append(StorageVerdict(storage.name, head, False, (
                f"storage {storage.name!r} is on {storage.cloud.value}: Ground Truth reads only S3 buckets in "
                f"its job's region ({gt.region}), through the job's IAM role; copy these objects to such a bucket"
            )))  # fmt: skip
            continue
        try:
            region = bucket_region(store.client, storage.bucket)
        except Exception as exc:  # the SDK's error, made a one-liner by the store
            failure = store._failure(exc, "get location of", "", error=StorageError)
            if failure is None:
                raise
            raise failure from None
        if region != gt.region:
            verdicts.append(StorageVerdict(storage.name, head, False, (
                f"storage {storage.name!r}: bucket {storage.bucket!r} is in {region}, the labeling jobs in "
                f"{gt.region}; Ground Truth reads only buckets in its job's region"
            )))  # fmt: skip
            continue
        verdicts.append(StorageVerdict(storage.name, head, True))
    return verdicts
