"""The nightly bucket check for one bucket: collect, evaluate, keep the snapshot and findings.

Results go to the report sink as small JSON parts (XCom carries only counts); the report
task merges them. The snapshot is kept beside the report so anyone can replay a finding with
``labelbridge check-bucket --cloud aws SNAPSHOT.json``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from labelbridge.compliance.buckets.collectors import BucketCollector
from labelbridge.compliance.buckets.evaluate import evaluate_snapshot
from labelbridge.compliance.buckets.targets import BucketTarget
from labelbridge.compliance.model import Finding
from labelbridge.compliance.report.layout import bucket_part, bucket_snapshot
from labelbridge.compliance.report.sink import ReportSink
from labelbridge.config import ComplianceConfig
from labelbridge.secrets import redact_json

log = logging.getLogger(__name__)


def part_path(day: str, target: BucketTarget) -> str:
    return bucket_part(day, target.key)


def snapshot_path(day: str, target: BucketTarget) -> str:
    return bucket_snapshot(day, target.key)


def check_bucket(
    collector: BucketCollector, target: BucketTarget, *, settings: ComplianceConfig, sink: ReportSink, day: str
) -> dict[str, int]:
    """Read one bucket's settings, run its cloud's rules, and stage the result for the report.

    :returns: counts by status (``{"pass": 9, "fail": 2, "error": 1}``), small enough for XCom.
    """
    snapshot = collector.collect(target.bucket)
    findings = evaluate_snapshot(snapshot, settings)
    sink.write(snapshot_path(day, target), _json(snapshot.to_dict()), content_type="application/json")
    part = {"target": target.to_dict(), "findings": [f.to_dict() for f in findings]}
    sink.write(part_path(day, target), _json(part), content_type="application/json")
    counts = Counter(f.status.value for f in findings)
    log.info(
        "%s://%s: %d rules, %s",
        target.cloud.value,
        target.bucket,
        len(findings),
        ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
    )
    return dict(counts)


def read_part(sink: ReportSink, target: BucketTarget, *, day: str) -> list[Finding] | None:
    """The staged findings of one bucket, or ``None`` when its check did not complete."""
    from labelbridge.compliance.report.build import finding_from_dict

    raw = sink.read(part_path(day, target))
    if raw is None:
        return None
    return [finding_from_dict(item) for item in json.loads(raw)["findings"]]


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(redact_json(value), indent=1, sort_keys=True, default=str).encode()
