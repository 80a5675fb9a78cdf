"""Object URIs in byte order; no (project_id, updated_at) index on task.

Revision ID: 0004
Revises: 0003

* ``task.uri`` and ``source_object.uri`` collate as "C": bucket listings come back in UTF-8 byte
  order, so sync can compare a listing page with the key range it covers in the unique index, in
  the same order, whatever the database's locale. Comparing bytes is also cheaper than strcoll for
  every index insertion, and ``uri LIKE 'prefix%'`` becomes an index range.
* ``task_project_updated_idx`` goes: export's window (``updated_at`` in range OR an annotation or
  prediction changed) is an OR with sub-queries, which no index on ``updated_at`` can answer; the
  planner used it only for ``project_id``, which the unique index serves as well (checked with
  EXPLAIN ANALYZE on 200k tasks). Every inserted or updated task paid for it.

Changing a column's collation rebuilds the indexes on it (no table rewrite); the view reading
``task.uri`` is re-created around it.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"

# As in 0002; PostgreSQL does not let a column a view reads change its type or collation.
TASK_WITH_URLS = """
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
    op.execute("DROP INDEX task_project_updated_idx")
    op.execute("DROP VIEW task_with_urls")
    op.execute('ALTER TABLE task ALTER COLUMN uri TYPE text COLLATE "C"')
    op.execute('ALTER TABLE source_object ALTER COLUMN uri TYPE text COLLATE "C"')
    op.execute(TASK_WITH_URLS)


def downgrade() -> None:
    op.execute("DROP VIEW task_with_urls")
    op.execute('ALTER TABLE source_object ALTER COLUMN uri TYPE text COLLATE "default"')
    op.execute('ALTER TABLE task ALTER COLUMN uri TYPE text COLLATE "default"')
    op.execute(TASK_WITH_URLS)
    op.execute("CREATE INDEX task_project_updated_idx ON task (project_id, updated_at)")
