"""One base for every format: accounting, malformed tasks, categories, image regions.

Accounting holds one invariant, checked before the manifest is written: every annotation read is
either exported or counted under a named skip reason.
"""

from __future__ import annotations

import hashlib
import math
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from labelbridge.export.output import RunOutput
from labelbridge.export.records import AnnotationRecord, MalformedTask, Region, TaskRecord
from labelbridge.export.source import image_relpath

#: Problems listed by name in the manifest; past this many only the counts grow.
MAX_PROBLEMS = 100
#: Per-image files whose image path cannot name a file safely go under this folder of the run.
RENAMED_FOLDER = "_renamed"
#: Longest image path (in UTF-8 bytes, without extension) a per-image file keeps: with the run's
#: prefix and the format's folder it stays under every cloud's 1,024-byte key limit.
MAX_IMAGE_PATH_BYTES = 512
# Image paths come from task data: anything a cloud accepts. A per-image file named after one must
# stay inside the export folder and apart from every other once someone copies the export to disk:
# no empty, "." or ".." segment, none ending in a dot or a space (Windows drops those, so two names
# would meet), no control character, no backslash (a separator on Windows), and no path that starts
# in the renamed folder itself (which keeps renamed names apart from every kept one).
_UNSAFE_PATH = re.compile(r"(?:^|/)(?:[^/]*[. ])?(?:/|$)|[\x00-\x1f\x7f-\x9f\\]|^_renamed(?:/|$)")
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\\/]")
_NUMBER = (int, float)


def image_file_stem(path: str) -> str:
    """The name (without extension) of an image's per-image file: its path without extension when
    that is safe on every cloud and disk, else ``_renamed/<hash of it>/<its cleaned last segment>``.

    One name per path and never two paths on one name: kept names never start in ``_renamed/``, and
    renamed ones differ by a 128-bit hash of the path.
    """
    head, slash, tail = path.rpartition("/")
    kept = f"{head}{slash}{tail.rsplit('.', 1)[0] if '.' in tail.lstrip('.') else tail}"
    if (len(kept) * 4 <= MAX_IMAGE_PATH_BYTES or len(kept.encode()) <= MAX_IMAGE_PATH_BYTES) and not (
        _UNSAFE_PATH.search(kept)
    ):
        return kept
    digest = hashlib.sha256(kept.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    last = _UNSAFE_CHARACTERS.sub("_", kept.rpartition("/")[2])[:80].rstrip(". ")
    return f"{RENAMED_FOLDER}/{digest}/{last or 'image'}"


@dataclass
class ExportStats:
    tasks_read: int = 0
    tasks_exported: int = 0
    annotations_read: int = 0
    annotations_exported: int = 0
    regions_exported: int = 0
    #: Skip reasons, per unit: tasks, annotations (these add up with the exported ones), results.
    skipped_tasks: Counter[str] = field(default_factory=Counter)
    skipped_annotations: Counter[str] = field(default_factory=Counter)
    skipped_results: Counter[str] = field(default_factory=Counter)
    problems: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FormatContext:
    """What a format needs besides the tasks.

    :param labels: the project's label list: category/class ids follow it (sorted, as the converter
        does); labels seen in results but not listed get the next ids in order of appearance.
    :param image_field: the task ``data`` key holding the image URI, for image formats.
    :param duplicate_paths: image paths used by more than one task; their files get ``__<task id>``.
    :param created: the timestamp written into files' ``info`` (the window's end: reruns stay identical).
    """

    labels: Sequence[str] = ()
    image_field: str = "image"
    duplicate_paths: frozenset[str] = frozenset()
    created: str = ""


# Regions are NamedTuples, not frozen dataclasses: image formats build one per region, and a
# dataclass's frozen __init__ costs several times more.
class Box(NamedTuple):
    """A rectangle in percent, axis-aligned (a rotated one is replaced by its bounding box).

    Numbers keep their stored type (an int stays an int), so pixel arithmetic rounds as it always has.
    """

    label: str
    x: float
    y: float
    w: float
    h: float


class Polygon(NamedTuple):
    label: str
    points: tuple[tuple[float, float], ...]  # in percent, as Label Studio stores them


@dataclass(frozen=True)
class ReadPlan:
    """What a format reads, so that the source reads that and no more (``run.write_export`` follows it).

    :param csv_keys: the format needs ``TaskSource.csv_keys()`` (its columns) before the first task.
    :param duplicate_image_paths: the format needs ``TaskSource.duplicate_image_paths()`` first.
    :param decode_results: the format decodes every annotation's result (``json`` splices the stored text).
    :param image_paths: the format names files or images after each task's image path (the source may
        compute it ahead).
    :param details: the format reads more of a task than its image path and its annotations' results,
        annotators and state (see ``TaskSource.iter_tasks``).
    """

    csv_keys: bool = False
    duplicate_image_paths: bool = False
    decode_results: bool = True
    image_paths: bool = False
    details: bool = True


#: What the image formats read: paths (unique within the run), results, annotators, no task details.
IMAGE_FORMAT_PLAN = ReadPlan(duplicate_image_paths=True, image_paths=True, details=False)


class FormatWriter(ABC):
    """Turns a stream of tasks into files in a :class:`RunOutput`."""

    name: ClassVar[str]
    read_plan: ClassVar[ReadPlan] = ReadPlan()

    def __init__(self, context: FormatContext, *, csv_keys: Iterable[str] = ()) -> None:
        self.context = context
        self.csv_keys = sorted(csv_keys)
        self.stats = ExportStats()
        self._categories: dict[str, int] = {}
        for index, label in enumerate(sorted(dict.fromkeys(context.labels))):
            self._categories[label] = index

    @abstractmethod
    def write(self, tasks: Iterator[TaskRecord | MalformedTask], out: RunOutput) -> None:
        """Write every file of the format; count into ``self.stats``."""

    # Shared steps --------------------------------------------------------------------------

    def good_tasks(self, tasks: Iterator[TaskRecord | MalformedTask]) -> Iterator[TaskRecord]:
        """The well-formed tasks; malformed ones are counted and listed with id and reason."""
        for task in tasks:
            self.stats.tasks_read += 1
            if isinstance(task, MalformedTask):
                self.stats.annotations_read += task.annotations
                self.stats.skipped_tasks["malformed"] += 1
                self.stats.skipped_annotations["malformed_task"] += task.annotations
                if len(self.stats.problems) < MAX_PROBLEMS:
                    self.stats.problems.append({"task_id": task.id, "reason": task.reason})
                continue
            self.stats.annotations_read += len(task.annotations)
            yield task

    def count_converter_skips(self, task: TaskRecord) -> list[AnnotationRecord]:
        """Converter formats leave cancelled annotations out, as label-studio-converter does."""
        active = task.active_annotations()
        if len(active) != len(task.annotations):
            self.stats.skipped_annotations["cancelled"] += len(task.annotations) - len(active)
        return active

    def year(self) -> int | None:
        return int(self.context.created[:4]) if self.context.created[:4].isdigit() else None

    def category(self, label: str) -> int:
        category = self._categories.get(label)
        if category is None:
            category = self._categories[label] = len(self._categories)
        return category

    def categories(self) -> list[dict[str, Any]]:
        return [{"id": i, "name": name} for name, i in sorted(self._categories.items(), key=lambda kv: kv[1])]

    def image_name(self, task: TaskRecord) -> str | None:
        """The task's image path, unique within the run."""
        field = self.context.image_field
        image = task.image
        path = image[1] if image is not None and image[0] == field else image_relpath(task.data.get(field))
        if path is None:
            return None
        if path in self.context.duplicate_paths:
            stem, dot, ext = path.rpartition(".")
            return f"{stem}__{task.id}.{ext}" if dot and "/" not in ext else f"{path}__{task.id}"
        return path

    def regions(
        self, annotation: AnnotationRecord, *, polygons: bool = True, need_size: bool = True
    ) -> tuple[list[Box | Polygon], tuple[int, int] | None]:
        """Boxes and polygons of one annotation, with the image size (from ``original_width/height``).

        Any other result (text labels, choices, keypoints, ...) is counted as skipped by type, and so
        is a polygon whose points are not pairs of numbers.
        """
        results = annotation.result
        size = _image_size(results)
        regions: list[Box | Polygon] = []
        skipped = self.stats.skipped_results
        # One loop, no helper calls: it runs for every result of every exported annotation. Whatever
        # is not a box or a polygon falls through to the count at the end.
        for result in results:
            value = result.value
            # A relation's value may be anything; it is no region.
            labels = (value.get("rectanglelabels") or value.get("polygonlabels") or value.get("labels")
                      if isinstance(value, dict) else None)
            if not labels or not isinstance(labels, list):
                skipped[result.type.lower() or "unknown"] += 1
                continue
            x, y, w, h = value.get("x"), value.get("y"), value.get("width"), value.get("height")
            try:
                if (isinstance(x, _NUMBER) and isinstance(y, _NUMBER) and isinstance(w, _NUMBER)
                        and isinstance(h, _NUMBER)):
                    if value.get("rotation"):
                        _, x, y, w, h = _rotated(Box("", x, y, w, h), float(value["rotation"]), size)
                    for label in labels:
                        regions.append(Box(str(label), x, y, w, h))
                    continue
                points = value.get("points")
                if polygons and isinstance(points, list) and len(points) >= 3:
                    shape = tuple([(float(p[0]), float(p[1])) for p in points])
                    for label in labels:
                        regions.append(Polygon(str(label), shape))
                    continue
            except (TypeError, ValueError, IndexError, KeyError):
                pass  # a rotation or a point that is no number: counted below
            skipped[result.type.lower() or "unknown"] += 1
        if need_size and size is None and regions:
            return [], None
        return regions, size


def _image_size(results: Iterable[Region]) -> tuple[int, int] | None:
    for result in results:
        width, height = result.original_width, result.original_height
        if isinstance(width, int | float) and isinstance(height, int | float) and width > 0 and height > 0:
            return int(width), int(height)
    return None


def _rotated(box: Box, degrees: float, size: tuple[int, int] | None) -> Box:
    """Label Studio rotates a rectangle clockwise about its top-left corner; take the bounding box.

    The turn is done in pixels (percent axes differ in scale); without a size, in percent.
    """
    sx, sy = (size[0] / 100, size[1] / 100) if size else (1.0, 1.0)
    x0, y0, w, h = box.x * sx, box.y * sy, box.w * sx, box.h * sy
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    xs, ys = [], []
    for dx, dy in ((0.0, 0.0), (w, 0.0), (w, h), (0.0, h)):
        xs.append(x0 + dx * cos - dy * sin)
        ys.append(y0 + dx * sin + dy * cos)
    left, top = min(xs), min(ys)
    return Box(box.label, left / sx, top / sy, (max(xs) - left) / sx, (max(ys) - top) / sy)

