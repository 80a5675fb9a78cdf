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
  are replaced by ``REDACTED`` (and access key ids masked) before any field can be read (see
  :mod:`.record`: fields are typed and redacted together on first read).

Two paths: :func:`_records` reads the common line (no ``"`` inside a field) with a few C-level
splits; :func:`parse_careful` reads any line. They agree wherever the first one answers.
A line that does not parse raises :class:`LineError` with a reason that never quotes the line.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import IO

from labelbridge.compliance.accesslog.record import LogRecord, RawFields
from labelbridge.compliance.accesslog.redact import REDACTED, redact

__all__ = ["REDACTED", "LineError", "iter_records", "parse_careful", "parse_common", "parse_line", "redact"]


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
# A line with no `"` inside a field, split on `"`: see _records.
_COMMON_PARTS = 7
_NO_TIME = datetime.min  # never yielded: no line starts with the "\0" it goes with
# Fields 10-15 as the careful path reads them, but ASCII only: `[0-9]` and `[!-~]` are subsets
# of `\d` and `\S` (so a line this accepts, the careful path accepts alike) and cost half as much
# (str patterns look `\d` and `\S` up in the Unicode tables); other lines go the careful way.
_numbers_of = re.compile(r" ([0-9]{3}|-) ([!-~]+) ([0-9]+|-) ([0-9]+|-) ([0-9]+|-) ([0-9]+|-) ").fullmatch
# Fields 18+ after the user agent's quote, as the careful path accepts them: one token, or at
# least three with field 20 a signature version and, from five on, field 22 an auth type.
# The line's end may still hold its "\r\n" (stripped when the record is typed).
# Alternatives in order of frequency: most lines have all 27 fields.
_tail_is_valid = re.compile(
    r" [^ ]*(?: [^ ]* (?:SigV2|SigV4|-)(?: [^ ]*(?: (?:AuthHeader|QueryString|-)(?: |[\r\n]*\Z)|\Z)|[\r\n]*\Z)|\Z)"
).match


def parse_line(line: str) -> LogRecord:
    """Parse one line (with or without its newline).

    :raises LineError: the line is not a record; the reason names the field.
    """
    for _, item in _records(((line,),), parse_careful):
        if isinstance(item, LineError):
            raise item
        return item
    return parse_careful(line)  # a blank line: say so


def parse_common(line: str) -> LogRecord | None:
    """The fast path alone: the record of a common line (see :func:`_records`), else ``None``."""
    for _, item in _records(((line,),), _not_common):
        return None if isinstance(item, LineError) else item
    return None


def _not_common(line: str) -> LogRecord:
    raise LineError("not a common line")


def _records(
    batches: Iterable[Sequence[str]], careful: Callable[[str], LogRecord]
) -> Iterator[tuple[int, LogRecord | LineError]]:
    """``(line_no, record or error)`` for each non-blank line of consecutive batches of lines:
    common lines read here, the others by ``careful``.

    A common line has no `"` inside a field: split on `"`, it is fields 1-8 with the time, the
    URI, fields 10-15, the referer, one space, the user agent and fields 18+. Checking that
    takes a few C-level splits and counts and two short regexes, a third of what the careful
    path's search for the shape after each quote costs. Where this yields a record it is the
    one :func:`parse_careful` returns: the tests hold both to that on every trap and on
    generated and mutated lines.
    """
    # Consecutive lines mostly share owner, bucket and second: reuse the time of the last line
    # whose first four tokens this one repeats (cheaper than finding and looking them up).
    repeated, time = "\0", _NO_TIME
    line_no = 0
    for lines in batches:
        for line_no, line in enumerate(lines, line_no + 1):  # noqa: B020 - numbering goes on across batches
            parts = line.split('"')
            if len(parts) == 7:  # see _COMMON_PARTS (a literal is a cheaper load)
                head, request_uri, numbers, referer, gap, user_agent, tail = parts
                # Fields 1-8 and the two time tokens, each followed by one space (the careful path
                # cuts the line at its first nine spaces); one space between referer and agent.
                if gap == " " and head.count(" ") == 9 and head[-1:] == " ":
                    matched = _numbers_of(numbers)
                    if matched is not None and _tail_is_valid(tail) is not None:
                        if head.startswith(repeated):
                            yield line_no, LogRecord((head, matched, request_uri, referer, user_agent, tail), time)
                            continue
                        after_bucket = head.find(" ", head.find(" ") + 1)
                        new_time = _time_of(head[after_bucket + 1 : after_bucket + 30])
                        if new_time is not None:
                            repeated, time = head[: after_bucket + 30], new_time
                            yield line_no, LogRecord((head, matched, request_uri, referer, user_agent, tail), time)
                            continue
            if not line or line.isspace():
                continue
            try:
                record = careful(line)
            except LineError as exc:
                yield line_no, exc
                continue
            yield line_no, record


def parse_careful(line: str) -> LogRecord:
    """Parse any line, finding quoted fields by the shape of what follows them.

    :raises LineError: the line is not a record; the reason names the field.
    """
    head = line.rstrip("\r\n").split(" ", 9)
    if len(head) < 10:
        raise LineError(f"ends after field {_fields_seen(len(head))} of at least {MIN_FIELDS}")
    time = _parse_time(head[2], head[3])
    rest = head[9]

    # Field 9: the request URI.
    if rest[:2] == "- ":
        request_uri = "-"
        match = _AFTER_ABSENT_URI.match(rest)
        if match is None:
            raise LineError(_NO_STATUS)
    elif rest[:1] == '"':
        # The first `" ` closes the URI; else an unescaped `"` is inside it: search on.
        close = rest.find('" ', 1)
        match = _AFTER_URI.match(rest, close) if close != -1 else None
        if match is None:
            match = _AFTER_URI.search(rest, close + 1 if close != -1 else 1)
            if match is None:
                raise LineError(_NO_STATUS)
        request_uri = rest[1 : match.start()]
    else:
        raise LineError("field 9 (request_uri): expected a quoted value or -, found an unquoted one")
    rest = rest[match.end() :]

    # Field 16: the referer, which may hold spaces (and, rarely, `"`).
    if rest[:2] == "- ":
        referer = "-"
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
        rest = rest[close + 2 :]

    # Field 17: the user agent; its closing quote is the last one whose tail reads as fields 18+.
    if rest[:1] == "-" and rest[1:2] in (" ", ""):
        user_agent = "-"
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
    else:
        raise LineError("field 17 (user_agent): expected a quoted value or -")

    raw: RawFields = (head, match, request_uri, referer, user_agent, tail)
    return LogRecord(raw, time)


def _valid_tail(tail: list[str]) -> bool:
    # Fields 18+ never contain spaces or quotes; where present, fields 20 and 22 have known values.
    count = len(tail)
    if count == 1:
        return tail[0] != ""
    return count >= 3 and tail[2] in _SIGNATURE_VERSIONS and (count < 5 or tail[4] in _AUTH_TYPES)


def _fields_seen(tokens: int) -> int:
    # The time field is two space-separated tokens.
    return max(tokens - 1, 0) if tokens >= 4 else tokens


def _time_from(day_time: str, zone: str) -> datetime:
    # `[06/Feb/2019:00:00:38` `+0000]`.
    try:
        if day_time[0] != "[" or zone[-1] != "]" or len(day_time) != 21 or len(zone) != 6:
            raise ValueError
        if zone == "+0000]":  # what S3 writes: skip building an offset
            tz: timezone = UTC
        else:
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * (-1 if zone[0] == "-" else 1)
            tz = UTC if not offset else timezone(offset)
        return datetime(
            int(day_time[8:12]),
            _MONTHS[day_time[4:7]],
            int(day_time[1:3]),
            int(day_time[13:15]),
            int(day_time[16:18]),
            int(day_time[19:21]),
            tzinfo=tz,
        )
    except (ValueError, KeyError, IndexError):
        raise LineError("field 3 (time): expected [dd/Mon/yyyy:HH:MM:SS +zzzz]") from None


# Cached because a busy log repeats each second many times.
_parse_time = lru_cache(maxsize=4096)(_time_from)


@lru_cache(maxsize=4096)
def _time_of(token: str) -> datetime | None:
    # `[06/Feb/2019:00:00:38 +0000] `: fields 3 and 4 and the space after them, as _records
    # slices them; None (cached too) when that is not a time, and the careful path says why.
    if len(token) != 29 or token[21] != " " or token[28] != " " or token.count(" ") != 2:
        return None
    try:
        return _time_from(token[:21], token[22:28])
    except LineError:
        return None


# Bytes read at a time: lines are cut out of a decoded chunk with one str.split, which costs
# less than a TextIOWrapper's readline; memory stays flat at a few chunks.
_CHUNK_BYTES = 1 << 15


def iter_records(stream: IO[bytes]) -> Iterator[tuple[int, LogRecord | LineError]]:
    """``(line_no, record or error)`` for each non-blank line of a binary stream, streamed.

    Invalid UTF-8 is replaced, not fatal: a user agent can carry any bytes.
    """
    return _records(_line_batches(stream), parse_careful)


def _line_batches(stream: IO[bytes]) -> Iterator[list[str]]:
    # Lines split on "\n" only, as a TextIOWrapper with newline="\n" does (a "\r" stays, and
    # the parser strips it); the incremental decoder keeps a character cut by a chunk's end.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    unfinished = ""
    while chunk := stream.read(_CHUNK_BYTES):
        lines = decoder.decode(chunk).split("\n")
        lines[0] = unfinished + lines[0]
        unfinished = lines.pop()
        if lines:
            yield lines
    last = unfinished + decoder.decode(b"", final=True)
    if last:
        yield [last]
