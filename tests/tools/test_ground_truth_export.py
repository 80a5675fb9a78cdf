"""Boxes labeled in Ground Truth (its documented output format, fixtures/ground_truth/bounding_box.manifest)
leave labelbridge's exports as their pixels went in: COCO, YOLO and VOC checked field by field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.tools.export_helpers import export_run
from tests.tools.ground_truth_helpers import Setup, make_setup

#: What the fixture's well-formed lines hold, in Ground Truth's pixels (left, top, width, height),
#: h.png's box as cut back to its 200x100 image.
BOXES = {
    "a.png": ((500, 400), [("dog", (111, 134, 61, 128)), ("bone", (161, 250, 30, 30))]),
    "b.png": ((320, 200), [("bone", (20, 20, 30, 30))]),
    "c.png": ((100, 100), []),
    "h.png": ((200, 100), [("dog", (150, 0, 50, 50))]),
}


@pytest.fixture
def labeled(new_store: StoreFactory, labeling_dsn: str) -> Setup:
    setup = make_setup(labeling_dsn, new_store(Cloud.S3))
    setup.put_output("bounding_box.manifest", "identify-dogs-and-toys")
    assert setup.ingest().counts.created == 4
    return setup


def test_coco(labeled: Setup, tmp_path: Path) -> None:
    document = json.loads((export_run(labeled.dsn, "coco", tmp_path) / "result.json").read_text())

    # storages.yaml's labels, sorted (as for Label Studio's projects): class ids follow them.
    assert document["categories"] == [{"id": 0, "name": "bone"}, {"id": 1, "name": "dog"}]
    names = {c["id"]: c["name"] for c in document["categories"]}
    images = {i["id"]: i for i in document["images"]}
    found: dict[str, tuple[tuple[int, int], list[tuple[str, tuple[float, ...], float]]]] = {}
    for image in images.values():
        found[image["file_name"].rsplit("/", 1)[-1]] = ((image["width"], image["height"]), [])
    for a in document["annotations"]:
        name = images[a["image_id"]]["file_name"].rsplit("/", 1)[-1]
        found[name][1].append((names[a["category_id"]], tuple(round(v, 6) for v in a["bbox"]), round(a["area"], 4)))
    expected = {
        name: (size, [(label, tuple(float(v) for v in box), float(box[2] * box[3])) for label, box in boxes])
        for name, (size, boxes) in BOXES.items() if boxes
    }
    assert {k: v for k, v in found.items() if v[1]} == expected


def test_yolo(labeled: Setup, tmp_path: Path) -> None:
    run = export_run(labeled.dsn, "yolo", tmp_path)

    assert (run / "classes.txt").read_text() == "bone\ndog\n"
    files = {p.stem: p.read_text() for p in (run / "labels").rglob("*.txt")}
    lines = {stem: [(int(r[0]), [round(float(v), 6) for v in r[1:]])
                    for r in (line.split() for line in text.splitlines())]
             for stem, text in files.items()}  # fmt: skip
    classes = {"bone": 0, "dog": 1}
    for name, ((width, height), boxes) in BOXES.items():
        assert lines[name.removesuffix(".png")] == [
            (classes[label], [round(v, 6) for v in ((x + w / 2) / width, (y + h / 2) / height, w / width, h / height)])
            for label, (x, y, w, h) in boxes
        ], name
    assert files["a"].startswith("1 0.283 0.495 0.122 0.32\n0 0.352")
    # Labeled empty (c.png) is an empty label file; so is every task without an annotation (the quarantined
    # lines' and the failed one's), as for any unannotated task: the export's rule, not Ground Truth's.
    assert sorted(files) == list("abcdefghi")
    assert sorted(stem for stem, text in files.items() if not text) == sorted("cdefgi")


def test_voc(labeled: Setup, tmp_path: Path) -> None:
    run = export_run(labeled.dsn, "voc", tmp_path)

    xml = {p.stem: p.read_text() for p in (run / "Annotations").rglob("*.xml")}
    assert sorted(xml) == ["a", "b", "h"]  # VOC writes no file for an image without an object (c.png)
    for name, ((width, height), boxes) in BOXES.items():
        if not boxes:
            continue
        text = xml[name.removesuffix(".png")]
        assert f"<filename>{name}</filename>" in text
        assert f"<width>{width}</width>" in text and f"<height>{height}</height>" in text
        corners = re.findall(r"<name>(\w+)</name>.*?<xmin>(\d+)</xmin>\s*<ymin>(\d+)</ymin>\s*<xmax>(\d+)</xmax>"
                             r"\s*<ymax>(\d+)</ymax>", text, re.S)  # fmt: skip
        assert [(n, tuple(int(v) for v in c)) for n, *c in corners] == [
            (label, (x, y, x + w, y + h)) for label, (x, y, w, h) in boxes
        ], name


def test_json_keeps_the_job_and_the_semantic_segmentation_label_map(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path
) -> None:
    setup = make_setup(labeling_dsn, new_store(Cloud.S3), task_type="semantic_segmentation",
                       label_attribute="city-streets-ref")  # fmt: skip
    setup.put_output("semantic_segmentation.manifest", "label-city-streets")
    setup.ingest()

    tasks = json.loads((export_run(setup.dsn, "json", tmp_path) / "result.json").read_text())
    (annotated,) = [t for t in tasks if t["annotations"]]
    (annotation,) = annotated["annotations"]
    assert annotation["result"][0]["value"]["labelmap"].endswith("/0_2018-10-18T22:18:13.527256.png")
    assert annotation["job_name"] == "label-city-streets"
    # COCO cannot hold a label map: counted as skipped by its type, not lost silently.
    manifest = json.loads((export_run(setup.dsn, "coco", tmp_path) / "manifest.json").read_text())
    assert manifest["skipped"]["results"] == {"labelmap": 1}
