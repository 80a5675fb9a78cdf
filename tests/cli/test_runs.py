"""``labelbridge runs``: the run history shows how each run ended, a dead one as abandoned with when it
was last seen and what it had committed."""

from __future__ import annotations

import json

import psycopg
import pytest

from labelbridge.cli import main
from labelbridge.config import Cloud
from labelbridge.db.runs import take_lease, touch
from tests.conftest import StoreFactory
from tests.sync.helpers import storage_for, sync


def test_a_dead_sync_shows_as_abandoned_with_its_last_seen_time_and_counts(
    new_store: StoreFactory, labeling_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = new_store(Cloud.S3)
    store.write("a.jpg", b"x")
    storage = storage_for(store)
    sync(labeling_dsn, store, storage)
    # A run that committed 3 objects' worth of counts, then its process died.
    runner = psycopg.connect(labeling_dsn)
    run_id = runner.execute(
        "INSERT INTO sync_run (storage_id, run_id, prefix, listed, inserted)"
        " SELECT id, 'scheduled__killed', '', 3, 3 FROM storage WHERE name = 'src' RETURNING id"
    ).fetchone()[0]  # type: ignore[index]
    take_lease(runner, "sync_run", run_id)
    touch(runner, "sync_run", run_id)
    runner.commit()
    with psycopg.connect(labeling_dsn) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", (runner.info.backend_pid,))
    sync(labeling_dsn, store, storage)  # the next run marks it
    capsys.readouterr()

    assert main(["runs", "--dsn", labeling_dsn]) == 0
    lines = capsys.readouterr().out.splitlines()

    runs = [line.split("  ") for line in lines if not line.startswith("    ")]
    assert [(name, state.split(" ")[0]) for _, name, state, _ in runs] == [
        ("src", "success"), ("src", "abandoned"), ("src", "success")
    ]
    assert runs[1][2].startswith("abandoned last seen 20")
    assert lines[1].endswith("listed=3 inserted=3 updated=0 unchanged=0 deleted=0 restored=0 quarantined=0")
    assert lines[2].startswith("    abandoned: its process ended without finishing")

    assert main(["runs", "src", "--json", "--limit", "2", "--dsn", labeling_dsn]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["status"], r["run"], r["counts"]["listed"]) for r in records] == [
        ("success", "manual", 1), ("abandoned", "scheduled__killed", 3)
    ]
    assert records[1]["last_seen_at"] is not None
    runner.close()
