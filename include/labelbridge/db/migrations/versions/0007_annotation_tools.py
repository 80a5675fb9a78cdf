"""The mapping between labeling-DB tasks and an annotation tool's own tasks.

Revision ID: 0007
Revises: 0006

An annotation tool assigns its own ids (Label Studio ignores the ids it is sent), so each pushed
task keeps the tool's id here, with what was pushed: a hash of the task's canonical data (a
changed object updates the tool's task in place) and when the signed URLs the tool holds expire
(renewal works in that order). ``tool_project`` holds one remote project per labeling project
and tool, with the server's own cursor for pulling annotations back.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"

UPGRADE = """
CREATE TABLE tool_project (
    id              serial PRIMARY KEY,
    project_id      integer NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    tool            text NOT NULL,
    remote_project  text NOT NULL,
    -- The tool server's own "updated_at" of the last task pulled, verbatim: never the client clock.
    pull_cursor     text,
    pushed_at       timestamptz,
    renewed_at      timestamptz,
    pulled_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, tool, remote_project)
);

CREATE TABLE tool_task (
    tool_project_id  integer NOT NULL REFERENCES tool_project (id) ON DELETE CASCADE,
    task_id          bigint NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    remote_id        bigint NOT NULL,
    -- md5 of task.data and object_version as last pushed (canonical URIs, not the signed URLs).
    data_hash        text NOT NULL,
    -- Earliest expiry of the signed URLs in the data the tool holds; NULL when it holds none.
    urls_expire_at   timestamptz,
    pushed_at        timestamptz NOT NULL DEFAULT now(),
    -- Whether the tool's task had an annotation (or a skip) when last pulled.
    annotated        boolean NOT NULL DEFAULT false,
    -- The object vanished and the tool's task was kept because it is annotated.
    kept_at          timestamptz,
    -- Deleted in the tool by hand, noticed by a pull: not pushed again.
    remote_deleted_at timestamptz,
    PRIMARY KEY (tool_project_id, task_id),
    UNIQUE (tool_project_id, remote_id)
);
CREATE INDEX tool_task_expiry_idx ON tool_task (tool_project_id, urls_expire_at)
    WHERE remote_deleted_at IS NULL;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE tool_task; DROP TABLE tool_project")
