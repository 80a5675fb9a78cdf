"""Labelbox export v2 NDJSON ingested into the labeling DB: labels become Label Studio results
(``origin = 'tool'``), bad lines are quarantined with where and why, rows labelbridge never wrote are
reported, and a second run reads only what is new (fixture: fixtures/labelbox/export_v2.ndjson,
following docs.labelbox.com/reference/export-image-annotations)."""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
import pytest

from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.tools.labelbox_helpers import FIXTURES, IMAGES, Setup, make_setup

EXPORT = (FIXTURES / "export_v2.ndjson").read_text()


@pytest.fixture
def written(signing_store: StoreFactory, new_store: StoreFactory, labeling_dsn: str) -> Setup:
    """Images a, b, c, f given to Labelbox as rows (e.png never was: its line names no task)."""
    setup = make_setup(labeling_dsn, signing_store(Cloud.S3), new_store(Cloud.S3))
    setup.add_images(*IMAGES)
    setup.sync()
    assert setup.rows().counts.new == 4
    return setup


def annotations(setup: Setup) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = setup.query(
        "SELECT t.uri, a.origin_key, a.origin, a.result, a.completed_by, a.lead_time, a.extra, a.created_at "
        "FROM annotation a JOIN task t ON t.id = a.task_id ORDER BY 1, 2"
    )
    return {(uri.rsplit("/", 1)[-1], key): rest for uri, key, *rest in rows}


def test_export_lines_become_label_studio_annotations(written: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    source = written.put_export("2026-11-30.ndjson", EXPORT)

    result = written.ingest()
    c = result.counts
    assert (c.files, c.lines, c.rows_matched) == (1, 9, 4)
    assert (c.created, c.updated, c.deleted, c.unchanged) == (3, 0, 0, 0)
    assert (c.quarantined, c.not_ours, c.no_global_key, c.unmapped_objects, c.clipped) == (3, 1, 1, 1, 1)
    # Where (file URI and line number) and why, for each bad line; nothing of the line itself.
    assert [(q.where, q.reason) for q in result.quarantined] == [
        (f"{source}:5", "not JSON: Unterminated string starting (column 101)"),
        (f"{source}:6", "no 'data_row' object"),
        (f"{source}:7", "'projects.cklbxproj000001.labels[0].annotations.objects[0]' is a bounding_box but "
                        "'media_attributes' has no width and height to place it"),
    ]  # fmt: skip
    assert result.not_ours == ["s3://somebody-else/hand-added.png"]
    # The bad lines, whole, next to the export: nothing read is lost.
    bad = [json.loads(line) for line in written.target.read_bytes("lb/quarantine/2026-11-30.ndjson.bad.ndjson")
           .decode().splitlines()]  # fmt: skip
    assert [(b["source"], b["line"]) for b in bad] == [(source, 5), (source, 6), (source, 7)]
    assert bad[1]["text"] == '{"media_attributes": {}, "projects": {}}'

    found = annotations(written)
    assert sorted(found) == [("a.png", "labelbox:cklabel-a1"), ("b.png", "labelbox:cklabel-b1"),
                             ("f.png", "labelbox:cklabel-f1")]  # fmt: skip
    origin, result_a, author, lead, extra, created = found[("a.png", "labelbox:cklabel-a1")]
    assert (origin, author, lead) == ("tool", "ann@example.com", 12.5)
    assert created.isoformat() == "2026-11-30T08:00:00+00:00"
    assert extra == {"updated_at": "2026-11-30T08:05:00.000+00:00", "labelbox": {
        "label_id": "cklabel-a1", "project_id": "cklbxproj000001", "data_row_id": "ckdr000001",
        "workflow_status": "Done", "reviews": []}}  # fmt: skip
    # Pixels from the top-left corner -> percent of the image (640 x 480), the image size on each region.
    dog, cat, quality = result_a
    assert dog == {"id": "ckf-a1", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
                   "original_width": 640, "original_height": 480, "image_rotation": 0,
                   "value": {"x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0, "rotation": 0,
                             "rectanglelabels": ["dog"]}}  # fmt: skip
    assert cat["value"]["rectanglelabels"] == ["cat"]
    assert [round(cat["value"][k], 6) for k in ("x", "y", "width", "height")] == [50.5, 50.0, 12.25, 10.0]
    assert quality == {"id": "ckf-cls-a", "from_name": "quality", "to_name": "image", "type": "choices",
                       "value": {"choices": ["good"]}}  # fmt: skip
    polygon, weather = found[("b.png", "labelbox:cklabel-b1")][1]
    assert polygon["type"] == "polygonlabels" and polygon["value"]["polygonlabels"] == ["cat"]
    assert polygon["value"]["points"] == [[10.0, 10.0], [50.0, 10.0], [50.0, 60.0], [10.0, 60.0]]
    assert weather["value"] == {"choices": ["rain", "fog"]}
    # A box past the right edge (200 + 150 > 300) is cut at it; the mask is left out.
    (edge,) = found[("f.png", "labelbox:cklabel-f1")][1]
    assert [round(edge["value"][k], 6) for k in ("x", "y", "width", "height")] == [66.666667, 10.0, 33.333333, 50.0]
    # The rows' labels are known as annotated; a signed URL from the export never reaches a log.
    assert written.query("SELECT count(*) FROM tool_task WHERE annotated") == [(3,)]
    assert "X-Amz-Signature" not in caplog.text and "hand-added.png" in caplog.text


def test_second_run_reads_only_new_files_and_rewrites_only_changed_labels(written: Setup) -> None:
    written.put_export("2026-11-30.ndjson", EXPORT)
    written.ingest()
    stamps = dict(written.query("SELECT origin_key, updated_at FROM annotation"))

    # No new file: nothing read.
    idle = written.ingest().counts
    assert (idle.files, idle.lines, idle.created, idle.updated) == (0, 0, 0, 0)

    # A newer export: a1 moved (its updated_at too), b1 as it was, f1 deleted in Labelbox.
    lines = [json.loads(line) for line in EXPORT.splitlines()[:3]] + [json.loads(EXPORT.splitlines()[7])]
    a1 = lines[0]["projects"]["cklbxproj000001"]["labels"][0]
    a1["label_details"]["updated_at"] = "2026-12-01T09:00:00.000+00:00"
    a1["annotations"]["objects"][0]["bounding_box"]["left"] = 128
    lines[3]["projects"]["cklbxproj000001"]["labels"] = []
    written.put_export("2026-12-01.ndjson", "\n".join(json.dumps(line) for line in lines) + "\n")

    c = written.ingest().counts
    assert (c.files, c.lines, c.created, c.updated, c.unchanged, c.deleted) == (1, 4, 0, 1, 1, 1)
    after = dict(written.query("SELECT origin_key, updated_at FROM annotation"))
    assert after["labelbox:cklabel-b1"] == stamps["labelbox:cklabel-b1"]  # not rewritten
    assert after["labelbox:cklabel-a1"] > stamps["labelbox:cklabel-a1"]
    assert "labelbox:cklabel-f1" not in after
    (result,) = written.query("SELECT result FROM annotation WHERE origin_key = 'labelbox:cklabel-a1'")[0]
    assert result[0]["value"]["x"] == 20.0

    # --full replays every file, oldest first: the end state is the newest file's again.
    results = dict(written.query("SELECT origin_key, result FROM annotation"))
    assert written.ingest(full=True).counts.files == 2
    assert dict(written.query("SELECT origin_key, result FROM annotation")) == results


def test_labels_of_other_labelbox_projects_are_left_out(
    signing_store: StoreFactory, new_store: StoreFactory, labeling_dsn: str
) -> None:
    setup = make_setup(labeling_dsn, signing_store(Cloud.S3), new_store(Cloud.S3), project_id="another")
    setup.add_images(*IMAGES)
    setup.sync()
    setup.rows()
    setup.put_export("x.ndjson", EXPORT)
    c = setup.ingest().counts
    assert (c.rows_matched, c.created) == (4, 0)


def test_nothing_written_yet_means_nothing_to_ingest(
    signing_store: StoreFactory, new_store: StoreFactory, labeling_dsn: str
) -> None:
    setup = make_setup(labeling_dsn, signing_store(Cloud.S3), new_store(Cloud.S3))
    setup.put_export("x.ndjson", EXPORT)
    assert setup.ingest().counts.files == 0


def test_odd_shapes_are_quarantined_not_crashed_on(written: Setup) -> None:
    key = written.source.uri("images/a.png")
    odd = [
        {"data_row": {"global_key": 5}},
        {"data_row": {"global_key": key}, "projects": {"p": {"project_details": "Done", "labels": []}}},
        {"data_row": {"global_key": key}, "media_attributes": {"width": 10, "height": 10}, "projects": {"p": {
            "labels": [{"id": "l1", "annotations": {"objects": [
                {"name": "dog", "bounding_box": {"top": 1, "left": "1", "height": 2, "width": 2}}]}}]}}},
        {"data_row": {"global_key": key}, "projects": {"p": {"labels": [{"annotations": {}}]}}},
        [1, 2],
        {"data_row": {"global_key": key}, "projects": {"p": {"labels": [{"id": "l2", "annotations": {
            "classifications": [{"name": "q"}]}}]}}},
    ]
    source = written.put_export("odd.ndjson", "\n".join(json.dumps(line) for line in odd) + "\n")

    result = written.ingest()

    assert result.counts.quarantined == 6 and result.counts.created == 0
    assert [(q.where, q.reason) for q in result.quarantined] == [
        (f"{source}:1", "'data_row.global_key' is not a string"),
        (f"{source}:2", "malformed data row (AttributeError)"),
        (f"{source}:3", "'projects.p.labels[0].annotations.objects[0].bounding_box.left' is not a number"),
        (f"{source}:4", "'projects.p.labels[0]' has no 'id'"),
        (f"{source}:5", "expected a JSON object, got list"),
        (f"{source}:6", "'projects.p.labels[0].annotations.classifications[0]' has no radio_answer, "
                        "checklist_answers or text_answer"),
    ]  # fmt: skip


def test_label_studio_and_labelbox_annotations_on_one_task_leave_each_other_alone(written: Setup) -> None:
    """Both tools write ``origin = 'tool'`` rows through the shared upsert; each deletes only its own keys."""
    from labelbridge.tools.label_studio.pull import PullCounts, _store_page

    written.put_export("x.ndjson", EXPORT)
    written.ingest()
    with psycopg.connect(written.dsn) as conn:
        (task_id,) = conn.execute("SELECT id FROM task WHERE uri LIKE '%%/a.png'").fetchone()  # type: ignore[misc]
        (bound,) = conn.execute(
            "INSERT INTO tool_project (project_id, tool, remote_project) SELECT id, 'label_studio', '7' FROM project "
            "RETURNING id"
        ).fetchone()  # type: ignore[misc]
        conn.execute("INSERT INTO tool_task (tool_project_id, task_id, remote_id, data_hash) VALUES (%s, %s, 100, '')",
                     (bound, task_id))  # fmt: skip
        annotation = {"id": 5, "result": [], "completed_by": 3, "updated_at": "u1", "created_at": "2026-11-30"}
        page = [{"id": 100, "annotations": [annotation]}]
        counts = PullCounts()
        _store_page(conn, bound, page, counts)
        assert (counts.created, counts.deleted) == (1, 0)
        page[0]["annotations"] = []  # deleted in Label Studio
        _store_page(conn, bound, page, counts)
        assert counts.deleted == 1
        conn.commit()
    # Label Studio's deletion left Labelbox's label on the same task.
    assert sorted(annotations(written)) == [
        ("a.png", "labelbox:cklabel-a1"),
        ("b.png", "labelbox:cklabel-b1"),
        ("f.png", "labelbox:cklabel-f1"),
    ]
