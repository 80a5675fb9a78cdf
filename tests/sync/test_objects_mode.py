"""Objects as tasks: every matching object becomes one task holding its canonical URI."""

from __future__ import annotations

from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.sync.helpers import counts, live_tasks, rows, storage_for, sync

ROW_VERSIONS = "SELECT id, xmin::text FROM task UNION ALL SELECT id, xmin::text FROM source_object"


def test_each_matching_object_becomes_one_task(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(cloud)
    for key in ("img/a.jpg", "img/b.png", "img/notes.txt"):
        store.write(key, b"pixels")
    storage = storage_for(store, key_regex=r"\.(jpg|png)$")

    result = sync(labeling_dsn, store, storage)

    assert counts(result) == {"listed": 2, "inserted": 2}
    assert live_tasks(labeling_dsn) == [
        (store.uri("img/a.jpg"), 0, {"image": store.uri("img/a.jpg")}),
        (store.uri("img/b.png"), 0, {"image": store.uri("img/b.png")}),
    ]
    assert rows(labeling_dsn, "SELECT status, listed, inserted FROM sync_run") == [("success", 2, 2)]


def test_rerun_over_unchanged_bucket_rewrites_no_row(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(cloud)
    for index in range(5):
        store.write(f"img/{index}.jpg", b"x")
    storage = storage_for(store)
    sync(labeling_dsn, store, storage)
    versions_before = rows(labeling_dsn, ROW_VERSIONS)

    again = sync(labeling_dsn, store, storage)

    assert counts(again) == {"listed": 5, "unchanged": 5}
    # Same xmin: no row version was written, not even an updated_at bump.
    assert rows(labeling_dsn, ROW_VERSIONS) == versions_before


def test_changed_object_updates_its_task_and_new_object_adds_one(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    store.write("a.jpg", b"v1")
    store.write("b.jpg", b"v1")
    storage = storage_for(store)
    sync(labeling_dsn, store, storage)

    store.write("a.jpg", b"version two")
    store.write("c.jpg", b"v1")
    result = sync(labeling_dsn, store, storage)

    assert counts(result) == {"listed": 3, "inserted": 1, "updated": 1, "unchanged": 1}


def test_vanished_object_is_soft_deleted_keeping_annotations_and_comes_back(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    store.write("a.jpg", b"x")
    store.write("b.jpg", b"x")
    storage = storage_for(store)
    sync(labeling_dsn, store, storage)
    rows(labeling_dsn, "INSERT INTO annotation (task_id, origin, origin_key, result) "
                       "SELECT id, 'tool', '1', '[{\"type\": \"choices\"}]' FROM task WHERE uri LIKE %s RETURNING id",
         "%a.jpg")

    store.delete("a.jpg")
    gone = sync(labeling_dsn, store, storage)

    assert counts(gone) == {"listed": 1, "unchanged": 1, "deleted": 1}
    assert [t[0] for t in live_tasks(labeling_dsn)] == [store.uri("b.jpg")]
    assert rows(labeling_dsn, "SELECT count(*) FROM annotation") == [(1,)]

    store.write("a.jpg", b"x")
    back = sync(labeling_dsn, store, storage)

    assert counts(back) == {"listed": 2, "updated": 1, "unchanged": 1, "restored": 1}
    assert len(live_tasks(labeling_dsn)) == 2
    assert rows(labeling_dsn, "SELECT count(*) FROM task") == [(2,)]


def test_second_storage_on_same_bucket_and_recreated_storage_never_duplicate(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    store.write("photos/a.jpg", b"x")
    store.write("photos/b.jpg", b"x")
    sync(labeling_dsn, store, storage_for(store, name="whole-bucket"))

    narrower = sync(labeling_dsn, store, storage_for(store, name="photos-only", prefix="photos/"))
    recreated = sync(labeling_dsn, store, storage_for(store, name="whole-bucket-v2"))

    assert counts(narrower) == {"listed": 2, "unchanged": 2}
    assert counts(recreated) == {"listed": 2, "unchanged": 2}
    assert rows(labeling_dsn, "SELECT count(*) FROM task") == [(2,)]


def test_export_prefix_is_never_read_back_as_tasks(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(cloud)
    store.write("a.jpg", b"x")
    store.write("exports/proj/coco/run1/images/a.jpg", b"x")

    result = sync(labeling_dsn, store, storage_for(store), exclude_prefixes=["exports/"])

    assert counts(result) == {"listed": 1, "inserted": 1}


def test_storage_with_other_key_pattern_does_not_delete_my_tasks(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    store.write("a.jpg", b"x")
    store.write("b.png", b"x")
    sync(labeling_dsn, store, storage_for(store, name="jpgs", key_regex=r"\.jpg$"))

    pngs = sync(labeling_dsn, store, storage_for(store, name="pngs", key_regex=r"\.png$"))

    assert counts(pngs) == {"listed": 1, "inserted": 1}
    assert len(live_tasks(labeling_dsn)) == 2
