"""The fast path reads common lines exactly as the careful path does; records type lazily and
never give away what they have not redacted yet."""

from __future__ import annotations

import copy
import io
import pickle
import random

import pytest

from labelbridge.compliance.accesslog import LineError, iter_records, parse_line, redact
from labelbridge.compliance.accesslog.parser import parse_careful, parse_common
from labelbridge.compliance.accesslog.record import LogRecord
from tests.compliance.accesslog.lines import HOST_ID, SIGNATURE, TOKEN, line, presigned, presigned_uri
from tests.compliance.accesslog.test_parser import TRAPS

Outcome = tuple[str, object]


def careful(text: str) -> Outcome:
    try:
        record = parse_careful(text)
    except LineError as exc:
        return ("error", str(exc))
    return ("record", (record.to_json(), record.field_count))


def parsed(text: str) -> Outcome:
    try:
        record = parse_line(text)
    except LineError as exc:
        return ("error", str(exc))
    return ("record", (record.to_json(), record.field_count))


def assert_paths_agree(text: str) -> bool:
    """parse_line says what the careful path says; the fast path says the same or passes."""
    expected = careful(text)
    assert parsed(text) == expected, text
    fast = parse_common(text)
    if fast is not None:
        assert ("record", (fast.to_json(), fast.field_count)) == expected, text
    return fast is not None


# Field values a real log (or a broken one) can hold, to mix into generated lines.
VARIANTS: dict[str, tuple[str, ...]] = {
    "remote_ip": ("192.0.2.3", "2001:db8:85a3::8a2e:370:7334", "-"),
    "requester": (
        "arn:aws:iam::123456789012:user/alice",
        "-",
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
    ),
    "key": ("images/cat.jpg", "-", "a%20b.jpg"),
    "request_uri": (
        '"GET /labels-bucket/images/cat.jpg HTTP/1.1"',
        presigned_uri(),
        presigned_uri(key_id="AKIAIOSFODNN7EXAMPLE", token=False),
        "-",
        '"-"',
        '""',
        '"GET /labels-bucket/we"ird.jpg HTTP/1.1"',
        '"GET /labels-bucket/sp ace" x.jpg HTTP/1.1"',
    ),
    "http_status": ("200", "403", "-", "2000", "20", "\u0662\u0660\u0660"),
    "error_code": ("-", "AccessDenied", "No\xa0Such", "No\tSuch"),
    "bytes_sent": ("2662992", "-", "0", "12a", "\u0661\u0662", "+5"),
    "total_time": ("70", "-", "1_000"),
    "referer": (
        '"-"',
        "-",
        '"https://label.example.com/a page with spaces"',
        '"https://app.example.com/view?u=https%3A%2F%2Fb.s3.amazonaws.com%2Fk%3FX-Amz-Signature%3Ddeadbeef%26a%3D1"',
        '"https://label.example.com/"quoted" page"',
        '""',
    ),
    "user_agent": ('"curl/7.15.1"', "-", '"aws-cli/2.15 "quoted" md/x"', '"ua?X-Amz-Signature=abc"', '""'),
    "version_id": ("-", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"),
    "signature_version": ("SigV4", "SigV2", "-", "SigV9"),
    "cipher_suite": ("ECDHE-RSA-AES128-GCM-SHA256", "-"),
    "auth_type": ("AuthHeader", "QueryString", "-", "Cookie"),
    "host_header": ("labels-bucket.s3.us-west-1.amazonaws.com", f"b.s3.amazonaws.com/k?X-Amz-Signature={SIGNATURE}"),
    "tls_version": ("TLSv1.2", "TLSV1.2", "TLSv1.1", "-"),
    "time": ("[06/Feb/2019:00:00:38 +0000]", "[06/Feb/2019:23:59:59 -0700]", "[06/Fev/2019:00:00:38 +0000]"),
}
FIELD_COUNTS = (27, 27, 27, 26, 25, 24, 18, 17, 19, 20, 12)
ENDINGS = ("", "", "\n", "\r\n", "\r", " ")


def generated_lines(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        raw = {name: rng.choice(values) for name, values in VARIANTS.items() if rng.random() < 0.3}
        extra = ("NewField", '"future field"') if rng.random() < 0.05 else ()
        out.append(line(fields=rng.choice(FIELD_COUNTS), extra=extra, **raw) + rng.choice(ENDINGS))
    return out


def mutated(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(chars) + 1)
        piece = rng.choice(['"', " ", "-", '"-"', "?", "\r", "  ", '" "', "[", "]", "1", "x", "%3D", "SigV4 "])
        if rng.random() < 0.6:
            chars[at:at] = piece
        else:
            del chars[at : at + rng.randrange(1, 6)]
    return "".join(chars)


def test_every_trap_reads_the_same_on_both_paths() -> None:
    for text, _ in TRAPS.values():
        assert_paths_agree(text)


def test_generated_and_mutated_lines_read_the_same_on_both_paths_and_most_go_fast() -> None:
    corpus = generated_lines(3000, seed=7)
    rng = random.Random(11)
    corpus += [mutated(text, rng) for text in corpus]
    fast = sum(assert_paths_agree(text) for text in corpus)
    # Enough lines take the fast path that a change making it bow out everywhere shows here.
    assert fast > len(corpus) // 10


@pytest.mark.parametrize(
    "text",
    [
        line(),
        presigned(),
        line(fields=18),
        line(fields=24),
        line(fields=25),
        line(fields=26),
        line(extra=("NewField",)),
        line(request_uri='"-"'),
        line(referer='"https://label.example.com/a page with spaces"'),
        line(remote_ip="2001:db8::1", tls_version="TLSV1.2", cipher_suite="-"),
        line() + "\r\n",
    ],
)
def test_common_lines_take_the_fast_path(text: str) -> None:
    assert parse_common(text) is not None
    assert_paths_agree(text)


@pytest.mark.parametrize(
    "text",
    [
        line(user_agent='"aws-cli/2.15 "quoted" md/x"'),
        line(request_uri='"GET /labels-bucket/we"ird.jpg HTTP/1.1"'),
        line(request_uri="-"),
        line(http_status="\u0662\u0660\u0660"),  # a Unicode digit: `\d` takes it, the fast path leaves it
        line(error_code="No\xa0Such"),
        # Nine spaces before the URI, as a common line has, but not where the fields end:
        line(time="[06/Feb/2019:00:00: 8 +0000]").replace(" images/cat.jpg ", " ", 1),
        line(key="images/cat.jpg x").replace(' x "GET', ' x"GET', 1).replace(" images/", " ", 1),
    ],
)
def test_lines_the_fast_path_leaves_to_the_careful_one(text: str) -> None:
    assert parse_common(text) is None
    assert_paths_agree(text)


class SmallReads(io.RawIOBase):
    """A stream that returns at most 97 bytes a read, as a network body may."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.data.read(min(len(buffer), 97))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_iter_records_over_small_reads_matches_the_careful_path_line_by_line() -> None:
    # Reads of 97 bytes cut lines, and the 2-byte é and 3-byte € of the user agents, anywhere.
    texts = [text.rstrip("\r\n") for text in generated_lines(300, seed=3)]
    texts[5] = line(user_agent='"caf\xe9 \u20ac"')
    texts[9] = ""
    texts[10] = "   "
    data = "\n".join(texts).encode("utf-8")
    data = data.replace(b"curl/7.15.1", b"curl/\xff.15.1", 3)  # invalid UTF-8 is replaced
    expected = []
    for line_no, text in enumerate(data.decode("utf-8", errors="replace").split("\n"), 1):
        if text.strip():
            expected.append((line_no, careful(text)))
    got = [
        (
            line_no,
            ("error", str(item)) if isinstance(item, LineError) else ("record", (item.to_json(), item.field_count)),
        )
        for line_no, item in iter_records(SmallReads(data))  # type: ignore[arg-type]
    ]
    assert got == expected
    assert got[5][0] == 6 and got[5][1][0] == "record" and "caf\xe9 \u20ac" in str(got[5][1][1])


def test_a_record_types_its_fields_on_first_read_and_keeps_no_raw_secret_after() -> None:
    record = parse_line(presigned(referer=f'"https://x.example.com/?X-Amz-Security-Token={TOKEN}"'))
    assert record.http_status == 200 and record.bytes_sent == 2662992
    assert record.request_uri is not None and record.request_uri.endswith("X-Amz-Signature=REDACTED HTTP/1.1")
    assert record.referer == "https://x.example.com/?X-Amz-Security-Token=REDACTED"
    assert record.host_id == HOST_ID and record.field_count == 27
    assert SIGNATURE not in str(record.__reduce__()) and TOKEN not in str(record.__reduce__())


@pytest.mark.parametrize("show", [repr, str, pickle.dumps, lambda r: copy.copy(r).__reduce__(), LogRecord.to_json])
def test_an_untyped_record_gives_away_no_secret(show: object) -> None:
    record = parse_line(presigned())  # nothing read yet: the raw pieces are still inside
    assert callable(show)
    shown = show(record)
    text = shown.decode("latin-1") if isinstance(shown, bytes) else str(shown)
    assert SIGNATURE not in text and TOKEN not in text and "REDACTED" in text


def test_records_compare_pickle_and_copy_by_their_typed_fields() -> None:
    record = parse_line(presigned())
    assert record == parse_careful(presigned())
    assert pickle.loads(pickle.dumps(record)) == record
    assert copy.deepcopy(record) == record and hash(copy.copy(record)) == hash(record)
    assert record != parse_line(line())


def test_a_record_has_no_attribute_outside_the_27_fields() -> None:
    record = parse_line(line())
    with pytest.raises(AttributeError) as caught:
        record.colour  # type: ignore[attr-defined]  # noqa: B018
    assert str(caught.value) == "'LogRecord' object has no attribute 'colour'"


def test_a_blank_line_is_not_a_record() -> None:
    with pytest.raises(LineError) as caught:
        parse_line("")
    assert str(caught.value) == "ends after field 1 of at least 18"


def test_redact_masks_by_position_in_the_text_even_after_characters_that_lower_to_two() -> None:
    # "İ".lower() is two characters: positions found in a lowered copy would land one short.
    assert redact("GET /\u0130/k?X-Amz-Signature=abcdef HTTP/1.1") == "GET /\u0130/k?X-Amz-Signature=REDACTED HTTP/1.1"


@pytest.mark.parametrize(
    ("time", "fast", "valid"),
    [
        ("[28/Feb/2019:23:59:59 +0000]", True, True),
        ("[31/Dec/2019:00:00:00 +0000]", True, True),
        ("[29/Feb/2020:12:00:00 +0000]", False, True),  # a leap day: the calendar decides
        ("[29/Feb/2019:12:00:00 +0000]", False, False),
        ("[31/Apr/2019:12:00:00 +0000]", False, False),
        ("[06/Feb/2019:24:00:00 +0000]", False, False),
        ("[06/Feb/2019:00:60:00 +0000]", False, False),
        ("[06/Foo/2019:00:00:00 +0000]", False, False),
        ("[06/Feb/2019:00:00:00 -0700]", False, True),  # not what S3 writes, but a time
    ],
)
def test_times_the_fast_path_reads_and_those_it_leaves_to_the_calendar(time: str, fast: bool, valid: bool) -> None:
    text = line(time=time)
    assert (parse_common(text) is not None) == fast
    assert assert_paths_agree(text) == fast
    assert (parsed(text)[0] == "record") == valid


def test_iter_records_leaves_the_callers_stream_open() -> None:
    stream = io.BytesIO((line() + "\n").encode())
    assert len(list(iter_records(stream))) == 1
    assert not stream.closed
