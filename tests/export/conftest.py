"""Seed the labeling DB with the fixture project, as sync and the labeling tool would leave it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from labelbridge.config import Cloud, ExportTargetConfig
from tests.export.fixtures import LABELS, TASKS

ANNOTATION_COLUMNS = ("result", "completed_by", "was_cancelled", "ground_truth", "lead_time", "created_at")


def seed(dsn: str, tasks: list[dict[str, Any]] = TASKS, *, project: str = "demo") -> list[int]:
    """Insert the project, its tasks and annotations; returns the task ids in order."""
    ids = []
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "INSERT INTO project (name, labels) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name"
            " RETURNING id",
            (project, Jsonb(list(LABELS))),
        ).fetchone()
        assert row is not None
        for index, task in enumerate(tasks):
            task_row = conn.execute(
                "INSERT INTO task (project_id, uri, item_index, data) VALUES (%s, %s, %s, %s) RETURNING id",
                (row[0], "s3://bkt/tasks/file.json", index, Jsonb(task["data"])),
            ).fetchone()
            assert task_row is not None
            ids.append(int(task_row[0]))
            for annotation in task["annotations"]:
                conn.execute(
                    "INSERT INTO annotation (task_id, origin, origin_key, result, completed_by, was_cancelled,"
                    " ground_truth, lead_time, extra, created_at, updated_at)"
                    " VALUES (%s, 'file', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        task_row[0], str(annotation["id"]), Jsonb(annotation["result"]),
                        str(annotation["completed_by"]), annotation["was_cancelled"], annotation["ground_truth"],
                        annotation["lead_time"], Jsonb({"id": annotation["id"]}),
                        annotation["created_at"], annotation["created_at"],
                    ),
                )
    return ids


@pytest.fixture
def seeded(labeling_dsn: str) -> list[int]:
    return seed(labeling_dsn)


def target_config(
    cloud: Cloud, bucket: str, *, formats: tuple[str, ...] = ("json",), name: str = "out"
) -> ExportTargetConfig:
    return ExportTargetConfig.model_validate(
        {"name": name, "project": "demo", "cloud": cloud.value, "bucket": bucket, "prefix": "exports/",
         "formats": list(formats)}
    )
