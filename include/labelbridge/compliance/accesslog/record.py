"""One S3 server-access-log record: the 27 documented fields, typed on first read.

Field names follow AWS's "Amazon S3 server access log format" page, in order, in snake_case.
``-`` becomes ``None``; quoted fields lose their outer quotes; numbers are ``int``; ``time`` is
an aware ``datetime``; signatures, session tokens and access key ids in query strings are
redacted (see :mod:`.redact`).

The parser checks a whole line (every field where it must be, the numbers digits, the time a
time) and hands over its raw pieces; the other 26 fields are typed and redacted together, once,
when the first of them is read. Typing them one by one was two thirds of the parser's time;
this way a reader that only counts or skips records never pays it, and one that reads any
field pays it once and then reads plain slots.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeAlias

from labelbridge.compliance.accesslog.redact import redact

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

#: What the parser hands over, unredacted, as the line held it: the match of a common line,
#: whose 18 groups are these fields, or these fields themselves:
#: - fields 1-8, with the time (fields 3 and 4) in one slot: in a match, the text of a time the
#:   parser checked (``[06/Feb/2019:00:00:38 +0000] ``), else the ``datetime`` it read;
#: - the request URI, without its quotes (``-`` when absent);
#: - fields 10-15 (status, error code, four numbers: already checked);
#: - the referer and user agent, without their quotes;
#: - fields 18+: ``" version host-id …"`` with its leading space (and maybe the line's
#:   ``\r\n``), or the list of those tokens.
CarefulFields: TypeAlias = tuple[
    str, str, datetime, str, str, str, str, str, str, str, str, str, str, str, str, str, str, list[str]
]
RawFields: TypeAlias = "re.Match[str] | CarefulFields"

_TRAILING_FIELDS = 10  # fields 18-27
_ABSENT = ["-"] * _TRAILING_FIELDS
_TYPED_ON_READ = frozenset(FIELDS) | {"field_count"}
MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_all_fields = attrgetter(*FIELDS)


class LogRecord:
    """One parsed log line; read-only by contract (the parser builds it, nothing else writes).

    ``field_count`` says which vintage it was (18, 24…27, or more: it counts space-separated
    tokens after the user agent, so a future quoted field with spaces counts for more than one).
    """

    __slots__ = (*FIELDS, "field_count", "_raw")

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
    _raw: RawFields | None

    def __init__(self, raw: RawFields) -> None:
        self._raw = raw

    if not TYPE_CHECKING:  # mypy keeps checking attribute names as if this did not exist

        def __getattr__(self, name: str) -> Any:
            # Python calls this only for a slot not yet set: a field read before typing.
            if name in _TYPED_ON_READ and self._raw is not None:
                self._type_fields()
                return object.__getattribute__(self, name)
            raise AttributeError(f"'LogRecord' object has no attribute {name!r}")

    def _type_fields(self) -> None:
        raw = self._raw
        if raw is None:
            return
        tail: list[str]
        if isinstance(raw, re.Match):
            (h0, h1, time_text, h4, h5, h6, h7, h8, request_uri, status, error_code, bytes_sent, object_size,
             total_time, turn_around, referer, user_agent, tail_text) = raw.groups()
            self.time = _utc_time(time_text)
            tail = tail_text[1:].rstrip("\r\n").split(" ")
        else:
            (h0, h1, self.time, h4, h5, h6, h7, h8, request_uri, status, error_code, bytes_sent, object_size,
             total_time, turn_around, referer, user_agent, tail) = raw
        self.field_count = 17 + len(tail)
        if len(tail) < _TRAILING_FIELDS:
            tail = tail + _ABSENT[len(tail) :]
        t0, t1, t2, t3, t4, t5, t6, t7, t8, t9 = tail[:_TRAILING_FIELDS]
        # Inlined `- -> None` tests: a helper call per field cost a third more.
        self.bucket_owner = None if h0 == "-" else h0
        self.bucket = None if h1 == "-" else h1
        self.remote_ip = None if h4 == "-" else h4
        self.requester = None if h5 == "-" else h5
        self.request_id = None if h6 == "-" else h6
        self.operation = None if h7 == "-" else h7
        self.key = None if h8 == "-" else h8
        # The fields that can carry a query string (an emulator has been seen writing the whole
        # signed URL into the host header) are redacted; a `?` is the cheap test for one.
        self.request_uri = None if request_uri == "-" else redact(request_uri) if "?" in request_uri else request_uri
        self.http_status = None if status == "-" else int(status)
        self.error_code = None if error_code == "-" else error_code
        self.bytes_sent = None if bytes_sent == "-" else int(bytes_sent)
        self.object_size = None if object_size == "-" else int(object_size)
        self.total_time = None if total_time == "-" else int(total_time)
        self.turn_around_time = None if turn_around == "-" else int(turn_around)
        self.referer = None if referer == "-" else redact(referer) if "?" in referer else referer
        self.user_agent = None if user_agent == "-" else redact(user_agent) if "?" in user_agent else user_agent
        self.version_id = None if t0 == "-" else t0
        self.host_id = None if t1 == "-" else t1
        self.signature_version = None if t2 == "-" else t2
        self.cipher_suite = None if t3 == "-" else t3
        self.auth_type = None if t4 == "-" else t4
        self.host_header = None if t5 == "-" else redact(t5) if "?" in t5 else t5
        self.tls_version = None if t6 == "-" else t6
        self.access_point_arn = None if t7 == "-" else t7
        self.acl_required = None if t8 == "-" else t8
        self.source_region = None if t9 == "-" else t9
        # Drop the unredacted pieces as soon as they are no longer needed.
        self._raw = None

    def values(self) -> tuple[Any, ...]:
        """The 27 fields, typed, in log order."""
        if self._raw is not None:
            self._type_fields()  # directly: cheaper than the first read's AttributeError
        values: tuple[Any, ...] = _all_fields(self)
        return values

    def to_json(self) -> dict[str, Any]:
        """The 27 fields as JSON-able values; ``time`` as ISO 8601 with its offset."""
        row: dict[str, Any] = dict(zip(FIELDS, self.values(), strict=False))
        row["time"] = self.time.isoformat()
        return row

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogRecord):
            return NotImplemented
        return self.field_count == other.field_count and self.values() == other.values()

    def __hash__(self) -> int:
        return hash((self.values(), self.field_count))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(FIELDS, self.values(), strict=True))
        return f"LogRecord({fields}, field_count={self.field_count})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle and copy the typed, redacted values: the default would carry the raw pieces.
        return _typed_record, (self.values(), self.field_count)


@lru_cache(maxsize=4096)  # a busy log repeats each second many times
def _utc_time(text: str) -> datetime:
    # `[06/Feb/2019:00:00:38 +0000] `, a valid UTC time as the parser's pattern checked it.
    return datetime(
        int(text[8:12]), MONTHS[text[4:7]], int(text[1:3]), int(text[13:15]), int(text[16:18]), int(text[19:21]),
        tzinfo=UTC,
    )


def _typed_record(values: tuple[Any, ...], field_count: int) -> LogRecord:
    record = LogRecord.__new__(LogRecord)
    record._raw = None
    record.field_count = field_count
    for name, value in zip(FIELDS, values, strict=True):
        setattr(record, name, value)
    return record
