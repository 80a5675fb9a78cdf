"""Initial labeling schema: projects, storages, objects, tasks, annotations, predictions, runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None

UPGRADE = """
CREATE TABLE project (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    title       text NOT NULL DEFAULT '',
    labels      jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Source storages and export targets as declared in storages.yaml, upserted by name.
CREATE TABLE storage (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    project_id  integer NOT NULL REFERENCES project (id),
    role        text NOT NULL CHECK (role IN ('source', 'target')),
    cloud       text NOT NULL CHECK (cloud IN ('s3', 'gcs', 'azure')),
    bucket      text NOT NULL,
    prefix      text NOT NULL DEFAULT '',
    mode        text CHECK (mode IN ('objects', 'task_files')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every object a project's storages ever listed, keyed by its canonical URI, not by the
-- storage: two storages on one bucket, or a re-created storage, find the same row.
CREATE TABLE source_object (
    id             bigserial PRIMARY KEY,
    project_id     integer NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    uri            text NOT NULL,
    storage_id     integer REFERENCES storage (id) ON DELETE SET NULL,
    etag           text,
    size_bytes     bigint,
    last_modified  timestamptz,
    version_id     text,
    task_count     integer NOT NULL DEFAULT 0,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    synced_at      timestamptz,
    deleted_at     timestamptz,
    UNIQUE (project_id, uri)
);

-- A task is identified by (project, object URI, index in its file): never by storage.
CREATE TABLE task (
    id                bigserial PRIMARY KEY,
    project_id        integer NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    uri               text NOT NULL,
    item_index        integer NOT NULL DEFAULT 0,
    data              jsonb NOT NULL,
    meta              jsonb NOT NULL DEFAULT '{}',
    -- ETag (or version) of the object in objects mode: a rewritten image updates its task.
    object_version    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    UNIQUE (project_id, uri, item_index)
);
CREATE INDEX task_project_updated_idx ON task (project_id, updated_at);
-- Lets sync skip the restore check when a project has no soft-deleted task.
CREATE INDEX task_deleted_idx ON task (project_id) WHERE deleted_at IS NOT NULL;

-- Label Studio annotation results. origin 'file': imported from a JSON task file (origin_key
-- is its position there); origin 'tool': written by the labeling tool (its own id).
CREATE TABLE annotation (
    id             bigserial PRIMARY KEY,
    task_id        bigint NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    origin         text NOT NULL CHECK (origin IN ('file', 'tool')),
    origin_key     text NOT NULL,
    result         jsonb NOT NULL DEFAULT '[]',
    completed_by   text,
    was_cancelled  boolean NOT NULL DEFAULT false,
    ground_truth   boolean NOT NULL DEFAULT false,
    lead_time      double precision,
    extra          jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, origin, origin_key)
);
CREATE INDEX annotation_updated_idx ON annotation (updated_at);

CREATE TABLE prediction (
    id             bigserial PRIMARY KEY,
    task_id        bigint NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    origin_key     text NOT NULL,
    model_version  text,
    score          double precision,
    result         jsonb NOT NULL DEFAULT '[]',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, origin_key)
);

-- One row per sync of one storage prefix, with what it counted.
CREATE TABLE sync_run (
    id            bigserial PRIMARY KEY,
    storage_id    integer NOT NULL REFERENCES storage (id) ON DELETE CASCADE,
    run_id        text NOT NULL,
    prefix        text NOT NULL,
    status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'success', 'failed')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    listed        integer NOT NULL DEFAULT 0,
    inserted      integer NOT NULL DEFAULT 0,
    updated       integer NOT NULL DEFAULT 0,
    unchanged     integer NOT NULL DEFAULT 0,
    deleted       integer NOT NULL DEFAULT 0,
    restored      integer NOT NULL DEFAULT 0,
    quarantined   integer NOT NULL DEFAULT 0,
    error         text
);
CREATE INDEX sync_run_storage_idx ON sync_run (storage_id, started_at);

-- Bad input set aside with where and why; item_index -1 means the whole file.
CREATE TABLE quarantine (
    id             bigserial PRIMARY KEY,
    storage_id     integer NOT NULL REFERENCES storage (id) ON DELETE CASCADE,
    uri            text NOT NULL,
    item_index     integer NOT NULL DEFAULT -1,
    reason         text NOT NULL,
    etag           text,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    UNIQUE (storage_id, uri, item_index)
);
"""

DOWNGRADE = """
DROP TABLE quarantine;
DROP TABLE sync_run;
DROP TABLE prediction;
DROP TABLE annotation;
DROP TABLE task;
DROP TABLE source_object;
DROP TABLE storage;
DROP TABLE project;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
