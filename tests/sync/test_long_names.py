"""Object names at each cloud's length limit, in multi-byte characters, become tasks like any other.

S3 and GCS take keys of up to 1,024 bytes of UTF-8; Azure takes blob names of up to 1,024
characters (4,096 bytes of four-byte characters; Azurite takes them too, and longer ones). Such a
URI is too long for a plain B-tree entry: identity is indexed through the URI's key (its first 600
characters, and the SHA-256 of URIs over 600 bytes; migration 0006, docs/sync.md "Indexes").
"""

from __future__ import annotations

import random
import re
import string

import psycopg
import pytest
from psycopg import sql

from labelbridge.config import Cloud
from labelbridge.rotate import rotate_storage
from labelbridge.storage import ObjectStore
from labelbridge.sync import context, objects, taskfiles, vanished, writer
from tests.conftest import StoreFactory
from tests.rotate.verify import http_get
from tests.sync.helpers import counts, live_tasks, rows, storage_for, sync, task_file

ROW_VERSIONS = (
    "SELECT 't' || id, xmin::text FROM task UNION ALL SELECT 'o' || id, xmin::text FROM source_object"
    " UNION ALL SELECT 'q' || id, xmin::text FROM quarantine ORDER BY 1"
)
HEAD_CHARS = 600


def noise(seed: int, chars: int, *, four_bytes: bool) -> str:
    """Characters that do not repeat in any pattern: PostgreSQL compresses a long index entry, and
    a name of one character repeated would fit a B-tree entry once compressed."""
    rng = random.Random(seed)
    if four_bytes:
        return "".join(chr(rng.randrange(0x10000, 0x2FFFF)) for _ in range(chars))
    return "".join(rng.choice(string.ascii_letters) for _ in range(chars))


def at_limit(cloud: Cloud, stem: str, last: str, *, seed: int) -> str:
    """``stem``, four-byte characters, then ``last``: a name exactly at the cloud's limit."""
    if cloud is Cloud.AZURE:
        return stem + noise(seed, 1024 - len(stem) - len(last), four_bytes=True) + last
    room = 1024 - len(stem.encode()) - len(last.encode())
    return stem + noise(seed, room // 4, four_bytes=True) + "a" * (room % 4) + last


def long_names(cloud: Cloud, store: ObjectStore, suffix: str) -> dict[str, str]:
    """Names at the limit, two that share their first 600+ characters, and the URI head of those two."""
    shared = "long/" + noise(1, 640, four_bytes=False)
    names = {
        "multibyte": at_limit(cloud, "long/", suffix, seed=2),
        "twin-1": at_limit(cloud, shared, "1" + suffix, seed=3),
        "twin-2": at_limit(cloud, shared, "2" + suffix, seed=3),
    }
    # A name whose URI is exactly what the index holds of the twins' URIs (their first 600 characters).
    names["twins-head"] = store.key_from_uri(store.uri(names["twin-1"])[:HEAD_CHARS])
    for key in names.values():
        assert (len(key) if cloud is Cloud.AZURE else len(key.encode())) <= 1024, key
    assert names["twin-1"][:HEAD_CHARS] == names["twin-2"][:HEAD_CHARS]
    return names


@pytest.fixture(params=["objects", "task_files"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def content(mode: str, label: str) -> bytes:
    return task_file({"text": label}, {"text": f"{label} again"}) if mode == "task_files" else b"x"


def fill_bucket(cloud: Cloud, store: ObjectStore, mode: str) -> dict[str, str]:
    """Two ordinary names and the long ones; in task-files mode each file holds two tasks."""
    suffix = ".json" if mode == "task_files" else ".jpg"
    names = {"ordinary-a": f"img/a{suffix}", "ordinary-b": f"img/b{suffix}", **long_names(cloud, store, suffix)}
    for label, key in names.items():
        store.write(key, content(mode, label))
    return names


def expected_tasks(store: ObjectStore, mode: str, names: dict[str, str]) -> list[tuple[str, int, object]]:
    if mode == "objects":
        tasks = [(store.uri(key), 0, {"image": store.uri(key)}) for key in names.values()]
    else:
        tasks = [(store.uri(key), i, {"text": label + ("", " again")[i]})
                 for label, key in names.items() for i in (0, 1)]
    return sorted(tasks, key=lambda t: (t[0].encode(), t[1]))


def test_names_at_the_limit_become_tasks_and_a_rerun_rewrites_nothing(
    cloud: Cloud, mode: str, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    names = fill_bucket(cloud, store, mode)
    storage = storage_for(store, mode=mode)
    per_object = 1 if mode == "objects" else 2

    first = sync(labeling_dsn, store, storage)

    assert counts(first) == {"listed": len(names), "inserted": per_object * len(names)}
    assert live_tasks(labeling_dsn) == expected_tasks(store, mode, names)
    assert rows(labeling_dsn, "SELECT status FROM sync_run") == [("success",)]
    versions = rows(labeling_dsn, ROW_VERSIONS)

    again = sync(labeling_dsn, store, storage)

    assert counts(again) == {"listed": len(names), "unchanged": per_object * len(names)}
    assert rows(labeling_dsn, ROW_VERSIONS) == versions


def test_a_deleted_long_name_soft_deletes_exactly_its_tasks_and_comes_back(
    cloud: Cloud, mode: str, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    names = fill_bucket(cloud, store, mode)
    storage = storage_for(store, mode=mode)
    sync(labeling_dsn, store, storage)
    per_object = 1 if mode == "objects" else 2

    store.delete(names["twin-1"])
    gone = sync(labeling_dsn, store, storage)

    assert counts(gone) == {"listed": len(names) - 1, "unchanged": per_object * (len(names) - 1),
                            "deleted": per_object}
    assert rows(labeling_dsn, "SELECT DISTINCT uri FROM task WHERE deleted_at IS NOT NULL") == [
        (store.uri(names["twin-1"]),)
    ]
    assert live_tasks(labeling_dsn) == expected_tasks(store, mode, {k: v for k, v in names.items() if k != "twin-1"})

    store.write(names["twin-1"], content(mode, "twin-1"))
    back = sync(labeling_dsn, store, storage)

    assert back.restored == per_object
    assert live_tasks(labeling_dsn) == expected_tasks(store, mode, names)


def test_long_names_written_one_range_at_a_time_and_read_back_in_pieces(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects mode compares each batch with its key range: ranges ending on URIs that share a head."""
    store = new_store(cloud)
    names = fill_bucket(cloud, store, "objects")
    storage = storage_for(store)
    sync(labeling_dsn, store, storage)
    monkeypatch.setattr(objects, "RANGE_FETCH", 1)

    store.write(names["twin-2"], b"new version")
    store.delete(names["twins-head"])
    result = sync(labeling_dsn, store, storage, write_batch=1)

    assert counts(result) == {"listed": len(names) - 1, "updated": 1, "unchanged": len(names) - 2, "deleted": 1}
    del names["twins-head"]
    assert live_tasks(labeling_dsn) == expected_tasks(store, "objects", names)


def test_a_bad_task_file_with_a_long_name_is_quarantined_and_cleared_when_fixed(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    bad = long_names(cloud, store, ".json")["twin-1"]
    store.write(bad, b"[not json")
    store.write("good.json", task_file({"text": "good"}))
    storage = storage_for(store, mode="task_files")

    first = sync(labeling_dsn, store, storage)

    assert counts(first) == {"listed": 2, "inserted": 1, "quarantined": 1}
    etag = next(o.etag for o in store.iter_objects() if o.key == bad)
    assert rows(labeling_dsn, "SELECT uri, item_index, reason, etag FROM quarantine WHERE resolved_at IS NULL") == [
        (store.uri(bad), -1, f"{bad}: line 1 column 2: invalid JSON: Expecting value", etag)
    ]
    # Still broken: counted, not read again, the entry not rewritten.
    entry = rows(labeling_dsn, "SELECT id, xmin::text FROM quarantine")
    assert counts(sync(labeling_dsn, store, storage)) == {"listed": 2, "unchanged": 1, "quarantined": 1}
    assert rows(labeling_dsn, "SELECT id, xmin::text FROM quarantine") == entry

    store.write(bad, task_file({"text": "fixed"}))
    fixed = sync(labeling_dsn, store, storage)

    assert counts(fixed) == {"listed": 2, "inserted": 1, "unchanged": 1}
    assert rows(labeling_dsn, "SELECT count(*) FROM quarantine WHERE resolved_at IS NULL") == [(0,)]
    assert [(u, d) for u, _, d in live_tasks(labeling_dsn)] == sorted(
        [(store.uri(bad), {"text": "fixed"}), (store.uri("good.json"), {"text": "good"})], key=lambda t: t[0].encode()
    )


def test_no_two_uris_share_an_identity(labeling_dsn: str) -> None:
    """The unique index keeps apart URIs sharing a long head, and a short URI equal to a long one's head."""
    head = "s3://b/" + "h" * (HEAD_CHARS - len("s3://b/"))
    uris = [
        head,  # exactly a long URI's indexed head, at most 600 bytes: its tail is empty
        head + "1",
        head + "2",
        head + "\\",  # backslashes are hashed as bytes, not read as escapes
        head + "\\\\",
        head + "\\134",
        "s3://b/" + noise(4, HEAD_CHARS - len("s3://b/"), four_bytes=True),  # 600 characters over 600 bytes
        "s3://b/" + noise(4, HEAD_CHARS, four_bytes=True),
        "s3://b/" + noise(4, 4096, four_bytes=True),
    ]
    with psycopg.connect(labeling_dsn) as conn:
        project = conn.execute("INSERT INTO project (name) VALUES ('p') RETURNING id").fetchone()[0]  # type: ignore[index]
        for uri in uris:
            conn.execute("INSERT INTO task (project_id, uri, data) VALUES (%s, %s, '{}')", (project, uri))
        for uri in uris:
            with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
                conn.execute("INSERT INTO task (project_id, uri, data) VALUES (%s, %s, '{}')", (project, uri))
        tails = conn.execute("SELECT encode(uri_key_tail(uri), 'hex') FROM task ORDER BY id").fetchall()
        digests = conn.execute(
            "SELECT encode(sha256(convert_to(uri, 'UTF8')), 'hex') FROM task ORDER BY id"
        ).fetchall()

    assert rows(labeling_dsn, "SELECT count(DISTINCT uri) FROM task") == [(len(uris),)]
    # Empty for a URI of at most 600 bytes; else the SHA-256 of its UTF-8, backslashes and all.
    assert tails == [("" if len(u.encode()) <= HEAD_CHARS else d,) for u, (d,) in zip(uris, digests, strict=True)]


def _lookups_by_uri() -> dict[str, tuple[sql.Composable, dict[str, object]]]:
    """Every statement of a sync that finds a task, source object or quarantine entry by URI.

    (The count of restored tasks joins as the new tasks' report does, and is answered by the
    partial index of soft-deleted tasks first.)
    """
    uri, prefix = "s3://b/img/00001000.jpg", "s3://b/img/00001%"
    staged_outer = writer._STAGED_JOIN_TASK.format(tasks=taskfiles._STAGED_TASKS, kind=sql.SQL("LEFT"))
    with_task_id = taskfiles._WITH_TASK_ID.format(
        origin=sql.SQL(""), cols=sql.SQL("s.origin_key"), stage=sql.Identifier("_lb_annotations"),
        project=sql.Literal(1),
    )
    vanished_params = {"project": 1, "like": prefix, "head_like": prefix, "cut": 12, "covered_to": uri}
    return {
        "objects range read": (objects._TASKS_IN_RANGE.format(op=sql.SQL(">")),
                               {"field": "image", "project": 1, "low": uri, "high": uri + "z", "limit": 10,
                                "as_of": None}),
        "dry run: new tasks": (writer._NEW_TASKS.format(join=staged_outer), {}),
        "files to read": (sql.SQL(taskfiles._FILES_TO_READ), {"project": 1, "storage": 1}),
        "past a file's end": (sql.SQL(taskfiles._PAST_FILE_END), {"project": 1}),
        "soft delete past a file's end": (sql.SQL(taskfiles._SOFT_DELETE_PAST_FILE_END), {"project": 1}),
        "resolve quarantine": (sql.SQL(taskfiles._RESOLVE_QUARANTINE), {"storage": 1}),
        "annotations' task ids": (with_task_id, {}),
        "vanished past covered": (vanished._VANISHED.format(
            objects=sql.Identifier("task"), one_level=vanished._ONE_LEVEL, past_covered=vanished._PAST_COVERED,
            not_seen=vanished._NOTHING), vanished_params),
        "vanished not seen": (vanished._VANISHED.format(
            objects=sql.Identifier("source_object"), one_level=vanished._NOTHING, past_covered=vanished._NOTHING,
            not_seen=vanished._NOT_SEEN), vanished_params),
        "live under a root": (vanished._LIVE_UNDER.format(objects=sql.Identifier("task")), vanished_params),
        "soft delete tasks": (sql.SQL(vanished._SOFT_DELETE_TASKS), {"project": 1, "uris": [uri]}),
        "soft delete source objects": (sql.SQL(vanished._SOFT_DELETE_OBJECTS), {"project": 1, "uris": [uri]}),
        "written since a report": (sql.SQL(vanished._WRITTEN_SINCE),
                                   {"project": 1, "uris": [uri], "as_of": "2026-01-01T00:00:00Z"}),
        "dry run: live tasks of": (sql.SQL(context._LIVE_TASKS_OF), {"project": 1, "uris": [uri]}),
    }


LOOKUPS = _lookups_by_uri()
ROWS = 50_000
STAGED = 50


def test_every_lookup_by_uri_uses_an_identity_index(labeling_dsn: str) -> None:
    """On 50k tasks, source objects and quarantine entries, with stages of 50 rows, each statement
    finds its rows by an index condition on the URI's head (no index answers ``uri`` alone)."""
    with psycopg.connect(labeling_dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO project (name) VALUES ('p')")
        cur.execute("INSERT INTO storage (name, project_id, role, cloud, bucket) VALUES ('s', 1, 'source', 's3', 'b')")
        uris = "SELECT 's3://b/img/' || lpad(n::text, 8, '0') || '.jpg' AS uri, n FROM generate_series(1, %s) n"
        cur.execute(f"INSERT INTO task (project_id, uri, data) SELECT 1, uri, '{{}}' FROM ({uris}) u", (ROWS,))
        cur.execute(f"INSERT INTO source_object (project_id, uri) SELECT 1, uri FROM ({uris}) u", (ROWS,))
        cur.execute(f"INSERT INTO quarantine (storage_id, uri, reason) SELECT 1, uri, 'r' FROM ({uris}) u", (ROWS,))
        for stage in ("_lb_listed", "_lb_sizes", "_lb_tasks", "_lb_annotations", "_lb_seen", "_lb_gone"):
            cur.execute(sql.SQL('CREATE TEMP TABLE {stage} (uri text COLLATE "C", item_index integer, origin_key text,'
                                " project_id integer, data jsonb, meta jsonb, object_version text,"
                                " deleted_at timestamptz, etag text, version_id text, size_bytes bigint)"
                                ).format(stage=sql.Identifier(stage)))
            cur.execute(sql.SQL("INSERT INTO {stage} (uri, item_index, project_id) SELECT uri, 0, 1 FROM ({uris}) u"
                                ).format(stage=sql.Identifier(stage), uris=sql.SQL(uris)), (STAGED,))
        cur.execute(vanished._INDEX_SEEN)
        cur.execute("ANALYZE")
        plans = {
            name: "\n".join(row[0] for row in cur.execute(sql.SQL("EXPLAIN (COSTS OFF) ") + query, params))
            for name, (query, params) in LOOKUPS.items()
        }

    unindexed = {name: plan for name, plan in plans.items()
                 if re.search(r"Seq Scan on (task|source_object|quarantine)\b", plan)
                 or not any('"left"(' in c and "600" in c for c in re.findall(r"Index Cond: (.*)", plan))}
    assert unindexed == {}


def test_tasks_of_long_names_get_signed_urls_that_open(
    cloud: Cloud, signing_store: StoreFactory, labeling_dsn: str
) -> None:
    """Rotation matches tasks by id and ``task_url`` has no index on URIs: long names sign like any."""
    store = signing_store(cloud)
    names = fill_bucket(cloud, store, "objects")
    storage = storage_for(store)
    sync(labeling_dsn, store, storage)

    result = rotate_storage(labeling_dsn, store, storage=storage)

    assert (result.counts.due, result.counts.signed) == (len(names), len(names))
    served = rows(labeling_dsn, "SELECT uri, data ->> 'image' FROM task_with_urls ORDER BY id")
    assert sorted(uri for uri, _ in served) == sorted(store.uri(key) for key in names.values())
    assert {http_get(url) for _, url in served} == {(200, b"x")}
