"""object_event: the last bucket event applied per object, so a duplicate or older event changes nothing.

Revision ID: 0011
Revises: 0008

Clouds deliver object events at least once and in no guaranteed order. Each event carries an
order (S3 and Azure: the sequencer; GCS: generation and metageneration), comparable for events on
one key (:mod:`labelbridge.sync.events`). The keyed sync applies an event only if its order is
above the one stored here, in the transaction that writes its task: a late ``put`` never
resurrects an object whose ``delete`` was applied. Listings do not touch this table.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0009"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE object_event (
            storage_id integer NOT NULL REFERENCES storage (id) ON DELETE CASCADE,
            key text COLLATE "C" NOT NULL,
            last_order text COLLATE "C" NOT NULL,
            action text NOT NULL CHECK (action IN ('put', 'delete')),
            applied_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (storage_id, key)
        )
    """)


def downgrade() -> None:
    op.execute("DROP TABLE object_event")
