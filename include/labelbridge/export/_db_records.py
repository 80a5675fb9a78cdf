"""Tasks from the labeling DB's rows, as Label Studio JSON text spliced from PostgreSQL's own rendering.

The DB source reads three streams ordered by task id (tasks, annotations, predictions) and merges
them here. Stored JSON (``data``, ``meta``, ``result``, extra keys) arrives as PostgreSQL's jsonb
text and goes into the task's JSON as is: jsonb prints ``, `` and ``: `` between items and escapes
strings as ``json.dumps(..., ensure_ascii=False)`` does, so the text is what decoding and
re-encoding would give (numbers keep their stored spelling). Only what a converter format reads is
decoded, and only when it reads it (:class:`~labelbridge.export.records.AnnotationRecord`).

Each stream's row layout is defined once, below (``*_COLUMNS``): the queries in
:mod:`labelbridge.export.source` select those columns in that order, and the positions used here
are derived from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from labelbridge.export.records import (
    AnnotationRecord,
    MalformedTask,
    Region,
    TaskRecord,
    decode_regions,
    json_number,
    result_problem,
)

# Rows stay plain tuples read by position: the reader thread builds one per row, and a NamedTuple
# costs more (see formats.base.Box). Every layout starts with the task id, which ByTask merges on.
TASK_COLUMNS = ("id", "data_json", "data_type", "meta_json", "created_at", "updated_at", "image_path")
ANNOTATION_COLUMNS = (
    "task_id", "id", "ls_id_json", "completed_by", "result_json", "result_ok", "was_cancelled", "skipped",
    "ground_truth", "lead_time", "extra_json", "created_at", "updated_at",
)
PREDICTION_COLUMNS = ("task_id", "id", "model_version", "score", "result_json", "result_ok", "created_at", "updated_at")
assert TASK_COLUMNS[0] == "id" and ANNOTATION_COLUMNS[0] == PREDICTION_COLUMNS[0] == "task_id"

_T_DATA, _T_DATA_TYPE, _T_IMAGE_PATH = map(TASK_COLUMNS.index, ("data_json", "data_type", "image_path"))
(_A_ID, _A_LS_ID, _A_COMPLETED_BY, _A_RESULT, _A_RESULT_OK, _A_CANCELLED, _A_SKIPPED, _A_TRUTH,
 _A_CREATED) = map(ANNOTATION_COLUMNS.index, ("id", "ls_id_json", "completed_by", "result_json", "result_ok",
                                             "was_cancelled", "skipped", "ground_truth", "created_at"))
_P_ID, _P_RESULT, _P_RESULT_OK, _P_CREATED = map(PREDICTION_COLUMNS.index, ("id", "result_json", "result_ok",
                                                                             "created_at"))

AnnotationRow = tuple[Any, ...]  # ANNOTATION_COLUMNS
PredictionRow = tuple[Any, ...]  # PREDICTION_COLUMNS
TaskRow = tuple[Any, ...]  # TASK_COLUMNS


class ByTask:
    """Rows of a stream ordered by task id, handed out one task at a time."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._head = next(rows, None)

    def take(self, task_id: int) -> list[tuple[Any, ...]]:
        # Every stream has the same snapshot and filter as the task stream, so a row never belongs
        # to a task it has not seen; verification's count would catch one that did.
        taken = []
        head = self._head
        while head is not None and head[0] <= task_id:
            if head[0] == task_id:
                taken.append(head)
            head = next(self._rows, None)
        self._head = head
        return taken


@dataclass
class StoredTask(TaskRecord):
    """A task read from the DB; its Label Studio JSON is rendered from the rows only if a format asks."""

    rows: tuple[TaskRow, list[AnnotationRow], list[PredictionRow]] = field(kw_only=True)

    def export_json(self) -> str:
        # Unpacked whole, in TASK_COLUMNS order: one step rather than an index per column.
        (task_id, data_json, _, meta_json, created_at, updated_at, _), annotations, predictions = self.rows
        if data_json is None:  # read for an image format (iter_tasks(details=False)): no JSON to splice
            raise ValueError(f"task {task_id} was read without its details; its JSON cannot be rendered")
        cancelled = sum(1 for a in self.annotations if a.was_cancelled)
        return (
            f'{{"id": {task_id}, "data": {data_json}, "meta": {meta_json}, '
            f'"annotations": [{", ".join(map(_annotation_json, annotations))}], '
            f'"predictions": [{", ".join(map(_prediction_json, predictions))}], '
            f'"created_at": "{created_at}", "updated_at": "{updated_at}", '
            f'"total_annotations": {len(annotations) - cancelled}, "cancelled_annotations": {cancelled}, '
            f'"total_predictions": {len(predictions)}}}'
        )


def stored_task(
    row: TaskRow, annotations: list[AnnotationRow], predictions: list[PredictionRow], image_field: str | None = None
) -> TaskRecord | MalformedTask:
    """One task from its rows; a malformed ``data`` or result names the task and why.

    :param image_field: the ``data`` field whose image path the row carries (it is NULL without one).
    """
    task_id, data_json, data_type = row[0], row[_T_DATA], row[_T_DATA_TYPE]
    # Label Studio's order: oldest first; ties by our id, so reruns keep the order.
    if len(annotations) > 1:
        annotations.sort(key=lambda a: (a[_A_CREATED], a[_A_ID]))
    if len(predictions) > 1:
        predictions.sort(key=lambda p: (p[_P_CREATED], p[_P_ID]))
    if data_type != "object":
        return MalformedTask(task_id, f"'data' must be an object, got {data_type}", len(annotations))
    records = []
    for a in annotations:
        # result_ok: true passed SQL's check, false is a suspect SQL flagged (decoded only to word the
        # problem), NULL was left unchecked (the format reads every result): decoded and checked
        # here, once, and kept decoded in its record.
        ok, result = a[_A_RESULT_OK], None
        if ok is None:
            result, problem = decode_regions(a[_A_RESULT])
        else:
            problem = None if ok else result_problem(json.loads(a[_A_RESULT]))
        if problem:
            return MalformedTask(task_id, f"annotation {_ls_id(a)}: {problem}", len(annotations))
        records.append(StoredAnnotation(a, result))
    for p in predictions:
        if not p[_P_RESULT_OK] and (problem := result_problem(json.loads(p[_P_RESULT]))):
            return MalformedTask(task_id, f"prediction {p[_P_ID]}: {problem}", len(annotations))
    image = None if image_field is None else (image_field, row[_T_IMAGE_PATH])
    return StoredTask(task_id, {"id": task_id}, tuple(records), data_json=data_json, image=image,
                      rows=(row, annotations, predictions))


def _ls_id(row: AnnotationRow) -> Any:
    # Label Studio's own id when the annotation came with one (SQL picked it); else ours.
    text = row[_A_LS_ID]
    return int(text) if text.isdigit() and text.isascii() else json.loads(text)


class StoredAnnotation(AnnotationRecord):
    """An annotation from its DB row: what image formats test (cancelled, ground truth, age) is read
    from the row, ``result`` is decoded from its stored text unless the source did so already, and
    ``ls`` (the fields ``json_min`` and ``csv`` write) is built on first use.
    """

    __slots__ = ("row",)

    def __init__(self, row: AnnotationRow, result: list[Region] | None = None) -> None:
        self.row = row
        self._ls = None
        self._result = result

    @property
    def ls(self) -> Mapping[str, Any]:
        ls = self._ls
        if ls is None:
            # Unpacked whole, in ANNOTATION_COLUMNS order.
            _, _, _, completed_by, _, _, cancelled, skipped, truth, lead_time, _, created_at, updated_at = self.row
            built: dict[str, Any] = {
                "id": _ls_id(self.row),
                "completed_by": _user(completed_by),
                "was_cancelled": cancelled,
                "ground_truth": truth,
                "created_at": created_at,
                "updated_at": updated_at,
                "lead_time": lead_time,
            }
            if skipped:
                built["skipped"] = skipped
            self._ls = ls = built
        return ls

    @property
    def was_cancelled(self) -> bool:
        return bool(self.row[_A_CANCELLED] or self.row[_A_SKIPPED])

    @property
    def ground_truth(self) -> bool:
        return bool(self.row[_A_TRUTH])

    @property
    def created_at(self) -> str:
        return str(self.row[_A_CREATED] or "")

    @property
    def completed_by(self) -> int | str | None:
        return _user(self.row[_A_COMPLETED_BY])

    @property
    def result(self) -> list[Region]:
        if self._result is None:
            self._result = decode_regions(self.row[_A_RESULT])[0]
        return self._result


def _annotation_json(row: AnnotationRow) -> str:
    # Unpacked whole, in ANNOTATION_COLUMNS order.
    task_id, _, ls_id, completed_by, result_json, _, cancelled, _, truth, lead_time, extra_json, created_at, \
        updated_at = row
    # Extra keys (what Label Studio sent that has no column) follow the columns, as dict.update put them.
    extra = "" if extra_json == "{}" else ", " + extra_json[1:-1]
    return (
        f'{{"id": {ls_id}, "completed_by": {_json(_user(completed_by))}, "result": {result_json}, '
        f'"was_cancelled": {_bool(cancelled)}, "ground_truth": {_bool(truth)}, '
        f'"created_at": "{created_at}", "updated_at": "{updated_at}", "lead_time": {_number(lead_time)}'
        f'{extra}, "task": {task_id}}}'
    )


def _prediction_json(row: PredictionRow) -> str:
    # Unpacked whole, in PREDICTION_COLUMNS order.
    task_id, db_id, model_version, score, result_json, _, created_at, updated_at = row
    return (
        f'{{"id": {db_id}, "model_version": {_json(model_version)}, "score": {_number(score)}, '
        f'"result": {result_json}, "created_at": "{created_at}", "updated_at": "{updated_at}", "task": {task_id}}}'
    )


def _user(value: str | None) -> int | str | None:
    # Label Studio writes user ids as numbers; keep emails and names as they are.
    return int(value) if value is not None and value.isascii() and value.isdigit() else value


def _json(value: int | str | None) -> str:
    if value is None:
        return "null"
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _number(value: float | None) -> str:
    return "null" if value is None else json_number(value)
