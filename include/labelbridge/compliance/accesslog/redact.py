"""Mask what lets someone replay a request: signatures, session tokens, access key ids.

Parameter values that let someone replay the request: SigV4's ``X-Amz-Signature`` and
``X-Amz-Security-Token``, SigV2's ``Signature`` (and ``x-amz-security-token``), GCS's
``X-Goog-Signature``, matched raw (``name=value&``) and URL-encoded inside a referer
(``name%3Dvalue%26``), names in any case. The access key id in ``X-Amz-Credential`` (SigV4) or
``AWSAccessKeyId`` (SigV2) is an identifier, not a secret, but reports are read widely: it keeps
its type prefix (``AKIA`` long-term, ``ASIA`` temporary) and last four characters, which is what
the rules and whoever deactivates the key need.
"""

from __future__ import annotations

import re

from labelbridge.config import Cloud
from labelbridge.secrets import CREDENTIAL_PARAMS, REDACTED

# A parameter name is whatever precedes `=` (raw) or `%3D` (encoded); these end the names whose
# values are secret ("x-amz-signature" ends with "signature"): every S3 and GCS name in
# SIGNATURE_PARAMS ends with one of them (tests/test_no_secrets.py holds the two together).
_SECRET_NAMES = ("signature", "security-token")
# S3's key ids: masked to their type prefix and last characters, not cut (see the docstring).
_KEY_ID_NAMES = tuple(p.lower() for p in CREDENTIAL_PARAMS[Cloud.S3])
_NAMES = _SECRET_NAMES + _KEY_ID_NAMES
_LONGEST_NAME = max(len(name) for name in _NAMES)
# A raw value ends at the next parameter, the end of the request target or the closing quote; an
# encoded one also at an encoded `&`.
_RAW_VALUE = re.compile(r'[^&" ]*')
_ENCODED_VALUE = re.compile(r'(?:[^&" %]|%(?!26))*')
_KEY_ID_SHOWN = 4

__all__ = ["REDACTED", "redact"]


def redact(text: str) -> str:
    """``text`` with signature / security-token values replaced by ``REDACTED`` and access key
    ids masked to ``AKIA************MPLE``."""
    # Secrets live in query strings, after a raw `?` (a signed URL linked from a referer sits,
    # encoded, inside the referer's own query). Each `=` (and `%3D`) is found with a one-character
    # memchr scan and only the few characters before it are lowered and compared: str.find of
    # each name on a lowered copy cost 3x more, an IGNORECASE regex 30x.
    if "?" not in text:
        return text
    edits: list[tuple[int, int, str]] = []
    at = text.find("=")
    while at != -1:
        name = text[at - _LONGEST_NAME if at > _LONGEST_NAME else 0 : at].lower()
        if name.endswith(_NAMES):
            _edit(edits, text, name, at + 1, _RAW_VALUE)
        at = text.find("=", at + 1)
    if "%3" in text:
        at = text.find("%3")
        while at != -1:
            if text[at + 2 : at + 3] in ("d", "D"):
                name = text[at - _LONGEST_NAME if at > _LONGEST_NAME else 0 : at].lower()
                if name.endswith(_NAMES):
                    _edit(edits, text, name, at + 3, _ENCODED_VALUE)
            at = text.find("%3", at + 2)
    if not edits:
        return text
    edits.sort()
    pieces: list[str] = []
    last = 0
    for start, end, replacement in edits:
        pieces += (text[last:start], replacement)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _edit(edits: list[tuple[int, int, str]], text: str, name: str, start: int, value: re.Pattern[str]) -> None:
    # `name` ends with one of _NAMES; the value starts at `start`.
    found = value.match(text, start)
    end = start if found is None else found.end()
    if end == start:
        return
    if name.endswith(_SECRET_NAMES):
        edits.append((start, end, REDACTED))
        return
    # A key id: it ends at the credential scope's first `/`, raw or encoded.
    scope = text[start:end].lower()
    key_length = min((cut for cut in (scope.find("/"), scope.find("%2f")) if cut != -1), default=end - start)
    if key_length > 2 * _KEY_ID_SHOWN:
        key_end = start + key_length
        masked = text[start : start + _KEY_ID_SHOWN] + "*" * (key_length - 2 * _KEY_ID_SHOWN)
        edits.append((start, key_end, masked + text[key_end - _KEY_ID_SHOWN : key_end]))
