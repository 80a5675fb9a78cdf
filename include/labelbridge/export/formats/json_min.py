"""``json_min``: label-studio-converter's JSON-MIN: one flat record per (not cancelled) annotation.

A record is the task's ``data`` plus ``id``, one key per ``from_name`` holding the prettified
results (a lone choice or text becomes a string), ``annotator``, ``annotation_id``,
``created_at``, ``updated_at`` and ``lead_time``. A task without annotations gives one record with
empty annotation fields; a task whose annotations are all cancelled gives none.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from msgspec import UNSET

from labelbridge.export.formats.base import FormatWriter
from labelbridge.export.formats.json import json_array
from labelbridge.export.output import RunOutput, Tally
from labelbridge.export.records import TAG_NAMES, AnnotationRecord, MalformedTask, TaskRecord, dumps_json


def outputs(annotation: AnnotationRecord | None) -> dict[str, Any]:
    """Result values grouped by ``from_name`` and prettified as the converter does.

    A value gets the result's image size; a lone choice or text becomes a plain string, and a
    ``from_name`` whose only result is a choices or text area holds that item instead of a list.
    """
    grouped: dict[str, list[Any]] = {}
    last_tags: dict[str, str] = {}
    for result in annotation.result if annotation else []:
        value = result.value
        if result.from_name is UNSET or not isinstance(value, dict):
            continue
        tag = TAG_NAMES.get(result.type.lower(), result.type)
        if tag == "Choices" and len(value.get("choices") or []) == 1:
            item: Any = value["choices"][0]
        elif tag == "TextArea" and len(value.get("text") or []) == 1:
            item = value["text"][0]
        else:
            # The converter's value: its own keys but "type", then the image size.
            item = dict(value)
            item.pop("type", None)
            if result.original_width is not UNSET:
                item["original_width"] = result.original_width
            if result.original_height is not UNSET:
                item["original_height"] = result.original_height
        name = str(result.from_name)
        if name in grouped:
            grouped[name].append(item)
        else:
            grouped[name] = [item]
        last_tags[name] = tag
    for name, items in grouped.items():
        if len(items) == 1 and last_tags[name] in ("Choices", "TextArea"):
            grouped[name] = items[0]
    return grouped


def annotator(annotation: AnnotationRecord | None, *, int_id: bool) -> Any:
    user = annotation.completed_by if annotation else {}
    if isinstance(user, dict):
        return user.get("email")
    if isinstance(user, int) and int_id:
        return user
    return str(user)


def records(writer: FormatWriter, task: TaskRecord) -> Iterator[tuple[AnnotationRecord | None, dict[str, Any]]]:
    """The converter's items for one task: one per active annotation, newest first."""
    active = writer.count_converter_skips(task)
    if not task.annotations:
        yield None, {}
    for annotation in active:
        yield annotation, outputs(annotation)


def annotation_fields(annotation: AnnotationRecord | None) -> dict[str, Any]:
    ls = annotation.ls if annotation else {}
    return {
        "annotation_id": ls.get("id"),
        "created_at": ls.get("created_at"),
        "updated_at": ls.get("updated_at"),
        "lead_time": ls.get("lead_time"),
    }


class JsonMinFormat(FormatWriter):
    name = "json_min"

    def write(self, tasks: Iterator[TaskRecord | MalformedTask], out: RunOutput) -> None:
        tally = Tally()
        out.write_stream("result.json", json_array(self._lines(tasks, tally)), tally=tally,
                         content_type="application/json")

    def _lines(self, tasks: Iterator[TaskRecord | MalformedTask], tally: Tally) -> Iterator[bytes]:
        for task in self.good_tasks(tasks):
            wrote = False
            for annotation, grouped in records(self, task):
                record = dict(task.data)
                record["id"] = task.id
                record.update(grouped)
                record["annotator"] = annotator(annotation, int_id=True)
                record.update(annotation_fields(annotation))
                if annotation is not None:
                    tally.annotations += 1
                    self.stats.annotations_exported += 1
                wrote = True
                yield dumps_json(record).encode()
            if wrote:
                tally.tasks += 1
                self.stats.tasks_exported += 1
