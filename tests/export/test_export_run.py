"""Exports from the labeling DB to each cloud's emulator: streaming write, verify, manifest, watermark."""

from __future__ import annotations

import json
from typing import IO

import psycopg
import pytest

from labelbridge.config import Cloud
from labelbridge.errors import ExportError, StorageError
from labelbridge.export import export_target
from labelbridge.export.watermark import watermark
from labelbridge.storage import ObjectStore
from tests.conftest import StoreFactory
from tests.export.conftest import seed, target_config
from tests.export.fixtures import TASKS

ALL_FORMATS = ("json", "json_min", "jsonl", "csv", "coco", "yolo", "voc")


def objects(store: ObjectStore, prefix: str) -> dict[str, bytes]:
    return {o.key[len(prefix):]: store.read_bytes(o.key) for o in store.iter_objects(prefix)}


def current_watermark(dsn: str, fmt: str = "json") -> object:
    with psycopg.connect(dsn) as conn:
        return watermark(conn, target="out", project="demo", fmt=fmt)


def test_every_format_lands_with_a_manifest_listing_its_files(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, seeded: list[int]
) -> None:
    store = new_store(cloud)
    target = target_config(cloud, store.bucket, formats=ALL_FORMATS)

    for fmt in ALL_FORMATS:
        result = export_target(
            labeling_dsn, store, target=target, fmt=fmt, run_key="scheduled__2025-01-01T00:00:00+00:00"
        )

        prefix = f"exports/demo/{fmt}/scheduled__2025-01-01T00_00_00_00_00/"
        assert result.run_prefix == prefix
        written = objects(store, prefix)
        manifest = json.loads(written.pop("manifest.json"))
        assert {f["name"]: f["size_bytes"] for f in manifest["files"]} == {k: len(v) for k, v in written.items()}
        assert manifest["counts"]["annotations_read"] == 5
        assert manifest["watermark"]["from"] is None and manifest["watermark"]["to"].endswith("Z")


def test_large_export_streams_in_multipart_or_blocks(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    # ~12 MiB of JSON: above S3's 8 MiB multipart threshold, several GCS chunks / Azure blocks.
    big = [{"data": {"image": f"s3://bkt/images/{i}.jpg", "caption": "x" * 3000}, "annotations": []}
           for i in range(4000)]
    seed(labeling_dsn, big)
    store = new_store(cloud)

    result = export_target(labeling_dsn, store, target=target_config(cloud, store.bucket), fmt="json", run_key="r1",
                            batch_size=500)

    body = store.read_bytes("exports/demo/json/r1/result.json")
    assert len(body) == result.bytes > 12 * 2**20
    assert len(json.loads(body)) == 4000


def test_incremental_run_exports_only_the_changed_task(
    new_store: StoreFactory, labeling_dsn: str, seeded: list[int]
) -> None:
    store = new_store(Cloud.S3)
    target = target_config(Cloud.S3, store.bucket)
    first = export_target(labeling_dsn, store, target=target, fmt="json", run_key="r1")
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute("UPDATE annotation SET lead_time = 99, updated_at = now() WHERE task_id = %s", (seeded[3],))
        conn.execute("UPDATE task SET deleted_at = now() WHERE id = %s", (seeded[2],))

    second = export_target(labeling_dsn, store, target=target, fmt="json", run_key="r2")

    tasks = json.loads(store.read_bytes("exports/demo/json/r2/result.json"))
    assert [t["id"] for t in tasks] == [seeded[3]]
    assert tasks[0]["annotations"][0]["lead_time"] == 99
    deleted = store.read_bytes("exports/demo/json/r2/deleted_tasks.jsonl").decode().splitlines()
    assert [json.loads(line)["id"] for line in deleted] == [seeded[2]]
    manifest = json.loads(store.read_bytes("exports/demo/json/r2/manifest.json"))
    assert manifest["watermark"]["from"] == json.loads(
        store.read_bytes("exports/demo/json/r1/manifest.json"))["watermark"]["to"]
    assert (first.stats.tasks_exported, second.stats.tasks_exported, second.deleted_tasks) == (5, 1, 1)

    full = export_target(labeling_dsn, store, target=target, fmt="json", run_key="r3", full=True)
    assert full.stats.tasks_exported == 4 and full.deleted_tasks == 0


def test_rerun_of_the_same_run_rewrites_identical_bytes(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, seeded: list[int]
) -> None:
    store = new_store(cloud)
    target = target_config(cloud, store.bucket, formats=("coco", "yolo"))
    for fmt in ("coco", "yolo"):
        export_target(labeling_dsn, store, target=target, fmt=fmt, run_key="r1")
    before = objects(store, "exports/demo/")
    # Later changes move on to the next run; they must not leak into a rerun of r1.
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute("UPDATE annotation SET updated_at = now(), lead_time = 1 WHERE task_id = %s", (seeded[0],))

    for fmt in ("coco", "yolo"):
        export_target(labeling_dsn, store, target=target, fmt=fmt, run_key="r1")

    assert objects(store, "exports/demo/") == before


class FailingStore:
    """The real store, except that writing one key fails: an upload cut off half-way."""

    def __init__(self, store: ObjectStore, failing_key_part: str, *, silently: bool = False) -> None:
        self.store = store
        self.failing_key_part = failing_key_part
        self.silently = silently

    def write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> None:
        if self.failing_key_part in key:
            if self.silently:
                return  # a lost write: only verification can notice
            raise StorageError(f"{key}: upload failed: connection reset")
        self.store.write(key, data, content_type=content_type)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def test_a_failed_upload_writes_no_manifest_and_keeps_the_watermark(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, seeded: list[int]
) -> None:
    store = new_store(cloud)
    target = target_config(cloud, store.bucket, formats=("yolo",))
    export_target(labeling_dsn, store, target=target, fmt="yolo", run_key="r1")
    mark = current_watermark(labeling_dsn, "yolo")
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute("UPDATE annotation SET updated_at = now() WHERE task_id = %s", (seeded[1],))

    with pytest.raises(StorageError, match=r"dog2\.txt: upload failed: connection reset"):
        export_target(labeling_dsn, FailingStore(store, "dog2"), target=target, fmt="yolo", run_key="r2")  # type: ignore[arg-type]

    assert list(store.iter_objects("exports/demo/yolo/r2/manifest.json")) == []
    assert current_watermark(labeling_dsn, "yolo") == mark
    with psycopg.connect(labeling_dsn) as conn:
        row = conn.execute("SELECT status, error FROM export_run WHERE run_key = 'r2'").fetchone()
    assert row == ("failed", "exports/demo/yolo/r2/labels/images/dog2.txt: upload failed: connection reset")

    # The retry of r2 covers the same window and publishes.
    export_target(labeling_dsn, store, target=target, fmt="yolo", run_key="r2")
    assert store.read_bytes("exports/demo/yolo/r2/labels/images/dog2.txt") == b"0 0.625 0.55 0.25 0.1\n"
    assert current_watermark(labeling_dsn, "yolo") != mark


def test_a_lost_write_fails_verification(new_store: StoreFactory, labeling_dsn: str, seeded: list[int]) -> None:
    store = new_store(Cloud.GCS)
    target = target_config(Cloud.GCS, store.bucket, formats=("yolo",))

    with pytest.raises(ExportError, match=r"exports/demo/yolo/r1/: verification failed: wrote 7 files \(\d+ bytes\), "
                                          r"the target lists 6 files"):
        export_target(labeling_dsn, FailingStore(store, "cat1", silently=True), target=target, fmt="yolo",  # type: ignore[arg-type]
                       run_key="r1")

    assert list(store.iter_objects("exports/demo/yolo/r1/manifest.json")) == []
    assert current_watermark(labeling_dsn, "yolo") is None


def test_malformed_annotation_in_the_db_is_reported_by_task_id(
    new_store: StoreFactory, labeling_dsn: str, seeded: list[int]
) -> None:
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute("UPDATE annotation SET result = '[{\"type\": \"choices\", \"value\": 3}]' WHERE task_id = %s",
                     (seeded[0],))
    store = new_store(Cloud.AZURE)

    result = export_target(
        labeling_dsn, store, target=target_config(Cloud.AZURE, store.bucket), fmt="json", run_key="r1"
    )

    manifest = json.loads(store.read_bytes("exports/demo/json/r1/manifest.json"))
    assert manifest["problems"] == [
        {"task_id": seeded[0], "reason": "annotation 101: result[0].value must be an object, got number"}
    ]
    assert result.stats.tasks_exported == len(TASKS) - 1


def test_unknown_project_and_format_are_clear_errors(new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(Cloud.S3)
    target = target_config(Cloud.S3, store.bucket)

    with pytest.raises(ExportError, match="format 'coco' is not among the target's formats \\(json\\)"):
        export_target(labeling_dsn, store, target=target, fmt="coco", run_key="r1")
    with pytest.raises(ExportError, match="project 'demo' is not in the labeling database; sync one of its"):
        export_target(labeling_dsn, store, target=target, fmt="json", run_key="r1")


def test_a_rerun_is_refused_while_the_earlier_attempt_lives_and_marks_it_once_it_died(
    new_store: StoreFactory, labeling_dsn: str, seeded: list[int]
) -> None:
    from labelbridge.export.watermark import begin_run

    store = new_store(Cloud.S3)
    target = target_config(Cloud.S3, store.bucket)
    earlier = psycopg.connect(labeling_dsn, autocommit=True)
    run = begin_run(earlier, target="out", project="demo", fmt="json", run_key="r1", full=False)

    with pytest.raises(ExportError) as refused:
        export_target(labeling_dsn, store, target=target, fmt="json", run_key="r1")
    assert str(refused.value) == (
        f"export of 'out' in json for run 'r1' is still running in another process (export_run {run.id});"
        " wait for it to end, or stop it, then run again"
    )

    # The earlier attempt's process dies: the next run of the target marks its row, with when it was last seen.
    earlier.close()
    export_target(labeling_dsn, store, target=target, fmt="json", run_key="r2")
    with psycopg.connect(labeling_dsn) as conn:
        status, error, seen = conn.execute(
            "SELECT status, error, last_seen_at IS NOT NULL FROM export_run WHERE id = %s", (run.id,)
        ).fetchone()  # type: ignore[misc]
    assert (status, seen) == ("abandoned", True) and "; last seen 20" in error
    # ... and the rerun of r1 re-opens it and completes it.
    export_target(labeling_dsn, store, target=target, fmt="json", run_key="r1")
    with psycopg.connect(labeling_dsn) as conn:
        assert conn.execute("SELECT run_key, status FROM export_run ORDER BY run_key").fetchall() == [
            ("r1", "success"), ("r2", "success")
        ]
