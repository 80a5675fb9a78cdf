"""A bucket on the S3 emulator, a labeling DB and a project labeled in Ground Truth, for its tests.

Ground Truth itself runs only in AWS: its output manifests are the files of fixtures/ground_truth/,
built from AWS's documented formats (the README there names the page each follows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from labelbridge.config import GroundTruthConfig, ProjectConfig, StorageConfig
from labelbridge.storage import ObjectStore
from labelbridge.tools.ground_truth import IngestResult, ManifestResult, ingest_outputs, write_manifest
from tests.sync import helpers as sync_helpers

FIXTURES = Path(__file__).parent / "fixtures" / "ground_truth"
IMAGES = tuple(f"{c}.png" for c in "abcdefghi")


@dataclass
class Setup:
    dsn: str
    store: ObjectStore
    storage: StorageConfig
    project: ProjectConfig

    @property
    def gt(self) -> GroundTruthConfig:
        assert self.project.ground_truth is not None
        return self.project.ground_truth

    def sync(self) -> None:
        sync_helpers.sync(self.dsn, self.store, self.storage, project=self.project)

    def manifest(self, *, full: bool = False, stores: list[tuple[StorageConfig, ObjectStore]] | None = None
                 ) -> ManifestResult:  # fmt: skip
        return write_manifest(self.dsn, project=self.project, stores=stores or [(self.storage, self.store)],
                              manifest_store=self.store, full=full)  # fmt: skip

    def put_output(self, fixture: str, job: str) -> str:
        """A labeling job's output manifest where Ground Truth writes it; its key."""
        key = f"gt-output/{job}/manifests/output/output.manifest"
        text = (FIXTURES / fixture).read_text().replace("s3://BUCKET/", f"s3://{self.store.bucket}/")
        self.store.write(key, text.encode())
        return key

    def ingest(self, **kwargs: Any) -> IngestResult:
        return ingest_outputs(self.dsn, project=self.project, output_store=self.store, **kwargs)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(query, params).fetchall()

    def annotations(self) -> dict[str, Any]:
        """Per image name, the result of its annotation under this setup's label attribute."""
        return {uri.rsplit("/", 1)[-1]: result for uri, result in self.rows(
            "SELECT t.uri, a.result FROM annotation a JOIN task t ON t.id = a.task_id "
            "WHERE a.origin = 'tool' AND a.origin_key = %s ORDER BY t.uri", f"ground_truth:{self.gt.label_attribute}")}


def make_setup(dsn: str, store: ObjectStore, *, images: tuple[str, ...] = IMAGES, **gt: Any) -> Setup:
    bucket = store.bucket
    settings: dict[str, Any] = {
        "region": "us-east-1", "manifests": f"s3://{bucket}/gt-input/", "outputs": f"s3://{bucket}/gt-output/",
        "task_type": "bounding_box", "label_attribute": "bounding-box",
    }  # fmt: skip
    settings.update(gt)
    project = ProjectConfig.model_validate({"name": "proj", "labels": ["dog", "bone"], "ground_truth": settings})
    storage = sync_helpers.storage_for(store, prefix="images/")
    for name in images:
        store.write(f"images/{name}", f"pixels of {name}".encode(), content_type="image/png")
    setup = Setup(dsn, store, storage, project)
    setup.sync()
    return setup
