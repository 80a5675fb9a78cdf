"""What the rules ask of one record, worked out once: is it a client request, was it presigned
(with which key type and for how long), which AWS account made it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

from labelbridge.compliance.accesslog.record import LogRecord

_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


@dataclass(frozen=True)
class Presign:
    """A query-string-authenticated (presigned) request.

    :param key_type: ``AKIA`` (an IAM user's long-term key), ``ASIA`` (temporary STS
        credentials), another prefix, or ``None`` when the URI does not say.
    :param key_id: the access key id as the parser left it (masked: ``AKIA****…MPLE``).
    :param ttl: ``X-Amz-Expires`` (SigV4), or for SigV2 the time from the request to ``Expires``
        (a lower bound of the URL's life); ``None`` when absent or unreadable.
    """

    key_type: str | None
    key_id: str | None
    ttl: timedelta | None


def is_client_request(record: LogRecord) -> bool:
    """A request someone sent, as opposed to S3's own work (lifecycle ``S3.EXPIRE.OBJECT``…),
    which is logged without a remote IP or with an ``S3.`` operation."""
    return record.remote_ip is not None and not (record.operation or "").startswith("S3.")


def presign_of(record: LogRecord) -> Presign | None:
    """The presign facts of a query-string-authenticated request, else ``None``."""
    uri = record.request_uri
    if uri is None:
        return None
    if record.auth_type != "QueryString" and "X-Amz-Credential=" not in uri and "AWSAccessKeyId=" not in uri:
        return None
    params = _query_params(uri)
    credential = params.get("x-amz-credential")
    key_id = credential.split("/", 1)[0] if credential else params.get("awsaccesskeyid")
    ttl: timedelta | None = None
    expires = params.get("x-amz-expires")
    if expires is not None and expires.isdigit():
        ttl = timedelta(seconds=int(expires))
    elif "expires" in params and params["expires"].isdigit():
        # SigV2 carries an absolute epoch; what is left at request time is a lower bound.
        ttl = timedelta(seconds=int(params["expires"]) - int(record.time.timestamp()))
    return Presign(key_type=key_id[:4] if key_id else None, key_id=key_id or None, ttl=ttl)


def account_of(requester: str | None) -> str | None:
    """The 12-digit account of an IAM/STS ARN requester; ``None`` for canonical ids and ``-``."""
    if requester is None or not requester.startswith("arn:"):
        return None
    match = _ACCOUNT_IN_ARN.match(requester)
    return match.group(1) if match else None


def _query_params(uri: str) -> dict[str, str]:
    # "GET /bucket/key?a=1&b=2 HTTP/1.1": the target is the middle word; names are matched
    # case-insensitively because clients differ (SigV2 tokens come as x-amz-security-token).
    target = uri.split(" ")[1] if uri.count(" ") >= 1 else uri
    _, _, query = target.partition("?")
    params: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        params.setdefault(name.lower(), unquote(value))
    return params
