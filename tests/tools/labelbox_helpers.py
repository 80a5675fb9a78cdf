"""A bucket of images, a labeling DB and a Labelbox location (import files out, exports in), for the
Labelbox connector's tests. Everything but Labelbox is real: emulators, PostgreSQL, sync, rotation.
Labelbox's side is the files it documents (see fixtures/labelbox/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from labelbridge.config import ProjectConfig, StorageConfig
from labelbridge.storage import ObjectStore
from labelbridge.tools.labelbox import IngestResult, RowsResult, ingest_exports, write_rows
from tests.sync import helpers as sync_helpers
from tests.tools.test_label_studio_export import png

FIXTURES = Path(__file__).parent / "fixtures" / "labelbox"
LABELS = ("dog", "cat")
#: name: (width, height): what the export fixture's media_attributes say.
IMAGES = {"a.png": (640, 480), "b.png": (320, 200), "c.png": (100, 100), "f.png": (300, 300)}


@dataclass
class Setup:
    dsn: str
    source: ObjectStore
    storage: StorageConfig
    target: ObjectStore
    project: ProjectConfig

    @property
    def stores(self) -> list[tuple[StorageConfig, ObjectStore]]:
        return [(self.storage, self.source)]

    def add_images(self, *names: str) -> None:
        for name in names:
            width, height = IMAGES.get(name, (8, 8))
            self.source.write(f"images/{name}", png(width, height, 2), content_type="image/png")

    def sync(self) -> None:
        sync_helpers.sync(self.dsn, self.source, self.storage, project=self.project)

    def rows(self, **kwargs: Any) -> RowsResult:
        return write_rows(self.dsn, project=self.project, stores=self.stores, target=self.target, canary_size=0,
                          **kwargs)  # fmt: skip

    def ingest(self, **kwargs: Any) -> IngestResult:
        return ingest_exports(self.dsn, project=self.project, store=self.target, **kwargs)

    def read_json(self, uri: str) -> Any:
        return json.loads(self.target.read_bytes(self.target.key_from_uri(uri)))

    def put_export(self, name: str, text: str) -> str:
        """An export file as a user drops it in ``exports/``; BUCKET/ stands for the source bucket."""
        key = f"lb/exports/{name}"
        self.target.write(key, text.replace("BUCKET/", self.source.uri("")).encode())
        return self.target.uri(key)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(sql, params).fetchall()


def make_setup(dsn: str, source: ObjectStore, target: ObjectStore, **labelbox: Any) -> Setup:
    section = {"cloud": target.cloud, "bucket": target.bucket, "prefix": "lb/", "dataset": "birds", **labelbox}
    project = ProjectConfig.model_validate({"name": "proj", "labels": LABELS, "labelbox": section})
    storage = sync_helpers.storage_for(source, prefix="images/", url_ttl="1d")
    return Setup(dsn, source, storage, target, project)
