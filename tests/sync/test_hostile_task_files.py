"""Task files that Python parses but PostgreSQL refuses, or whose meaning is ambiguous: each is refused
with where (task, field path) and why, never quoting content.

The parser tests are pure; the last test syncs a hostile bucket on each cloud's emulator."""

from __future__ import annotations

import io

import psycopg
import pytest

from labelbridge.config import Cloud
from labelbridge.db.jsonb import MAX_DEPTH
from labelbridge.errors import TaskFileError
from labelbridge.sync.taskfile_parser import parse_task_file
from tests.conftest import StoreFactory
from tests.sync.helpers import counts, live_tasks, rows, storage_for, sync, task_file
from tests.sync.test_long_names import at_limit

SECRET = "s3cr3t-content"


NOT_A_NUMBER = "is not a number PostgreSQL can store"
INFINITE = f"Infinity, or a number beyond the 64-bit float range, {NOT_A_NUMBER}"
NUL = "holds the escape \\u0000, which PostgreSQL text cannot hold"
SURROGATE = "holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not a character"
DEEP = "[" * MAX_DEPTH + "]" * MAX_DEPTH

# One case per class: the file text (``@`` stands for SECRET, which no message may quote) and why.
HOSTILE = {
    "nan": ('{"data": {"note": "@", "score": NaN}}', f"field data.score: NaN {NOT_A_NUMBER}"),
    "infinity": ('{"data": {"note": "@", "xy": [1, -Infinity]}}', f"field data.xy[1]: {INFINITE}"),
    "float-overflow": ('{"note": "@", "area": 1e400}', f"field area: {INFINITE}"),
    "nul-in-string": ('{"data": {"text": "@\\u0000"}}', f"field data.text: a string {NUL}"),
    "nul-in-key": ('{"data": {"@\\u0000": 1}}', f"field data[key 0]: a key {NUL}"),
    "lone-surrogate": ('{"data": {"text": "@\\udc00"}, "annotations": []}', f"field data.text: a string {SURROGATE}"),
    "surrogate-in-annotation": ('{"data": {}, "annotations": [{"result": [{"value": {"text": ["@\\ud800"]}}]}]}',
                                f"field annotations[0].result[0].value.text[0]: a string {SURROGATE}"),
    "duplicate-key": ('{"data": {"label": "@", "label": "other"}}',
                      "field data: an object names the same key twice, so which value counts is ambiguous"),
    "duplicate-annotation-id": ('{"data": {"t": "@"}, "annotations": [{"id": 7, "result": []}, {"id": 7}]}',
                                "annotations[1] has the same id as annotations[0]"),
    "duplicate-prediction-id": ('{"data": {"t": "@"}, "predictions": [{"id": "a"}, {"result": []}, {"id": "a"}]}',
                                "predictions[2] has the same id as predictions[0]"),
    "lead-time-overflow": ('{"data": {"t": "@"}, "annotations": [{"result": [], "lead_time": 1%s}]}' % ("0" * 400),
                           "annotations[0].lead_time: a number beyond the 64-bit float range"),
    "score-overflow": ('{"data": {"t": "@"}, "predictions": [{"result": [], "score": -1%s}]}' % ("0" * 400),
                       "predictions[0].score: a number beyond the 64-bit float range"),
    # The path to the container past the limit: data, tree, then MAX_DEPTH - 2 array steps.
    "too-deep": ('{"data": {"t": "@", "tree": ' + DEEP + "}}",
                 f"field data.tree{'[0]' * 9}...({MAX_DEPTH} steps): "
                 f"nested deeper than {MAX_DEPTH} levels"),
}


def hostile(case: str) -> tuple[str, str]:
    text, why = HOSTILE[case]
    return text.replace("@", SECRET), why


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_task_in_a_json_file_is_refused_with_task_and_field(case: str) -> None:
    text, why = hostile(case)
    document = f'[{{"text": "fine"}}, {text}]'.encode()

    with pytest.raises(TaskFileError) as caught:
        parse_task_file("tasks.json", io.BytesIO(document))

    assert str(caught.value) == f"task 1: {why}"
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_line_in_json_lines_is_refused_with_line_task_and_field(case: str) -> None:
    text, why = hostile(case)
    document = f'{{"text": "fine"}}\n\n{text}\n'.encode()

    with pytest.raises(TaskFileError) as caught:
        parse_task_file("tasks.jsonl", io.BytesIO(document))

    assert str(caught.value) == f"line 3 (task 1): {why}"


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ("[" * 50_000 + "]" * 50_000, "top level: nested deeper than the JSON parser can follow"),
        ("[" + "1" * 5000 + "]", "top level: a number literal has more than 4300 digits"),
        ("42", "top level: expected an array of tasks or one task object, got number"),
        (f'"{SECRET}"', "top level: expected an array of tasks or one task object, got string"),
        ("null", "top level: expected an array of tasks or one task object, got null"),
    ],
    ids=["parser-depth", "long-integer", "number", "string", "null"],
)
def test_a_file_refused_as_a_whole_says_top_level(document: str, why: str) -> None:
    with pytest.raises(TaskFileError) as caught:
        parse_task_file("tasks.json", io.BytesIO(document.encode()))

    assert str(caught.value) == why


def test_what_postgresql_stores_is_not_refused() -> None:
    # Escapes that look suspect but are fine: a surrogate pair, an escaped backslash before "u0000",
    # large finite numbers, nesting at the limit, the same id in two different tasks.
    tree = "[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3)
    document = (
        '[{"data": {"emoji": "\\ud83d\\ude00", "literal": "\\\\u0000", "big": 1e308, "int": INT, "tree": TREE},'
        ' "annotations": [{"id": 1, "result": []}, {"result": []}, {"result": []}]},'
        ' {"data": {}, "annotations": [{"id": 1, "result": []}]}]'
    ).replace("INT", "9" * 4000).replace("TREE", tree)

    tasks = parse_task_file("tasks.json", io.BytesIO(document.encode()))

    assert tasks[0].data["emoji"] == "\U0001f600"
    assert tasks[0].data["literal"] == "\\u0000"
    assert [len(t.annotations) for t in tasks] == [3, 1]


def test_a_hostile_bucket_stores_every_good_task_and_quarantines_each_bad_file(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    good_tasks = 0
    for number in range(4):
        store.write(f"tasks/good-{number}.json", task_file(*({"text": f"good {number}.{i}"} for i in range(50))))
        store.write(f"tasks/good-{number}.jsonl", b'{"text": "line"}\n' * 25)
        good_tasks += 75
    expected = []
    for case in sorted(HOSTILE):
        text, why = hostile(case)
        store.write(f"tasks/bad-{case}.json", f'[{{"text": "fine"}}, {text}]'.encode())
        store.write(f"tasks/bad-{case}.jsonl", f'{{"text": "fine"}}\n{text}\n'.encode())
        expected += [f"tasks/bad-{case}.json: task 1: {why}", f"tasks/bad-{case}.jsonl: line 2 (task 1): {why}"]
    # Names at the cloud's length limit, one good file and one bad (their identity and quarantine
    # entry must fit the indexes).
    good_long = at_limit(cloud, "tasks/good-", ".json", seed=11)
    store.write(good_long, task_file(*({"text": f"long {i}"} for i in range(5))))
    good_tasks += 5
    bad_long = at_limit(cloud, "tasks/bad-", ".json", seed=12)
    store.write(bad_long, b'[{"text": 1e400}]')
    expected.append(f"{bad_long}: task 0: field text: {INFINITE}")
    storage = storage_for(store, mode="task_files", prefix="tasks/")

    first = sync(labeling_dsn, store, storage)

    assert counts(first) == {"listed": 9 + len(expected), "inserted": good_tasks, "quarantined": len(expected)}
    assert len(live_tasks(labeling_dsn)) == good_tasks
    reasons = [r for (r,) in rows(labeling_dsn, "SELECT reason FROM quarantine WHERE resolved_at IS NULL")]
    assert sorted(reasons) == sorted(expected)
    stored = rows(labeling_dsn, "SELECT reason FROM quarantine UNION ALL SELECT row_to_json(s)::text FROM sync_run s")
    assert not [text for (text,) in stored if SECRET in text]

    before = rows(labeling_dsn, "SELECT id, xmin::text FROM task ORDER BY id")
    again = sync(labeling_dsn, store, storage)

    assert counts(again) == {"listed": 9 + len(expected), "unchanged": good_tasks, "quarantined": len(expected)}
    assert rows(labeling_dsn, "SELECT id, xmin::text FROM task ORDER BY id") == before


def test_a_file_the_database_refuses_for_a_reason_the_parser_does_not_know_is_quarantined_alone(
    new_store: StoreFactory, labeling_dsn: str
) -> None:
    # A rule of the database's own (here a CHECK a DBA added) stands for any refusal the parser
    # cannot foresee: the batch is retried file by file and only the refused file is set aside.
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute("ALTER TABLE task ADD CONSTRAINT no_forbidden CHECK (data->>'text' IS DISTINCT FROM 'forbidden')")
    store = new_store(Cloud.S3)
    store.write("tasks/a.json", task_file({"text": "a1"}, {"text": "a2"}))
    store.write("tasks/b.json", task_file({"text": "fine"}, {"text": "forbidden", "note": SECRET}))
    store.write("tasks/c.jsonl", b'{"text": "c1"}\n{"text": "c2"}\n')
    storage = storage_for(store, mode="task_files", prefix="tasks/")

    first = sync(labeling_dsn, store, storage)

    assert counts(first) == {"listed": 3, "inserted": 4, "quarantined": 1}
    assert [d["text"] for _, _, d in live_tasks(labeling_dsn)] == ["a1", "a2", "c1", "c2"]
    [(reason,)] = rows(labeling_dsn, "SELECT reason FROM quarantine WHERE resolved_at IS NULL")
    assert reason == ('tasks/b.json: the labeling database refused it: new row for relation "task" violates '
                      'check constraint "no_forbidden" (SQLSTATE 23514)')
    assert counts(sync(labeling_dsn, store, storage)) == {"listed": 3, "unchanged": 4, "quarantined": 1}
