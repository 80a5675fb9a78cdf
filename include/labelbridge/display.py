"""How names from a bucket are shown to people: one line each, never a forged one.

A key may hold any character a cloud accepts: newlines, carriage returns, ESC sequences that
drive a terminal, bidi overrides that reorder what follows. Printed raw, ``ls`` would show
extra lines that look like other objects. Text output and error messages pass every key, URI
and reason through :func:`escaped`; JSON output prints the exact value (``json.dumps``
escapes control characters itself, and a JSON reader gets the real name back).
"""

from __future__ import annotations

#: Keys longer than this (in characters) are shortened in messages: the start, "…", the end.
SHORT_NAME_CHARS = 80
_HEAD_CHARS = 50
_TAIL_CHARS = 25
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escaped(text: str) -> str:
    """``text`` on one line, with nothing a terminal would act on: every character that is not
    printable (C0/C1 controls, DEL, bidi and other format characters, line and paragraph
    separators, unpaired surrogates) as a Python-style escape (``\\n``, ``\\x1b``, ``\\u202e``),
    and a backslash doubled, so that an escape in the output always means one in the name.
    """
    # Fast path for the usual key: str.isprintable runs in C.
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_char(c) for c in text)


def _escape_char(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def short_name(key: str) -> str:
    """A key as an error message names it: escaped, in double quotes, and when longer than
    :data:`SHORT_NAME_CHARS` characters its start and end with its length in characters and
    UTF-8 bytes (the clouds' limits count one or the other)."""
    if len(key) <= SHORT_NAME_CHARS:
        return f'"{escaped(key)}"'
    size = len(key.encode("utf-8", "surrogatepass"))
    return f'"{escaped(key[:_HEAD_CHARS])}…{escaped(key[-_TAIL_CHARS:])}" ({len(key)} chars, {size} bytes)'
