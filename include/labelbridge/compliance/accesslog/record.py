"""One S3 server-access-log record: the 27 documented fields, typed.

Field names follow AWS's "Amazon S3 server access log format" page, in order, in snake_case.
``-`` becomes ``None``; quoted fields lose their outer quotes; numbers are ``int``; ``time`` is
an aware ``datetime``. Secrets in query strings are already redacted (see :mod:`.parser`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

#: The documented fields, in log order. New fields are only ever appended by AWS.
FIELDS: tuple[str, ...] = (
    "bucket_owner",
    "bucket",
    "time",
    "remote_ip",
    "requester",
    "request_id",
    "operation",
    "key",
    "request_uri",
    "http_status",
    "error_code",
    "bytes_sent",
    "object_size",
    "total_time",
    "turn_around_time",
    "referer",
    "user_agent",
    "version_id",
    "host_id",
    "signature_version",
    "cipher_suite",
    "auth_type",
    "host_header",
    "tls_version",
    "access_point_arn",
    "acl_required",
    "source_region",
)


# A NamedTuple rather than a frozen dataclass: it is just as immutable and typed, and building
# one costs a tuple allocation, where a frozen dataclass' __init__ calls object.__setattr__ 28
# times: that alone was a third of the per-line budget of the parser.
class LogRecord(NamedTuple):
    """One parsed log line. ``field_count`` says which vintage it was (18, 24…27, or more: it
    counts space-separated tokens after the user agent, so a future quoted field with spaces
    counts for more than one)."""

    bucket_owner: str | None
    bucket: str | None
    time: datetime
    remote_ip: str | None
    requester: str | None
    request_id: str | None
    operation: str | None
    key: str | None
    request_uri: str | None
    http_status: int | None
    error_code: str | None
    bytes_sent: int | None
    object_size: int | None
    total_time: int | None
    turn_around_time: int | None
    referer: str | None
    user_agent: str | None
    version_id: str | None
    host_id: str | None
    signature_version: str | None
    cipher_suite: str | None
    auth_type: str | None
    host_header: str | None
    tls_version: str | None
    access_point_arn: str | None
    acl_required: str | None
    source_region: str | None
    field_count: int

    def to_json(self) -> dict[str, Any]:
        """The 27 fields as JSON-able values; ``time`` as ISO 8601 with its offset."""
        row: dict[str, Any] = dict(zip(FIELDS, self, strict=False))
        row["time"] = self.time.isoformat()
        return row
