"""No CORS entry allows any origin, nor (with ``compliance.allowed_origins``) one not listed."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource, stray_origins
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="gcs.cors_restricted",
    severity=Severity.MEDIUM,
    title="GCS CORS names its origins",
    rationale='origin "*" lets any web page use a leaked signed URL from a user\'s browser.',
    remediation="gcloud storage buckets update gs://BUCKET --cors-file=cors.json listing your labeling UI's origins",
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    bucket = snapshot.get("bucket") or {}
    entries = bucket.get("cors") or []
    wild = [entry for entry in entries if stray_origins(entry.get("origin", []), settings.allowed_origins)]
    if wild:
        methods = sorted({m.upper() for entry in wild for m in entry.get("method", [])})
        stray = stray_origins([o for entry in wild for o in entry.get("origin", [])], settings.allowed_origins)
        detail = f"a CORS entry allows origin {', '.join(stray)}"
        return Finding.failed(RULE, name, detail + (f" for {', '.join(methods)}" if methods else ""))
    return Finding.passed(
        RULE, name, "no CORS configuration" if not entries else "every CORS entry names its allowed origins"
    )
