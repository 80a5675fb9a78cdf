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

Two paths: :func:`_records` reads the common line (no ``"`` inside a field) with one regular
expression match; :func:`parse_careful` reads any line. They agree wherever the first one answers.
A line that does not parse raises :class:`LineError` with a reason that never quotes the line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from itertools import count
from typing import IO, cast

from labelbridge.compliance.accesslog.record import MONTHS, LogRecord, RawFields
from labelbridge.compliance.accesslog.redact import REDACTED, redact
from labelbridge.errors import ComplianceInputError
from labelbridge.progress import NO_PROGRESS, Progress

__all__ = ["REDACTED", "LineError", "iter_records", "parse_careful", "parse_common", "parse_line", "redact"]


class LineError(ComplianceInputError, ValueError):
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
MIN_FIELDS = 18
# The common line, whole, in one match: fields 1-8 as nine space-separated tokens, the time
# (fields 3 and 4) a valid one in UTC, as S3 writes it (a 29th of February, or another zone,
# is left to the careful path, which asks the calendar), the request URI,
# referer and user agent quoted with no `"` inside, and fields 18+ holding no `"` at all, one
# token or at least three with field 20 a signature version and, from five on, field 22 an
# auth type. That is the careful path's reading wherever this matches (the tests hold both to
# it on every trap and on generated and mutated lines); other lines go the careful way.
# Only "anything but one character" loops (`[^ ]`, `[^"]`), which the regex engine runs as tight
# C loops (a class such as `[^ "]` costs twice as much per character), and possessive (`*+`): none
# of them can give back a character and still match, and not keeping the states to try costs a
# fifth less. Fields 10-15 are ASCII here (`[0-9]`, `[!-~]`): subsets of the careful path's `\d`
# and `\S`, which look characters up in the Unicode tables. The line's end may still hold its "\r\n".
_DAY_MONTH = (
    "(?:(?:0[1-9]|1[0-9]|2[0-8])/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    "|(?:29|30)/(?:Jan|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)|31/(?:Jan|Mar|May|Jul|Aug|Oct|Dec))"
)
_TAIL_SHAPE = (
    r" [^ ]*+(?: [^ ]*+ (?:SigV2|SigV4|-)(?: [^ ]*+(?: (?:AuthHeader|QueryString|-)(?: |[\r\n]*\Z)|\Z)|[\r\n]*\Z)|\Z)"
)
_common_match = re.compile(
    r"([^ ]*+) ([^ ]*+) (\[" + _DAY_MONTH + r"/[1-9][0-9]{3}:(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] \+0000\] )"
    r'([^ ]*+) ([^ ]*+) ([^ ]*+) ([^ ]*+) ([^ ]*+) '
    r'"([^"]*+)" ([0-9]{3}|-) ([!-~]++) ([0-9]++|-) ([0-9]++|-) ([0-9]++|-) ([0-9]++|-) "([^"]*+)" "([^"]*+)"'
    r"(?=" + _TAIL_SHAPE + r')( [^"]*+)\Z'
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
    common lines read here, with one match each (see ``_common_match``), the others by ``careful``.
    """
    first = 1  # the number of the batch's first line
    for lines in batches:
        # One match per line, called from C; a record types itself when first read. The runs of
        # common lines between others go out from C too (zip and map): a Python loop per line
        # cost a tenth of the parse.
        matches = list(map(_common_match, lines))
        start, end = 0, len(lines)
        while start < end:
            try:
                stop = matches.index(None, start)
            except ValueError:
                stop = end
            run = cast("list[re.Match[str]]", matches[start:stop])  # no None before stop
            yield from zip(count(first + start), map(LogRecord, run))
            if stop < end:
                line = lines[stop]
                if line and not line.isspace():
                    try:
                        yield first + stop, careful(line)
                    except LineError as exc:
                        yield first + stop, exc
            start = stop + 1
        first += end


def parse_careful(line: str) -> LogRecord:
    """Parse any line, finding quoted fields by the shape of what follows them.

    :raises LineError: the line is not a record; the reason names the field.
    """
    head = line.rstrip("\r\n").split(" ", 9)
    if len(head) < 10:
        raise LineError(f"ends after field {_fields_seen(len(head))} of at least {MIN_FIELDS}")
    time = _parse_time(head[2], head[3])
    request_uri, match, rest = _request_uri(head[9])
    referer, rest = _referer(rest)
    user_agent, tail = _user_agent(rest)
    status, error_code, bytes_sent, object_size, total_time, turn_around = match.groups()
    raw: RawFields = (
        head[0], head[1], time, head[4], head[5], head[6], head[7], head[8], request_uri,
        status, error_code, bytes_sent, object_size, total_time, turn_around, referer, user_agent, tail,
    )  # fmt: skip
    return LogRecord(raw)


def _request_uri(rest: str) -> tuple[str, re.Match[str], str]:
    """Field 9, the request URI, and fields 10-15 after it (``match``'s groups); then the rest."""
    if rest[:2] == "- ":
        match = _AFTER_ABSENT_URI.match(rest)
        if match is None:
            raise LineError(_NO_STATUS)
        return "-", match, rest[match.end() :]
    if rest[:1] != '"':
        raise LineError("field 9 (request_uri): expected a quoted value or -, found an unquoted one")
    # The first `" ` closes the URI; else an unescaped `"` is inside it: search on.
    close = rest.find('" ', 1)
    match = _AFTER_URI.match(rest, close) if close != -1 else None
    if match is None:
        match = _AFTER_URI.search(rest, close + 1 if close != -1 else 1)
        if match is None:
            raise LineError(_NO_STATUS)
    return rest[1 : match.start()], match, rest[match.end() :]


def _referer(rest: str) -> tuple[str, str]:
    """Field 16, the referer, which may hold spaces (and, rarely, `"`); then the rest."""
    if rest[:2] == "- ":
        return "-", rest[2:]
    close = rest.find('" ', 1)
    if rest[:1] != '"' or close == -1:
        raise LineError("field 16 (referer): expected a quoted value or -")
    if rest[close + 2 : close + 3] not in ('"', "-"):
        # Either the referer holds `" ` itself, or the user agent is not quoted.
        found = _AFTER_REFERER.search(rest, close + 1)
        if found is None:
            raise LineError("field 17 (user_agent): expected a quoted value or -")
        close = found.start()
    return rest[1:close], rest[close + 2 :]


def _user_agent(rest: str) -> tuple[str, list[str]]:
    """Field 17, the user agent, and fields 18+; its closing quote is the last one whose tail
    reads as fields 18+."""
    if rest[:1] == "-" and rest[1:2] in (" ", ""):
        tail = rest[2:].split(" ")
        if not _valid_tail(tail, empty_field_18=False):
            raise LineError("fields 18+: signature version or authentication type out of place")
        return "-", tail
    if rest[:1] != '"':
        raise LineError("field 17 (user_agent): expected a quoted value or -")
    close = len(rest)
    while True:
        close = rest.rfind('"', 1, close)
        if close == -1:
            if rest.endswith('"'):
                raise LineError(f"ends after field 17 of at least {MIN_FIELDS}")
            raise LineError("field 17 (user_agent): no closing quote followed by fields 18+")
        if rest[close + 1 : close + 2] == " ":
            tail = rest[close + 2 :].split(" ")
            if _valid_tail(tail, empty_field_18=True):
                return rest[1:close], tail


def _valid_tail(tail: list[str], *, empty_field_18: bool) -> bool:
    # Fields 18+ never contain spaces or quotes; where present, fields 20 and 22 have known values.
    # A quoted user agent followed by a space and nothing reads as an empty field 18, as the
    # fast path (_TAIL_SHAPE) reads it; after an unquoted "-" that is a line cut short, refused.
    count = len(tail)
    if count == 1:
        return empty_field_18 or tail[0] != ""
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
            MONTHS[day_time[4:7]],
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


# Characters read at a time: a hint to readlines, which cuts whole lines out of what the
# stream's decoder gives; memory stays flat at a batch of lines.
_BATCH_CHARS = 1 << 16


def iter_records(
    stream: IO[bytes], *, progress: Progress = NO_PROGRESS
) -> Iterator[tuple[int, LogRecord | LineError]]:
    """``(line_no, record or error)`` for each non-blank line of a binary stream, streamed.

    Invalid UTF-8 is replaced, not fatal: a user agent can carry any bytes.

    :param progress: advanced by the lines of each batch read (blank ones too) once it is handled.
    """
    return _records(_line_batches(stream, progress), parse_careful)


def _line_batches(stream: IO[bytes], progress: Progress = NO_PROGRESS) -> Iterator[list[str]]:
    # Lines split on "\n" only (a "\r" stays, and the parser strips it). The text layer keeps a
    # character cut by a read's end, and costs less than splitting decoded chunks here; it is
    # detached at the end so that the caller's stream is not closed with it.
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="\n")
    try:
        while lines := text.readlines(_BATCH_CHARS):
            yield lines
            progress.advance(len(lines))
    finally:
        text.detach()
