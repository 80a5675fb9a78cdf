"""What PostgreSQL's ``jsonb`` (and ``text``) refuse, found in Python before a COPY does.

Python's JSON parser accepts documents that PostgreSQL will not store: the non-finite numbers ``NaN``
and ``Infinity`` (and literals such as ``1e400``, which Python reads as infinity), the escape
``\\u0000`` (text cannot hold NUL), lone UTF-16 surrogate escapes, and an object with the same key
twice (jsonb keeps the last value, silently). A COPY that meets one of them fails for the whole
batch, so every writer checks values here first and sets the one bad file aside instead.

The rule for each class is "refuse, never normalise": a stored task that differs from its file
would be a silent change of a labeler's data. Nesting is capped at :data:`MAX_DEPTH` so that every
later reader (export, the annotation tools) can walk a stored value without running out of stack.

Problems are located by a field path (``annotations[0].result[2].value.x``) and never quote the
value: task content can be private.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deepest nesting stored. Label Studio tasks nest about 8 levels (task, annotations, result,
#: region, value, points, point); PostgreSQL takes thousands and Python's parser about 900.
MAX_DEPTH = 100

# A NUL or a lone surrogate can only reach a parsed string through a \u escape (the raw bytes are
# invalid JSON or invalid UTF-8), so strings are only scanned when the text holds such an escape.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_PATH_SEGMENTS = 12


class _DuplicateKeys(dict[str, Any]):
    """An object that named a key twice; the parser builds it, :func:`jsonb_problem` reports it."""


def _pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    return value if len(value) == len(pairs) else _DuplicateKeys(pairs)


#: Parses like :func:`json.loads` but marks objects with a repeated key for :func:`jsonb_problem`.
DECODER = json.JSONDecoder(object_pairs_hook=_pairs_to_dict)


def needs_string_check(text: str) -> bool:
    """Whether parsed strings of ``text`` can hold a NUL or a lone surrogate (cheap, on the raw text)."""
    return _SUSPECT_ESCAPE.search(text) is not None


def jsonb_problem(value: Any, *, check_strings: bool = True) -> tuple[str, str] | None:
    """``(field path, why)`` of the first part of ``value`` that PostgreSQL would refuse, else None.

    :param check_strings: scan strings and keys for NUL and lone surrogates; pass
        :func:`needs_string_check` of the source text to skip the scan when none can be there.
    """
    found = _item(value, -1, check_strings)
    if found is None:
        return None
    segments, why = found
    segments.reverse()
    if len(segments) > _PATH_SEGMENTS:
        # A path 100 levels deep says no more than its first steps and its length.
        segments = [*segments[: _PATH_SEGMENTS - 1], f"...({len(segments)} steps)"]
    return "".join(segments).removeprefix(".") or "top level", why


def _check(value: Any, depth: int, strings: bool) -> tuple[list[str], str] | None:
    # Segments are collected on the way out, so a clean value costs no path building.
    if depth >= MAX_DEPTH:
        return [], f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, dict):
        if type(value) is _DuplicateKeys:
            return [], "an object names the same key twice, so which value counts is ambiguous"
        for position, (key, item) in enumerate(value.items()):
            found = _item(item, depth, strings)
            if found is None and strings and _BAD_CHAR.search(key):
                found = [], _string_why(key, "a key")
            if found is not None:
                found[0].append(f".{key}" if _PLAIN_KEY.fullmatch(key) else f"[key {position}]")
                return found
        return None
    for position, item in enumerate(value):
        found = _item(item, depth, strings)
        if found is not None:
            found[0].append(f"[{position}]")
            return found
    return None


def _item(item: Any, depth: int, strings: bool) -> tuple[list[str], str] | None:
    kind = type(item)
    if kind is float:
        # inf - inf and nan - nan are both nan, which is unequal to 0.0; finite x - x is 0.0.
        if item - item != 0.0:
            what = "NaN" if item != item else "Infinity, or a number beyond the 64-bit float range,"
            return [], f"{what} is not a number PostgreSQL can store"
        return None
    if kind is str:
        return ([], _string_why(item, "a string")) if strings and _BAD_CHAR.search(item) else None
    if kind is dict or kind is list or kind is _DuplicateKeys:
        return _check(item, depth + 1, strings)
    return None


def _string_why(text: str, what: str) -> str:
    if "\x00" in text:
        return f"{what} holds the escape \\u0000, which PostgreSQL text cannot hold"
    return f"{what} holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not a character"
