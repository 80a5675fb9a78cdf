"""A local directory as export target: a bucket's prefixes, keys that try to leave it, the writer process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelbridge.errors import ExportError, StorageError
from labelbridge.export import convert_file
from labelbridge.export.directory import DirectoryTarget
from labelbridge.export.output import RunOutput, Tally
from tests.export.fixtures import export_file_tasks

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
    # Verification's cheaper listing holds the same files, in any order.
    assert sorted(target.iter_sizes(prefix)) == expected


@pytest.mark.parametrize("damage", ["truncate", "remove", "rename", "add"])
def test_verification_of_a_directory_catches_a_file_changed_after_it_was_written(tmp_path: Path, damage: str) -> None:
    target = DirectoryTarget(tmp_path)
    out = RunOutput(target, "run/", writer_threads=0)
    for i in range(50):
        out.write_bytes(f"labels/{i % 3}/{i}.txt", b"0 0.5 0.5 0.1 0.1\n" * (i % 4), tally=Tally(tasks=1))
    out.flush()
    out.verify()  # as written: passes
    victim = tmp_path / "run/labels/1/10.txt"
    if damage == "truncate":
        victim.write_bytes(b"0 0.5")
    elif damage == "remove":
        victim.unlink()
    elif damage == "rename":
        victim.rename(tmp_path / "run/labels/1/11x.txt")
    else:
        (tmp_path / "run/labels/2/extra.txt").write_bytes(b"")
    with pytest.raises(ExportError, match=r"^run/: verification failed"):
        out.verify()
    out.close()


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


def test_small_files_handed_to_the_writer_process_land_whole(tmp_path: Path) -> None:
    target = DirectoryTarget(tmp_path)
    files = {f"labels/{i % 7}/{i}.txt": f"{i} 0.5 0.5\n".encode() * (i % 5) for i in range(3000)}
    files["big.bin"] = bytes(range(256)) * 8192  # larger than one hand-over to the process
    for key, data in files.items():
        target.write_later(key, data)
    target.finish_writes()
    assert {o.key: o.size_bytes for o in target.iter_objects()} == {k: len(v) for k, v in files.items()}
    assert all((tmp_path / key).read_bytes() == data for key, data in files.items())
    target.finish_writes()  # nothing pending: a no-op


def test_a_file_the_writer_process_cannot_write_fails_with_its_key(tmp_path: Path) -> None:
    target = DirectoryTarget(tmp_path)
    (tmp_path / "labels/b.txt").mkdir(parents=True)  # a folder where a file must go
    for key in ["labels/a.txt", "labels/b.txt", "labels/c.txt"]:
        target.write_later(key, b"0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(StorageError, match=r"^labels/b\.txt: upload failed: IsADirectoryError"):
        target.finish_writes()
    assert (tmp_path / "labels/a.txt").read_bytes() == b"0 0.5 0.5 0.1 0.1\n"
    assert not (tmp_path / "labels/c.txt").exists()  # the writer stops at the first failure
    target.write_later("labels/d.txt", b"again")  # a later run starts a new writer
    target.finish_writes()
    assert (tmp_path / "labels/d.txt").read_bytes() == b"again"


def test_a_convert_run_whose_file_fails_writes_no_manifest(tmp_path: Path) -> None:
    tasks_file = tmp_path / "tasks.json"
    tasks_file.write_text(json.dumps(export_file_tasks()))
    out = tmp_path / "out"
    (out / "labels/images/dog2.txt").mkdir(parents=True)  # where task 2's label file must go
    (out / "manifest.json").write_text("{}")  # an earlier convert output, so convert may write here
    with pytest.raises(StorageError, match=r"^labels/images/dog2\.txt: upload failed"):
        convert_file(tasks_file, out, fmt="yolo")
    assert not (out / "manifest.json").exists()


def test_a_failure_found_while_handing_over_more_files_fails_with_the_first_key(tmp_path: Path) -> None:
    """The child stops at its first failure; files handed over after that must raise it, not hang or recurse."""
    target = DirectoryTarget(tmp_path)
    (tmp_path / "labels/0.txt").mkdir(parents=True)
    with pytest.raises(StorageError, match=r"^labels/0\.txt: upload failed: IsADirectoryError"):
        for i in range(4000):  # about 4 MiB: more than the pipe holds once the child has stopped
            target.write_later(f"labels/{i}.txt", b"x" * 1000)
        target.finish_writes()
    target.abandon_writes()
    assert not (tmp_path / "labels/3999.txt").exists()
