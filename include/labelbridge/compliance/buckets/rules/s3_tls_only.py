"""The bucket policy denies every request made without TLS, to the bucket and its objects."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource, s3_policy
from labelbridge.compliance.buckets.policy import bucket_arn, is_false, objects_arn
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.config import ComplianceConfig

RULE = RuleMeta(
    id="s3.tls_only",
    severity=Severity.HIGH,
    title="S3 bucket policy denies requests without TLS",
    rationale="Signed URLs and object bytes sent over plain HTTP can be read and replayed on the way.",
    remediation='Add {"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::BUCKET",'
    '"arn:aws:s3:::BUCKET/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}',
)


def evaluate(snapshot: BucketSnapshot, settings: ComplianceConfig) -> Finding:
    name = resource(snapshot)
    policy = s3_policy(snapshot)
    if policy is None:
        return Finding.failed(RULE, name, "no bucket policy, so no Deny statement for aws:SecureTransport=false")
    tls_denies = [
        s
        for s in policy.denies()
        if s.applies_to_everyone()
        and s.covers_action("s3:GetObject")
        and any(is_false(c) for c in s.conditions_on("aws:SecureTransport"))
    ]
    if not tls_denies:
        return Finding.failed(RULE, name, "no Deny statement for aws:SecureTransport=false")
    missing = [
        label
        for label, arn in (("the bucket", bucket_arn(snapshot.bucket)), ("its objects", objects_arn(snapshot.bucket)))
        if not any(s.covers_resource(arn) for s in tls_denies)
    ]
    if missing:
        return Finding.failed(
            RULE, name, f"the Deny on aws:SecureTransport=false does not cover {' or '.join(missing)}"
        )
    return Finding.passed(RULE, name, "Deny on aws:SecureTransport=false covers the bucket and its objects")
