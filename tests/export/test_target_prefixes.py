"""An export target's prefix stays inside its bucket's own folder: storages.yaml refuses one that would
climb out of it or cover a source storage, naming file, entry and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelbridge.config import load_config

HEAD = (
    "projects:\n  - name: p\n"
    "storages:\n"
    "  - {name: tasks, project: p, cloud: s3, bucket: b, prefix: tasks/}\n"
    "  - {name: daily, project: p, cloud: s3, bucket: b, prefix: 'scans/{{ ds_nodash }}/'}\n"
    "export_targets:\n"
)


def load(tmp_path: Path, prefix: str, *, cloud: str = "s3", bucket: str = "b") -> tuple[list[str], list[str]]:
    path = tmp_path / "storages.yaml"
    path.write_text(HEAD + f"  - {{name: out, project: p, cloud: {cloud}, bucket: {bucket}, prefix: {prefix}}}\n")
    config = load_config(path)
    return [str(p).removeprefix(f"{path}: ") for p in config.problems], list(config.export_targets)


@pytest.mark.parametrize(
    ("prefix", "why"),
    [
        ("/exports/", "'/exports/' must be relative to the bucket: drop the leading '/'"),
        ("../x/", "'../x/' holds a '.' or '..' segment; name the folder itself"),
        ("exports/../tasks/", "'exports/../tasks/' holds a '.' or '..' segment; name the folder itself"),
        ("exports/./", "'exports/./' holds a '.' or '..' segment; name the folder itself"),
        ("exports//x/", "'exports//x/' holds an empty segment ('//')"),
        ("exports\\n/", "'exports\\n/' holds a control character"),
    ],
    ids=["absolute", "parent", "parent-inside", "dot", "empty-segment", "newline"],
)
def test_a_prefix_that_leaves_its_folder_is_refused(tmp_path: Path, prefix: str, why: str) -> None:
    problems, targets = load(tmp_path, f'"{prefix}"')

    assert problems == [f"export_targets[0] 'out': field 'prefix': {why}"]
    assert targets == []


@pytest.mark.parametrize("prefix", ["", "tasks/", "tas", "scans/"])
def test_a_prefix_covering_a_source_storage_is_refused(tmp_path: Path, prefix: str) -> None:
    problems, targets = load(tmp_path, f"'{prefix}'")

    covered = ", ".join(
        repr(name) for name, source in (("tasks", "tasks/"), ("daily", "scans/")) if source.startswith(prefix)
    )
    assert problems == [
        f"export_targets[0] 'out': field 'prefix': {prefix!r} on s3 bucket 'b' covers source storage(s) {covered}; "
        "an export there would land among their tasks: choose a prefix outside them"
    ]
    assert targets == []


@pytest.mark.parametrize(
    ("prefix", "where"),
    [("exports/", {}), ("tasks/exports/", {}), ("''", {"bucket": "other"}), ("''", {"cloud": "gcs"})],
    ids=["beside", "inside-a-source", "other-bucket", "other-cloud"],
)
def test_a_prefix_beside_or_inside_a_source_loads(tmp_path: Path, prefix: str, where: dict[str, str]) -> None:
    # Inside a source's prefix is fine: that source's sync skips the export folder.
    problems, targets = load(tmp_path, prefix, **where)

    assert problems == []
    assert targets == ["out"]
