"""One line of a Ground Truth output manifest, as Label Studio result JSON.

Format (docs.aws.amazon.com/sagemaker/latest/dg/sms-data-output.html): each input line plus
``<attribute>`` (the label) and ``<attribute>-metadata`` (class names, confidence, job, date, type).
Mapped to what Label Studio's editor saves, so every export format reads Ground Truth's labels:

- classification (image or text, single or multi-label): one ``choices`` result;
- bounding boxes (pixels, top-left origin, ``class_id`` through the class map): ``rectanglelabels``
  in percent of ``image_size``, with ``original_width``/``original_height``;
- semantic segmentation: a ``labelmap`` result keeping the label-map PNG's ``s3://`` URI and the
  job's colour map (no format decodes the PNG: the JSON formats carry it, the box formats skip it).

A line that cannot be read raises :class:`_BadLine` with why; the caller quarantines it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labelbridge.config import GroundTruthConfig

#: Extra key each input manifest line carries (Ground Truth passes it through): the labeling-DB task.
TASK_KEY = "labelbridge-task-id"


class _BadLine(ValueError):
    """An output line that cannot become an annotation; the message says why."""


@dataclass(frozen=True)
class LabeledLine:
    """What one output line says: which task, the result, and the job's facts about it."""

    task_id: int | None
    source_ref: str | None
    result: list[dict[str, Any]]
    extra: dict[str, Any]
    created_at: str | None
    #: Boxes cut back to the image's edges.
    clipped: int = 0


class _Unlabeled(Exception):
    """A line Ground Truth did not label (the object failed or expired): no annotation, not an error."""


def parse_line(obj: Any, gt: GroundTruthConfig) -> LabeledLine:
    """The annotation an output manifest line holds.

    :raises _BadLine: the line is malformed (the message says what is wrong).
    :raises _Unlabeled: Ground Truth wrote a failure for this object instead of a label.
    """
    if not isinstance(obj, dict):
        raise _BadLine(f"not a JSON object but {type(obj).__name__}")
    attribute = gt.label_attribute
    meta = obj.get(f"{attribute}-metadata")
    if attribute not in obj:
        if isinstance(meta, dict) and "failure-reason" in meta:
            raise _Unlabeled(str(meta["failure-reason"]))
        raise _BadLine(f"no {attribute!r} key (the job's LabelAttributeName?)")
    if meta is None:
        raise _BadLine(f"{attribute!r} without its {attribute + '-metadata'!r}: class names, job and date unknown")
    if not isinstance(meta, dict):
        raise _BadLine(f"{attribute + '-metadata'!r} is not an object")
    if meta.get("type") != gt.metadata_type:
        raise _BadLine(f"metadata type {meta.get('type')!r}, expected {gt.metadata_type!r} ({gt.task_type})")
    task_id = obj.get(TASK_KEY)
    if task_id is not None and (isinstance(task_id, bool) or not isinstance(task_id, int)):
        raise _BadLine(f"{TASK_KEY!r} is not an integer")
    source_ref = obj.get("source-ref")
    if source_ref is not None and not isinstance(source_ref, str):
        raise _BadLine("'source-ref' is not a string")
    if task_id is None and source_ref is None:
        raise _BadLine(f"neither {TASK_KEY!r} nor 'source-ref': no way to find its task")
    value = obj[attribute]
    clipped = 0
    if gt.task_type == "bounding_box":
        result, clipped = _boxes(value, meta, gt)
    elif gt.task_type == "semantic_segmentation":
        result = _label_map(value, meta, gt)
    else:
        result = _choices(value, meta, gt)
    extra = {
        # The job's own date: a re-labeled object comes back with a newer one and updates its annotation.
        "updated_at": meta.get("creation-date"),
        "job_name": meta.get("job-name"),
        "human_annotated": meta.get("human-annotated"),
        "type": meta.get("type"),
    }
    if "confidence" in meta:
        extra["confidence"] = meta["confidence"]
    if "adjustment-status" in meta:
        extra["adjustment_status"] = meta["adjustment-status"]
    created = meta.get("creation-date")
    return LabeledLine(task_id, source_ref, result, extra, created if isinstance(created, str) else None, clipped)


def _class_map(meta: dict[str, Any], gt: GroundTruthConfig) -> dict[int, str]:
    """The job's class map (``class-map`` in the metadata), else storages.yaml's ``class_map``."""
    found = meta.get("class-map")
    if isinstance(found, dict):
        try:
            return {int(k): str(v) for k, v in found.items()}
        except (TypeError, ValueError):
            raise _BadLine("'class-map' keys are not class ids") from None
    return dict(gt.class_map)


def _name(class_id: Any, classes: dict[int, str]) -> str:
    if isinstance(class_id, bool) or not isinstance(class_id, int):
        raise _BadLine(f"class id {class_id!r} is not an integer")
    try:
        return classes[class_id]
    except KeyError:
        known = ", ".join(str(k) for k in sorted(classes)) or "none"
        raise _BadLine(
            f"class id {class_id} is in neither the job's class-map nor ground_truth.class_map (known: {known})"
        ) from None


def _region(gt: GroundTruthConfig, kind: str, value: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"from_name": gt.label_attribute, "to_name": gt.source_field, "type": kind, "value": value, **more}


def _choices(value: Any, meta: dict[str, Any], gt: GroundTruthConfig) -> list[dict[str, Any]]:
    if gt.task_type.endswith("_multilabel"):
        if not isinstance(value, list):
            raise _BadLine(f"a multi-label answer is a list of class ids, not {type(value).__name__}")
        classes = _class_map(meta, gt)
        names = [_name(v, classes) for v in value]
    else:
        name = meta.get("class-name")
        if isinstance(name, str) and name:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _BadLine(f"class id {value!r} is not an integer")
            names = [name]
        else:
            names = [_name(value, _class_map(meta, gt))]
    return [_region(gt, "choices", {"choices": names})]


def _boxes(value: Any, meta: dict[str, Any], gt: GroundTruthConfig) -> tuple[list[dict[str, Any]], int]:
    if not isinstance(value, dict):
        raise _BadLine("a bounding-box answer is an object with image_size and annotations")
    try:
        size = value["image_size"][0]
        width, height = size["width"], size["height"]
    except (KeyError, IndexError, TypeError):
        raise _BadLine("no image_size[0].width/height") from None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        raise _BadLine(f"image_size {width!r}x{height!r} is not a positive size")
    boxes = value.get("annotations")
    if not isinstance(boxes, list):
        raise _BadLine("no 'annotations' list")
    classes = _class_map(meta, gt)
    found_objects = meta.get("objects")
    objects: list[Any] = found_objects if isinstance(found_objects, list) else []
    result: list[dict[str, Any]] = []
    clipped = 0
    for index, box in enumerate(boxes):
        if not isinstance(box, dict):
            raise _BadLine(f"annotations[{index}] is not an object")
        name = _name(box.get("class_id"), classes)
        try:
            left, top, w, h = (float(box[k]) for k in ("left", "top", "width", "height"))
        except (KeyError, TypeError, ValueError):
            raise _BadLine(f"annotations[{index}] lacks numeric left/top/width/height") from None
        # Cut a box back to the image (a worker may drag past the edge); one wholly outside is no box.
        x0, y0 = max(left, 0.0), max(top, 0.0)
        x1, y1 = min(left + w, float(width)), min(top + h, float(height))
        if w <= 0 or h <= 0 or x1 <= x0 or y1 <= y0:
            raise _BadLine(
                f"annotations[{index}] ({left:g},{top:g} {w:g}x{h:g}) lies outside the {width}x{height} image"
            )
        if (x0, y0, x1, y1) != (left, top, left + w, top + h):
            clipped += 1
        region = _region(
            gt, "rectanglelabels",
            {"x": x0 * 100 / width, "y": y0 * 100 / height, "width": (x1 - x0) * 100 / width,
             "height": (y1 - y0) * 100 / height, "rotation": 0, "rectanglelabels": [name]},
            original_width=int(width), original_height=int(height), image_rotation=0,
        )  # fmt: skip
        confidence = objects[index].get("confidence") if index < len(objects) and isinstance(
            objects[index], dict) else None  # fmt: skip
        if isinstance(confidence, int | float):
            region["score"] = confidence
        result.append(region)
    return result, clipped


def _label_map(value: Any, meta: dict[str, Any], gt: GroundTruthConfig) -> list[dict[str, Any]]:
    if not isinstance(value, str) or not value.startswith("s3://"):
        raise _BadLine(f"a semantic-segmentation answer is the label map's s3:// URI, not {value!r}")
    colours = meta.get("internal-color-map")
    if not isinstance(colours, dict):
        raise _BadLine("no 'internal-color-map' in the metadata: the label map's colours mean nothing")
    classes: dict[str, dict[str, Any]] = {}
    for key, entry in colours.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("class-name"), str):
            raise _BadLine(f"internal-color-map[{key!r}] has no class-name")
        classes[str(key)] = {"class_name": entry["class-name"], "hex_color": entry.get("hex-color")}
    return [_region(gt, "labelmap", {"labelmap": value, "classes": classes})]
