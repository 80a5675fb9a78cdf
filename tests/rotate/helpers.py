"""Tasks put straight into the labeling DB, as sync leaves them, for rotation tests."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import psycopg

from tests.sync.helpers import storage_for as sync_storage_for

#: The sync tests' storage config, under the name these tests' log lines and messages expect.
storage_for = partial(sync_storage_for, name="imgs")


def add_tasks(dsn: str, project: str, datas: list[dict[str, Any]]) -> list[int]:
    """Insert one task per data dict (uri = its first value); returns their ids in order."""
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO project (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (project,))
        ids = []
        for data in datas:
            row = conn.execute(
                "INSERT INTO task (project_id, uri, item_index, data) "
                "SELECT id, %s, 0, %s FROM project WHERE name = %s RETURNING id",
                (next(iter(data.values())), json.dumps(data), project),
            ).fetchone()
            assert row is not None
            ids.append(int(row[0]))
        return ids


def rows(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()
