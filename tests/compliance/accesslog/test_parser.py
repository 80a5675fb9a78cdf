"""The parser against AWS's documented format and every trap real logs hold."""

from __future__ import annotations

import io
import re

import pytest

from labelbridge.compliance.accesslog import FIELDS, LineError, iter_records, parse_line, redact
from tests.compliance.accesslog.lines import SIGNATURE, TOKEN, line, presigned

# The RegexSerDe `input.regex` of the table AWS documents for Athena, verbatim from
# awsdocs/amazon-s3-userguide doc_source/using-s3-access-logs-to-identify-requests.md (the
# aclRequired edition), with the SQL string's `\\[` and `\"` unescaped for Python:
#   '([^ ]*) ([^ ]*) \\[(.*?)\\] ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) (\"[^\"]*\"|-) (-|[0-9]*)
#    ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) (\"[^\"]*\"|-) ([^ ]*)(?: ([^ ]*) ([^ ]*)
#    ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*))?.*$'
ATHENA_REGEX = re.compile(
    r'([^ ]*) ([^ ]*) \[(.*?)\] ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) (-|[0-9]*) ([^ ]*) ([^ ]*) '
    r'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) ([^ ]*)(?: ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) '
    r"([^ ]*) ([^ ]*))?.*$"
)
# Its table's columns, in group order. Note: group 16 (referrer) is `([^ ]*)`, group 17 (useragent)
# the quoted one, and the trailing 8 are all-or-nothing.
ATHENA_COLUMNS = [
    "bucketowner",
    "bucket_name",
    "requestdatetime",
    "remoteip",
    "requester",
    "requestid",
    "operation",
    "key",
    "request_uri",
    "httpstatus",
    "errorcode",
    "bytessent",
    "objectsize",
    "totaltime",
    "turnaroundtime",
    "referrer",
    "useragent",
    "versionid",
    "hostid",
    "sigv",
    "ciphersuite",
    "authtype",
    "endpoint",
    "tlsversion",
    "accesspointarn",
    "aclrequired",
]


def athena(text: str) -> dict[str, str | None] | None:
    """What Athena's table holds for the line (None: the row comes back all NULL)."""
    match = ATHENA_REGEX.match(text)
    return None if match is None else dict(zip(ATHENA_COLUMNS, match.groups(), strict=True))


def test_the_documented_sample_line_parses_to_27_typed_fields() -> None:
    # Record 5 of the example on AWS's "Amazon S3 server access log format" page.
    sample = (
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 "
        "[06/Feb/2019:00:01:57 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be "
        'DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg.pdf "PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1" 200 - - 4406583 '
        '41754 28 "-" "S3Console/0.4" - 10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= '
        "SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1\n"
    )
    record = parse_line(sample)
    assert record.to_json() == {
        "bucket_owner": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
        "bucket": "awsexamplebucket1",
        "time": "2019-02-06T00:01:57+00:00",
        "remote_ip": "192.0.2.3",
        "requester": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
        "request_id": "DD6CC733AEXAMPLE",
        "operation": "REST.PUT.OBJECT",
        "key": "s3-dg.pdf",
        "request_uri": "PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1",
        "http_status": 200,
        "error_code": None,
        "bytes_sent": None,
        "object_size": 4406583,
        "total_time": 41754,
        "turn_around_time": 28,
        "referer": None,
        "user_agent": "S3Console/0.4",
        "version_id": None,
        "host_id": "10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234=",
        "signature_version": "SigV4",
        "cipher_suite": "ECDHE-RSA-AES128-SHA",
        "auth_type": "AuthHeader",
        "host_header": "awsexamplebucket1.s3.us-west-1.amazonaws.com",
        "tls_version": "TLSV1.1",
        "access_point_arn": None,
        "acl_required": None,
        "source_region": None,
    }
    assert record.field_count == 24
    assert list(record.to_json()) == list(FIELDS)


@pytest.mark.parametrize(
    ("fields", "host_id", "tls_version", "access_point_arn", "acl_required", "source_region"),
    [
        (18, None, None, None, None, None),
        (24, "present", "TLSv1.2", None, None, None),
        (25, "present", "TLSv1.2", "arn:aws:s3:us-west-1:123456789012:accesspoint/labels", None, None),
        (26, "present", "TLSv1.2", "arn:aws:s3:us-west-1:123456789012:accesspoint/labels", "Yes", None),
        (27, "present", "TLSv1.2", "arn:aws:s3:us-west-1:123456789012:accesspoint/labels", "Yes", "eu-west-1"),
    ],
)
def test_every_vintage_parses_and_missing_trailing_fields_are_null(
    fields: int,
    host_id: str | None,
    tls_version: str | None,
    access_point_arn: str | None,
    acl_required: str | None,
    source_region: str | None,
) -> None:
    text = line(
        fields=fields,
        access_point_arn="arn:aws:s3:us-west-1:123456789012:accesspoint/labels",
        acl_required="Yes",
        source_region="eu-west-1",
    )
    record = parse_line(text)
    assert record.field_count == fields
    assert (record.host_id is not None) == (host_id is not None)
    assert (record.tls_version, record.access_point_arn, record.acl_required, record.source_region) == (
        tls_version,
        access_point_arn,
        acl_required,
        source_region,
    )
    assert record.user_agent == "curl/7.15.1"


def test_fields_appended_after_27_are_ignored() -> None:
    record = parse_line(line(extra=("NewField", '"future"')))
    assert record.source_region == "us-east-1"
    assert record.user_agent == "curl/7.15.1"
    assert record.field_count == 29


# The trap classes of issue 7. Each: the line, then the fields it must come out with.
TRAPS: dict[str, tuple[str, dict[str, object]]] = {
    "user agent with an unescaped quote": (
        line(user_agent='"aws-cli/2.15 "quoted" md/x"'),
        {"user_agent": 'aws-cli/2.15 "quoted" md/x', "version_id": None, "signature_version": "SigV4"},
    ),
    "request URI with an unescaped quote": (
        line(request_uri='"GET /labels-bucket/we"ird.jpg HTTP/1.1"'),
        {"request_uri": 'GET /labels-bucket/we"ird.jpg HTTP/1.1', "http_status": 200, "bytes_sent": 2662992},
    ),
    "referer with spaces": (
        line(referer='"https://label.example.com/a page with spaces"'),
        {"referer": "https://label.example.com/a page with spaces", "user_agent": "curl/7.15.1"},
    ),
    "absent request URI as -": (line(request_uri="-"), {"request_uri": None, "http_status": 200}),
    'absent request URI as "-"': (line(request_uri='"-"'), {"request_uri": None, "http_status": 200}),
    "plain HTTP": (line(cipher_suite="-", tls_version="-"), {"cipher_suite": None, "tls_version": None}),
    "anonymous requester": (
        line(requester="-", signature_version="-", auth_type="-"),
        {"requester": None, "signature_version": None, "auth_type": None},
    ),
    "presigned with a long-term key": (
        presigned(uri_key_id="AKIAIOSFODNN7EXAMPLE", uri_expires="604800", uri_token=""),
        {
            "auth_type": "QueryString",
            "request_uri": (
                "GET /labels-bucket/images/cat.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                "&X-Amz-Credential=AKIA************MPLE%2F20190206%2Fus-east-1%2Fs3%2Faws4_request"
                "&X-Amz-Date=20190206T000000Z&X-Amz-Expires=604800"
                "&X-Amz-SignedHeaders=host&X-Amz-Signature=REDACTED HTTP/1.1"
            ),
        },
    ),
    "presigned with temporary credentials and a session token": (
        presigned(),
        {
            "request_uri": (
                "GET /labels-bucket/images/cat.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                "&X-Amz-Credential=ASIA************MPLE%2F20190206%2Fus-east-1%2Fs3%2Faws4_request"
                "&X-Amz-Date=20190206T000000Z&X-Amz-Expires=3600&X-Amz-Security-Token=REDACTED"
                "&X-Amz-SignedHeaders=host&X-Amz-Signature=REDACTED HTTP/1.1"
            )
        },
    ),
    "TLS version in upper case": (line(tls_version="TLSV1.2"), {"tls_version": "TLSV1.2"}),
    "IPv6 remote IP": (line(remote_ip="2001:db8:85a3::8a2e:370:7334"), {"remote_ip": "2001:db8:85a3::8a2e:370:7334"}),
}


@pytest.mark.parametrize("trap", list(TRAPS))
def test_trap(trap: str) -> None:
    text, expected = TRAPS[trap]
    record = parse_line(text).to_json()
    assert {name: record[name] for name in expected} == expected


def test_presigned_token_value_is_a_bool_flag_in_the_builder() -> None:
    # The builder's uri_token="" means "no token": guard the fixture the trap above relies on.
    assert "X-Amz-Security-Token" not in presigned(uri_token="")
    assert TOKEN in presigned()


@pytest.mark.parametrize(
    ("trap", "athena_says"),
    [
        # No match at all: Athena returns the row with every column NULL.
        ("user agent with an unescaped quote", None),
        ("request URI with an unescaped quote", None),
        ("referer with spaces", None),
    ],
)
def test_athena_regex_loses_lines_with_quotes_or_spaces_that_we_parse(trap: str, athena_says: None) -> None:
    text, _ = TRAPS[trap]
    assert athena(text) is athena_says
    assert parse_line(text).bucket == "labels-bucket"


@pytest.mark.parametrize("fields", [24, 25])
def test_athena_regex_drops_signature_and_tls_of_shorter_vintages_that_we_keep(fields: int) -> None:
    # Its 8 trailing groups are all-or-nothing: a 24- or 25-field line loses fields 19-24.
    text = line(fields=fields)
    row = athena(text)
    assert row is not None
    assert (row["hostid"], row["sigv"], row["tlsversion"]) == (None, None, None)
    record = parse_line(text)
    assert (record.signature_version, record.tls_version) == ("SigV4", "TLSv1.2")


def test_athena_regex_keeps_the_signature_we_redact() -> None:
    row = athena(presigned())
    assert row is not None and SIGNATURE in str(row["request_uri"])
    assert SIGNATURE not in str(parse_line(presigned()).to_json())


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("garbage", "ends after field 1 of at least 18"),
        (line(fields=17), "ends after field 17 of at least 18"),
        (line(fields=12), "fields 10-15: expected status, error code and four numbers or - after the request URI"),
        (line(time="[06/Fev/2019:00:00:38 +0000]"), "field 3 (time): expected [dd/Mon/yyyy:HH:MM:SS +zzzz]"),
        (
            line(request_uri="GET /labels-bucket/k HTTP/1.1"),
            "field 9 (request_uri): expected a quoted value or -, found an unquoted one",
        ),
        (line(referer="https://unquoted.example.com/"), "field 16 (referer): expected a quoted value or -"),
        (line(user_agent="curl/8"), "field 17 (user_agent): expected a quoted value or -"),
        (line(signature_version="SigV9"), "field 17 (user_agent): no closing quote followed by fields 18+"),
    ],
)
def test_a_line_that_does_not_parse_says_which_field_and_never_quotes_the_line(text: str, why: str) -> None:
    with pytest.raises(LineError) as caught:
        parse_line(text)
    assert str(caught.value) == why


def test_an_unparsed_presigned_line_leaks_nothing_into_the_reason() -> None:
    broken = presigned(http_status="OK")
    with pytest.raises(LineError) as caught:
        parse_line(broken)
    assert SIGNATURE not in str(caught.value) and "X-Amz" not in str(caught.value)


def test_iter_records_numbers_lines_skips_blank_ones_and_survives_bad_bytes() -> None:
    data = (line() + "\n\n" + "junk\n" + line(user_agent='"caf\xe9"') + "\n").encode("utf-8")
    data = data.replace("caf\xe9".encode(), b"caf\xff")  # invalid UTF-8 inside a user agent
    results = list(iter_records(io.BytesIO(data)))
    assert [n for n, _ in results] == [1, 3, 4]
    assert isinstance(results[1][1], LineError)
    fourth = results[2][1]
    assert not isinstance(fourth, LineError) and fourth.user_agent == "caf\ufffd"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1550000000&Signature=abc%2B%3D HTTP/1.1",
            "GET /b/k?AWSAccessKeyId=AKIA************MPLE&Expires=1550000000&Signature=REDACTED HTTP/1.1",
        ),
        (
            "GET /b/k?x-amz-security-token=tok&x-amz-signature=00ff HTTP/1.1",
            "GET /b/k?x-amz-security-token=REDACTED&x-amz-signature=REDACTED HTTP/1.1",
        ),
        (
            # A referer that links a presigned URL, URL-encoded inside its own query string.
            "https://app.example.com/view?u=https%3A%2F%2Fb.s3.amazonaws.com%2Fk%3FX-Amz-Signature%3Ddeadbeef%26a%3D1",
            "https://app.example.com/view?u=https%3A%2F%2Fb.s3.amazonaws.com%2Fk%3FX-Amz-Signature%3DREDACTED%26a%3D1",
        ),
        ("GET /b/plain.jpg HTTP/1.1", "GET /b/plain.jpg HTTP/1.1"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_signed_urls_are_redacted_in_every_field_that_can_carry_one() -> None:
    signed = f"https://labels-bucket.s3.amazonaws.com/k?X-Amz-Signature={SIGNATURE}"
    record = parse_line(line(referer=f'"{signed}"', host_header=signed.removeprefix("https://")))
    assert SIGNATURE not in str(record.to_json())
    assert record.referer == "https://labels-bucket.s3.amazonaws.com/k?X-Amz-Signature=REDACTED"
