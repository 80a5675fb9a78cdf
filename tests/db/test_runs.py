"""Run leases: a run row left 'running' by a process that died is marked 'abandoned' by the next
run; one whose process is alive, however slow, is left alone."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from labelbridge.db.runs import RunTable, mark_abandoned, release_lease, take_lease, touch


def _run_row(conn: psycopg.Connection[Any], table: RunTable) -> int:
    project = conn.execute("INSERT INTO project (name) VALUES ('p') RETURNING id").fetchone()[0]  # type: ignore[index]
    if table == "sync_run":
        storage = conn.execute(
            "INSERT INTO storage (name, project_id, role, cloud, bucket) VALUES ('s', %s, 'source', 's3', 'b')"
            " RETURNING id", (project,)
        ).fetchone()[0]  # type: ignore[index]
        row = conn.execute("INSERT INTO sync_run (storage_id, run_id, prefix) VALUES (%s, 'r', '') RETURNING id",
                           (storage,)).fetchone()
    else:
        row = conn.execute("INSERT INTO export_run (target, project_id, format, run_key) VALUES ('t', %s, 'json', 'k')"
                           " RETURNING id", (project,)).fetchone()
    assert row is not None
    return int(row[0])


def _state(dsn: str, table: RunTable, run_id: int) -> tuple[Any, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT status, finished_at IS NOT NULL, error FROM {table} WHERE id = %s",
                           (run_id,)).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize("table", ["sync_run", "export_run"])
def test_a_dead_run_is_marked_abandoned_and_a_live_one_is_not(labeling_dsn: str, table: RunTable) -> None:
    runner = psycopg.connect(labeling_dsn)
    run_id = _run_row(runner, table)
    take_lease(runner, table, run_id)
    touch(runner, table, run_id)
    runner.commit()

    with psycopg.connect(labeling_dsn) as next_run:
        assert mark_abandoned(next_run, table, [run_id]) == []
        assert _state(labeling_dsn, table, run_id) == ("running", False, None)

        # The runner's session ends without a word, as after SIGKILL or a cut connection
        # (the timeout makes PostgreSQL return once the backend is gone).
        next_run.execute("SELECT pg_terminate_backend(%s, 10000)", (runner.info.backend_pid,))
        next_run.commit()
        assert mark_abandoned(next_run, table, [run_id]) == [run_id]
        assert mark_abandoned(next_run, table, [run_id]) == []

    status, finished, error = _state(labeling_dsn, table, run_id)
    assert (status, finished) == ("abandoned", True)
    assert error.startswith("abandoned: its process ended without finishing") and "; last seen 20" in error
    runner.close()


def test_a_released_lease_leaves_a_finished_run_as_it_is(labeling_dsn: str) -> None:
    with psycopg.connect(labeling_dsn) as runner, psycopg.connect(labeling_dsn) as other:
        run_id = _run_row(runner, "export_run")
        take_lease(runner, "export_run", run_id)
        runner.execute("UPDATE export_run SET status = 'success' WHERE id = %s", (run_id,))
        release_lease(runner, "export_run", run_id)
        runner.commit()

        assert mark_abandoned(other, "export_run", [run_id]) == []
        assert _state(labeling_dsn, "export_run", run_id) == ("success", False, None)
