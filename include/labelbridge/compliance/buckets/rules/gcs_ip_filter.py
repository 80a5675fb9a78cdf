"""A bucket IP filter is enabled: a GCS signed URL cannot carry an IP range itself."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.policy import networks
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="gcs.ip_filter",
    severity=Severity.HIGH,
    title="GCS bucket IP filtering is enabled",
    rationale="Signed URLs work from anywhere until they expire; bucket IP filtering applies to them too.",
    remediation="gcloud alpha storage buckets update gs://BUCKET --ip-filter-file=ip-filter.json (mode Enabled)",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    bucket = snapshot.get("bucket") or {}
    ip_filter = bucket.get("ipFilter") or {}
    if ip_filter.get("mode") != "Enabled":
        return Finding.failed(
            RULE, name, f"bucket IP filter {'mode ' + ip_filter['mode'] if ip_filter.get('mode') else 'not set'}"
        )
    ranges = list((ip_filter.get("publicNetworkSource") or {}).get("allowedIpCidrRanges", []))
    expected = networks(settings.allowed_cidrs)
    if expected:
        outside = [
            str(net)
            for net in networks(ranges)
            if not any(net.version == ok.version and net.subnet_of(ok) for ok in expected)  # type: ignore[arg-type]
        ]
        if outside:
            return Finding.failed(RULE, name, f"IP filter allows {', '.join(outside)}, outside allowed_cidrs")
    return Finding.passed(RULE, name, f"IP filter enabled ({len(ranges)} public ranges)")
