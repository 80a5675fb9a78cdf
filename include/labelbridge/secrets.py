"""The one secret vocabulary: which query parameters carry a secret, per cloud, and the marker
that replaces them.

Every redactor and every "no secret anywhere" test reads these names from here, so a parameter
added for one cloud is scrubbed (and looked for) everywhere at once:

- :func:`redact_text` (here) cuts URL query strings, these parameters, credential headers
  (``Authorization``, session tokens) and connection-string keys out of any text: report
  strings, SDK errors kept in a snapshot, log records;
- :class:`RedactingFilter` (here) runs every log record through :func:`redact_text` at any
  level and for any logger (botocore, azure-core, google-auth, urllib3): the CLI and the
  operators put it on the process's log handlers (:func:`install_log_redaction`);
- :func:`labelbridge.compliance.accesslog.redact.redact` is the access log's fast line pass; it
  masks the same signature parameters but keeps a key id's type prefix on purpose (the rules
  and whoever deactivates the key need it).

Both write :data:`REDACTED` where a secret was.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

from labelbridge.clouds import Cloud

#: What replaces a secret in any text labelbridge writes.
REDACTED = "REDACTED"

#: Parameters whose value lets someone replay the request: a signature or a session token.
SIGNATURE_PARAMS: Mapping[Cloud, tuple[str, ...]] = {
    # SigV4, then SigV2 (and its security token, which SigV2 spells in lower case; names match in any case).
    Cloud.S3: ("X-Amz-Signature", "X-Amz-Security-Token", "Signature"),
    Cloud.GCS: ("X-Goog-Signature",),
    Cloud.AZURE: ("sig",),
}
#: Parameters that name the signing key or scope the signature: not enough to replay a request
#: on their own, but they identify a credential, so reports never publish them whole.
CREDENTIAL_PARAMS: Mapping[Cloud, tuple[str, ...]] = {
    Cloud.S3: ("X-Amz-Credential", "AWSAccessKeyId"),
    Cloud.GCS: ("X-Goog-Credential",),
    # A SAS token's fields: expiry, permissions, version, resource, start, and the user-delegation
    # key's object id, tenant, start, expiry, service and version.
    Cloud.AZURE: ("se", "sp", "sv", "sr", "st", "skoid", "sktid", "skt", "ske", "sks", "skv"),
}
#: Every query parameter that is secret or identifies a credential, per cloud.
SECRET_PARAMS: Mapping[Cloud, tuple[str, ...]] = {
    cloud: SIGNATURE_PARAMS[cloud] + CREDENTIAL_PARAMS[cloud] for cloud in Cloud
}
#: What a signed URL, signature or SAS token looks like in text: the "no secret anywhere" tests
#: grep logs, XCom, reports and exports for each. Long names match bare; Azure's short SAS fields
#: need their "=" ("se=" is the expiry every SAS carries, "sig=" its signature).
SECRET_MARKERS = (
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Goog-Signature",
    "X-Goog-Credential",
    "Signature=",
    "sig=",
    "se=",
)
#: Connection-string keys (``AccountKey=...;``) and generic secret names.
SECRET_KEYS = ("AccountKey", "SharedAccessSignature", "password", "secret")
#: HTTP headers that carry a credential: the SDKs' DEBUG logs print requests with their headers
#: (botocore.endpoint: SigV4 ``Authorization``; Azure: ``SharedKey account:signature``; GCS: a
#: ``Bearer`` token).
SECRET_HEADERS = (
    "Authorization",
    "Proxy-Authorization",
    "X-Amz-Security-Token",
    "x-ms-copy-source-authorization",
    "x-goog-iam-authorization-token",
    "Cookie",
)
#: Loggers whose records are dropped whole: botocore.auth prints each canonical request, string
#: to sign and bare signature, on lines no pattern could tell from other text.
SIGNING_DETAIL_LOGGERS = ("botocore.auth",)

# A URL's query string, cut whole: it is where presigned and SAS credentials live.
_URL_QUERY = re.compile(r"((?:https?|s3|gs|wasbs?|abfss?)://[^\s?\"'<>]*)\?[^\s\"'<>]*", re.IGNORECASE)
# The parameters can appear without a URL around them (a request URI in a log line).
_SECRET_PARAM = re.compile(
    r"(?<![\w-])(?:" + "|".join(re.escape(p) for params in SECRET_PARAMS.values() for p in params) + r")=[^&\s\"'<>]*",
    re.IGNORECASE,
)
_SECRET_KEY = re.compile(r"(" + "|".join(SECRET_KEYS) + r")=[^;\s\"'<>]*", re.IGNORECASE)
_HEADER_NAME = r"(?<![\w-])(?:" + "|".join(re.escape(h) for h in SECRET_HEADERS) + r")"
# A header in a dict's repr or JSON ('Authorization': b'AWS4-HMAC-SHA256 ...'): the quoted value.
_QUOTED_HEADER = re.compile(
    r"(" + _HEADER_NAME + r"""['"]?\s*[:=]\s*b?)(['"])(?:\\.|(?!\2).)*\2""", re.IGNORECASE
)
# A header line (Authorization: SharedKey account:signature): the rest of the line.
_HEADER_LINE = re.compile(r"(" + _HEADER_NAME + r"\s*:[ \t]*)(?![ \t]*b?['\"])[^\r\n]+", re.IGNORECASE)
# Credentials in an Authorization value, wherever the value is printed without its header name:
# SigV4 (its Credential, SignedHeaders and Signature), SigV2 (AWS key-id:signature), a bearer
# token, Azure SharedKey (account:signature).
# Label Studio's legacy ``Token <key>`` scheme too.
_AUTH_VALUE = re.compile(
    r"\b(AWS4-HMAC-SHA256|Bearer|SharedKey(?:Lite)?|AWS(?=[ \t]+[A-Z0-9]{16,}:)|Token(?=[ \t]+[A-Za-z0-9]{6,}\b))"
    r"[ \t]+[^\s'\",]+(?:,[ \t]*[^\s'\",]+)*"
)


# A JSON Web Token anywhere (Label Studio's personal access tokens and the access tokens they buy).
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def redact_text(text: str) -> str:
    """``text`` with URL query strings, secret parameters, credential headers, tokens and
    connection-string keys replaced by :data:`REDACTED`."""
    text = _JWT.sub(REDACTED, text)
    text = _URL_QUERY.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)
    text = _QUOTED_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
    text = _HEADER_LINE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_PARAM.sub(REDACTED, text)
    return _SECRET_KEY.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's formatted message (and its traceback) through :func:`redact_text`,
    and drops the :data:`SIGNING_DETAIL_LOGGERS`' records.

    On a handler it sees every logger's records, whatever their level: a DEBUG record of
    botocore.endpoint (each request's headers) leaves as redacted as an INFO line of ours.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(SIGNING_DETAIL_LOGGERS):
            return False
        if isinstance(record.msg, Mapping):  # a structlog event dict sent through the stdlib
            record.msg = redact_json(record.msg)
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it, as it would unfiltered
            return True
        if record.exc_info and record.exc_info[1] is not None:
            trace = "".join(traceback.format_exception(*record.exc_info))
            if redact_text(trace) != trace:
                # The formatter would print the exception as is: fold it, redacted, into the message.
                message = f"{message}\n{trace.rstrip()}"
                record.exc_info = None
                record.exc_text = None
        record.msg = redact_text(message)
        record.args = ()
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put a :class:`RedactingFilter` on every handler of ``logger`` (the root logger by default),
    where the process's records are written; handlers that have one keep it."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def redact_json(value: Any) -> Any:
    """A copy of a JSON-like value with every string (keys too) passed through :func:`redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_json(k): redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value
