"""Labelbox global keys: a task's canonical URI, within Labelbox's limit.

Labelbox takes global keys of at most 200 characters, unique in the organisation, compared
case-insensitively (docs.labelbox.com/reference/data-row, "global_key"). labelbridge's key is the
task's canonical URI (``s3://bucket/key``), with ``#<n>`` for the n-th task of a task file. A longer
one is either shortened (its first 183 characters, ``~`` and 16 hex digits of the whole key's
SHA-256: still unique, still readable) or skipped (``labelbox.long_keys``).
"""

from __future__ import annotations

import hashlib
import re

#: Labelbox's limit on a global key, in characters.
MAX_GLOBAL_KEY = 200
_HASH_DIGITS = 16
_SHORTENED = re.compile(rf"~[0-9a-f]{{{_HASH_DIGITS}}}\Z")


def full_key(uri: str, item_index: int) -> str:
    """The global key before any shortening: the URI, and ``#n`` past a task file's first task."""
    return uri if item_index == 0 else f"{uri}#{item_index}"


def shortened(key: str) -> str:
    """``key`` cut to the limit, ended by a hash of the whole key."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:_HASH_DIGITS]
    return f"{key[: MAX_GLOBAL_KEY - _HASH_DIGITS - 1]}~{digest}"


def global_key(uri: str, item_index: int, *, shorten: bool = True) -> str | None:
    """The task's Labelbox global key; ``None`` when too long and ``shorten`` is off."""
    key = full_key(uri, item_index)
    if len(key) <= MAX_GLOBAL_KEY:
        return key
    return shortened(key) if shorten else None


def is_shortened(key: str) -> bool:
    return len(key) == MAX_GLOBAL_KEY and _SHORTENED.search(key) is not None


def candidates(key: str) -> list[tuple[str, int]]:
    """The (uri, item_index) a full (not shortened) key may stand for: a URI may itself hold ``#``."""
    found = [(key, 0)]
    uri, hash_sign, index = key.rpartition("#")
    if hash_sign and index.isdigit() and index[0] != "0":
        found.append((uri, int(index)))
    return found
