"""Export runs and per-target watermarks.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"

UPGRADE = """
CREATE TABLE export_run (
    id              bigserial PRIMARY KEY,
    target          text NOT NULL,
    project_id      integer NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    format          text NOT NULL,
    run_key         text NOT NULL,
    full_snapshot   boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'success', 'failed')),
    watermark_from  timestamptz,
    watermark_to    timestamptz,
    counts          jsonb NOT NULL DEFAULT '{}',
    error           text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (target, format, run_key)
);

-- Moved only after an export's files and manifest are written and verified.
CREATE TABLE export_watermark (
    target       text NOT NULL,
    project_id   integer NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    format       text NOT NULL,
    exported_to  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, project_id, format)
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE export_watermark; DROP TABLE export_run")
