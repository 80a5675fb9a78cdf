"""SageMaker Ground Truth, through the files it exchanges in S3 (it runs nowhere but AWS).

Two jobs, each an entry point:

- :func:`write_manifest`: the project's new tasks (all with ``full``) as an input manifest
  (``source-ref`` / ``source`` JSON Lines) under ``ground_truth.manifests``; storages Ground
  Truth cannot read (GCS, Azure, another region) refused with why.
- :func:`ingest_outputs`: the jobs' output manifests under ``ground_truth.outputs``, each once,
  streamed, into ``annotation`` rows with ``origin = 'tool'`` in Label Studio's result JSON; a bad
  line quarantined with its manifest and line number.
"""

from __future__ import annotations

from labelbridge.tools.ground_truth.binding import (
    IP_RESTRICTION_HINT,
    GroundTruthBinding,
    GroundTruthError,
    StorageVerdict,
    ground_truth_config,
    judge_storages,
)
from labelbridge.tools.ground_truth.ingest import IngestCounts, IngestResult, ingest_outputs
from labelbridge.tools.ground_truth.manifest import ManifestCounts, ManifestResult, write_manifest
from labelbridge.tools.ground_truth.output import TASK_KEY, LabeledLine, parse_line

__all__ = [
    "IP_RESTRICTION_HINT",
    "TASK_KEY",
    "GroundTruthBinding",
    "GroundTruthError",
    "IngestCounts",
    "IngestResult",
    "LabeledLine",
    "ManifestCounts",
    "ManifestResult",
    "StorageVerdict",
    "ground_truth_config",
    "ingest_outputs",
    "judge_storages",
    "parse_line",
    "write_manifest",
]
