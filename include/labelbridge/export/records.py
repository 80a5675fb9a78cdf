"""Tasks as the exporters see them, whether read from the labeling DB or from a Label Studio JSON file.

A task whose annotation or prediction JSON is malformed becomes a :class:`MalformedTask` naming the
task id and why; writers skip it and the run reports it, so one bad row never stops an export.

The DB source hands over stored JSON as text (``data_json``, ``result_json``), decoded only when a
format looks inside, and renders a task's Label Studio JSON from PostgreSQL's own text
(:class:`labelbridge.export._db_records.StoredTask`). So ``json``/``jsonl`` never decode and re-encode a
result, and the converter formats decode just what they read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

#: Label Studio result ``type`` (lower case, as stored) -> the labeling-config tag name the
#: converter puts into ``value["type"]`` for json_min/csv.
TAG_NAMES = {
    "choices": "Choices",
    "textarea": "TextArea",
    "labels": "Labels",
    "rectanglelabels": "RectangleLabels",
    "rectangle": "Rectangle",
    "polygonlabels": "PolygonLabels",
    "polygon": "Polygon",
    "keypointlabels": "KeyPointLabels",
    "keypoint": "KeyPoint",
    "brushlabels": "BrushLabels",
    "ellipselabels": "EllipseLabels",
    "rating": "Rating",
    "number": "Number",
    "datetime": "DateTime",
    "taxonomy": "Taxonomy",
    "hypertextlabels": "HyperTextLabels",
    "paragraphlabels": "ParagraphLabels",
    "timeserieslabels": "TimeSeriesLabels",
    "pairwise": "Pairwise",
    "ranker": "Ranker",
    "relation": "Relation",
}


_decode_json = msgspec.json.Decoder().decode


def decode_stored(text: str) -> Any:
    """JSON text from the DB, decoded as ``json.loads`` would, about twice as fast.

    msgspec refuses numbers beyond a float's range (jsonb keeps them); json.loads makes them inf.
    """
    try:
        return _decode_json(text)
    except msgspec.DecodeError:
        return json.loads(text)


class Region(msgspec.Struct):
    """One result of an annotation, holding just what the converter formats read.

    Other keys (``id``, ``to_name``, ...) are skipped while decoding. ``UNSET`` marks a key the
    result does not have: the converter copies ``original_width`` only when it is there.
    """

    type: str
    value: Any = None
    from_name: Any = msgspec.UNSET
    original_width: Any = msgspec.UNSET
    original_height: Any = msgspec.UNSET


_decode_regions = msgspec.json.Decoder(list[Region] | None).decode


def decode_regions(text: str) -> tuple[list[Region], str | None]:
    """A ``result`` from its JSON text, and why it is unusable (``None`` when it is fine).

    msgspec checks the layout while decoding (a list of objects with a string ``type``); only
    what fails there, or lacks an object ``value``, is decoded again to word the problem as
    :func:`result_problem` does.
    """
    try:
        regions = _decode_regions(text)
    except msgspec.DecodeError:
        generic = decode_stored(text)  # numbers beyond a float's range become inf, as json.loads does
        problem = result_problem(generic)
        return ([], problem) if problem else (msgspec.convert(generic or [], list[Region]), None)
    if regions is None:
        return [], None
    for region in regions:
        if type(region.value) is not dict and region.type != "relation":
            return [], result_problem(decode_stored(text))
    return regions, None


class AnnotationRecord:
    """One annotation in Label Studio's export shape (``ls`` is the dict written to JSON).

    A plain class with slots rather than a frozen dataclass: one is built for every annotation
    read, and a frozen dataclass's ``__init__`` costs several times more. The DB source's subclass
    (:class:`labelbridge.export._db_records.StoredAnnotation`) reads its row instead of ``ls``.
    """

    __slots__ = ("_ls", "_result")

    def __init__(self, ls: Mapping[str, Any]) -> None:
        self._ls: Mapping[str, Any] | None = ls
        self._result: list[Region] | None = None

    @property
    def ls(self) -> Mapping[str, Any]:
        return self._ls or {}

    @property
    def was_cancelled(self) -> bool:
        return bool(self.ls.get("was_cancelled") or self.ls.get("skipped"))

    @property
    def ground_truth(self) -> bool:
        return bool(self.ls.get("ground_truth"))

    @property
    def result(self) -> list[Region]:
        """The regions, decoded on first use (a file's result was checked by :func:`ls_task`)."""
        if self._result is None:
            self._result = msgspec.convert(self.ls.get("result") or [], list[Region])
        return self._result

    @property
    def created_at(self) -> str:
        return str(self.ls.get("created_at") or "")

    @property
    def completed_by(self) -> Any:
        return self.ls.get("completed_by")


@dataclass
class TaskRecord:
    """One task with its annotations (all, cancelled included) and predictions.

    Not frozen: one is built per task read, and a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__``. Nothing changes a record after it is built.

    :param data_json: ``data`` as JSON text when the source left it undecoded (decoded on first use).
    :param image: ``(field, path)``: the image path the source computed already for that ``data`` field.
    """

    id: int
    ls: Mapping[str, Any]
    annotations: tuple[AnnotationRecord, ...]
    data_json: str | None = None
    image: tuple[str, str | None] | None = None

    @property
    def data(self) -> Mapping[str, Any]:
        cached: Mapping[str, Any] | None = self.__dict__.get("_data")
        if cached is None:
            data = decode_stored(self.data_json) if self.data_json is not None else self.ls.get("data")
            # dict first: an ABC isinstance check costs more than the rest of this property.
            cached = self.__dict__["_data"] = data if type(data) is dict or isinstance(data, Mapping) else {}
        return cached

    def export_json(self) -> str:
        """The task as Label Studio's JSON export writes it (one line)."""
        return json.dumps(self.ls, ensure_ascii=False)

    def active_annotations(self) -> list[AnnotationRecord]:
        """Not cancelled, newest first: the converter's order (``created_at`` descending, stable)."""
        if len(self.annotations) == 1:
            return [] if self.annotations[0].was_cancelled else [self.annotations[0]]
        kept = [a for a in self.annotations if not a.was_cancelled]
        return sorted(kept, key=lambda a: a.created_at, reverse=True) if len(kept) > 1 else kept

    def chosen_annotation(self, active: list[AnnotationRecord] | None = None) -> AnnotationRecord | None:
        """The one annotation image formats export: a ground truth if any, else the newest.

        :param active: :meth:`active_annotations`, when the caller has it already.
        """
        if active is None:
            active = self.active_annotations()
        if len(active) == 1:
            return active[0]
        truths = [a for a in active if a.ground_truth]
        best = truths or active
        return best[0] if best else None


@dataclass(frozen=True)
class MalformedTask:
    """A task left out of the export, with the task id and why."""

    id: int | str
    reason: str
    annotations: int = 0


def ls_task(
    task_id: int,
    *,
    data: Any,
    meta: Any,
    annotations: list[dict[str, Any]],
    predictions: list[dict[str, Any]],
    created_at: str | None,
    updated_at: str | None,
) -> TaskRecord | MalformedTask:
    """Build a task in Label Studio's JSON export shape, validating every result list."""
    if not isinstance(data, dict):
        return MalformedTask(task_id, f"'data' must be an object, got {_type(data)}", len(annotations))
    for kind, items in (("annotation", annotations), ("prediction", predictions)):
        for item in items:
            problem = result_problem(item.get("result"))
            if problem:
                return MalformedTask(task_id, f"{kind} {item.get('id')}: {problem}", len(annotations))
    cancelled = sum(1 for a in annotations if a.get("was_cancelled") or a.get("skipped"))
    task = {
        "id": task_id,
        "data": data,
        "meta": meta if isinstance(meta, dict) else {},
        "annotations": annotations,
        "predictions": predictions,
        "created_at": created_at,
        "updated_at": updated_at,
        "total_annotations": len(annotations) - cancelled,
        "cancelled_annotations": cancelled,
        "total_predictions": len(predictions),
    }
    return TaskRecord(task_id, task, tuple(AnnotationRecord(a) for a in annotations))


def task_from_export_item(item: Any, index: int) -> TaskRecord | MalformedTask:
    """A task from a Label Studio JSON export file (the ``convert`` command's input)."""
    if not isinstance(item, dict):
        return MalformedTask(index, f"item {index}: expected an object, got {_type(item)}")
    task_id = item.get("id", index)
    annotations = item.get("annotations", item.get("completions")) or []
    predictions = item.get("predictions") or []
    for kind, items in (("annotations", annotations), ("predictions", predictions)):
        if not isinstance(items, list) or not all(isinstance(a, dict) for a in items):
            return MalformedTask(task_id, f"'{kind}' must be a list of objects")
    record = ls_task(
        task_id,
        data=item.get("data"),
        meta=item.get("meta"),
        annotations=annotations,
        predictions=predictions,
        created_at=item.get("created_at"),
        updated_at=item.get("updated_at"),
    )
    if isinstance(record, TaskRecord):
        # Keep the file's own task fields (inner_id, project, ...) as Label Studio wrote them.
        return TaskRecord(record.id, {**item, **record.ls}, record.annotations)
    return record


def _json_dumper() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False)``, for formats that call it per row.

    ``JSONEncoder.encode`` runs some eighty bytecodes of Python per call before it builds its C
    encoder (``json.encoder.c_make_encoder``) and hands the value over; here that encoder is built
    once, with the arguments ``encode`` gives it, and called directly.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, check_circular=False)
    make_encoder = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed
    if make_encoder is None:  # no C accelerator in this Python
        return encoder.encode
    encode_string = json.encoder.encode_basestring
    encode = make_encoder(None, encoder.default, encode_string, None, ": ", ", ", False, False, True)

    def dumps(value: Any) -> str:
        return encode_string(value) if isinstance(value, str) else "".join(encode(value, 0))

    return dumps


dumps_json = _json_dumper()


def json_number(value: float) -> str:
    """A number spelled as ``json.dumps`` spells it (``repr``; NaN and Infinity for non-finite floats)."""
    return repr(value) if math.isfinite(value) else json.dumps(value)


def result_problem(result: Any) -> str | None:
    """Why a Label Studio ``result`` list is unusable, or ``None`` when it is fine."""
    if result is None:
        return None
    if type(result) is list:
        # The common case in one test per region; anything else is looked at (and worded) below.
        for region in result:
            if not (type(region) is dict and type(kind := region.get("type")) is str
                    and (kind == "relation" or type(region.get("value")) is dict)):
                break
        else:
            return None
    if not isinstance(result, list):
        return f"result must be a list, got {_type(result)}"
    for position, region in enumerate(result):
        if not isinstance(region, dict):
            return f"result[{position}] must be an object, got {_type(region)}"
        kind = region.get("type")
        if not isinstance(kind, str):
            return f"result[{position}] has no 'type'"
        if kind != "relation" and not isinstance(region.get("value"), dict):
            return f"result[{position}].value must be an object, got {_type(region.get('value'))}"
    return None


def _type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )
