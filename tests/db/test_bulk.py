"""COPY + upsert helpers: values survive COPY's text format, unchanged rows are not rewritten."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from labelbridge.db.bulk import copy_rows, upsert_from_stage
from labelbridge.db.identity import TASK_KEY

AWKWARD = ["tab\there", "new\nline", "back\\slash", "cr\rhere", "\\N", "ünïcødé 猫", "", "quote\"s 'and' %s"]


def test_awkward_keys_and_json_round_trip_through_copy(labeling_dsn: str) -> None:
    with psycopg.connect(labeling_dsn) as conn, conn.cursor() as cur:
        project = cur.execute("INSERT INTO project (name) VALUES ('p') RETURNING id").fetchone()[0]  # type: ignore[index]
        when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        rows = [(project, f"s3://b/{key}", i, Jsonb({"k": key}), {"nested": [key, None, 1.5]}, None, when)
                for i, key in enumerate(AWKWARD)]
        columns = ("project_id", "uri", "item_index", "data", "meta", "object_version", "created_at")
        assert copy_rows(cur, "_t", "task", columns, rows) == len(AWKWARD)
        counts = upsert_from_stage(cur, "_t", "task", columns=columns, key=TASK_KEY,
                                   compare=["data", "meta"], extra_set={"updated_at": sql.SQL("now()")})
        stored = cur.execute(
            "SELECT uri, data, meta, object_version, created_at FROM task ORDER BY item_index"
        ).fetchall()

        assert (counts.inserted, counts.updated, counts.unchanged) == (len(AWKWARD), 0, 0)
        assert stored == [(f"s3://b/{k}", {"k": k}, {"nested": [k, None, 1.5]}, None, when) for k in AWKWARD]

        copy_rows(cur, "_t", "task", columns, rows)
        again = upsert_from_stage(cur, "_t", "task", columns=columns, key=TASK_KEY,
                                  compare=["data", "meta"], extra_set={"updated_at": sql.SQL("now()")})
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(AWKWARD))
