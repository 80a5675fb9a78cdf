"""Parse S3 server-access-log lines, every vintage, with the traps real logs hold.

Format: AWS's "Amazon S3 server access log format" page. The traps handled here:

- a line may end after field 18, 24, 25, 26 or 27; fields AWS appends later are ignored;
- the request URI, referer and user agent are quoted but embedded ``"`` are **not** escaped,
  and the referer may hold spaces: quoted fields are delimited by the shape of what follows
  them, never by the next ``"``;
- an absent request URI is ``-`` or ``"-"``; any field may be ``-``;
- remote IPs may be IPv6; TLS versions come as ``TLSv1.2`` or ``TLSV1.2``;
- presigned URLs in the URI (and in referers, and wherever an emulator puts them) carry
  replayable signatures and session tokens: in every field that can hold a query string they
  are replaced by ``REDACTED`` (and access key ids masked) before the record leaves the parser.

A line that does not parse raises :class:`LineError` with a reason that never quotes the line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import IO

from labelbridge.compliance.accesslog.record import LogRecord

REDACTED = "REDACTED"

# Parameter values that let someone replay the request: SigV4's X-Amz-Signature and
# X-Amz-Security-Token, SigV2's Signature (and x-amz-security-token), GCS's X-Goog-Signature.
# Matched raw (`name=value&`) and URL-encoded inside a referer (`name%3Dvalue%26`), in any case.
_SECRET_NEEDLES = ("signature=", "signature%3d", "security-token=", "security-token%3d")
# The access key id in X-Amz-Credential (SigV4) or AWSAccessKeyId (SigV2) is an identifier, not a
# secret, but reports are read widely: keep its type prefix (AKIA long-term, ASIA temporary) and
# last four characters, which is what the rules and whoever deactivates the key need.
_KEY_ID_NEEDLES = ("x-amz-credential=", "x-amz-credential%3d", "awsaccesskeyid=", "awsaccesskeyid%3d")
_KEY_ID_SHOWN = 4


def redact(text: str) -> str:
    """``text`` with signature / security-token values replaced by ``REDACTED`` and access key
    ids masked to ``AKIA************MPLE``."""
    # Secrets live in query strings, after a raw `?` (a signed URL linked from a referer sits,
    # encoded, inside the referer's own query). A one-character scan is memchr-fast and settles
    # most values; str.find on a lowered copy does the rest (an IGNORECASE regex cost 30x more).
    if "?" not in text:
        return text
    lowered = text.lower()
    if not any(word in lowered for word in ("signature", "security-token", "credential", "accesskeyid")):
        return text
    edits: list[tuple[int, int, str]] = []
    for needle in _SECRET_NEEDLES:
        for start, end in _values(lowered, needle):
            edits.append((start, end, REDACTED))
    for needle in _KEY_ID_NEEDLES:
        for start, end in _values(lowered, needle):
            # The key id ends at the credential scope's first `/`, raw or encoded.
            key_end = min(
                (at for at in (lowered.find("/", start, end), lowered.find("%2f", start, end)) if at != -1), default=end
            )
            if key_end - start > 2 * _KEY_ID_SHOWN:
                shown = text[start : start + _KEY_ID_SHOWN]
                hidden = "*" * (key_end - start - 2 * _KEY_ID_SHOWN)
                edits.append((start, key_end, shown + hidden + text[key_end - _KEY_ID_SHOWN : key_end]))
    if not edits:
        return text
    pieces: list[str] = []
    last = 0
    for start, end, replacement in sorted(edits):
        pieces += (text[last:start], replacement)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _values(lowered: str, needle: str) -> Iterator[tuple[int, int]]:
    at = lowered.find(needle)
    while at != -1:
        value = at + len(needle)
        end = _value_end(lowered, value, encoded=needle.endswith("%3d"))
        if end > value:
            yield value, end
        at = lowered.find(needle, value)


def _value_end(lowered: str, start: int, *, encoded: bool) -> int:
    end = len(lowered)
    for stop in ("&", " ", '"', "%26") if encoded else ("&", " ", '"'):
        found = lowered.find(stop, start, end)
        if found != -1:
            end = found
    return end


class LineError(ValueError):
    """A line that is not an S3 access-log record; the message names the field, not the text."""


# After the request URI's closing quote: status, error code and four numbers (or -). Searching
# for this shape, rather than for the next `"`, is what survives an unescaped `"` inside the URI.
_STATUS_TO_REFERER = r" (\d{3}|-) (\S+) (\d+|-) (\d+|-) (\d+|-) (\d+|-) "
_AFTER_URI = re.compile('"' + _STATUS_TO_REFERER)
_AFTER_ABSENT_URI = re.compile("-" + _STATUS_TO_REFERER)
_NO_STATUS = "fields 10-15: expected status, error code and four numbers or - after the request URI"
_AFTER_REFERER = re.compile(r'" (?=["-])')
_SIGNATURE_VERSIONS = frozenset({"SigV2", "SigV4", "-"})
_AUTH_TYPES = frozenset({"AuthHeader", "QueryString", "-"})
_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
MIN_FIELDS = 18


def parse_line(line: str) -> LogRecord:
    """Parse one line (with or without its newline).

    :raises LineError: the line is not a record; the reason names the field.
    """
    head = line.rstrip("\r\n").split(" ", 9)
    if len(head) < 10:
        raise LineError(f"ends after field {_fields_seen(len(head))} of at least {MIN_FIELDS}")
    time = _parse_time(head[2], head[3])
    rest = head[9]

    # Field 9: the request URI.
    if rest[:2] == "- ":
        request_uri = None
        match = _AFTER_ABSENT_URI.match(rest)
        if match is None:
            raise LineError(_NO_STATUS)
    elif rest[:1] == '"':
        # Fast path: the first `" ` closes the URI; else an unescaped `"` is inside it: search on.
        close = rest.find('" ', 1)
        match = _AFTER_URI.match(rest, close) if close != -1 else None
        if match is None:
            match = _AFTER_URI.search(rest, close + 1 if close != -1 else 1)
            if match is None:
                raise LineError(_NO_STATUS)
        request_uri = rest[1 : match.start()]
        if request_uri == "-":
            request_uri = None
        elif "?" in request_uri:
            request_uri = redact(request_uri)
    else:
        raise LineError("field 9 (request_uri): expected a quoted value or -, found an unquoted one")
    status, error_code, bytes_sent, object_size, total_time, turn_around = match.groups()
    rest = rest[match.end() :]

    # Field 16: the referer, which may hold spaces (and, rarely, `"`).
    if rest[:2] == "- ":
        referer = None
        rest = rest[2:]
    else:
        close = rest.find('" ', 1)
        if rest[:1] != '"' or close == -1:
            raise LineError("field 16 (referer): expected a quoted value or -")
        if rest[close + 2 : close + 3] not in ('"', "-"):
            # Either the referer holds `" ` itself, or the user agent is not quoted.
            found = _AFTER_REFERER.search(rest, close + 1)
            if found is None:
                raise LineError("field 17 (user_agent): expected a quoted value or -")
            close = found.start()
        referer = rest[1:close]
        if "?" in referer:
            referer = redact(referer)
        rest = rest[close + 2 :]

    # Field 17: the user agent; its closing quote is the last one whose tail reads as fields 18+.
    if rest[:1] == "-" and rest[1:2] in (" ", ""):
        user_agent = None
        tail = rest[2:].split(" ")
        if not _valid_tail(tail):
            raise LineError("fields 18+: signature version or authentication type out of place")
    elif rest[:1] == '"':
        close = len(rest)
        while True:
            close = rest.rfind('"', 1, close)
            if close == -1:
                if rest.endswith('"'):
                    raise LineError(f"ends after field 17 of at least {MIN_FIELDS}")
                raise LineError("field 17 (user_agent): no closing quote followed by fields 18+")
            if rest[close + 1 : close + 2] == " ":
                tail = rest[close + 2 :].split(" ")
                # Fields 18+ hold no spaces or quotes; where present, 20 and 22 have known values.
                count = len(tail)
                if count == 1 or (
                    count >= 3 and tail[2] in _SIGNATURE_VERSIONS and (count < 5 or tail[4] in _AUTH_TYPES)
                ):
                    break
        user_agent = rest[1:close]
        if "?" in user_agent:
            user_agent = redact(user_agent)
    else:
        raise LineError("field 17 (user_agent): expected a quoted value or -")

    fields = 17 + len(tail)
    if fields < 27:
        tail += _MISSING[fields - 17 :]
    h0, h1, _, _, h4, h5, h6, h7, h8, _ = head
    t0, t1, t2, t3, t4, t5, t6, t7, t8, t9 = tail[:10]
    if "?" in t5:
        # An emulator has been seen writing the whole signed URL into the host header field.
        t5 = redact(t5)
    # Inlined `- -> None` tests: a helper call per field, or a map() over dict.get, cost more.
    return LogRecord(
        None if h0 == "-" else h0,
        None if h1 == "-" else h1,
        time,
        None if h4 == "-" else h4,
        None if h5 == "-" else h5,
        None if h6 == "-" else h6,
        None if h7 == "-" else h7,
        None if h8 == "-" else h8,
        request_uri,
        None if status == "-" else int(status),
        None if error_code == "-" else error_code,
        None if bytes_sent == "-" else int(bytes_sent),
        None if object_size == "-" else int(object_size),
        None if total_time == "-" else int(total_time),
        None if turn_around == "-" else int(turn_around),
        None if referer == "-" else referer,
        None if user_agent == "-" else user_agent,
        None if t0 == "-" else t0,
        None if t1 == "-" else t1,
        None if t2 == "-" else t2,
        None if t3 == "-" else t3,
        None if t4 == "-" else t4,
        None if t5 == "-" else t5,
        None if t6 == "-" else t6,
        None if t7 == "-" else t7,
        None if t8 == "-" else t8,
        None if t9 == "-" else t9,
        fields,
    )


_MISSING: list[str] = ["-"] * 10


def _valid_tail(tail: list[str]) -> bool:
    # Fields 18+ never contain spaces or quotes; where present, fields 20 and 22 have known values.
    count = len(tail)
    if count == 1:
        return tail[0] != ""
    return count >= 3 and tail[2] in _SIGNATURE_VERSIONS and (count < 5 or tail[4] in _AUTH_TYPES)


def _fields_seen(tokens: int) -> int:
    # The time field is two space-separated tokens.
    return max(tokens - 1, 0) if tokens >= 4 else tokens


@lru_cache(maxsize=4096)
def _parse_time(day_time: str, zone: str) -> datetime:
    # `[06/Feb/2019:00:00:38` `+0000]`; cached because a busy log repeats each second many times.
    try:
        if day_time[0] != "[" or zone[-1] != "]" or len(day_time) != 21 or len(zone) != 6:
            raise ValueError
        sign = -1 if zone[0] == "-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        return datetime(
            int(day_time[8:12]),
            _MONTHS[day_time[4:7]],
            int(day_time[1:3]),
            int(day_time[13:15]),
            int(day_time[16:18]),
            int(day_time[19:21]),
            tzinfo=UTC if not offset else timezone(offset),
        )
    except (ValueError, KeyError, IndexError):
        raise LineError("field 3 (time): expected [dd/Mon/yyyy:HH:MM:SS +zzzz]") from None


def iter_records(stream: IO[bytes]) -> Iterator[tuple[int, LogRecord | LineError]]:
    """``(line_no, record or error)`` for each non-blank line of a binary stream, streamed.

    Invalid UTF-8 is replaced, not fatal: a user agent can carry any bytes.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="\n")
    try:
        for line_no, line in enumerate(text, 1):
            if not line.strip():
                continue
            try:
                yield line_no, parse_line(line)
            except LineError as exc:
                yield line_no, exc
    finally:
        text.detach()
