"""Every format on the fixture project, field by field, through ``convert`` (the same writers as export)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from labelbridge.cli import main
from labelbridge.export import convert_file
from tests.export.fixtures import LABELS, export_file_tasks


@pytest.fixture
def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(export_file_tasks()), encoding="utf-8")
    return path


def convert(tasks_file: Path, fmt: str) -> tuple[Path, dict[str, Any]]:
    out = tasks_file.parent / fmt
    convert_file(tasks_file, out, fmt=fmt, labels=LABELS)
    return out, json.loads((out / "manifest.json").read_text())


def test_json_keeps_every_task_and_cancelled_annotations(tasks_file: Path) -> None:
    out, manifest = convert(tasks_file, "json")
    tasks = json.loads((out / "result.json").read_text())

    assert [t["id"] for t in tasks] == [1, 2, 3, 4, 5]
    assert [a["id"] for a in tasks[1]["annotations"]] == [102, 103]
    assert tasks[1]["annotations"][0]["was_cancelled"] is True
    assert (tasks[1]["total_annotations"], tasks[1]["cancelled_annotations"]) == (1, 1)
    assert tasks[0]["annotations"][0]["result"] == export_file_tasks()[0]["annotations"][0]["result"]
    assert manifest["counts"]["annotations_exported"] == 5
    assert manifest["skipped"] == {"tasks": {}, "annotations": {}, "results": {}}


def test_jsonl_is_the_json_tasks_one_per_line(tasks_file: Path) -> None:
    out, _ = convert(tasks_file, "jsonl")
    json_out, _ = convert(tasks_file, "json")

    lines = (out / "result.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == json.loads((json_out / "result.json").read_text())


def test_json_min_one_record_per_active_annotation(tasks_file: Path) -> None:
    out, manifest = convert(tasks_file, "json_min")
    records = json.loads((out / "result.json").read_text())

    assert [r["id"] for r in records] == [1, 2, 3, 4]  # task 5: only a cancelled annotation
    first = records[0]
    assert first["image"] == "s3://bkt/images/cat1.jpg"
    assert first["note"] == "a note" and first["scene"] == "indoor"  # lone text/choice as a string
    assert first["label"] == [{"x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0, "rotation": 0,
                               "rectanglelabels": ["cat"], "original_width": 200, "original_height": 100}]
    assert (first["annotator"], first["annotation_id"], first["lead_time"]) == (7, 101, 12.5)
    assert records[1]["annotation_id"] == 103  # the cancelled 102 is left out
    assert records[2] == {"image": "s3://bkt/images/empty3.jpg", "id": 3, "annotator": None,
                          "annotation_id": None, "created_at": None, "updated_at": None, "lead_time": None}
    assert manifest["skipped"]["annotations"] == {"cancelled": 2}


def test_csv_flattens_records_under_a_sorted_header(tasks_file: Path) -> None:
    out, _ = convert(tasks_file, "csv")
    rows = list(csv.DictReader(io.StringIO((out / "result.csv").read_text())))

    assert list(rows[0]) == ["annotation_id", "annotator", "created_at", "id", "image", "label", "lead_time",
                             "ner", "note", "poly", "scene", "text", "updated_at"]
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["note"] == "a note" and rows[0]["annotator"] == "7"
    assert json.loads(rows[0]["poly"])[0]["polygonlabels"] == ["dog"]
    assert rows[3]["text"] == "hello world" and json.loads(rows[3]["ner"])[0]["labels"] == ["cat"]


def test_coco_pixel_boxes_polygons_and_counted_skips(tasks_file: Path) -> None:
    out, manifest = convert(tasks_file, "coco")
    coco = json.loads((out / "result.json").read_text())

    assert coco["categories"] == [{"id": 0, "name": "bird"}, {"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
    assert coco["images"] == [
        {"width": 200, "height": 100, "id": 0, "file_name": "images/cat1.jpg"},
        {"width": 200, "height": 100, "id": 1, "file_name": "images/dog2.png"},
    ]
    box, polygon, bird = coco["annotations"]
    assert box == {"id": 0, "image_id": 0, "category_id": 1, "segmentation": [], "bbox": [20.0, 20.0, 60.0, 40.0],
                   "ignore": 0, "iscrowd": 0, "area": 2400.0}
    assert polygon["segmentation"] == [[20.0, 10.0, 100.0, 10.0, 100.0, 50.0]]
    assert (polygon["bbox"], polygon["area"], polygon["category_id"]) == ([20.0, 10.0, 80.0, 40.0], 1600.0, 2)
    assert (bird["image_id"], bird["category_id"], bird["bbox"]) == (1, 0, [100.0, 50.0, 50.0, 10.0])
    assert manifest["skipped"] == {
        "tasks": {"all_cancelled": 1, "no_image_size": 1, "unannotated": 1},
        "annotations": {"cancelled": 2, "unplaced": 1},
        "results": {"choices": 1, "labels": 1, "textarea": 1},
    }
    _check_coco_layout(coco)


def _check_coco_layout(coco: dict[str, Any]) -> None:
    """pycocotools when installed; else the layout it relies on."""
    try:
        from pycocotools.coco import COCO  # type: ignore[import-not-found]
    except ImportError:
        image_ids = {i["id"] for i in coco["images"]}
        category_ids = {c["id"] for c in coco["categories"]}
        assert len(image_ids) == len(coco["images"])
        for ann in coco["annotations"]:
            assert ann["image_id"] in image_ids and ann["category_id"] in category_ids
            assert len(ann["bbox"]) == 4 and ann["area"] > 0 and ann["iscrowd"] == 0
        return
    api = COCO()
    api.dataset = coco
    api.createIndex()
    assert len(api.getAnnIds(imgIds=[0])) == 2


def test_yolo_one_file_per_image_and_classes(tasks_file: Path) -> None:
    out, manifest = convert(tasks_file, "yolo")

    assert (out / "labels/images/cat1.txt").read_text() == "1 0.25 0.4 0.3 0.4\n2 0.1 0.1 0.5 0.1 0.5 0.5\n"
    assert (out / "labels/images/dog2.txt").read_text() == "0 0.625 0.55 0.25 0.1\n"
    assert (out / "labels/images/empty3.txt").read_text() == ""  # negative example
    assert (out / "labels/images/text4.txt").read_text() == ""  # text labels do not fit
    assert not (out / "labels/images/skip5.txt").exists()  # only a cancelled annotation
    assert (out / "classes.txt").read_text() == "bird\ncat\ndog\n"
    assert "nc: 3\nnames:\n  0: \"bird\"\n  1: \"cat\"\n  2: \"dog\"\n" in (out / "data.yaml").read_text()
    assert manifest["skipped"]["results"] == {"choices": 1, "labels": 1, "textarea": 1}
    names = [f["name"] for f in manifest["files"]]
    assert names[:4] == ["labels/images/cat1.txt", "labels/images/dog2.txt", "labels/images/empty3.txt",
                         "labels/images/text4.txt"]


def test_voc_rectangles_in_whole_pixels(tasks_file: Path) -> None:
    out, manifest = convert(tasks_file, "voc")
    xml = (out / "Annotations/images/cat1.xml").read_text()

    assert "<filename>cat1.jpg</filename>" in xml and "<annotator>7</annotator>" in xml
    assert "<width>200</width>\n<height>100</height>\n<depth>3</depth>" in xml
    assert "<name>cat</name>" in xml and "<name>dog</name>" not in xml  # polygons do not fit VOC
    assert "<xmin>20</xmin>\n<ymin>20</ymin>\n<xmax>80</xmax>\n<ymax>60</ymax>" in xml
    assert sorted(p.name for p in (out / "Annotations/images").iterdir()) == ["cat1.xml", "dog2.xml"]
    assert manifest["skipped"]["results"] == {"choices": 1, "labels": 1, "polygonlabels": 1, "textarea": 1}


def test_malformed_task_is_reported_and_the_rest_exported(tmp_path: Path) -> None:
    tasks = export_file_tasks()
    tasks[1]["annotations"][1]["result"] = {"not": "a list"}
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))

    result = convert_file(path, tmp_path / "out", fmt="json")

    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert manifest["problems"] == [{"task_id": 2, "reason": "annotation 103: result must be a list, got object"}]
    assert manifest["skipped"]["tasks"] == {"malformed": 1}
    assert [t["id"] for t in json.loads((tmp_path / "out/result.json").read_text())] == [1, 3, 4, 5]
    assert result.counts()["annotations_exported"] == 3


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_relations_and_unreadable_shapes_are_counted_not_fatal(tmp_path: Path, fmt: str) -> None:
    tasks = export_file_tasks()
    annotation = tasks[0]["annotations"][0]
    odd_points = {**annotation["result"][1], "id": "r9", "value": {"points": [[1, 2], "x", [3, 4]],
                                                                 "polygonlabels": ["dog"]}}
    annotation["result"] = [*annotation["result"], odd_points,
                            {"from_id": "r1", "to_id": "r2", "type": "relation", "value": "leans on"}]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))

    convert_file(path, tmp_path / "out", fmt=fmt, labels=LABELS)

    skipped = json.loads((tmp_path / "out/manifest.json").read_text())["skipped"]["results"]
    assert (skipped["relation"], skipped["polygonlabels"]) == (1, 2 if fmt == "voc" else 1)


def test_images_shared_by_two_tasks_get_distinct_files(tmp_path: Path) -> None:
    tasks = export_file_tasks()
    tasks[1]["data"]["image"] = tasks[0]["data"]["image"]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))

    convert_file(path, tmp_path / "out", fmt="yolo")

    labels = sorted(p.name for p in (tmp_path / "out/labels/images").iterdir())
    assert labels == ["cat1__1.txt", "cat1__2.txt", "empty3.txt", "text4.txt"]


def test_convert_command(tasks_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tasks_file.parent / "cli"

    assert main(["convert", "--format", "coco", "--labels", "bird,cat,dog", str(tasks_file), str(out)]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert (printed["format"], printed["files"], printed["annotations_exported"]) == ("coco", 1, 2)
    assert (out / "result.json").is_file() and (out / "manifest.json").is_file()


def test_convert_refuses_a_foreign_non_empty_directory(tasks_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tasks_file.parent / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("x")

    assert main(["convert", "--format", "json", str(tasks_file), str(out)]) == 2

    assert capsys.readouterr().err == (
        f"labelbridge: error: {out}: not empty and not an earlier convert output; choose an empty directory\n"
    )
    assert (out / "keep.txt").read_text() == "x"
