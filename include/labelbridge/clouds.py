"""The clouds labelbridge reads and the two sync modes: names only, importing nothing from labelbridge.

Each cloud's facts (its Airflow hook, default connection, console link, rule-id prefix, CLI name)
live on its store class in :mod:`labelbridge.storage`, one class per cloud; see
``storage/README.md`` for what adding a cloud takes.
"""

from __future__ import annotations

import enum


class Cloud(enum.StrEnum):
    S3 = "s3"
    GCS = "gcs"
    AZURE = "azure"


class SyncMode(enum.StrEnum):
    OBJECTS = "objects"
    TASK_FILES = "task_files"


__all__ = ["Cloud", "SyncMode"]
