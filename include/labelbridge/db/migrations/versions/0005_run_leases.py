"""Runs that died are marked: status ``abandoned`` and ``last_seen_at`` on sync_run and export_run.

Revision ID: 0005
Revises: 0004

A run holds a PostgreSQL advisory lock on its row while it lives (:mod:`labelbridge.db.runs`); the
next run of the same job marks a ``running`` row whose lock nobody holds as ``abandoned``.
``last_seen_at`` is when the run last committed (sync: each batch, with its counts so far).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"

_TABLES = ("sync_run", "export_run")


def upgrade() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_status_check")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_status_check"
            " CHECK (status IN ('running', 'success', 'failed', 'abandoned'))"
        )
        op.execute(f"ALTER TABLE {table} ADD COLUMN last_seen_at timestamptz")


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"UPDATE {table} SET status = 'failed' WHERE status = 'abandoned'")
        op.execute(f"ALTER TABLE {table} DROP COLUMN last_seen_at")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_status_check")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_status_check"
            " CHECK (status IN ('running', 'success', 'failed'))"
        )
