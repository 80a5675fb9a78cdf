"""SageMaker Ground Truth: the manifests exchanged with it, and the output lines set aside.

Revision ID: 0009
Revises: 0008

Ground Truth has no API labelbridge can page through: work goes out as input manifests and comes
back as output manifests, files in S3. ``ground_truth_manifest`` remembers each one: an input
manifest written (with its counts), an output manifest ingested (by URI and ETag, so it is never
read twice, and a rewritten one is read again). ``ground_truth_quarantine`` holds an output line
that could not be ingested: which manifest, which line (1-based), and why.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"

UPGRADE = """
CREATE TABLE ground_truth_manifest (
    id               bigserial PRIMARY KEY,
    tool_project_id  integer NOT NULL REFERENCES tool_project (id) ON DELETE CASCADE,
    direction        text NOT NULL CHECK (direction IN ('input', 'output')),
    uri              text COLLATE "C" NOT NULL,
    etag             text NOT NULL DEFAULT '',
    lines            integer NOT NULL DEFAULT 0,
    counts           jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tool_project_id, direction, uri, etag)
);

CREATE TABLE ground_truth_quarantine (
    id               bigserial PRIMARY KEY,
    tool_project_id  integer NOT NULL REFERENCES tool_project (id) ON DELETE CASCADE,
    manifest_uri     text COLLATE "C" NOT NULL,
    line             integer NOT NULL,
    reason           text NOT NULL,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tool_project_id, manifest_uri, line)
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE ground_truth_quarantine; DROP TABLE ground_truth_manifest")
