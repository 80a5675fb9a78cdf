"""Signed URLs kept beside each task's canonical URI, indexed by expiry.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"

UPGRADE = """
-- One signed URL per task and data field. The canonical URI stays in task.data; the URL is a
-- secret (it grants access): it is served to the labeling tool, never logged or exported.
CREATE TABLE task_url (
    task_id                bigint NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    field                  text NOT NULL,
    uri                    text NOT NULL,
    url                    text NOT NULL,
    signed_at              timestamptz NOT NULL,
    expires_at             timestamptz NOT NULL,
    requested_ttl_s        integer NOT NULL,
    ip_range               text,
    signer                 text NOT NULL,
    credential_expires_at  timestamptz,
    PRIMARY KEY (task_id, field)
);
CREATE INDEX task_url_expires_idx ON task_url (expires_at);

-- What a labeling tool reads: each task's data with every media URI that has a live signed URL
-- replaced by it. A URL whose field now holds another URI, or that has expired, is not used.
CREATE VIEW task_with_urls AS
SELECT t.id, t.project_id, t.uri, t.item_index,
       t.data || COALESCE(u.urls, '{}'::jsonb) AS data,
       u.urls_expire_at
FROM task t
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(x.field, x.url) AS urls, min(x.expires_at) AS urls_expire_at
    FROM task_url x
    WHERE x.task_id = t.id AND x.uri = t.data ->> x.field AND x.expires_at > now()
) u ON true
WHERE t.deleted_at IS NULL;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP VIEW task_with_urls; DROP TABLE task_url")
