"""A local directory behaves as a bucket for export: prefixes, sizes and keys that try to leave it."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelbridge.errors import StorageError
from labelbridge.export.writer import DirectoryTarget

KEYS = ["run/manifest.json", "run/labels/a/1.txt", "run/labels/a/2.txt", "run/labels/b.txt", "run/labelsx/c.txt",
        "run/classes.txt", "other/run/x.txt"]


@pytest.fixture
def target(tmp_path: Path) -> DirectoryTarget:
    target = DirectoryTarget(tmp_path)
    for size, key in enumerate(KEYS, start=1):
        target.write(key, b"x" * size)
    return target


@pytest.mark.parametrize("prefix", ["", "run/", "run/labels", "run/labels/", "run/labels/a/1", "run/manifest.json",
                                    "run/c", "missing/", "run/labels/a/1.txt/"])
def test_a_prefix_lists_what_a_bucket_would_in_key_order_with_sizes(target: DirectoryTarget, prefix: str) -> None:
    listed = [(o.key, o.size_bytes) for o in target.iter_objects(prefix)]
    expected = sorted((key, KEYS.index(key) + 1) for key in KEYS if key.startswith(prefix))
    assert sorted(listed) == expected
    # Within a folder, names come in order; deeper folders after the files beside them.
    in_a = [key for key, _ in listed if key.startswith("run/labels/a/")]
    assert in_a == sorted(in_a)


def test_keys_that_leave_the_directory_are_refused_even_beside_a_folder_already_written(
    target: DirectoryTarget, tmp_path: Path
) -> None:
    for key in ["run/labels/a/../../../../escape.txt", "/etc/passwd", "../escape.txt",
                "run/labels/a/../../../.."]:
        with pytest.raises(StorageError, match="leaves"):
            target.write(key, b"no")
    assert not (tmp_path.parent / "escape.txt").exists()
    target.write("run/labels/a/../b/3.txt", b"ok")  # normalised, inside: allowed
    assert (tmp_path / "run/labels/b/3.txt").read_bytes() == b"ok"
