"""``coco``: COCO object detection JSON from rectangles and polygons.

Pixel coordinates come from Label Studio's percentages and each result's ``original_width`` /
``original_height``. One image per task (the converter adds one per annotation); its regions come
from one annotation: the ground truth if any, else the newest not cancelled (the others are counted
as ``superseded``). Results COCO cannot hold (text labels, choices, keypoints, ...) are counted by
type in the manifest. Categories: the project's labels, then labels as first seen.

The file streams: ``images`` go out while ``annotations`` are spooled to a temporary file on disk,
then appended; ``categories`` and ``info`` come last, once every label has been seen.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator

from labelbridge.export.formats.base import Box, FormatWriter, Polygon, ReadPlan
from labelbridge.export.output import RunOutput, Tally
from labelbridge.export.records import MalformedTask, TaskRecord, dumps_json, json_number


class CocoFormat(FormatWriter):
    name = "coco"
    # Images are keyed by id in the one file, so a path two tasks share needs no unique name (no scan).
    read_plan = ReadPlan(image_paths=True, details=False)

    def write(self, tasks: Iterator[TaskRecord | MalformedTask], out: RunOutput) -> None:
        tally = Tally()
        out.write_stream("result.json", self._document(tasks, tally), tally=tally, content_type="application/json")

    def _document(self, tasks: Iterator[TaskRecord | MalformedTask], tally: Tally) -> Iterator[bytes]:
        with tempfile.TemporaryFile() as spool:
            yield b'{\n"images": ['
            # Items are joined into pieces of about _PIECE characters: a yield or a write per image
            # costs more than the text it carries.
            images: list[str] = []
            items: list[str] = []
            pending = 0
            for task in self.good_tasks(tasks):
                placed = self._place(task)
                if placed is None:
                    continue
                name, size, regions = placed
                image_id = tally.tasks
                images.append(",\n" if image_id else "\n")
                images.append(f'{{"width": {size[0]}, "height": {size[1]}, "id": {image_id}, '
                              f'"file_name": {dumps_json(name)}}}')
                for region in regions:
                    items.append(",\n" if tally.regions else "\n")
                    items.append(self._annotation(region, size, image_id, tally.regions))
                    tally.regions += 1
                tally.tasks += 1
                tally.annotations += 1
                pending += 1
                if pending == _PIECE:
                    yield "".join(images).encode()
                    spool.write("".join(items).encode())
                    images, items, pending = [], [], 0
            yield "".join(images).encode() + b'\n],\n"annotations": ['
            spool.write("".join(items).encode())
            spool.seek(0)
            while chunk := spool.read(1024 * 1024):
                yield chunk
            self.stats.tasks_exported += tally.tasks
            self.stats.annotations_exported += tally.annotations
            self.stats.regions_exported += tally.regions
            tail = {
                "categories": self.categories(),
                "info": {
                    "year": self.year(),
                    "version": "1.0",
                    "description": "",
                    "contributor": "Label Studio",
                    "url": "",
                    "date_created": self.context.created,
                },
            }
            yield b"\n],\n" + json.dumps(tail, ensure_ascii=False, indent=None)[1:].encode() + b"\n"

    def _place(self, task: TaskRecord) -> tuple[str, tuple[int, int], list[Box | Polygon]] | None:
        """The image name, size and regions of a task, or ``None`` (counted) when it cannot be placed."""
        active = self.count_converter_skips(task)
        chosen = task.chosen_annotation(active)
        if chosen is None:
            self.stats.skipped_tasks["unannotated" if not task.annotations else "all_cancelled"] += 1
            return None
        self.stats.skipped_annotations["superseded"] += len(active) - 1
        name = self.image_name(task)
        regions, size = self.regions(chosen)
        if name is None or size is None:
            self.stats.skipped_tasks["no_image" if name is None else "no_image_size"] += 1
            self.stats.skipped_annotations["unplaced"] += 1
            return None
        return name, size, regions

    def _annotation(self, region: Box | Polygon, size: tuple[int, int], image_id: int, ann_id: int) -> str:
        """One COCO annotation as JSON text, spelled as ``json.dumps`` of the dict would be (it is hot).

        The arithmetic is the converter's, step for step (percent * size / 100; shoelace in order from
        the first point), so every float comes out the same.
        """
        width, height = size
        head = f'{{"id": {ann_id}, "image_id": {image_id}, "category_id": {self.category(region.label)}, '
        if isinstance(region, Box):
            _, x, y, w, h = region
            w, h = w * width / 100, h * height / 100
            return (f'{head}"segmentation": [], "bbox": {_array([x * width / 100, y * height / 100, w, h])}, '
                    f'"ignore": 0, "iscrowd": 0, "area": {json_number(w * h)}}}')
        xs = [px * width / 100 for px, _ in region.points]
        ys = [py * height / 100 for _, py in region.points]
        total = 0.0
        for x1, y1, x2, y2 in zip(xs, ys, [*xs[1:], xs[0]], [*ys[1:], ys[0]], strict=True):
            total += x1 * y2 - x2 * y1
        left, top = min(xs), min(ys)
        segmentation = xs * 2
        segmentation[::2], segmentation[1::2] = xs, ys
        return (f'{head}"segmentation": [{_array(segmentation)}], '
                f'"bbox": {_array([left, top, max(xs) - left, max(ys) - top])}, '
                f'"ignore": 0, "iscrowd": 0, "area": {json_number(abs(total) / 2)}}}')


#: Images (with their annotations) per piece of output.
_PIECE = 256


def _array(numbers: list[float]) -> str:
    """Floats as json.dumps lists them: a list's repr, unless inf or nan (the only reprs with an "n")."""
    text = repr(numbers)
    return text if "n" not in text else "[" + ", ".join(map(json_number, numbers)) + "]"
