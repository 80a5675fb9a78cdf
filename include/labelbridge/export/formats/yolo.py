"""``yolo``: one ``labels/<image path>.txt`` per image, plus ``classes.txt``, ``notes.json``, ``data.yaml``.

Lines are ``class cx cy w h`` for rectangles and ``class x1 y1 x2 y2 ...`` for polygons, normalised to
0..1, as label-studio-converter writes them (a rotated rectangle becomes its bounding box). A task
without annotations gets an empty file (a negative example); one whose annotations are all
cancelled gets none. The label file mirrors the image's path (``images/a.jpg`` ->
``labels/images/a.txt``), which is how YOLO trainers pair them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from labelbridge.export.formats.base import IMAGE_FORMAT_PLAN, Box, FormatWriter, image_file_stem
from labelbridge.export.output import RunOutput, Tally
from labelbridge.export.records import MalformedTask, TaskRecord


class YoloFormat(FormatWriter):
    name = "yolo"
    read_plan = IMAGE_FORMAT_PLAN

    def write(self, tasks: Iterator[TaskRecord | MalformedTask], out: RunOutput) -> None:
        stats = self.stats
        for task in self.good_tasks(tasks):
            active = self.count_converter_skips(task)
            if task.annotations and not active:
                stats.skipped_tasks["all_cancelled"] += 1
                continue
            name = self.image_name(task)
            chosen = task.chosen_annotation(active)
            if name is None:
                stats.skipped_tasks["no_image"] += 1
                stats.skipped_annotations["unplaced"] += 1 if chosen else 0
                stats.skipped_annotations["superseded"] += max(len(active) - 1, 0)
                continue
            lines: list[str] = []
            if chosen is not None:
                if len(active) > 1:
                    stats.skipped_annotations["superseded"] += len(active) - 1
                regions, _ = self.regions(chosen, need_size=False)
                for region in regions:
                    # f-strings spell floats as str() does: the converter's "class cx cy w h".
                    if isinstance(region, Box):
                        label, x, y, w, h = region
                        lines.append(f"{self.category(label)} {(x + w / 2) / 100} {(y + h / 2) / 100} "
                                     f"{w / 100} {h / 100}\n")
                    else:
                        points = " ".join([f"{x / 100} {y / 100}" for x, y in region.points])
                        lines.append(f"{self.category(region.label)} {points}\n")
            tally = Tally(1, 0 if chosen is None else 1, len(lines))
            out.write_bytes(
                f"labels/{image_file_stem(name)}.txt", "".join(lines).encode(), tally=tally, content_type="text/plain"
            )
            stats.tasks_exported += 1
            stats.annotations_exported += tally.annotations
            stats.regions_exported += tally.regions
        names = [c["name"] for c in self.categories()]
        out.write_bytes("classes.txt", "".join(f"{n}\n" for n in names).encode(), tally=Tally(),
                        content_type="text/plain")
        notes = {"categories": self.categories(), "info": {"year": self.year(), "version": "1.0",
                                                           "contributor": "Label Studio"}}
        out.write_bytes("notes.json", json.dumps(notes, indent=2, ensure_ascii=False).encode(), tally=Tally(),
                        content_type="application/json")
        data_yaml = "path: .\ntrain: images\nval: images\nnc: {}\nnames:\n{}".format(
            len(names), "".join(f"  {i}: {json.dumps(n, ensure_ascii=False)}\n" for i, n in enumerate(names))
        )
        out.write_bytes("data.yaml", data_yaml.encode(), tally=Tally(), content_type="application/yaml")
