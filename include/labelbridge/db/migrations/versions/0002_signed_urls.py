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
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE task_url")
