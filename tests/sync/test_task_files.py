"""JSON task files: lists, single tasks, flat dicts, JSON Lines; bad files are quarantined."""

from __future__ import annotations

import json

import pytest

from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.sync.helpers import counts, live_tasks, rows, storage_for, sync, task_file

FULL_TASK = {
    "data": {"image": "s3://media/cat.jpg", "caption": "a cat"},
    "meta": {"batch": 7},
    "annotations": [
        {"id": 11, "result": [{"type": "choices", "value": {"choices": ["cat"]}}], "completed_by": 3,
         "lead_time": 4.5, "created_at": "2025-01-01T00:00:00Z"},
        {"result": [], "was_cancelled": True},
    ],
    "predictions": [{"model_version": "v2", "score": 0.93, "result": [{"type": "choices"}]}],
}


def test_task_file_shapes_and_their_annotations_are_stored(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    store.write("tasks/list.json", task_file(FULL_TASK, {"text": "flat task is its own data"}))
    store.write("tasks/single.json", json.dumps({"data": {"text": "one task"}}).encode())
    store.write("tasks/lines.jsonl", b'{"text": "line one"}\n\n{"data": {"text": "line two"}}\n')
    storage = storage_for(store, mode="task_files", prefix="tasks/")

    result = sync(labeling_dsn, store, storage)

    assert counts(result) == {"listed": 3, "inserted": 5}
    assert [(u.rsplit("/", 1)[1], i, d) for u, i, d in live_tasks(labeling_dsn)] == [
        ("lines.jsonl", 0, {"text": "line one"}),
        ("lines.jsonl", 1, {"text": "line two"}),
        ("list.json", 0, FULL_TASK["data"]),
        ("list.json", 1, {"text": "flat task is its own data"}),
        ("single.json", 0, {"text": "one task"}),
    ]
    assert rows(labeling_dsn, "SELECT meta FROM task WHERE uri LIKE '%%list.json' AND item_index = 0") == [
        ({"batch": 7},)
    ]
    assert rows(labeling_dsn, "SELECT origin, origin_key, completed_by, was_cancelled, lead_time, extra "
                              "FROM annotation ORDER BY origin_key") == [
        ("file", "id:11", "3", False, 4.5, {"created_at": "2025-01-01T00:00:00Z"}),
        ("file", "pos:1", None, True, None, {}),
    ]
    assert rows(labeling_dsn, "SELECT model_version, score FROM prediction") == [("v2", 0.93)]


def test_unchanged_files_are_not_read_again(cloud: Cloud, new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(cloud)
    store.write("a.json", task_file({"text": "1"}, {"text": "2"}))
    storage = storage_for(store, mode="task_files")
    sync(labeling_dsn, store, storage)
    before = rows(labeling_dsn, "SELECT xmin::text FROM task UNION ALL SELECT xmin::text FROM annotation")

    again = sync(labeling_dsn, store, storage)

    assert counts(again) == {"listed": 1, "unchanged": 2}
    assert rows(labeling_dsn, "SELECT xmin::text FROM task UNION ALL SELECT xmin::text FROM annotation") == before


def test_changed_file_updates_only_changed_tasks_and_shrinking_soft_deletes(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    store.write("a.json", task_file({"text": "1"}, {"text": "2"}, {"text": "3"}))
    storage = storage_for(store, mode="task_files")
    sync(labeling_dsn, store, storage)

    store.write("a.json", task_file({"text": "1"}, {"text": "two"}))
    result = sync(labeling_dsn, store, storage)

    assert counts(result) == {"listed": 1, "updated": 1, "unchanged": 1, "deleted": 1}
    assert [(i, d) for _, i, d in live_tasks(labeling_dsn)] == [(0, {"text": "1"}), (1, {"text": "two"})]


def test_deleted_file_soft_deletes_all_its_tasks_and_they_come_back(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    store.write("a.json", task_file({"text": "1"}, {"text": "2"}))
    storage = storage_for(store, mode="task_files")
    sync(labeling_dsn, store, storage)

    store.delete("a.json")
    assert counts(sync(labeling_dsn, store, storage)) == {"deleted": 2}
    store.write("a.json", task_file({"text": "1"}, {"text": "2"}))
    back = sync(labeling_dsn, store, storage)

    assert counts(back) == {"listed": 1, "updated": 2, "restored": 2}
    assert len(live_tasks(labeling_dsn)) == 2


BAD_FILES = {
    "invalid-json": (b'[{"text": "ok"},\n {"text": oops}]', "line 2 column 11: invalid JSON: Expecting value"),
    "not-utf8": (b'[{"text": "caf\xe9"}]', "line 1 column 15: not UTF-8 (invalid continuation byte at byte 14)"),
    "task-without-data": (b'[{"text": "ok"}, {"annotations": []}]', "task 1: has annotations but no 'data'"),
    "data-wrong-type": (b'[{"data": ["a"]}]', "task 0: 'data' must be an object, got array"),
    "item-wrong-type": (b'[{"text": "ok"}, 42]', "task 1: expected an object, got number"),
    "annotations-wrong-type": (b'{"data": {}, "annotations": {"result": []}}',
                               "task 0: 'annotations' must be a list, got object"),
    "jsonl-bad-line": (b'{"text": "ok"}\n{"text": \n', "line 2 column 10: invalid JSON: Expecting value"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_quarantined_with_where_and_why_and_touches_nothing(
    case: str, cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    key = "bad.jsonl" if case.startswith("jsonl") else "bad.json"
    store.write(key, task_file({"text": "stored before"}))
    store.write("good.json", task_file({"text": "good"}))
    storage = storage_for(store, mode="task_files")
    sync(labeling_dsn, store, storage)
    before = rows(labeling_dsn, "SELECT id, xmin::text, deleted_at FROM task ORDER BY id")
    content, where_why = BAD_FILES[case]

    store.write(key, content)
    result = sync(labeling_dsn, store, storage)

    assert counts(result) == {"listed": 2, "unchanged": 1, "quarantined": 1}
    assert rows(labeling_dsn, "SELECT id, xmin::text, deleted_at FROM task ORDER BY id") == before
    etag = next(o.etag for o in store.iter_objects() if o.key == key)
    assert rows(labeling_dsn, "SELECT uri, item_index, reason, etag FROM quarantine WHERE resolved_at IS NULL") == [
        (store.uri(key), -1, f"{key}: {where_why}", etag)
    ]


def test_fixed_file_is_picked_up_and_its_quarantine_entry_cleared(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    store.write("a.json", b"[not json")
    storage = storage_for(store, mode="task_files")
    assert counts(sync(labeling_dsn, store, storage)) == {"listed": 1, "quarantined": 1}
    # Still broken: still counted, not read again.
    assert counts(sync(labeling_dsn, store, storage)) == {"listed": 1, "quarantined": 1}

    store.write("a.json", task_file({"text": "fixed"}))
    fixed = sync(labeling_dsn, store, storage)

    assert counts(fixed) == {"listed": 1, "inserted": 1}
    assert rows(labeling_dsn, "SELECT count(*) FROM quarantine WHERE resolved_at IS NULL") == [(0,)]
