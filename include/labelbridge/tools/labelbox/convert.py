"""One line of a Labelbox export v2 (NDJSON) as Label Studio annotations, so that every export
format labelbridge writes (COCO, YOLO, VOC, JSON...) works on labels made in Labelbox.

The line's shape follows docs.labelbox.com/reference/export-image-annotations and
/reference/export-overview (export v2, "streamable" NDJSON, one data row per line)::

    {"data_row": {"id", "global_key", "external_id", "row_data", "details": {...}},
     "media_attributes": {"width", "height", "mime_type", ...},
     "projects": {"<project id>": {"labels": [{"id", "label_details": {"created_at", "updated_at",
                  "created_by", ...}, "performance_details": {"seconds_to_create", ...},
                  "annotations": {"objects": [...], "classifications": [...], "relationships": [...]}}],
                  "project_details": {"workflow_status", ...}}}}

Labelbox measures in pixels from the image's top-left corner; Label Studio in percent of the image
size, which each region carries (``original_width`` / ``original_height``). Bounding boxes become
``rectanglelabels``, polygons ``polygonlabels``, points ``keypointlabels``, radio and checklist
classifications ``choices``, free text ``textarea``. Other kinds (lines, masks, ...) are counted
and left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: The annotation origin keys of Labelbox labels (Label Studio's are bare numbers).
KEY_PREFIX = "labelbox:"
KEY_PATTERN = r"^labelbox:"


class _BadLine(ValueError):
    """A line that is not a Labelbox export v2 data row; the message says why (never its content)."""


@dataclass
class Label:
    key: str
    result: list[dict[str, Any]]
    completed_by: str | None
    created_at: str | None
    lead_time: float | None
    extra: dict[str, Any]


@dataclass
class DataRow:
    global_key: str | None
    labels: list[Label] = field(default_factory=list)
    #: Objects of kinds no Label Studio region holds (lines, masks, ...), by kind.
    unmapped: dict[str, int] = field(default_factory=dict)
    #: Boxes or points outside the image, clipped to it.
    clipped: int = 0


def data_row(line: Any, *, project_id: str | None = None) -> DataRow:
    """The labels of one export line; ``project_id``: only that Labelbox project's.

    :raises _BadLine: not an object, no ``data_row``, a label without an id, a geometry that is
        not numbers, a box without the image size it needs.
    """
    if not isinstance(line, dict):
        raise _BadLine(f"expected a JSON object, got {type(line).__name__}")
    row = line.get("data_row")
    if not isinstance(row, dict):
        raise _BadLine("no 'data_row' object")
    key = row.get("global_key")
    if key is not None and not isinstance(key, str):
        raise _BadLine("'data_row.global_key' is not a string")
    found = DataRow(key)
    projects = line.get("projects") or {}
    if not isinstance(projects, dict):
        raise _BadLine("'projects' is not an object")
    size = _size(line.get("media_attributes"))
    for pid, proj in projects.items():
        if project_id is not None and pid != project_id:
            continue
        if not isinstance(proj, dict):
            raise _BadLine(f"'projects.{pid}' is not an object")
        status = (proj.get("project_details") or {}).get("workflow_status")
        labels = proj.get("labels") or []
        if not isinstance(labels, list):
            raise _BadLine(f"'projects.{pid}.labels' is not a list")
        for index, label in enumerate(labels):
            found.labels.append(_label(label, f"projects.{pid}.labels[{index}]", pid, row, status, size, found))
    return found


def _size(media: Any) -> tuple[float, float] | None:
    if not isinstance(media, dict):
        return None
    width, height = media.get("width"), media.get("height")
    if isinstance(width, int | float) and isinstance(height, int | float) and width > 0 and height > 0:
        return float(width), float(height)
    return None


def _label(
    label: Any,
    where: str,
    project_id: str,
    row: dict[str, Any],
    status: Any,
    size: tuple[float, float] | None,
    found: DataRow,
) -> Label:
    if not isinstance(label, dict) or not isinstance(label.get("id"), str) or not label["id"]:
        raise _BadLine(f"'{where}' has no 'id'")
    details = label.get("label_details") or {}
    annotations = label.get("annotations") or {}
    if not isinstance(details, dict) or not isinstance(annotations, dict):
        raise _BadLine(f"'{where}.label_details' or '.annotations' is not an object")
    result: list[dict[str, Any]] = []
    for index, obj in enumerate(annotations.get("objects") or []):
        region = _object(obj, f"{where}.annotations.objects[{index}]", size, found)
        if region is not None:
            result.append(region)
    for index, item in enumerate(annotations.get("classifications") or []):
        result.append(_classification(item, f"{where}.annotations.classifications[{index}]"))
    performance = label.get("performance_details") or {}
    lead = performance.get("seconds_to_create") if isinstance(performance, dict) else None
    author = details.get("created_by")
    return Label(
        key=KEY_PREFIX + label["id"],
        result=result,
        completed_by=author if isinstance(author, str) else None,
        created_at=details.get("created_at") if isinstance(details.get("created_at"), str) else None,
        lead_time=float(lead) if isinstance(lead, int | float) else None,
        extra={
            # What the upsert compares: a label is rewritten only when Labelbox's own time moved.
            "updated_at": details.get("updated_at") or details.get("content_last_updated_at"),
            "labelbox": {
                "label_id": label["id"], "project_id": project_id, "data_row_id": row.get("id"),
                "workflow_status": status, "reviews": details.get("reviews") or [],
            },
        },
    )  # fmt: skip


def _percent(pixels: float, size: float) -> float:
    """Pixels as percent of the image, such that converting back (``percent / 100 * size``, as every
    exporter does) gives at least the pixels: VOC floors, and 100/300*100/100*300 is 99.99999999999999,
    a pixel off. Rounded to 10 decimals where that holds (12.25, not 12.250000000000002)."""
    percent = round(pixels / size * 100, 10)
    if percent / 100 * size < pixels:
        percent = pixels / size * 100
        while percent / 100 * size < pixels:
            percent = math.nextafter(percent, math.inf)
    return percent


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadLine(f"'{where}' is not a number")
    return float(value)


def _clip(value: float, limit: float, found: DataRow) -> float:
    clipped = min(max(value, 0.0), limit)
    if clipped != value:
        found.clipped += 1
    return clipped


def _object(obj: Any, where: str, size: tuple[float, float] | None, found: DataRow) -> dict[str, Any] | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise _BadLine(f"'{where}' has no 'name'")
    geometry = next((k for k in ("bounding_box", "polygon", "point") if k in obj), None)
    if geometry is None:
        kind = str(obj.get("annotation_kind") or "unknown")
        found.unmapped[kind] = found.unmapped.get(kind, 0) + 1
        return None
    if size is None:
        raise _BadLine(f"'{where}' is a {geometry} but 'media_attributes' has no width and height to place it")
    width, height = size
    region: dict[str, Any] = {
        "id": str(obj.get("feature_id") or ""), "from_name": "label", "to_name": "image",
        "original_width": int(width), "original_height": int(height), "image_rotation": 0,
    }  # fmt: skip
    if geometry == "bounding_box":
        box = obj["bounding_box"]
        if not isinstance(box, dict):
            raise _BadLine(f"'{where}.bounding_box' is not an object")
        left = _number(box.get("left"), f"{where}.bounding_box.left")
        top = _number(box.get("top"), f"{where}.bounding_box.top")
        box_width = _number(box.get("width"), f"{where}.bounding_box.width")
        box_height = _number(box.get("height"), f"{where}.bounding_box.height")
        # A box reaching past the image (a labeler's drag beyond its edge) is cut at the edge.
        x0, x1 = _clip(left, width, found), _clip(left + box_width, width, found)
        y0, y1 = _clip(top, height, found), _clip(top + box_height, height, found)
        # Labelbox's own width unless cut: 401.6 - 323.2 is 78.40000000000003.
        box_width = box_width if (x0, x1) == (left, left + box_width) else x1 - x0
        box_height = box_height if (y0, y1) == (top, top + box_height) else y1 - y0
        region["type"] = "rectanglelabels"
        region["value"] = {
            "x": _percent(x0, width), "y": _percent(y0, height), "width": _percent(box_width, width),
            "height": _percent(box_height, height), "rotation": 0, "rectanglelabels": [obj["name"]],
        }  # fmt: skip
    elif geometry == "polygon":
        points = obj["polygon"]
        if not isinstance(points, list) or len(points) < 3:
            raise _BadLine(f"'{where}.polygon' is not a list of at least 3 points")
        region["type"] = "polygonlabels"
        region["value"] = {
            "points": [
                [_percent(_clip(_number(p.get("x") if isinstance(p, dict) else None, f"{where}.polygon[{i}].x"),
                                width, found), width),
                 _percent(_clip(_number(p.get("y") if isinstance(p, dict) else None, f"{where}.polygon[{i}].y"),
                                height, found), height)]
                for i, p in enumerate(points)
            ],
            "closed": True, "polygonlabels": [obj["name"]],
        }  # fmt: skip
    else:
        point = obj["point"]
        if not isinstance(point, dict):
            raise _BadLine(f"'{where}.point' is not an object")
        x = _clip(_number(point.get("x"), f"{where}.point.x"), width, found)
        y = _clip(_number(point.get("y"), f"{where}.point.y"), height, found)
        region["type"] = "keypointlabels"
        region["value"] = {
            "x": _percent(x, width),
            "y": _percent(y, height),
            "width": 0.5,
            "keypointlabels": [obj["name"]],
        }
    return region


def _classification(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise _BadLine(f"'{where}' has no 'name'")
    region: dict[str, Any] = {"id": str(item.get("feature_id") or ""), "from_name": item["name"], "to_name": "image"}
    if isinstance(item.get("radio_answer"), dict):
        region["type"], region["value"] = "choices", {"choices": [str(item["radio_answer"].get("name"))]}
    elif isinstance(item.get("checklist_answers"), list):
        names = [str(a.get("name")) for a in item["checklist_answers"] if isinstance(a, dict)]
        region["type"], region["value"] = "choices", {"choices": names}
    elif isinstance(item.get("text_answer"), dict):
        region["type"], region["value"] = "textarea", {"text": [str(item["text_answer"].get("content", ""))]}
    else:
        raise _BadLine(f"'{where}' has no radio_answer, checklist_answers or text_answer")
    return region
