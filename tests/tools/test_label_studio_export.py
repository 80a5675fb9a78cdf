"""For a project labeled in Label Studio, labelbridge's COCO, YOLO and VOC equal what Label Studio's own
export (``GET /api/projects/{id}/export?exportType=COCO|YOLO|VOC``: its converter, run by the server)
gives for the same project, modulo the differences docs/export.md lists under "Compared with Label
Studio's own export". Each normalisation below names the difference it removes.

The images are real PNGs: Label Studio's VOC export downloads them (its <depth> comes from the file);
its COCO and YOLO, like labelbridge's, take sizes from what the labeling page recorded.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from labelbridge.config import Cloud, ExportTargetConfig
from labelbridge.export.directory import DirectoryTarget
from labelbridge.export.run import export_target
from tests.conftest import StoreFactory
from tests.sync import helpers as sync_helpers
from tests.tools.label_studio_helpers import Loop, box, choice, make_loop

RGB, GRAY = 2, 0  # PNG colour types

#: name: (width, height, PNG colour type), and what its task gets in Label Studio.
IMAGES = {
    "a.png": (640, 480, RGB),  # two boxes: a dog, then a cat
    "b.png": (320, 200, GRAY),  # a box and a choice (no detection format holds a choice)
    "c.png": (100, 100, RGB),  # no annotation
    "d.png": (200, 200, RGB),  # a box turned 30 degrees (square: Label Studio's percent-space turn is exact)
    "e.png": (50, 80, RGB),  # skipped by its labeler: a cancelled annotation
    "f.png": (300, 300, RGB),  # labeled a cat, then labeled again, a dog
}
#: Label Studio numbers the label config's labels alphabetically; labelbridge sorts the declared ones too.
LABELS = ("dog", "cat")


def png(width: int, height: int, colour_type: int) -> bytes:
    """A valid PNG with a gradient (Label Studio's image cache takes files under 100 bytes for empty)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def pixel(x: int, y: int) -> bytes:
        return bytes((x * 255 // width, y * 255 // height, 128) if colour_type == RGB else (x * 255 // width,))

    rows = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def sized_box(label: str, image: str, x: float, y: float, w: float, h: float, rotation: float = 0) -> dict[str, Any]:
    """A rectangle as Label Studio's labeling page saves it: percentages of the image's size it records."""
    region = box(label, x, y, w, h)
    region["original_width"], region["original_height"], _ = IMAGES[image]
    region["value"]["rotation"] = rotation
    return region


@pytest.fixture
def labeled(signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path) -> Loop:
    loop = make_loop(labeling_dsn, signing_store(Cloud.S3), label_studio, tmp_path)
    for name, (width, height, colour_type) in IMAGES.items():
        loop.store.write(f"images/{name}", png(width, height, colour_type), content_type="image/png")
    # The project's `labels:` in storages.yaml, which sync registers: the class ids follow them.
    sync_helpers.sync(loop.dsn, loop.store, loop.storage, project=loop.project.model_copy(update={"labels": LABELS}))
    loop.push()
    task = {key: t["id"] for key, t in loop.by_key().items()}
    loop.annotate(
        task["a.png"], [sized_box("dog", "a.png", 10, 20, 30, 40), sized_box("cat", "a.png", 50.5, 50, 12.25, 10)]
    )
    loop.annotate(task["b.png"], [sized_box("cat", "b.png", 5, 5, 20, 33.3), *choice("cat")])
    loop.annotate(task["d.png"], [sized_box("dog", "d.png", 20, 10, 40, 20, rotation=30)])
    loop.annotate(task["e.png"], [], was_cancelled=True)
    loop.annotate(task["f.png"], [sized_box("cat", "f.png", 10, 10, 50, 50)])
    loop.annotate(task["f.png"], [sized_box("dog", "f.png", 10, 10, 50, 50)])
    assert loop.pull().counts.created == 6
    return loop


def ours(loop: Loop, fmt: str, out: Path) -> Path:
    """labelbridge's export of the whole project to a directory; the run's folder."""
    target = ExportTargetConfig.model_validate(
        {"name": "out", "project": loop.project.name, "cloud": "s3", "bucket": "unused", "prefix": "x",
         "formats": [fmt]}
    )  # fmt: skip
    export_target(loop.dsn, DirectoryTarget(out / fmt), target=target, fmt=fmt, run_key="r", full=True)
    (run,) = (out / fmt).glob(f"x/{loop.project.name}/{fmt}/*/")
    return run


def theirs(loop: Loop, export_type: str) -> zipfile.ZipFile:
    """Label Studio's export: for COCO, YOLO and VOC a zip (the converter's folder, with an images/ folder)."""
    answer = loop.client.request("GET", f"/api/projects/{loop.remote_id}/export", params={"exportType": export_type})
    assert answer.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(answer.content))


def image_name(path: str) -> str:
    """An image's file name. Label Studio names it from the URL it holds, ``images/<8 hex>__a.png`` (a hash
    of the signed URL, which changes at every renewal); labelbridge from the object's canonical URI
    (``s3://bucket/images/a.png`` -> ``images/a.png``)."""
    return re.sub(r"^[0-9a-f]{8}__", "", path.rsplit("/", 1)[-1])


# -- COCO ---------------------------------------------------------------------------------------


def coco_images(document: dict[str, Any]) -> dict[str, list[tuple[tuple[int, int], list[Any]]]]:
    """Per image name, its entries: size and boxes as (category, bbox, area). Image and annotation ids
    differ (each side numbers its own), so boxes are matched by image name."""
    names = {c["id"]: c["name"] for c in document["categories"]}
    boxes: dict[int, list[Any]] = {i["id"]: [] for i in document["images"]}
    for a in document["annotations"]:
        boxes[a["image_id"]].append((names[a["category_id"]], [round(v, 6) for v in a["bbox"]], round(a["area"], 4)))
    found: dict[str, list[tuple[tuple[int, int], list[Any]]]] = {}
    for i in document["images"]:
        found.setdefault(image_name(i["file_name"]), []).append(((i["width"], i["height"]), sorted(boxes[i["id"]])))
    return found


def test_coco_equals_label_studio_export(labeled: Loop, tmp_path: Path) -> None:
    mine = json.loads((ours(labeled, "coco", tmp_path) / "result.json").read_text())
    their = json.loads(theirs(labeled, "COCO").read("result.json"))

    # Same categories, same ids (the declared labels are the label config's, both sorted).
    assert mine["categories"] == their["categories"] == [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}]
    my_images, their_images = coco_images(mine), coco_images(their)
    # Several annotations on one task: Label Studio adds an image per annotation (newest first);
    # labelbridge one per task, with the newest annotation.
    dog, cat = ("dog", [30.0, 30.0, 150.0, 150.0], 22500.0), ("cat", [30.0, 30.0, 150.0, 150.0], 22500.0)
    assert their_images.pop("f.png") == [((300, 300), [dog]), ((300, 300), [cat])]
    assert my_images.pop("f.png") == [((300, 300), [dog])]
    # Sizes on both sides are what the labeling page recorded (original_width/height); same floats too.
    assert my_images == their_images
    assert sorted(my_images) == ["a.png", "b.png", "d.png"]  # not c (no annotation), not e (skipped)
    assert my_images["a.png"] == [
        ((640, 480), [("cat", [323.2, 240.0, 78.4, 48.0], 3763.2), ("dog", [64.0, 96.0, 192.0, 192.0], 36864.0)])
    ]
    # The turned box is its bounding box: x 40 - 40*sin 30, width 80*cos 30 + 40*sin 30, ...
    assert my_images["d.png"] == [((200, 200), [("dog", [20.0, 20.0, 89.282032, 74.641016], 6664.1016)])]


# -- YOLO ---------------------------------------------------------------------------------------


def yolo_lines(files: dict[str, str]) -> dict[str, list[tuple[int, list[float]]]]:
    """Per image stem, its label lines as (class id, numbers), numbers to 6 decimals (float noise aside)."""
    return {
        image_name(path).rsplit(".", 1)[0]: [(int(row[0]), [round(float(v), 6) for v in row[1:]])
                                             for row in (line.split() for line in text.splitlines())]
        for path, text in files.items()
    }  # fmt: skip


def test_yolo_equals_label_studio_export(labeled: Loop, tmp_path: Path) -> None:
    run = ours(labeled, "yolo", tmp_path)
    archive = theirs(labeled, "YOLO")
    mine = {str(p.relative_to(run / "labels")): p.read_text() for p in (run / "labels").rglob("*.txt")}
    their = {n: archive.read(n).decode() for n in archive.namelist() if n.startswith("labels/") and n.endswith(".txt")}

    assert (run / "classes.txt").read_text() == archive.read("classes.txt").decode() == "cat\ndog\n"
    my_lines, their_lines = yolo_lines(mine), yolo_lines(their)
    # Label Studio exports annotated tasks only; labelbridge also writes an unannotated task's empty
    # label file (a negative example). Neither writes one for the skipped task.
    assert my_lines.pop("c") == []
    # A turned box: labelbridge writes its bounding box (COCO's, above, normalised); Label Studio's
    # YOLO drops the turn and writes the rectangle as if unturned.
    assert my_lines.pop("d") == [(1, [0.323205, 0.286603, 0.44641, 0.373205])]
    assert their_lines.pop("d") == [(1, [0.4, 0.2, 0.4, 0.2])]
    # Two annotations: labelbridge takes the newest (the dog); Label Studio writes a file per annotation,
    # newest first, so the oldest (the cat) overwrites it.
    assert my_lines.pop("f") == [(1, [0.35, 0.35, 0.5, 0.5])]
    assert their_lines.pop("f") == [(0, [0.35, 0.35, 0.5, 0.5])]
    assert my_lines == their_lines
    assert sorted(my_lines) == ["a", "b"]
    # The files themselves, not only their numbers: the same text, digit for digit.
    their_a = their[next(n for n in their if n.endswith("__a.txt"))]
    assert mine["images/a.txt"] == their_a == "1 0.25 0.4 0.3 0.4\n0 0.56625 0.55 0.1225 0.1\n"


# -- VOC ----------------------------------------------------------------------------------------


def voc_files(files: dict[str, bytes]) -> dict[str, str]:
    """Per XML name, its text with ``<filename>`` reduced to the image's name (see image_name)."""
    return {
        image_name(path): re.sub(r"<filename>(.*)</filename>", lambda m: f"<filename>{image_name(m[1])}</filename>",
                                 data.decode())
        for path, data in files.items()
    }  # fmt: skip


def voc_boxes(xml: str) -> list[tuple[str, list[int]]]:
    return [(name, [int(v) for v in corners]) for name, *corners in re.findall(
        r"<name>(\w+)</name>.*?<xmin>(\d+)</xmin>\s*<ymin>(\d+)</ymin>\s*<xmax>(\d+)</xmax>\s*<ymax>(\d+)</ymax>",
        xml, re.S)]  # fmt: skip


def test_voc_equals_label_studio_export(labeled: Loop, tmp_path: Path) -> None:
    run = ours(labeled, "voc", tmp_path)
    archive = theirs(labeled, "VOC")
    mine = voc_files({str(p): p.read_bytes() for p in (run / "Annotations").rglob("*.xml")})
    their = voc_files({n: archive.read(n) for n in archive.namelist() if n.endswith(".xml")})

    assert sorted(mine) == sorted(their) == ["a.xml", "b.xml", "d.xml", "f.xml"]
    # A turned box: labelbridge's is its bounding box, Label Studio's VOC drops the turn.
    assert voc_boxes(mine.pop("d.xml")) == [("dog", [20, 20, 109, 94])]
    assert voc_boxes(their.pop("d.xml")) == [("dog", [40, 20, 120, 60])]
    # Two annotations: the newest in labelbridge's, the oldest in Label Studio's (see YOLO).
    assert voc_boxes(mine.pop("f.xml")) == [("dog", [30, 30, 180, 180])]
    assert voc_boxes(their.pop("f.xml")) == [("cat", [30, 30, 180, 180])]
    # <depth>: Label Studio counts the channels of the image it downloaded (1: b.png is grayscale);
    # labelbridge reads no image and writes 3.
    assert "<depth>1</depth>" in their["b.xml"] and "<depth>3</depth>" in mine["b.xml"]
    their["b.xml"] = their["b.xml"].replace("<depth>1</depth>", "<depth>3</depth>")
    # Otherwise the files are the same text: size, annotator, every object and its corners.
    assert mine == their
    assert voc_boxes(mine["a.xml"]) == [("dog", [64, 96, 256, 288]), ("cat", [323, 240, 401, 288])]


# -- where the two differ beyond names and ids --------------------------------------------------


def test_without_declared_labels_class_ids_follow_first_sight(labeled: Loop, tmp_path: Path) -> None:
    sync_helpers.sync(labeled.dsn, labeled.store, labeled.storage, project=labeled.project)  # `labels:` removed
    run = ours(labeled, "yolo", tmp_path)
    archive = theirs(labeled, "YOLO")

    # labelbridge numbers labels as it meets them (a.png's first box is a dog); Label Studio numbers the
    # label config's alphabetically. Each side's classes.txt names its ids, so the boxes agree by name.
    assert (run / "classes.txt").read_text() == "dog\ncat\n"
    assert archive.read("classes.txt").decode() == "cat\ndog\n"
    their_a = next(n for n in archive.namelist() if n.endswith("__a.txt"))
    assert (run / "labels/images/a.txt").read_text() == "0 0.25 0.4 0.3 0.4\n1 0.56625 0.55 0.1225 0.1\n"
    assert archive.read(their_a).decode() == "1 0.25 0.4 0.3 0.4\n0 0.56625 0.55 0.1225 0.1\n"


def test_an_image_label_studio_cannot_fetch_leaves_its_signed_url_in_label_studios_voc(
    labeled: Loop, tmp_path: Path
) -> None:
    # What an expired URL, or a bucket Label Studio's server cannot reach, does to its VOC export (the
    # one that downloads images); labelbridge's never fetches an image.
    labeled.store.delete("images/b.png")
    archive = theirs(labeled, "VOC")
    run = ours(labeled, "voc", tmp_path)

    their_name = re.findall(r"<filename>(.*)</filename>", archive.read("Annotations/b.xml").decode())
    assert their_name[0].startswith("b.png?") and "X-Amz-Signature=" in their_name[0]  # a credential, in a dataset
    assert "<filename>b.png</filename>" in (run / "Annotations/images/b.xml").read_text()
