"""A bucket, a labeling DB and a Label Studio project wired together, for the connector's tests.

Everything is real: the S3 emulator holds the images, sync makes the tasks, the Label Studio
server started once per session receives them; annotations are made through its REST API, as
a labeler's browser makes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from labelbridge.config import LabelStudioConfig, ProjectConfig, StorageConfig
from labelbridge.storage import ObjectStore
from labelbridge.tools.label_studio import (
    LabelStudioClient,
    PullResult,
    PushResult,
    RenewResult,
    pull_project,
    push_project,
    renew_project,
)
from tests.sync import helpers as sync_helpers

IMAGE_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="choice" toName="image"><Choice value="cat"/><Choice value="dog"/></Choices>
  <RectangleLabels name="box" toName="image"><Label value="cat"/><Label value="dog"/></RectangleLabels>
</View>
"""


def choice(label: str) -> list[dict[str, Any]]:
    return [{"from_name": "choice", "to_name": "image", "type": "choices", "value": {"choices": [label]}}]


def box(label: str, x: float = 10, y: float = 20, w: float = 30, h: float = 40) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex[:10], "from_name": "box", "to_name": "image", "type": "rectanglelabels",
        "original_width": 640, "original_height": 480, "image_rotation": 0,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]},
    }  # fmt: skip


@dataclass
class Loop:
    """One labeling project fed by one S3 storage and labeled in its own Label Studio project."""

    dsn: str
    store: ObjectStore
    storage: StorageConfig
    project: ProjectConfig
    client: LabelStudioClient
    config_dir: Path

    @property
    def stores(self) -> list[tuple[StorageConfig, ObjectStore]]:
        # Signing needs the bucket only (and, for GCS, the store's signing credentials), not the listing prefix.
        return [(self.storage, self.store)]

    def add_images(self, *names: str) -> None:
        for name in names:
            self.store.write(f"images/{name}", f"pixels of {name}".encode())

    def sync(self) -> None:
        sync_helpers.sync(self.dsn, self.store, self.storage)

    def push(self, client: LabelStudioClient | None = None) -> PushResult:
        return push_project(
            self.dsn, client or self.client, project=self.project, stores=self.stores, config_dir=self.config_dir
        )

    def renew(self, **kwargs: Any) -> RenewResult:
        return renew_project(
            self.dsn, self.client, project=self.project, stores=self.stores, config_dir=self.config_dir, **kwargs
        )

    def pull(self, **kwargs: Any) -> PullResult:
        return pull_project(self.dsn, self.client, project=self.project, config_dir=self.config_dir, **kwargs)

    # -- what Label Studio holds, asked over its API ---------------------------------------------

    @property
    def remote_id(self) -> int:
        (found,) = self.client.projects_titled(str(self.label_studio.project))
        return int(found["id"])

    @property
    def label_studio(self) -> LabelStudioConfig:
        assert self.project.label_studio is not None
        return self.project.label_studio

    def remote_tasks(self) -> list[dict[str, Any]]:
        """Every task of the Label Studio project with its data, meta and annotations, by id."""
        tasks: list[dict[str, Any]] = []
        page = 1
        while rows := self.client.list_tasks(
            self.remote_id, include=("id", "data", "meta", "annotations", "updated_at"), page=page
        ):
            tasks += rows
            page += 1
        return tasks

    def by_key(self) -> dict[str, dict[str, Any]]:
        """Label Studio's tasks by the object key their labeling-DB task came from."""
        uris = dict(self.rows("SELECT id, uri FROM task"))
        return {
            uris[t["meta"]["labelbridge_task_id"]].rsplit("/", 1)[-1]: t for t in self.remote_tasks()
        }

    def annotate(self, remote_task_id: int, result: list[dict[str, Any]], **extra: Any) -> int:
        body = {"result": result, "lead_time": 2.5, **extra}
        answer = self.client.request("POST", f"/api/tasks/{remote_task_id}/annotations/", json_body=body)
        return int(answer.json()["id"])

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(query, params).fetchall()


def make_loop(
    dsn: str, store: ObjectStore, label_studio: Any, tmp_path: Path, **ls_options: Any
) -> Loop:
    (tmp_path / "image.xml").write_text(IMAGE_CONFIG)
    title = f"lb-test-{uuid.uuid4().hex[:8]}"
    ls = LabelStudioConfig.model_validate(
        {"project": title, "label_config": "image.xml", "create": True, **ls_options}
    )
    project = ProjectConfig(name="proj", label_studio=ls)
    storage = sync_helpers.storage_for(store, prefix="images/", url_ttl="1d")
    return Loop(dsn, store, storage, project, LabelStudioClient(label_studio.url, label_studio.token), tmp_path)


def fetch(url: str) -> tuple[int, bytes]:
    answer = httpx.get(url, timeout=10)
    return answer.status_code, answer.content
