"""Build S3 access-log lines field by field, the way S3 writes them (raw tokens, not escaped)."""

from __future__ import annotations

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
HOST_ID = "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234="

#: Raw tokens of an ordinary 27-field line, in log order.
DEFAULTS: dict[str, str] = {
    "bucket_owner": OWNER,
    "bucket": "labels-bucket",
    "time": "[06/Feb/2019:00:00:38 +0000]",
    "remote_ip": "192.0.2.3",
    "requester": "arn:aws:iam::123456789012:user/alice",
    "request_id": "3E57427F3EXAMPLE",
    "operation": "REST.GET.OBJECT",
    "key": "images/cat.jpg",
    "request_uri": '"GET /labels-bucket/images/cat.jpg HTTP/1.1"',
    "http_status": "200",
    "error_code": "-",
    "bytes_sent": "2662992",
    "object_size": "3462992",
    "total_time": "70",
    "turn_around_time": "10",
    "referer": '"-"',
    "user_agent": '"curl/7.15.1"',
    "version_id": "-",
    "host_id": HOST_ID,
    "signature_version": "SigV4",
    "cipher_suite": "ECDHE-RSA-AES128-GCM-SHA256",
    "auth_type": "AuthHeader",
    "host_header": "labels-bucket.s3.us-west-1.amazonaws.com",
    "tls_version": "TLSv1.2",
    "access_point_arn": "-",
    "acl_required": "-",
    "source_region": "us-east-1",
}

SIGNATURE = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
TOKEN = "IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2FwEaCXVzLWVhc3QtMSJHMEUCIQDexampleToken"


def presigned_uri(
    key: str = "images/cat.jpg",
    *,
    key_id: str = "ASIAIOSFODNN7EXAMPLE",
    expires: int = 3600,
    token: bool = True,
    bucket: str = "labels-bucket",
) -> str:
    """A SigV4 query-string request line, as S3 logs it (quotes included)."""
    query = (
        f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key_id}%2F20190206%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Date=20190206T000000Z&X-Amz-Expires={expires}"
        + (f"&X-Amz-Security-Token={TOKEN}" if token else "")
        + f"&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}"
    )
    return f'"GET /{bucket}/{key}?{query} HTTP/1.1"'


def line(fields: int = 27, extra: tuple[str, ...] = (), **raw: str) -> str:
    """One log line: the defaults overridden by ``raw`` tokens, cut after ``fields`` fields."""
    values = {**DEFAULTS, **raw}
    unknown = set(raw) - set(DEFAULTS)
    assert not unknown, f"unknown fields {unknown}"
    return " ".join([*list(values.values())[:fields], *extra])


def presigned(**raw: str) -> str:
    """A presigned GET line; ``uri_*`` keywords go to :func:`presigned_uri`."""
    uri_args = {k.removeprefix("uri_"): v for k, v in raw.items() if k.startswith("uri_")}
    rest = {k: v for k, v in raw.items() if not k.startswith("uri_")}
    return line(**{"auth_type": "QueryString", "request_uri": presigned_uri(**uri_args), **rest})  # type: ignore[arg-type]
