"""Per-image files (YOLO labels, VOC annotations) are named after image paths from task data, which
may hold anything a cloud accepts: each name an export writes stays inside the run's folder on every
cloud and on disk, and no two images share one (issue 20)."""

from __future__ import annotations

import copy
import re

import pytest

from labelbridge.config import Cloud
from labelbridge.export import export_target
from labelbridge.export.formats.base import MAX_IMAGE_PATH_BYTES, image_file_stem
from tests.conftest import StoreFactory
from tests.export.conftest import seed, target_config
from tests.export.fixtures import TASKS

HOSTILE_PATHS = [
    "../../../../tmp/x.jpg",
    "images/../../escape.jpg",
    "a/./b.jpg",
    "a//b.jpg",
    "dir./b.jpg",
    "trailing /b.jpg",
    "line\nbreak.jpg",
    "tab\there.jpg",
    "..\\..\\windows.jpg",
    "_renamed/0123/x.jpg",
    "images/",
    "長" * 300 + ".jpg",
]
ORDINARY = ["images/cat.jpg", "images/sub dir/dog.png", ".hidden.jpg", "x.tar.gz", "猫/ねこ.jpg"]
# What a safe key looks like: relative, no empty/./.. segment, none ending in a dot or space, no control
# character or backslash.
_SAFE = re.compile(r"(?!/)(?:(?:[^/\x00-\x1f\x7f-\x9f\\]*[^/\x00-\x1f\x7f-\x9f\\. ])/)*[^/\x00-\x1f\x7f-\x9f\\]+")


def _stem(path: str) -> str:
    head, slash, tail = path.rpartition("/")
    return f"{head}{slash}{tail.rsplit('.', 1)[0] if '.' in tail.lstrip('.') else tail}"


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_a_hostile_image_path_gets_a_safe_renamed_file(path: str) -> None:
    name = image_file_stem(path)

    assert name.startswith("_renamed/") and _SAFE.fullmatch(name)
    assert len(name.encode()) <= MAX_IMAGE_PATH_BYTES
    assert name == image_file_stem(path)  # the same image gets the same file on every run


@pytest.mark.parametrize("path", ORDINARY)
def test_an_ordinary_image_path_keeps_its_mirror(path: str) -> None:
    assert image_file_stem(path) == _stem(path)


def test_no_two_paths_share_a_file() -> None:
    # Near misses too: a hostile path with one more character, and an ordinary path spelled like a
    # renamed file.
    paths = [*HOSTILE_PATHS, *ORDINARY, *(p + "x" for p in HOSTILE_PATHS),
             *(image_file_stem(p) + ".jpg" for p in HOSTILE_PATHS)]
    stems = {_stem(p) for p in paths}

    assert len({image_file_stem(p) for p in paths}) == len(stems)


@pytest.mark.parametrize("fmt", ["yolo", "voc"])
def test_an_export_of_hostile_image_names_writes_only_safe_distinct_keys(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, fmt: str
) -> None:
    tasks = []
    for path in HOSTILE_PATHS + ORDINARY:
        task = copy.deepcopy(TASKS[0])
        task["data"]["image"] = f"s3://bkt/{path}"
        tasks.append(task)
    seed(labeling_dsn, tasks)
    store = new_store(cloud)

    target = target_config(cloud, store.bucket, formats=(fmt,))

    result = export_target(labeling_dsn, store, target=target, fmt=fmt, run_key="r1")

    folder = {"yolo": "labels/", "voc": "Annotations/"}[fmt]
    keys = [o.key.removeprefix(result.run_prefix) for o in store.iter_objects(result.run_prefix)]
    per_image = [k for k in keys if k.startswith(folder)]
    assert len(per_image) == len(tasks)
    assert all(_SAFE.fullmatch(key) for key in keys), [k for k in keys if not _SAFE.fullmatch(k)]
    ordinary = {f"{folder}{_stem(p)}.{'txt' if fmt == 'yolo' else 'xml'}" for p in ORDINARY}
    assert ordinary <= set(per_image)
