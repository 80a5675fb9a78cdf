"""``voc``: one Pascal VOC XML per image, ``Annotations/<image path>.xml``, rectangles only.

The layout follows label-studio-converter's (``folder``, ``filename``, ``source``, ``owner``,
``size``, ``segmented``, one ``object`` with ``bndbox`` in whole pixels per rectangle). Polygons and
other results are counted by type as skipped; a task whose image size is unknown is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from labelbridge.export.formats.base import IMAGE_FORMAT_PLAN, Box, FormatWriter, image_file_stem
from labelbridge.export.formats.json_min import annotator
from labelbridge.export.output import RunOutput, Tally
from labelbridge.export.records import MalformedTask, TaskRecord

# xml.sax.saxutils.escape's three replacements in one C call (it runs three times per file).
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


# Templates as f-strings in functions: str.format parses its template on every call (twice per file).
def _head(filename: str, annotator: str, width: int, height: int) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<annotation>
<folder>images</folder>
<filename>{filename}</filename>
<source>
<database>MyDatabase</database>
<annotation>COCO2017</annotation>
<image>flickr</image>
<flickrid>NULL</flickrid>
<annotator>{annotator}</annotator>
</source>
<owner>
<flickrid>NULL</flickrid>
<name>Label Studio</name>
</owner>
<size>
<width>{width}</width>
<height>{height}</height>
<depth>3</depth>
</size>
<segmented>0</segmented>
"""


def _object(name: str, xmin: int, ymin: int, xmax: int, ymax: int) -> str:
    return f"""<object>
<name>{name}</name>
<pose>Unspecified</pose>
<truncated>0</truncated>
<difficult>0</difficult>
<bndbox>
<xmin>{xmin}</xmin>
<ymin>{ymin}</ymin>
<xmax>{xmax}</xmax>
<ymax>{ymax}</ymax>
</bndbox>
</object>
"""


class VocFormat(FormatWriter):
    name = "voc"
    read_plan = IMAGE_FORMAT_PLAN

    def write(self, tasks: Iterator[TaskRecord | MalformedTask], out: RunOutput) -> None:
        for task in self.good_tasks(tasks):
            active = self.count_converter_skips(task)
            chosen = task.chosen_annotation(active)
            if chosen is None:
                self.stats.skipped_tasks["unannotated" if not task.annotations else "all_cancelled"] += 1
                continue
            if len(active) > 1:
                self.stats.skipped_annotations["superseded"] += len(active) - 1
            name = self.image_name(task)
            regions, size = self.regions(chosen, polygons=False)
            if name is None or size is None:
                self.stats.skipped_tasks["no_image" if name is None else "no_image_size"] += 1
                self.stats.skipped_annotations["unplaced"] += 1
                continue
            boxes = [r for r in regions if isinstance(r, Box)]  # polygons=False: every region is a box
            out.write_bytes(
                f"Annotations/{image_file_stem(name)}.xml",
                self._xml(name, size, boxes, annotator(chosen, int_id=False)).encode(),
                tally=Tally(1, 1, len(boxes)),
                content_type="application/xml",
            )
            self.stats.tasks_exported += 1
            self.stats.annotations_exported += 1
            self.stats.regions_exported += len(boxes)

    def _xml(self, name: str, size: tuple[int, int], boxes: list[Box], who: object) -> str:
        # One template per file and per object (the converter's layout); only text from task data is escaped.
        width, height = size
        parts = [_head(name.rpartition("/")[2].translate(_ESCAPES), (str(who) if who else "").translate(_ESCAPES),
                       width, height)]
        for box in boxes:
            x, y = int(box.x / 100 * width), int(box.y / 100 * height)
            w, h = int(box.w / 100 * width), int(box.h / 100 * height)
            self.category(box.label)
            parts.append(_object(box.label.translate(_ESCAPES), x, y, x + w, y + h))
        parts.append("</annotation>\n")
        return "".join(parts)
