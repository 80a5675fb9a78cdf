"""Labelbox data-row import files: written to S3, GCS or Azure, with signed URLs that open, global
keys that are canonical URIs within Labelbox's limit, and the changed/removed files a URL renewal
or a vanished object calls for (format: docs.labelbox.com/reference/data-row)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from labelbridge.config import Cloud
from labelbridge.rotate import rotate_storage
from labelbridge.tools.labelbox import MAX_GLOBAL_KEY
from tests.conftest import StoreFactory
from tests.tools.label_studio_helpers import fetch
from tests.tools.labelbox_helpers import Setup, make_setup


@pytest.fixture
def setup(signing_store: StoreFactory, new_store: StoreFactory, labeling_dsn: str, cloud: Cloud) -> Setup:
    # The images on S3 (signed URLs Labelbox's browser app opens); the import files on each cloud.
    return make_setup(labeling_dsn, signing_store(Cloud.S3), new_store(cloud))


def test_new_rows_then_renewed_urls_then_vanished_objects(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    setup.add_images("a.png", "b.png", "c.png")
    setup.sync()

    first = setup.rows()
    assert (first.counts.new, first.counts.changed, first.counts.removed, first.counts.files) == (3, 0, 0, 1)
    (new_file,) = first.files
    assert new_file.endswith("/new-0001.json") and new_file.startswith(setup.target.uri("lb/imports/birds/"))
    rows = setup.read_json(new_file)
    assert [r["global_key"] for r in rows] == [setup.source.uri(f"images/{n}") for n in ("a.png", "b.png", "c.png")]
    assert [(r["external_id"], r["media_type"]) for r in rows] == [
        ("images/a.png", "IMAGE"), ("images/b.png", "IMAGE"), ("images/c.png", "IMAGE")]  # fmt: skip
    # row_data is a signed URL that opens the image, as Labelbox's app fetches it from the browser.
    status, body = fetch(rows[0]["row_data"])
    assert status == 200 and body == setup.source.read_bytes("images/a.png")
    assert "X-Amz-Signature=" in rows[0]["row_data"]
    # The manifest, written last, names the files and the counts.
    manifest = setup.read_json(first.location + "manifest.json")
    assert manifest["files"] == ["new-0001.json"] and manifest["counts"]["new"] == 3
    assert manifest["media_type"] == "IMAGE" and manifest["dataset"] == "birds"

    # Nothing changed: nothing written.
    again = setup.rows()
    assert (again.counts.new, again.counts.changed, again.counts.removed, again.files) == (0, 0, 0, [])

    # The rotation renewed every URL: one upsert file, keyed by global_key, with the new URLs.
    # (A 12-hour TTL this time: a URL signed within the same second with the same expiry would be the
    # same URL, which Labelbox would not need again.)
    twelve_hours = setup.storage.model_copy(update={"url_ttl": timedelta(hours=12)})
    rotate_storage(setup.dsn, setup.source, storage=twelve_hours, now=datetime.now(UTC) + timedelta(days=1),
                   canary_size=0)  # fmt: skip
    renewed = setup.rows()
    assert (renewed.counts.new, renewed.counts.changed) == (0, 3)
    (changed_file,) = renewed.files
    assert changed_file.endswith("/changed-0001.json")
    changed = {r["global_key"]: r["row_data"] for r in setup.read_json(changed_file)}
    assert sorted(changed) == sorted(r["global_key"] for r in rows)
    assert all(changed[r["global_key"]] != r["row_data"] for r in rows)
    assert fetch(changed[rows[1]["global_key"]]) == (200, setup.source.read_bytes("images/b.png"))

    # An object vanished: its key in a removed file, once.
    setup.source.delete("images/b.png")
    setup.sync()
    removed = setup.rows()
    assert removed.counts.removed == 1
    (removed_file,) = removed.files
    assert setup.read_json(removed_file) == [setup.source.uri("images/b.png")]
    assert setup.rows().files == []

    # It came back: a new row again.
    setup.add_images("b.png")
    setup.sync()
    back = setup.rows()
    assert back.counts.new == 1 and [r["global_key"] for r in setup.read_json(back.files[0])] == [
        setup.source.uri("images/b.png")]  # fmt: skip

    # Signed URLs are in the files, never in a log line.
    assert "X-Amz-Signature" not in caplog.text and "X-Amz-Credential" not in caplog.text


@pytest.mark.parametrize("cloud", [Cloud.S3], ids=["s3"])
def test_rows_per_file_caps_each_file(
    signing_store: StoreFactory, new_store: StoreFactory, labeling_dsn: str, cloud: Cloud
) -> None:
    setup = make_setup(labeling_dsn, signing_store(Cloud.S3), new_store(cloud), rows_per_file=2)
    setup.add_images(*(f"{n}.png" for n in "vwxyz"))
    setup.sync()
    result = setup.rows()
    assert [f.rsplit("/", 1)[-1] for f in result.files] == ["new-0001.json", "new-0002.json", "new-0003.json"]
    assert [len(setup.read_json(f)) for f in result.files] == [2, 2, 1]
    assert setup.read_json(result.location + "manifest.json")["counts"]["files"] == 3


@pytest.mark.parametrize("cloud", [Cloud.S3], ids=["s3"])
@pytest.mark.parametrize("long_keys", ["shorten", "skip"])
def test_a_key_longer_than_labelbox_takes(
    signing_store: StoreFactory, new_store: StoreFactory, labeling_dsn: str, cloud: Cloud, long_keys: str
) -> None:
    setup = make_setup(labeling_dsn, signing_store(Cloud.S3), new_store(cloud), long_keys=long_keys)
    long_name = "deep/" * 40 + "bird.png"
    setup.add_images("a.png", long_name)
    setup.sync()
    uri = setup.source.uri(f"images/{long_name}")
    assert len(uri) > MAX_GLOBAL_KEY

    result = setup.rows()
    keys = [r["global_key"] for r in setup.read_json(result.files[0])]
    if long_keys == "skip":
        assert keys == [setup.source.uri("images/a.png")]
        assert (result.counts.keys_too_long_skipped, result.counts.keys_shortened) == (1, 0)
        assert setup.rows().counts.keys_too_long_skipped == 1  # still reported, run after run
        return
    assert result.counts.keys_shortened == 1
    short = keys[1]
    # Within the limit, readable (the URI's start), unique (a hash of the whole URI ends it).
    assert len(short) == MAX_GLOBAL_KEY and short.startswith(uri[:150]) and short[-17] == "~"
    # And an export naming the row by that key finds its task.
    line = json.dumps({
        "data_row": {"id": "ckdr1", "global_key": short}, "media_attributes": {"width": 8, "height": 8},
        "projects": {"p": {"labels": [{
            "id": "cklong",
            "label_details": {"created_at": "2026-11-30T08:00:00Z", "updated_at": "2026-11-30T08:00:00Z",
                              "created_by": "a@example.com"},
            "annotations": {"objects": [], "classifications": [{"name": "quality", "radio_answer": {"name": "good"}}]},
        }]}},
    }) + "\n"  # fmt: skip
    setup.put_export("long.ndjson", line)
    ingested = setup.ingest()
    assert (ingested.counts.created, ingested.counts.not_ours) == (1, 0)
    assert setup.query("SELECT t.uri FROM annotation a JOIN task t ON t.id = a.task_id") == [(uri,)]
