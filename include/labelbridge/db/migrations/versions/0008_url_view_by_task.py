"""task_with_urls looks each task's URLs up by task id only, whatever the statistics say.

Revision ID: 0008
Revises: 0007

Right after a bulk load (a first sync, a first rotation) the planner has no statistics for
``task_url`` and estimated one row per task; it then answered the view's per-task lookup with a
BitmapAnd of the primary key and the ``expires_at`` index, reading every live URL's index entry for
each task: quadratic. Measured: Label Studio's push of 30,000 tasks spent 52 s in that one query
(1.7 ms per task), 0.3 s with this view. The expiry test is now written so that no index on
``expires_at`` can serve it (the rotation's own due query still uses that index directly).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"

VIEW = """
CREATE OR REPLACE VIEW task_with_urls AS
SELECT t.id, t.project_id, t.uri, t.item_index,
       t.data || COALESCE(u.urls, '{{}}'::jsonb) AS data,
       u.urls_expire_at
FROM task t
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(x.field, x.url) AS urls, min(x.expires_at) AS urls_expire_at
    FROM task_url x
    WHERE x.task_id = t.id AND x.uri = t.data ->> x.field AND {live}
) u ON true
WHERE t.deleted_at IS NULL;
"""


def upgrade() -> None:
    op.execute(VIEW.format(live="x.expires_at - now() > interval '0'"))


def downgrade() -> None:
    op.execute(VIEW.format(live="x.expires_at > now()"))
