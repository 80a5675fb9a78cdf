"""Label Studio JSON task files: a list of tasks, one task, or JSON Lines (one task per line).

A task is ``{"data": {...}, "annotations": [...], "predictions": [...], "meta": {...}}`` or a flat
dict that is its own ``data``. Any defect makes the whole file invalid (:class:`TaskFileError`
names where: line and column, or task index and field path): a half-read file must not touch
stored tasks. Defects include what Python parses but PostgreSQL refuses (:mod:`labelbridge.db.jsonb`)
and two annotations or predictions of one task with the same id. Messages never quote content.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from labelbridge.db.jsonb import DECODER, jsonb_problem, needs_string_check
from labelbridge.errors import TaskFileError

#: Keys that mark a dict as a full task rather than a flat data dict.
TASK_KEYS = frozenset({"data", "annotations", "predictions", "meta", "completions"})
#: A JSON (not JSON Lines) file is parsed whole; beyond this, ask for JSON Lines instead.
MAX_JSON_FILE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ParsedTask:
    index: int
    data: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    annotations: tuple[dict[str, Any], ...] = ()
    predictions: tuple[dict[str, Any], ...] = ()


def parse_task_file(key: str, stream: IO[bytes]) -> list[ParsedTask]:
    """Parse one task file; ``.jsonl`` (or ``.ndjson``) keys are read as JSON Lines.

    :raises TaskFileError: with the location and reason of the first defect.
    """
    if key.endswith((".jsonl", ".ndjson")):
        return list(_parse_json_lines(stream))
    raw = stream.read(MAX_JSON_FILE_BYTES + 1)
    if len(raw) > MAX_JSON_FILE_BYTES:
        raise TaskFileError(f"larger than {MAX_JSON_FILE_BYTES // 2**20} MiB; split it or use JSON Lines (.jsonl)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _position(raw, exc.start)
        raise TaskFileError(f"line {line} column {column}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    document = _decode(text)
    if not isinstance(document, list | dict):
        raise TaskFileError(f"top level: expected an array of tasks or one task object, got {_type(document)}")
    items = document if isinstance(document, list) else [document]
    strings = needs_string_check(text)
    return [_task(item, index, where=f"task {index}", strings=strings) for index, item in enumerate(items)]


def _decode(text: str, *, line_no: int | None = None) -> Any:
    """Parse JSON text (a whole file, or line ``line_no`` of JSON Lines); every failure is a TaskFileError."""
    where = "top level" if line_no is None else f"line {line_no}"
    try:
        return DECODER.decode(text)
    except json.JSONDecodeError as exc:
        line = exc.lineno if line_no is None else line_no
        raise TaskFileError(f"line {line} column {exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise TaskFileError(f"{where}: nested deeper than the JSON parser can follow") from None
    except ValueError:
        # int() refuses literals past the interpreter's digit limit (CVE-2020-10735).
        raise TaskFileError(
            f"{where}: a number literal has more than {sys.get_int_max_str_digits()} digits"
        ) from None


def _parse_json_lines(stream: IO[bytes]) -> Iterator[ParsedTask]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    index = 0
    for line_no, raw_line in enumerate(stream, 1):
        try:
            line = decoder.decode(raw_line, final=False)
        except UnicodeDecodeError as exc:
            raise TaskFileError(
                f"line {line_no} column {exc.start + 1}: not UTF-8 ({exc.reason} at byte {exc.start} of the line)"
            ) from None
        if line_no == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        item = _decode(line.rstrip("\r\n"), line_no=line_no)
        yield _task(item, index, where=f"line {line_no} (task {index})", strings=needs_string_check(line))
        index += 1


def _task(item: Any, index: int, *, where: str, strings: bool) -> ParsedTask:
    if not isinstance(item, dict):
        raise TaskFileError(f"{where}: expected an object, got {_type(item)}")
    problem = jsonb_problem(item, check_strings=strings)
    if problem is not None:
        path, why = problem
        raise TaskFileError(f"{where}: field {path}: {why}")
    if not TASK_KEYS.intersection(item):
        return ParsedTask(index, item)
    if "data" not in item:
        present = ", ".join(sorted(TASK_KEYS.intersection(item)))
        raise TaskFileError(f"{where}: has {present} but no 'data'")
    data = item["data"]
    if not isinstance(data, dict):
        raise TaskFileError(f"{where}: 'data' must be an object, got {_type(data)}")
    meta = item.get("meta") or {}
    if not isinstance(meta, dict):
        raise TaskFileError(f"{where}: 'meta' must be an object, got {_type(meta)}")
    # Label Studio 0.x called annotations "completions"; both import the same way.
    annotations = _list_of_objects(item.get("annotations", item.get("completions")), f"{where}: 'annotations'")
    predictions = _list_of_objects(item.get("predictions"), f"{where}: 'predictions'")
    _refuse_repeated_ids(annotations, f"{where}: annotations")
    _refuse_repeated_ids(predictions, f"{where}: predictions")
    _refuse_unstorable_numbers(annotations, "lead_time", f"{where}: annotations")
    _refuse_unstorable_numbers(predictions, "score", f"{where}: predictions")
    return ParsedTask(index, data, meta, annotations, predictions)


def origin_key(item: dict[str, Any], position: int) -> str:
    """An annotation's or prediction's identity within its task, as stored in ``origin_key``."""
    # Label Studio ids survive reordering inside the file; positions are the fallback.
    return f"id:{item['id']}" if item.get("id") is not None else f"pos:{position}"


def _refuse_repeated_ids(items: tuple[dict[str, Any], ...], where: str) -> None:
    # Two with one identity would both claim one row: which one a labeler meant is unknowable.
    first: dict[str, int] = {}
    for position, element in enumerate(items):
        seen = first.setdefault(origin_key(element, position), position)
        if seen != position:
            raise TaskFileError(f"{where}[{position}] has the same id as {where.rsplit(': ', 1)[-1]}[{seen}]")


def _list_of_objects(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TaskFileError(f"{where} must be a list, got {_type(value)}")
    for position, element in enumerate(value):
        if not isinstance(element, dict):
            raise TaskFileError(f"{where}[{position}] must be an object, got {_type(element)}")
        result = element.get("result", [])
        if not isinstance(result, list):
            raise TaskFileError(f"{where}[{position}].result must be a list, got {_type(result)}")
    return tuple(value)


def _refuse_unstorable_numbers(items: tuple[dict[str, Any], ...], key: str, where: str) -> None:
    # These land in double precision columns: an integer past the float range cannot (and the
    # jsonb check has already refused non-finite floats).
    for position, element in enumerate(items):
        value = element.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
            raise TaskFileError(f"{where}[{position}].{key}: a number beyond the 64-bit float range")


_FLOAT_MAX = int(sys.float_info.max)


def _type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, column
