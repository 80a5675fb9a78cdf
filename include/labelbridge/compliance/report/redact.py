"""Scrub signatures, SAS tokens and credentials from text that goes into reports or errors.

Findings never need a query string: where a URL appears (an access-log line, an SDK error
naming the request), its query is cut and named as removed. The patterns below catch the
parameter forms that also appear without a URL around them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

# A URL's query string, cut whole: it is where presigned and SAS credentials live.
_URL_QUERY = re.compile(r"((?:https?|s3|gs|wasbs?|abfss?)://[^\s?\"'<>]*)\?[^\s\"'<>]*", re.IGNORECASE)
# Signature-bearing parameters that can appear without a URL (a request URI in a log line).
_SECRET_PARAMS = re.compile(
    r"(?<![\w-])(?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential|"
    r"AWSAccessKeyId|Signature|sig|se|sp|sv|sr|st|skoid|sktid|skt|ske|sks|skv)=[^&\s\"'<>]*",
    re.IGNORECASE,
)
_ACCOUNT_KEY = re.compile(r"(AccountKey|SharedAccessSignature|password|secret)=[^;\s\"'<>]*", re.IGNORECASE)


def redact_text(text: str) -> str:
    """``text`` with URL query strings and signature parameters replaced by ``[redacted]``."""
    text = _URL_QUERY.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)
    text = _SECRET_PARAMS.sub(REDACTED, text)
    return _ACCOUNT_KEY.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with every string passed through :func:`redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact(k): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
