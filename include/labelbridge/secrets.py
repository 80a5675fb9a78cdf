"""The one secret vocabulary: which query parameters carry a secret, per cloud, and the marker
that replaces them.

Every redactor and every "no secret anywhere" test reads these names from here, so a parameter
added for one cloud is scrubbed (and looked for) everywhere at once:

- :func:`redact_text` (here) cuts URL query strings, these parameters and connection-string
  keys out of any text: report strings, SDK errors kept in a snapshot;
- :func:`labelbridge.compliance.accesslog.redact.redact` is the access log's fast line pass; it
  masks the same signature parameters but keeps a key id's type prefix on purpose (the rules
  and whoever deactivates the key need it).

Both write :data:`REDACTED` where a secret was.
"""

from __future__ import annotations

import re
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

# A URL's query string, cut whole: it is where presigned and SAS credentials live.
_URL_QUERY = re.compile(r"((?:https?|s3|gs|wasbs?|abfss?)://[^\s?\"'<>]*)\?[^\s\"'<>]*", re.IGNORECASE)
# The parameters can appear without a URL around them (a request URI in a log line).
_SECRET_PARAM = re.compile(
    r"(?<![\w-])(?:" + "|".join(re.escape(p) for params in SECRET_PARAMS.values() for p in params) + r")=[^&\s\"'<>]*",
    re.IGNORECASE,
)
_SECRET_KEY = re.compile(r"(" + "|".join(SECRET_KEYS) + r")=[^;\s\"'<>]*", re.IGNORECASE)


def redact_text(text: str) -> str:
    """``text`` with URL query strings, secret parameters and connection-string keys replaced
    by :data:`REDACTED`."""
    text = _URL_QUERY.sub(lambda m: f"{m.group(1)}?{REDACTED}", text)
    text = _SECRET_PARAM.sub(REDACTED, text)
    return _SECRET_KEY.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def redact_json(value: Any) -> Any:
    """A copy of a JSON-like value with every string (keys too) passed through :func:`redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_json(k): redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value
