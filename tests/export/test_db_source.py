"""The DB source splices PostgreSQL's JSON text instead of decoding and re-encoding it: prove that
changes no byte. Each format written from the DB equals the same format written from the DB's own
``json`` export read back as a Label Studio file (decoded, then encoded by ``json.dumps``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from labelbridge.export.directory import DirectoryTarget
from labelbridge.export.formats import FORMATS, FormatContext
from labelbridge.export.records import TaskRecord
from labelbridge.export.run import write_export
from labelbridge.export.source import DatabaseSource, FileSource, Window, image_relpath, open_snapshot
from tests.export.conftest import seed
from tests.export.fixtures import LABELS, TASKS

CONTEXT = FormatContext(labels=LABELS, created="2025-02-01T00:00:00Z")


BAD_TASK = {"data": {"image": "s3://bkt/images/bad6.jpg"}, "annotations": [
    {"id": 106, "completed_by": 9, "result": {"type": "x"}, "was_cancelled": False, "ground_truth": False,
     "lead_time": 1.0, "created_at": "2025-01-02T15:00:00.000000Z"}]}


@pytest.fixture
def project(labeling_dsn: str) -> list[int]:
    """The fixture, plus what only a DB holds: extra keys, odd strings, predictions; and a sixth task
    whose annotation result is not a list."""
    seeded = seed(labeling_dsn, [*TASKS, BAD_TASK])
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute(
            "UPDATE annotation SET extra = extra || %s, completed_by = 'anna@example.com', lead_time = 3"
            " WHERE task_id = %s",
            (Jsonb({"draft_id": 0, "note": 'tab\there "quoted" \\ ünïcode \u2028 \x01', "task": 99}), seeded[0]),
        )
        conn.execute("UPDATE task SET meta = %s WHERE id = %s", (Jsonb({"source": "résumé"}), seeded[0]))
        conn.execute("UPDATE task SET meta = '[1, 2]' WHERE id = %s", (seeded[1],))  # exported as {}
        conn.execute(
            "INSERT INTO prediction (task_id, origin_key, model_version, score, result) VALUES"
            " (%s, 'p1', 'yolo-v8 \"x\"', 0.25, %s), (%s, 'p2', NULL, NULL, '[]')",
            (seeded[0], Jsonb([{"type": "choices", "value": {"choices": ["a"]}, "score": 0.5}]), seeded[1]),
        )
    return seeded


def export_from_db(dsn: str, fmt: str, out: Path) -> None:
    with open_snapshot(dsn) as conn:
        # Small batches: tasks and annotations cross batch boundaries in the reader thread.
        source = DatabaseSource(conn, 1, window=Window(datetime.now(UTC), full=True), batch_size=2)
        write_export(source, DirectoryTarget(out), prefix="", fmt=fmt, context=CONTEXT, header={"format": fmt})


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_json_from_the_db_is_what_json_dumps_writes(labeling_dsn: str, project: list[int], tmp_path: Path) -> None:
    export_from_db(labeling_dsn, "json", tmp_path / "db")
    spliced = (tmp_path / "db" / "result.json").read_bytes()

    tasks = json.loads(spliced)
    reencoded = b"[\n" + b",\n".join(json.dumps(t, ensure_ascii=False).encode() for t in tasks) + b"\n]\n"
    assert spliced == reencoded
    first = tasks[0]
    assert first["meta"] == {"source": "résumé"}
    assert first["annotations"][0] == {
        "id": 101, "completed_by": "anna@example.com", "result": first["annotations"][0]["result"],
        "was_cancelled": False, "ground_truth": False, "created_at": "2025-01-02T10:00:00.000000Z",
        "updated_at": "2025-01-02T10:00:00.000000Z", "lead_time": 3.0, "draft_id": 0,
        "note": 'tab\there "quoted" \\ ünïcode \u2028 \x01', "task": project[0],
    }
    assert [(p["model_version"], p["score"], p["result"][0]["score"]) for p in first["predictions"]] == [
        ('yolo-v8 "x"', 0.25, 0.5)
    ]
    assert (first["total_predictions"], tasks[1]["predictions"][0]["model_version"]) == (1, None)
    assert [t["id"] for t in tasks] == project[:5]  # task 6 is malformed
    manifest = json.loads((tmp_path / "db" / "manifest.json").read_text())
    assert manifest["problems"] == [
        {"task_id": project[5], "reason": "annotation 106: result must be a list, got object"}
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_from_the_db_matches_the_same_tasks_from_a_file(
    labeling_dsn: str, project: list[int], tmp_path: Path, fmt: str
) -> None:
    export_from_db(labeling_dsn, "json", tmp_path / "json")
    export_from_db(labeling_dsn, fmt, tmp_path / "db")
    file_source = FileSource(tmp_path / "json" / "result.json")
    write_export(file_source, DirectoryTarget(tmp_path / "file"), prefix="", fmt=fmt, context=CONTEXT,
                 header={"format": fmt})

    from_db, from_file = files(tmp_path / "db"), files(tmp_path / "file")
    db_manifest, file_manifest = json.loads(from_db.pop("manifest.json")), json.loads(from_file.pop("manifest.json"))
    assert from_db == from_file
    # The file lacks the malformed task (json left it out); everything else counts alike.
    assert db_manifest["skipped"]["tasks"].pop("malformed") == 1
    assert db_manifest["skipped"]["annotations"].pop("malformed_task") == 1
    assert db_manifest["files"] == file_manifest["files"] and db_manifest["skipped"] == file_manifest["skipped"]


ODD_IMAGES = ["s3://bkt/images/a.jpg", "gs://bkt/x/y.png?X-Goog-Signature=abc#frag", "/abs/path.jpg", "rel.jpg",
              "https://host.example/p/q.jpg?sig=1", "s3://bucket-only", "", 5, None, ["s3://b/l.jpg"],
              "a.jpg?x\ny", "://no-scheme/z.jpg", "file:///x/y.jpg", "Se+c.ret-1://h/p.jpg", "azure-blob://c/d/ü é.jpg",
              "s3://b//double/slash.jpg", "#only-fragment", "9s3://b/k.jpg", "s3://other/x/y.jpg"]


def test_image_paths_computed_in_sql_match_pythons_for_every_odd_uri(labeling_dsn: str) -> None:
    """YOLO/VOC/COCO take each task's image path from SQL, a file's from Python: they must agree."""
    seeded = seed(labeling_dsn, [{"data": {"image": value, "n": n}, "annotations": []}
                                 for n, value in enumerate(ODD_IMAGES)])
    with open_snapshot(labeling_dsn) as conn:
        source = DatabaseSource(conn, 1, window=Window(datetime.now(UTC), full=True), batch_size=4)
        tasks = [t for t in source.iter_tasks(image_field="image") if isinstance(t, TaskRecord)]
        duplicates = source.duplicate_image_paths("image")
    assert [t.id for t in tasks] == seeded
    assert [t.image for t in tasks] == [("image", image_relpath(v)) for v in ODD_IMAGES]
    assert [path for _, path in filter(None, (t.image for t in tasks))][:6] == [
        "images/a.jpg", "x/y.png", "abs/path.jpg", "rel.jpg", "p/q.jpg", "s3://bucket-only"]
    assert duplicates == {"x/y.jpg"}  # file:///x/y.jpg and s3://other/x/y.jpg


def test_image_formats_read_less_but_see_the_same_annotations(project: list[int], labeling_dsn: str) -> None:
    """YOLO and VOC read tasks without details: same tasks, same state and result of every annotation."""

    def read(details: bool) -> list[TaskRecord]:
        with open_snapshot(labeling_dsn) as conn:
            source = DatabaseSource(conn, 1, window=Window(datetime.now(UTC), full=True), batch_size=2)
            return [t for t in source.iter_tasks(decode_results=True, image_field="image", details=details)
                    if isinstance(t, TaskRecord)]

    full, lean = read(True), read(False)
    assert [(t.id, t.image) for t in lean] == [(t.id, t.image) for t in full]
    assert len(lean) == len(project) - 1  # the malformed sixth task is reported, not yielded

    def seen(task: TaskRecord) -> list[tuple[object, ...]]:
        return [(a.was_cancelled, a.ground_truth, a.created_at, a.completed_by, a.result) for a in task.annotations]

    assert [seen(t) for t in lean] == [seen(t) for t in full]
    assert any(a.was_cancelled for t in lean for a in t.annotations)
    assert full[0].export_json().startswith('{"id": ')
    with pytest.raises(ValueError, match="without its details"):
        lean[0].export_json()
