"""Run-level guarantees: kill-and-rerun, partial listings, dry runs, shards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from labelbridge.config import Cloud
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.sync import Scope, StorageSync
from tests.conftest import StoreFactory
from tests.sync.helpers import configured, counts, live_tasks, rows, storage_for, sync, task_file


class ListingKilled(RuntimeError):
    pass


def killed_after(store: ObjectStore, pages: int) -> ObjectStore:
    """The same store, whose listing dies after ``pages`` pages (a worker killed mid-run)."""
    original = store._list_pages

    def dying(prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        for number, page in enumerate(original(prefix, delimiter)):
            if number == pages:
                raise ListingKilled("worker lost")
            yield page

    store._list_pages = dying  # type: ignore[method-assign]
    return store


def snapshot(dsn: str) -> list[tuple[Any, ...]]:
    tasks = rows(dsn, "SELECT uri, item_index, data, meta, deleted_at IS NULL FROM task ORDER BY uri, item_index")
    return tasks + rows(
        dsn, "SELECT t.uri, a.origin_key, a.result FROM annotation a JOIN task t ON t.id = a.task_id ORDER BY 1, 2"
    )


def test_killed_run_then_rerun_leaves_exactly_the_rows_of_a_clean_run(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, pg_server: str, template_db: str
) -> None:
    store = new_store(cloud)
    for index in range(7):
        store.write(f"f{index}.json", task_file({"data": {"n": index}, "annotations": [{"result": [{"n": index}]}]}))
    storage = storage_for(store, mode="task_files", page_size=2)

    with psycopg.connect(labeling_dsn) as conn, pytest.raises(ListingKilled):
        StorageSync(conn, killed_after(configured(store, storage), 2), storage, write_batch=2).run()
    assert rows(labeling_dsn, "SELECT status, error FROM sync_run") == [("failed", "ListingKilled: worker lost")]
    assert len(live_tasks(labeling_dsn)) == 4  # two whole batches committed, nothing half-written
    rerun = sync(labeling_dsn, store, storage)

    assert counts(rerun) == {"listed": 7, "inserted": 3, "unchanged": 4}
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "clean_{template_db}" TEMPLATE "{template_db}"')
    clean_dsn = labeling_dsn.replace(labeling_dsn.split("dbname=")[1].split()[0], f"clean_{template_db}")
    try:
        sync(clean_dsn, store, storage)
        assert snapshot(labeling_dsn) == snapshot(clean_dsn)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "clean_{template_db}" WITH (FORCE)')


def test_partial_listing_deletes_nothing(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(cloud)
    for index in range(6):
        store.write(f"img{index}.jpg", b"x")
    storage = storage_for(store, page_size=2)
    sync(labeling_dsn, store, storage)
    for index in range(3, 6):
        store.delete(f"img{index}.jpg")

    with psycopg.connect(labeling_dsn) as conn, pytest.raises(ListingKilled):
        StorageSync(conn, killed_after(configured(store, storage), 1), storage).run()

    assert len(live_tasks(labeling_dsn)) == 6


def test_dry_run_reports_changes_and_writes_nothing(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(cloud)
    store.write("keep.jpg", b"x")
    store.write("change.jpg", b"v1")
    store.write("remove.jpg", b"x")
    storage = storage_for(store)
    sync(labeling_dsn, store, storage)
    store.write("change.jpg", b"v2")
    store.delete("remove.jpg")
    store.write("new.jpg", b"x")
    before = snapshot(labeling_dsn), rows(labeling_dsn, "SELECT count(*) FROM sync_run")
    changes: list[tuple[str, str, int]] = []

    with psycopg.connect(labeling_dsn) as conn:
        result = StorageSync(
            conn, configured(store, storage), storage, dry_run=True, on_change=lambda *c: changes.append(c)
        ).run()

    assert counts(result) == {"listed": 3, "inserted": 1, "updated": 1, "unchanged": 1, "deleted": 1}
    assert sorted(changes) == [
        ("delete", store.uri("remove.jpg"), 0),
        ("insert", store.uri("new.jpg"), 0),
        ("update", store.uri("change.jpg"), 0),
    ]
    assert (snapshot(labeling_dsn), rows(labeling_dsn, "SELECT count(*) FROM sync_run")) == before


def test_root_shard_covers_only_its_level(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(cloud)
    for key in ("data/top.jpg", "data/a/1.jpg", "data/b/2.jpg"):
        store.write(key, b"x")
    storage = storage_for(store, prefix="data/")
    sync(labeling_dsn, store, storage)
    store.delete("data/top.jpg")
    store.delete("data/a/1.jpg")

    root = sync(labeling_dsn, store, storage, scope=Scope("data/", recursive=False))

    # The root shard saw no object; it deletes top.jpg, but not a/1.jpg, which is another shard's.
    assert counts(root) == {"deleted": 1}
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == [store.uri("data/a/1.jpg"), store.uri("data/b/2.jpg")]


def _running_row(dsn: str, storage_name: str, *, leased_by: psycopg.Connection[Any] | None) -> int:
    """A sync_run row left 'running', as a live run (its lease held by ``leased_by``) or a dead one leaves it."""
    from labelbridge.db.runs import take_lease

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "INSERT INTO sync_run (storage_id, run_id, prefix, listed, inserted, last_seen_at)"
            " SELECT id, 'earlier', '', 4, 4, now() FROM storage WHERE name = %s RETURNING id", (storage_name,)
        ).fetchone()
    assert row is not None
    if leased_by is not None:
        take_lease(leased_by, "sync_run", int(row[0]))
        leased_by.commit()
    return int(row[0])


def test_the_next_run_marks_a_dead_run_abandoned_and_leaves_a_live_shard_running(
    new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(Cloud.S3)
    store.write("a.jpg", b"x")
    storage = storage_for(store)
    sync(labeling_dsn, store, storage)
    with psycopg.connect(labeling_dsn) as sibling:
        dead = _running_row(labeling_dsn, "src", leased_by=None)
        alive = _running_row(labeling_dsn, "src", leased_by=sibling)

        sync(labeling_dsn, store, storage, scope=Scope("a"))

        by_id = {r[0]: r[1:] for r in rows(labeling_dsn, "SELECT id, status, listed, inserted, error FROM sync_run")}
        status, listed, inserted, error = by_id[dead]
        assert (status, listed, inserted) == ("abandoned", 4, 4)
        assert error.startswith("abandoned: its process ended without finishing")
        assert by_id[alive][0] == "running"
    assert sorted(s for s, *_ in by_id.values()) == ["abandoned", "running", "success", "success"]

