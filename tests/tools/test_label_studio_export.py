"""For a project labeled in Label Studio, labelbridge's COCO, YOLO and VOC equal what Label Studio's own
export (``GET /api/projects/{id}/export?exportType=COCO|YOLO|VOC``: its converter, run by the server)
gives for the same project, modulo the differences docs/export.md lists under "Compared with Label
Studio's own export". Each normalisation below names the difference it removes.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import pytest

from labelbridge.config import Cloud, ExportTargetConfig
from labelbridge.export.directory import DirectoryTarget
from labelbridge.export.run import export_target
from tests.conftest import StoreFactory
from tests.tools.label_studio_helpers import Loop, box, choice, make_loop

#: Three images: two boxes, one box (and a choice, which no detection format holds), none.
SIZES = {"a.png": (640, 480), "b.png": (320, 200), "c.png": (100, 100)}


def sized_box(label: str, size: tuple[int, int], x: float, y: float, w: float, h: float) -> dict[str, Any]:
    region = box(label, x, y, w, h)
    region["original_width"], region["original_height"] = size
    return region


@pytest.fixture
def labeled(signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path) -> Loop:
    loop = make_loop(labeling_dsn, signing_store(Cloud.S3), label_studio, tmp_path)
    loop.add_images(*SIZES)
    loop.sync()
    loop.push()
    tasks = loop.by_key()
    loop.annotate(tasks["a.png"]["id"], [sized_box("dog", SIZES["a.png"], 10, 20, 30, 40),
                                         sized_box("cat", SIZES["a.png"], 50.5, 50, 12.25, 10)])
    loop.annotate(tasks["b.png"]["id"], [sized_box("cat", SIZES["b.png"], 5, 5, 20, 33.3), *choice("cat")])
    assert loop.pull().counts.created == 2
    return loop


def ours(loop: Loop, fmt: str, tmp_path: Path) -> Path:
    target = ExportTargetConfig.model_validate(
        {"name": "out", "project": loop.project.name, "cloud": "s3", "bucket": "unused", "prefix": "x",
         "formats": [fmt]}
    )  # fmt: skip
    export_target(loop.dsn, DirectoryTarget(tmp_path / fmt), target=target, fmt=fmt, run_key="r", full=True)
    (run,) = (tmp_path / fmt).glob(f"x/{loop.project.name}/{fmt}/*/")
    return run


def theirs(loop: Loop, export_type: str) -> zipfile.ZipFile:
    answer = loop.client.request("GET", f"/api/projects/{loop.remote_id}/export", params={"exportType": export_type})
    return zipfile.ZipFile(io.BytesIO(answer.content))


def image_name(path: str) -> str:
    """An image's file name. Label Studio names it from the URL it holds, ``images/<8 hex>__a.png``
    (a hash of the URL, which changes at every renewal; when it cannot fetch the image, VOC's is
    ``a.png?X-Amz-...``, signature included); labelbridge uses the object's canonical URI,
    ``s3://bucket/images/a.png``."""
    name = path.split("?", 1)[0].rsplit("/", 1)[-1]
    return re.sub(r"^[0-9a-f]{8}__", "", name)


def coco_boxes(document: dict[str, Any]) -> dict[str, Any]:
    names = {c["id"]: c["name"] for c in document["categories"]}  # ids differ: compare names (see below)
    images = {i["id"]: (image_name(i["file_name"]), i["width"], i["height"]) for i in document["images"]}
    found: dict[str, Any] = {name: {"size": (w, h), "boxes": []} for name, w, h in images.values()}
    for a in document["annotations"]:
        found[images[a["image_id"]][0]]["boxes"].append(
            (names[a["category_id"]], [round(v, 6) for v in a["bbox"]], round(a["area"], 4))
        )
    for entry in found.values():
        entry["boxes"].sort()
    return found


def test_coco_equals_label_studio_export(labeled: Loop, tmp_path: Path) -> None:
    mine = json.loads((ours(labeled, "coco", tmp_path) / "result.json").read_text())
    their = json.loads(theirs(labeled, "COCO").read("result.json"))

    assert coco_boxes(mine) == coco_boxes(their)
    assert coco_boxes(mine)["a.png"] == {
        "size": (640, 480),
        "boxes": [("cat", [323.2, 240.0, 78.4, 48.0], 3763.2), ("dog", [64.0, 96.0, 192.0, 192.0], 36864.0)],
    }
    # Category ids: Label Studio numbers the label config's labels; labelbridge the project's `labels`
    # from storages.yaml, then labels as first seen (here none are configured). The names are the same.
    assert {c["name"] for c in mine["categories"]} == {c["name"] for c in their["categories"]} == {"cat", "dog"}


def yolo_labels(files: dict[str, str], classes: list[str]) -> dict[str, list[tuple[str, list[float]]]]:
    """Per image, its boxes with class names (the class ids follow each side's own class order)."""
    found = {}
    for path, text in files.items():
        rows = [line.split() for line in text.splitlines() if line.strip()]
        found[image_name(path).rsplit(".", 1)[0]] = sorted(
            (classes[int(row[0])], [round(float(v), 6) for v in row[1:]]) for row in rows
        )
    return found


def test_yolo_equals_label_studio_export(labeled: Loop, tmp_path: Path) -> None:
    run = ours(labeled, "yolo", tmp_path)
    archive = theirs(labeled, "YOLO")
    mine = {str(p.relative_to(run / "labels")): p.read_text() for p in (run / "labels").rglob("*.txt")}
    their = {n: archive.read(n).decode() for n in archive.namelist() if n.startswith("labels/") and n.endswith(".txt")}

    my_boxes = yolo_labels(mine, (run / "classes.txt").read_text().split())
    their_boxes = yolo_labels(their, archive.read("classes.txt").decode().split())
    # Label Studio exports annotated tasks only; labelbridge also writes an unannotated task's empty
    # label file (a negative example for the trainer).
    assert my_boxes.pop("c") == []
    assert my_boxes == their_boxes
    assert my_boxes["b"] == [("cat", [0.15, 0.2165, 0.2, 0.333])]


def voc_objects(xml: bytes) -> tuple[str, tuple[int, int], list[tuple[str, tuple[int, ...]]]]:
    root = ET.fromstring(xml)
    size = root.find("size")
    assert size is not None
    objects = sorted(
        (o.findtext("name") or "", tuple(int(float(o.findtext(f"bndbox/{k}") or "nan")) for k in
                                         ("xmin", "ymin", "xmax", "ymax")))
        for o in root.iter("object")
    )  # fmt: skip
    return image_name(root.findtext("filename") or ""), (int(size.findtext("width") or 0),
                                                          int(size.findtext("height") or 0)), objects


def test_voc_equals_label_studio_export(labeled: Loop, tmp_path: Path) -> None:
    run = ours(labeled, "voc", tmp_path)
    archive = theirs(labeled, "VOC")
    mine = {image_name(str(p)): p.read_bytes() for p in (run / "Annotations").rglob("*.xml")}
    their = {image_name(n): archive.read(n) for n in archive.namelist() if n.endswith(".xml")}

    assert sorted(mine) == sorted(their) == ["a.xml", "b.xml"]
    for name in mine:
        assert voc_objects(mine[name]) == voc_objects(their[name])
    assert voc_objects(mine["a.xml"])[2] == [("cat", (323, 240, 401, 288)), ("dog", (64, 96, 256, 288))]
    assert b"X-Amz-" not in mine["a.xml"]  # the canonical URI, never a signed URL
