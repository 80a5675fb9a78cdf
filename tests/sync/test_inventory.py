"""Sync from the clouds' inventory reports, on the emulators, reports written in each cloud's
documented layout (tests/sync/inventory_reports.py says which page each follows): the same tasks,
identity and soft deletes as a listing; refused reports fail or fall back as configured."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from labelbridge.config import Cloud, StorageConfig
from labelbridge.errors import InventoryError
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.storage.inventory import INVENTORY_READERS, InventoryReader, order, sorted_pages
from labelbridge.sync import Scope, StorageSync, SyncCounts
from labelbridge.sync.sources import InventorySource
from tests.conftest import StoreFactory
from tests.sync.helpers import configured, live_tasks, rows, storage_for, sync, task_file
from tests.sync.inventory_reports import (
    AZURE_FIELDS,
    GCS_FIELDS,
    REPORT_PREFIX,
    S3_CSV_SCHEMA,
    write_report,
    write_s3_report,
)

FORMATS = [(Cloud.S3, "csv"), (Cloud.S3, "parquet"), (Cloud.S3, "orc"), (Cloud.GCS, "csv"), (Cloud.GCS, "parquet"),
           (Cloud.AZURE, "csv"), (Cloud.AZURE, "parquet")]
# Names a listing returns as they are and S3's CSV URL-encodes: a space, "+", "%", "&", non-ASCII.
KEYS = ["img/a.jpg", "img/b c.jpg", "img/sub/d.jpg", "img/e.png", "other/f.jpg", "img/ü+%20&x.jpg", "img/😀.jpg"]


def reports_for(cloud: Cloud, new_store: StoreFactory, source: ObjectStore) -> ObjectStore:
    """A bucket of its own for the reports, its prefix where one configuration's reports go."""
    reports = new_store(cloud)
    reports.prefix = REPORT_PREFIX[cloud].format(bucket=source.bucket)
    return reports


def reader(cloud: Cloud, reports: ObjectStore, source: ObjectStore, **kwargs: Any) -> InventoryReader:
    return INVENTORY_READERS[cloud](reports, source_bucket=source.bucket, **kwargs)


def listed(source: ObjectStore) -> list[ObjectInfo]:
    """The whole bucket as a listing returns it: what the cloud's report would list."""
    return list(source.iter_objects(""))


def inventory_sync(
    dsn: str, source: ObjectStore, storage: StorageConfig, inventory: InventoryReader, *, fallback: str = "fail",
    page_rows: int = 5000, scope: Scope | None = None, **kwargs: Any,
) -> SyncCounts:
    store = configured(source, storage)
    with psycopg.connect(dsn) as conn:
        pages = InventorySource(store, inventory, fallback=fallback, page_rows=page_rows)  # type: ignore[arg-type]
        return StorageSync(conn, store, storage, source=pages, **kwargs).run(scope)


def counts(c: SyncCounts) -> dict[str, Any]:
    """The run's non-zero counts (its ``source`` is asserted apart)."""
    return {k: v for k, v in c.as_dict().items() if k not in ("seconds", "source") and v}


def before_the_report(dsn: str) -> None:
    """Date the tasks synced so far two hours back: a report of an hour ago saw their objects."""
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE task SET created_at = now() - interval '2 hours', updated_at = now() - interval '2 hours'")


def hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


@pytest.mark.parametrize(("cloud", "fmt"), FORMATS, ids=[f"{c.value}-{f}" for c, f in FORMATS])
def test_a_report_gives_the_tasks_a_listing_gives(
    cloud: Cloud, fmt: str, new_store: StoreFactory, labeling_dsn: str
) -> None:
    source = new_store(cloud)
    for key in KEYS:
        source.write(key, key.encode())
    reports = reports_for(cloud, new_store, source)
    write_report(cloud, reports, source.bucket, listed(source), when=hour_ago(), fmt=fmt)
    storage = storage_for(source, prefix="img/", key_regex=r"\.jpg$")

    first = inventory_sync(labeling_dsn, source, storage, reader(cloud, reports, source))

    expected = sorted(source.uri(k) for k in KEYS if k.startswith("img/") and k.endswith(".jpg"))
    assert counts(first) == {"listed": 5, "inserted": 5}
    assert first.source is not None and first.source.startswith(f"inventory {reports.uri(reports.prefix)}")
    assert first.source.endswith("(a complete listing as of its date)")
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == expected
    # Same identity and versions: a listing afterwards, and the report again, rewrite nothing.
    assert counts(sync(labeling_dsn, source, storage)) == {"listed": 5, "unchanged": 5}
    again = inventory_sync(labeling_dsn, source, storage, reader(cloud, reports, source))
    assert counts(again) == {"listed": 5, "unchanged": 5}
    assert rows(labeling_dsn, "SELECT count(*) FROM task WHERE updated_at <> created_at") == [(0,)]


def test_an_unsorted_report_soft_deletes_exactly_what_vanished(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = new_store(cloud)
    keys = [f"k/{n:03d}.jpg" for n in range(40)]
    for key in keys:
        source.write(key, b"x")
    storage = storage_for(source, page_size=3)
    sync(labeling_dsn, source, storage, write_batch=5)
    before_the_report(labeling_dsn)
    gone = [keys[0], keys[1], keys[17], keys[18], keys[19], keys[30], keys[39]]  # first, middle runs, last
    for key in gone:
        source.delete(key)
    source.write("k/017a.jpg", b"new")
    source.write("k/999.jpg", b"new")
    source.write(keys[5], b"changed")
    reports = reports_for(cloud, new_store, source)
    # Shuffled over five files, sorted in runs of four objects: every run is spilled and merged.
    write_report(cloud, reports, source.bucket, listed(source), when=hour_ago(), files=5, seed=7)
    monkeypatch.setattr(order, "RUN_ROWS", 4)

    result = inventory_sync(labeling_dsn, source, storage, reader(cloud, reports, source), page_rows=3, write_batch=5)

    assert counts(result) == {"listed": 35, "inserted": 2, "updated": 1, "unchanged": 32, "deleted": 7}
    survivors = sorted([*(k for k in keys if k not in gone), "k/017a.jpg", "k/999.jpg"])
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == [source.uri(k) for k in survivors]
    assert rows(labeling_dsn, "SELECT uri FROM task WHERE deleted_at IS NOT NULL ORDER BY uri") == [
        (source.uri(k),) for k in gone
    ]


@pytest.mark.parametrize("frame_rows", [1, 2, 2000])
def test_sorted_pages_merge_spilled_runs_in_byte_order(frame_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(order, "FRAME_ROWS", frame_rows)  # runs of one frame, or of several
    keys = ["a", "b/", "b0", "é", "😀", "\uffff", "z", "a b", "a+b"] * 3  # each key three times
    random.Random(3).shuffle(keys)
    rows = [(k, n, f"e{n}", datetime(2026, 1, 1, tzinfo=UTC), None) for n, k in enumerate(keys)]

    pages = list(sorted_pages(rows, page_size=4, run_rows=5))

    got = [o.key for page in pages for o in page]
    assert got == sorted(set(keys), key=lambda k: k.encode())  # UTF-8 byte order, once each
    assert [len(p) for p in pages] == [4, 4, 1]


@pytest.mark.parametrize("seed", range(5))
def test_sorted_pages_of_many_runs_and_frames_match_a_plain_sort(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "b", "/", "é", "😀", "\uffff", "0"]
    keys = ["".join(rng.choices(alphabet, k=rng.randint(1, 4))) for _ in range(3000)]
    monkeypatch.setattr(order, "FRAME_ROWS", rng.randint(1, 50))
    rows = [(k, n, None, None, None) for n, k in enumerate(keys)]

    got = [o.key for page in sorted_pages(rows, page_size=97, run_rows=rng.randint(20, 400)) for o in page]

    assert got == sorted(set(keys), key=lambda k: k.encode())


def test_sorted_pages_follow_byte_order_where_other_orders_differ_and_keep_each_keys_first_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(order, "FRAME_ROWS", 2)
    # "B" before "a" (no case folding), "a+b" before "a/b" before "a0" (by byte value), "z" before
    # "é" (ASCII before any multi-byte character), U+FFFF before U+1F600 (UTF-16 puts it first).
    expected = ["B", "a", "a+b", "a/b", "a0", "z", "é", "\uffff", "😀"]
    report = ["😀", "a0", "z", "B", "a/b", "\uffff", "a", "é", "a+b"]
    # Each key listed twice, the second time with another ETag, in runs of three: spilled, merged.
    rows = [(k, 1, "first", None, None) for k in report] + [(k, 2, "again", None, None) for k in reversed(report)]

    pages = list(sorted_pages(rows, page_size=4, run_rows=3))

    assert [o.key for page in pages for o in page] == expected
    assert {(o.etag, o.size_bytes) for page in pages for o in page} == {("first", 1)}
    assert [len(p) for p in pages] == [4, 4, 1]


# Keys that COPY's text format or JSON must escape (quote, backslash, tab, newline) beside plain and
# non-ASCII ones: a batch with any is written by Python, one without by Arrow.
ESCAPED_KEYS = ['q/say "hi".jpg', "q/back\\slash.jpg", "q/tab\there.jpg", "q/new\nline.jpg", "q/plain.jpg",
                "q/plain2.jpg", "q/ü😀.jpg"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_keys_copy_or_json_must_escape_become_the_tasks_a_listing_writes(
    fmt: str, new_store: StoreFactory, labeling_dsn: str
) -> None:
    source = new_store(Cloud.S3)
    reports = reports_for(Cloud.S3, new_store, source)
    objects = [ObjectInfo(k, 1, f"e{n}", datetime(2026, 1, 1, tzinfo=UTC)) for n, k in enumerate(ESCAPED_KEYS)]
    write_s3_report(reports, source.bucket, objects, when=hour_ago(), fmt=fmt)
    storage = storage_for(source)
    by_pairs = {"page_rows": 2, "write_batch": 2}  # [back\slash, new\nline] [plain, plain2] [say "hi", tab] [ü😀]

    first = inventory_sync(labeling_dsn, source, storage, reader(Cloud.S3, reports, source), **by_pairs)

    assert counts(first) == {"listed": 7, "inserted": 7}
    assert [(u, d) for u, _, d in live_tasks(labeling_dsn)] == [
        (source.uri(k), {"image": source.uri(k)}) for k in sorted(ESCAPED_KEYS, key=str.encode)
    ]
    assert rows(labeling_dsn, "SELECT object_version FROM task ORDER BY uri") == [
        (f"e{ESCAPED_KEYS.index(k)}",) for k in sorted(ESCAPED_KEYS, key=str.encode)
    ]
    again = inventory_sync(labeling_dsn, source, storage, reader(Cloud.S3, reports, source), **by_pairs)
    assert counts(again) == {"listed": 7, "unchanged": 7}


def test_a_report_is_filtered_as_the_listing_filters(new_store: StoreFactory, labeling_dsn: str) -> None:
    source = new_store(Cloud.S3)
    keys = ["img/a.jpg", "img/skip.jpg", "img/Ü.jpg", "img/-.jpg", "img/folder/", "img/sub/b.jpg", "img/out/c.jpg",
            "other/d.jpg"]
    reports = reports_for(Cloud.S3, new_store, source)
    write_s3_report(reports, source.bucket, [ObjectInfo(k, 1, "e", None) for k in keys], when=hour_ago(),
                    fmt="parquet")
    # Python's re: a lookahead, and a \w that takes "Ü" (Arrow's RE2 has no lookahead, and its \w is ASCII).
    storage = storage_for(source, prefix="img/", key_regex=r"^img/(?!skip)\w")
    inventory = reader(Cloud.S3, reports, source)

    # A root shard: this level only.
    inventory_sync(labeling_dsn, source, storage, inventory, scope=Scope("img/", recursive=False))
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == [source.uri("img/a.jpg"), source.uri("img/Ü.jpg")]
    # The whole prefix, less an export target's: no folder marker, nothing under img/out/.
    result = inventory_sync(labeling_dsn, source, storage, inventory, exclude_prefixes=["img/out/"])
    assert counts(result) == {"listed": 3, "inserted": 1, "unchanged": 2}
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == [
        source.uri("img/a.jpg"), source.uri("img/sub/b.jpg"), source.uri("img/Ü.jpg")]


def test_a_report_missing_a_data_file_fails_the_run_writing_nothing(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    source = new_store(cloud)
    for key in ("a.jpg", "b.jpg", "c.jpg"):
        source.write(key, b"x")
    reports = reports_for(cloud, new_store, source)
    written = write_report(cloud, reports, source.bucket, listed(source), when=hour_ago())
    manifest = written["manifest"]
    data_files = {Cloud.S3: lambda: [f["key"] for f in manifest["files"]],
                  Cloud.GCS: lambda: [reports.prefix + n for n in manifest["report_shards_file_names"]],
                  Cloud.AZURE: lambda: [f["blob"] for f in manifest["files"]]}[cloud]()
    reports.delete(data_files[1])
    storage = storage_for(source)

    with pytest.raises(InventoryError, match=r"data file .* is missing: the report is incomplete$"):
        inventory_sync(labeling_dsn, source, storage, reader(cloud, reports, source))

    assert live_tasks(labeling_dsn) == []
    assert rows(labeling_dsn, "SELECT status, listed FROM sync_run") == [("failed", 0)]


def test_a_refused_report_falls_back_to_listing_and_says_so(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    source = new_store(cloud)
    source.write("a.jpg", b"x")
    reports = reports_for(cloud, new_store, source)  # holds no report at all

    result = inventory_sync(labeling_dsn, source, storage_for(source), reader(cloud, reports, source),
                            fallback="list")

    assert counts(result) == {"listed": 1, "inserted": 1}
    assert result.source == (f"listing (inventory refused: {reader(cloud, reports, source)!r}: no complete "
                             f"inventory report for '{source.bucket}')")
    assert result.as_dict()["source"] == result.source


def _bad_checksum(cloud: Cloud, reports: ObjectStore, written: dict[str, Any]) -> str:
    """Damage the report as each cloud's checks would see it; return the message expected."""
    manifest = written["manifest"]
    if cloud is Cloud.S3:  # a data file's MD5 in the manifest (the manifest's own checksum is right)
        manifest["files"][0]["MD5checksum"] = "0" * 32
        body = json.dumps(manifest).encode()
        reports.write(written["folder"] + "manifest.json", body)
        reports.write(written["folder"] + "manifest.checksum", hashlib.md5(body).hexdigest().encode())
        return r"data file .* fails its checksum \(MD5 [0-9a-f]{32}, the manifest says 0{32}\)$"
    if cloud is Cloud.AZURE:  # the manifest no longer matches its checksum file
        reports.write(written["folder"] + "images-daily-manifest.json",
                      json.dumps({**manifest, "status": "Succeeded", "files": manifest["files"][:1]}).encode())
        return r"no complete inventory report .* refused: .*-manifest\.json: checksum mismatch"
    # GCS writes no checksum: a manifest counting rows its shards do not hold is refused too.
    reports.write(written["manifest_key"], json.dumps({**manifest, "records_processed": 99}).encode())
    return r"3 rows read, the manifest counts 99: the report is incomplete$"


def test_a_report_failing_its_checksum_is_refused(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    source = new_store(cloud)
    for key in ("a.jpg", "b.jpg", "c.jpg"):
        source.write(key, b"x")
    reports = reports_for(cloud, new_store, source)
    expected = _bad_checksum(cloud, reports, write_report(cloud, reports, source.bucket, listed(source),
                                                          when=hour_ago()))

    with pytest.raises(InventoryError, match=expected):
        inventory_sync(labeling_dsn, source, storage_for(source), reader(cloud, reports, source))
    assert live_tasks(labeling_dsn) == []


REORDERED = {
    # Optional fields the configuration may add, in an order the docs allow; no versioning fields.
    Cloud.S3: ("Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass", "IsMultipartUploaded",
               "ReplicationStatus", "EncryptionStatus", "ChecksumAlgorithm"),
    Cloud.GCS: ("name", "etag", "contentType", "size", "bucket", "generation", "updated"),
    Cloud.AZURE: ("Content-Length", "BlobType", "Etag", "Name", "Content-MD5", "Last-Modified", "AccessTier"),
}


def test_optional_fields_in_another_order(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    assert set(REORDERED[Cloud.S3]) - set(S3_CSV_SCHEMA) and REORDERED[Cloud.GCS] != GCS_FIELDS
    assert REORDERED[Cloud.AZURE] != AZURE_FIELDS
    source = new_store(cloud)
    for key in ("x/1.jpg", "x/2.jpg"):
        source.write(key, b"x")
    reports = reports_for(cloud, new_store, source)
    option = "schema" if cloud is Cloud.S3 else "fields"
    write_report(cloud, reports, source.bucket, listed(source), when=hour_ago(), **{option: REORDERED[cloud]})
    storage = storage_for(source)

    assert counts(inventory_sync(labeling_dsn, source, storage, reader(cloud, reports, source))) == {
        "listed": 2, "inserted": 2}
    assert counts(sync(labeling_dsn, source, storage)) == {"listed": 2, "unchanged": 2}


def test_s3_csv_keys_are_url_decoded(new_store: StoreFactory, labeling_dsn: str) -> None:
    source = new_store(Cloud.S3)
    keys = ["a b.jpg", "a+b.jpg", "100%.jpg", "dir/ü é.jpg", "q?x=1&y=2.jpg"]
    for key in keys:
        source.write(key, b"x")
    reports = reports_for(Cloud.S3, new_store, source)
    written = write_s3_report(reports, source.bucket, listed(source), when=hour_ago(), files=1)
    text = gzip.decompress(reports.read_bytes(written["manifest"]["files"][0]["key"])).decode()
    # As S3 writes them: form-encoded, a space as "+", a "+" as "%2B".
    assert {"a+b.jpg", "a%2Bb.jpg", "100%25.jpg", "dir%2F%C3%BC+%C3%A9.jpg", "q%3Fx%3D1%26y%3D2.jpg"} <= {
        line.split(",")[1] for line in text.splitlines()}

    inventory_sync(labeling_dsn, source, storage_for(source), reader(Cloud.S3, reports, source))

    assert [u for u, _, _ in live_tasks(labeling_dsn)] == sorted(source.uri(k) for k in keys)


def test_a_stale_report_is_refused(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    source = new_store(cloud)
    source.write("a.jpg", b"x")
    reports = reports_for(cloud, new_store, source)
    write_report(cloud, reports, source.bucket, listed(source), when=datetime.now(UTC) - timedelta(hours=30))

    with pytest.raises(InventoryError, match=r"the newest complete report is 30h old, more than max_age 24h$"):
        inventory_sync(labeling_dsn, source, storage_for(source),
                       reader(cloud, reports, source, max_age=timedelta(days=1)))


def test_a_report_still_being_written_is_passed_over_for_the_last_complete_one(
    new_store: StoreFactory, labeling_dsn: str
) -> None:
    source = new_store(Cloud.S3)
    source.write("a.jpg", b"x")
    reports = reports_for(Cloud.S3, new_store, source)
    older = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    write_s3_report(reports, source.bucket, listed(source), when=older)
    source.write("b.jpg", b"x")
    newer = write_s3_report(reports, source.bucket, listed(source), when=older + timedelta(days=1))
    reports.delete(newer["folder"] + "manifest.checksum")  # S3 has not finished it yet

    result = inventory_sync(labeling_dsn, source, storage_for(source), reader(Cloud.S3, reports, source))

    assert result.source is not None and "2026-12-01T00-00Z/manifest.json as of 2026-12-01T00:00:00Z" in result.source
    assert counts(result) == {"listed": 1, "inserted": 1}


def test_tasks_written_after_the_report_are_not_soft_deleted(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    source = new_store(cloud)
    source.write("old.jpg", b"x")
    source.write("gone.jpg", b"x")
    storage = storage_for(source)
    sync(labeling_dsn, source, storage)
    before_the_report(labeling_dsn)
    source.delete("gone.jpg")
    reports = reports_for(cloud, new_store, source)
    write_report(cloud, reports, source.bucket, listed(source), when=hour_ago())
    source.write("fresh.jpg", b"x")  # after the report: an event or a listing makes it a task
    sync(labeling_dsn, source, storage, scope=Scope("fresh"))

    result = inventory_sync(labeling_dsn, source, storage, reader(cloud, reports, source))

    # gone.jpg's task is older than the report, which lacks it: deleted. fresh.jpg's is newer: kept.
    assert counts(result) == {"listed": 1, "unchanged": 1, "deleted": 1}
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == [source.uri("fresh.jpg"), source.uri("old.jpg")]


def test_a_report_older_than_a_deletion_does_not_restore_the_task(
    new_store: StoreFactory, labeling_dsn: str
) -> None:
    source = new_store(Cloud.S3)
    source.write("kept.jpg", b"x")
    source.write("deleted.jpg", b"x")
    storage = storage_for(source)
    sync(labeling_dsn, source, storage)
    before_the_report(labeling_dsn)
    reports = reports_for(Cloud.S3, new_store, source)
    write_s3_report(reports, source.bucket, listed(source), when=hour_ago())  # lists deleted.jpg
    source.delete("deleted.jpg")
    assert counts(sync(labeling_dsn, source, storage)) == {"listed": 1, "unchanged": 1, "deleted": 1}

    result = inventory_sync(labeling_dsn, source, storage, reader(Cloud.S3, reports, source))

    assert counts(result) == {"listed": 2, "unchanged": 2}
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == [source.uri("kept.jpg")]


def test_task_files_from_a_report_are_quarantined_like_listed_ones(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    source = new_store(cloud)
    source.write("t/good.json", task_file({"text": "one"}, {"text": "two"}))
    source.write("t/bad.json", b"[{")
    reports = reports_for(cloud, new_store, source)
    write_report(cloud, reports, source.bucket, listed(source), when=hour_ago())
    storage = storage_for(source, mode="task_files", prefix="t/")

    result = inventory_sync(labeling_dsn, source, storage, reader(cloud, reports, source))

    assert counts(result) == {"listed": 2, "inserted": 2, "quarantined": 1}
    assert rows(labeling_dsn, "SELECT uri FROM quarantine WHERE resolved_at IS NULL") == [(source.uri("t/bad.json"),)]
    again = inventory_sync(labeling_dsn, source, storage, reader(cloud, reports, source))
    assert (again.inserted, again.updated, again.deleted, again.quarantined) == (0, 0, 0, 1)
