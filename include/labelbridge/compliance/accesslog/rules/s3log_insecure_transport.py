"""Requests must use TLS 1.2 or newer."""

from __future__ import annotations

from labelbridge.compliance.accesslog.rules.base import (
    Hit,
    Offence,
    Request,
    RuleContext,
    bucket_resource,
    plural,
    span,
)
from labelbridge.compliance.model import RuleMeta, Severity

RULE = RuleMeta(
    id="s3log.insecure_transport",
    severity=Severity.HIGH,
    title="Requests use TLS 1.2 or newer",
    rationale="Plain HTTP or old TLS exposes keys, presigned URLs and data in transit.",
    remediation="Deny aws:SecureTransport=false and require s3:TlsVersion >= 1.2 in the bucket policy.",
)

# Logs end after field 18 before 2019: no cipher or TLS field, nothing to judge.
_FIELDS_WITH_TLS = 24


def check(request: Request, ctx: RuleContext) -> Hit | None:
    record = request.record
    if not request.client or record.field_count < _FIELDS_WITH_TLS:
        return None
    if record.tls_version is None:
        if record.cipher_suite is None:
            return Hit(bucket_resource(record, f" from {record.remote_ip}"), note="plain HTTP")
        return None
    if tls_below_1_2(record.tls_version):
        return Hit(bucket_resource(record, f" from {record.remote_ip}"), note=record.tls_version)
    return None


def tls_below_1_2(version: str) -> bool:
    """``TLSv1`` / ``TLSV1.1`` → True; ``TLSv1.2`` / ``TLSV1.3`` → False (AWS logs both cases)."""
    number = version.lower().removeprefix("tlsv")
    major, _, minor = number.partition(".")
    if not major.isdigit() or not (minor or "0").isdigit():
        return False
    return (int(major), int(minor or 0)) < (1, 2)


def describe(offence: Offence, ctx: RuleContext) -> str:
    seen = ", ".join(offence.notes)
    return f"{plural(offence.requests, 'request')} over {seen} {span(offence)}"
