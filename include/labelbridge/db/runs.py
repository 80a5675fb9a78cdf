"""Run leases: a run row says ``running`` only while a live process holds it.

Each job records its run in a row (``sync_run``, ``export_run``) created as ``running``. The process
running it takes a session-level PostgreSQL advisory lock keyed on that row, in the transaction that
creates (or re-opens) the row, on the connection it then writes with. PostgreSQL releases the lock
the moment that session ends, however it ends: the run finished, failed, was killed with SIGKILL,
or lost its connection (and a run without its connection can write nothing more). So the next run
of the same job can tell a dead run from a slow one exactly: it marks a ``running`` row whose lock
it can take as ``abandoned``, and leaves one whose lock is held. No clock or age is involved.

A connection pooler in transaction mode (PgBouncer) breaks session locks: point labelbridge at
PostgreSQL directly, or at a session-mode pool.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import psycopg
from psycopg import sql

RunTable = Literal["sync_run", "export_run"]

# The lease of a run is one 64-bit advisory lock key, hashed from its table and id.
_LOCK = "SELECT pg_advisory_lock(hashtextextended(%s, 0))"
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"
_TOUCH = "UPDATE {table} SET last_seen_at = now() WHERE id = %s"

_MARK_ABANDONED = """
UPDATE {table} SET status = 'abandoned', finished_at = now(),
       error = 'abandoned: its process ended without finishing (killed, crashed or cut off from the'
               || ' database); last seen ' || to_char(coalesce(last_seen_at, started_at) AT TIME ZONE 'UTC',
                                                  'YYYY-MM-DD"T"HH24:MI:SS"Z"')
               || '; what it had committed stays, and a rerun completes it'
WHERE id = %s AND status = 'running'
RETURNING id
"""


def _lease_name(table: RunTable, run_id: int) -> str:
    return f"labelbridge.{table}.{run_id}"


def take_lease(conn: psycopg.Connection[Any], table: RunTable, run_id: int) -> None:
    """Hold ``run_id``'s lease for the rest of this session; call it before committing the row."""
    conn.execute(_LOCK, (_lease_name(table, run_id),))


def release_lease(conn: psycopg.Connection[Any], table: RunTable, run_id: int) -> None:
    """Give the lease back once the row says how the run ended (the session may go on)."""
    conn.execute(_UNLOCK, (_lease_name(table, run_id),))


def lease_is_held(conn: psycopg.Connection[Any], table: RunTable, run_id: int) -> bool:
    """Whether another session holds the lease of ``run_id`` (its run is alive)."""
    name = _lease_name(table, run_id)
    row = conn.execute(_TRY_LOCK, (name,)).fetchone()
    if row is None or not row[0]:
        return True
    conn.execute(_UNLOCK, (name,))
    return False


def mark_abandoned(conn: psycopg.Connection[Any], table: RunTable, run_ids: Iterable[int]) -> list[int]:
    """Mark those of ``run_ids`` (rows the caller found ``running``) whose lease nobody holds.

    Never pass the caller's own run: a session's advisory locks are re-entrant for itself.
    :returns: the ids marked ``abandoned``, committed.
    """
    marked: list[int] = []
    for run_id in run_ids:
        if lease_is_held(conn, table, run_id):
            continue
        row = conn.execute(sql.SQL(_MARK_ABANDONED).format(table=sql.Identifier(table)), (run_id,)).fetchone()
        if row is not None:
            marked.append(int(row[0]))
    conn.commit()
    return marked


def touch(conn: psycopg.Connection[Any], table: RunTable, run_id: int) -> None:
    """Record that the run is alive now, in the caller's transaction (commit it with the work)."""
    conn.execute(sql.SQL(_TOUCH).format(table=sql.Identifier(table)), (run_id,))
