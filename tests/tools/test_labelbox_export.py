"""Labels ingested from a Labelbox export, exported by labelbridge in COCO, YOLO and VOC, checked
field by field against the pixels the export fixture holds (fixtures/labelbox/export_v2.ndjson):
the same checks as test_label_studio_export.py, Labelbox's pixels in place of Label Studio's percent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.tools.export_helpers import export_run
from tests.tools.labelbox_helpers import FIXTURES, IMAGES, Setup, make_setup


@pytest.fixture
def ingested(signing_store: StoreFactory, new_store: StoreFactory, labeling_dsn: str) -> Setup:
    setup = make_setup(labeling_dsn, signing_store(Cloud.S3), new_store(Cloud.S3))
    setup.add_images(*IMAGES)
    setup.sync()
    setup.rows()
    setup.put_export("export.ndjson", (FIXTURES / "export_v2.ndjson").read_text())
    assert setup.ingest().counts.created == 3
    return setup


def test_coco(ingested: Setup, tmp_path: Path) -> None:
    document = json.loads((export_run(ingested.dsn, "coco", tmp_path) / "result.json").read_text())
    # The project's declared labels, sorted (as Label Studio numbers a label config's).
    assert document["categories"] == [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}]
    images = {i["id"]: i for i in document["images"]}
    by_image: dict[str, list[tuple[int, list[float], float]]] = {}
    for a in document["annotations"]:
        image = images[a["image_id"]]
        by_image.setdefault(image["file_name"].rsplit("/", 1)[-1], []).append(
            (a["category_id"], [round(v, 6) for v in a["bbox"]], round(a["area"], 4))
        )
    sizes = {i["file_name"].rsplit("/", 1)[-1]: (i["width"], i["height"]) for i in images.values()}
    # Sizes are Labelbox's media_attributes; boxes are its pixels (top-left origin) back again.
    assert sizes["a.png"] == (640, 480) and sizes["b.png"] == (320, 200) and sizes["f.png"] == (300, 300)
    assert sorted(by_image["a.png"]) == [
        (0, [323.2, 240.0, 78.4, 48.0], 3763.2),
        (1, [64.0, 96.0, 192.0, 192.0], 36864.0),
    ]
    # A polygon: its bounding box, and its own area.
    assert by_image["b.png"] == [(0, [32.0, 20.0, 128.0, 100.0], 12800.0)]
    (polygon,) = [a for a in document["annotations"] if images[a["image_id"]]["file_name"].endswith("b.png")]
    assert [round(v, 6) for v in polygon["segmentation"][0]] == [32.0, 20.0, 160.0, 20.0, 160.0, 120.0, 32.0, 120.0]
    # The box past the image's right edge, cut at it: x 200..300.
    assert by_image["f.png"] == [(1, [200.0, 30.0, 100.0, 150.0], 15000.0)]
    assert "c.png" not in by_image


def test_yolo(ingested: Setup, tmp_path: Path) -> None:
    run = export_run(ingested.dsn, "yolo", tmp_path)
    assert (run / "classes.txt").read_text() == "cat\ndog\n"
    labels = {p.name: p.read_text() for p in (run / "labels").rglob("*.txt")}
    numbers = {
        name: [[round(float(v), 6) for v in line.split()] for line in text.splitlines()]
        for name, text in labels.items()
    }
    assert labels["a.txt"] == "1 0.25 0.4 0.3 0.4\n0 0.56625 0.55 0.1225 0.1\n"
    assert labels["b.txt"] == "0 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n"
    # Thirds of 300 pixels: the same numbers, to float noise.
    assert numbers["f.txt"] == [[1, 0.833333, 0.35, 0.333333, 0.5]]
    assert labels["c.txt"] == ""  # labeled nothing: a negative example


def test_voc(ingested: Setup, tmp_path: Path) -> None:
    run = export_run(ingested.dsn, "voc", tmp_path)
    files = {p.name: p.read_text() for p in (run / "Annotations").rglob("*.xml")}
    boxes = {
        name: [(label, [int(v) for v in corners]) for label, *corners in re.findall(
            r"<name>(\w+)</name>.*?<xmin>(\d+)</xmin>\s*<ymin>(\d+)</ymin>\s*<xmax>(\d+)</xmax>\s*<ymax>(\d+)</ymax>",
            xml, re.S)]
        for name, xml in files.items()
    }  # fmt: skip
    assert boxes["a.xml"] == [("dog", [64, 96, 256, 288]), ("cat", [323, 240, 401, 288])]
    assert boxes["f.xml"] == [("dog", [200, 30, 300, 180])]
    assert "<width>640</width>" in files["a.xml"] and "<height>480</height>" in files["a.xml"]
    # The labeler, from Labelbox's created_by.
    assert "ann@example.com" in files["a.xml"]
