"""What the CLI prints for names and errors a bucket can produce (issue 20, items 4 and 5).

A key may hold a newline, a carriage return, a tab, ESC or a bidi override: text output shows
each escaped, on the object's own line; JSON output gives the exact name back. A request the
cloud refuses is one ``labelbridge: error:`` line naming the storage, the operation, the key and
the cloud's error code, with exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelbridge import cli
from labelbridge.config import Cloud
from labelbridge.storage import ObjectStore, store_class
from tests.cli.test_commands import keep_pytest_logging, output
from tests.conftest import CLOUDS, StoreFactory, unique_bucket

__all__ = ["keep_pytest_logging"]  # the fixture, used here too

#: Characters that could forge or hide a line, each with how text output shows it: line breaks
#: (newline, carriage return, NEL, the Unicode line separator), a tab, DEL, ESC (a terminal's
#: colour and title sequences), BEL, a right-to-left override, and a backslash (doubled, so an
#: escape in the output always stands for one in the name).
SHOWN = {
    "\n": "\\n", "\r": "\\r", "\x85": "\\x85", "\u2028": "\\u2028", "\t": "\\t", "\x7f": "\\x7f",
    "\x1b": "\\x1b", "\x07": "\\x07", "\u202e": "\\u202e", "\\": "\\\\",
}
#: What each emulator stores and lists back. moto answers 404 to a PUT whose key holds a newline
#: (real S3 takes it); Azurite fails its listing (HTTP 500) once a name holds ESC or BEL (real
#: Azure sends such names encoded), and Azure turns a backslash into "/".
ACCEPTED = {
    Cloud.S3: [c for c in SHOWN if c != "\n"],
    Cloud.GCS: list(SHOWN),
    Cloud.AZURE: [c for c in SHOWN if c not in ("\x1b", "\x07", "\\")],
}


def hostile_keys(cloud: Cloud) -> dict[str, str]:
    """One key per character the cloud's emulator takes, with the key as text output shows it."""
    forged = "s3://other-bucket/fake.jpg"  # what a newline would make look like another object
    return {f"img/{i}{c}{forged}": f"img/{i}{SHOWN[c]}{forged}" for i, c in enumerate(ACCEPTED[cloud])}


#: The name of a storage whose bucket does not exist, by cloud: what each cloud's SDK answers.
MISSING_BUCKET_CODES = {
    Cloud.S3: "NoSuchBucket (HTTP 404)",
    Cloud.GCS: "NotFound (HTTP 404)",
    Cloud.AZURE: "ContainerNotFound (HTTP 404)",
}


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: Cloud, bucket: str) -> None:
    path = tmp_path / "storages.yaml"
    path.write_text(
        "projects: [{name: p}]\nstorages:\n"
        f"  - {{name: imgs, project: p, cloud: {cloud.value}, bucket: {bucket}, prefix: img/}}\n"
        f"  - {{name: files, project: p, cloud: {cloud.value}, bucket: {bucket}, prefix: tasks/, "
        "mode: task_files, fail_on_quarantine: false}\n"
        "export_targets:\n"
        f"  - {{name: out, project: p, cloud: {cloud.value}, bucket: {bucket}, prefix: exports/, formats: [json]}}\n"
    )
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(path))


@pytest.fixture
def hostile_store(
    cloud: Cloud, new_store: StoreFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ObjectStore:
    store = new_store(cloud)
    for key in hostile_keys(cloud):
        store.write(key, b"x")
    # A malformed task file, quarantined under a name holding every character at once.
    store.write("tasks/" + "".join(ACCEPTED[cloud]) + ".json", b"[")
    _config(tmp_path, monkeypatch, cloud, store.bucket)
    return store


def test_ls_prints_each_hostile_key_escaped_on_its_own_line(
    hostile_store: ObjectStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["ls", "imgs"]) == 0
    lines = output(capsys)
    prefix = f"{hostile_store.scheme}://{hostile_store.bucket}/"
    shown = hostile_keys(hostile_store.cloud).values()
    assert sorted(line.split("  ")[-1] for line in lines) == sorted(prefix + key for key in shown)


def test_ls_json_gives_the_exact_names_back(hostile_store: ObjectStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ls", "imgs", "--json"]) == 0
    listed = [json.loads(line) for line in output(capsys)]
    assert sorted(o["uri"] for o in listed) == sorted(hostile_store.uri(k) for k in hostile_keys(hostile_store.cloud))


def test_sync_dry_run_and_quarantine_list_escape_names(
    hostile_store: ObjectStore, labeling_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"{hostile_store.scheme}://{hostile_store.bucket}/"
    assert cli.main(["sync", "imgs", "--dry-run"]) == 0
    shown_keys = hostile_keys(hostile_store.cloud).values()
    assert sorted(output(capsys)) == sorted(f"would insert {prefix}{key}" for key in shown_keys)

    assert cli.main(["sync", "files"]) == 0
    capsys.readouterr()
    assert cli.main(["quarantine", "list"]) == 0
    shown = "tasks/" + "".join(SHOWN[c] for c in ACCEPTED[hostile_store.cloud]) + ".json"
    entry, reason = output(capsys)
    assert entry.startswith(f"files  {prefix}{shown}  (since ")
    assert reason == f"    {shown}: line 1 column 2: invalid JSON: Expecting value"


@pytest.mark.parametrize("cloud", CLOUDS, ids=[c.value for c in CLOUDS])
def test_a_request_the_cloud_refuses_is_one_error_line(
    cloud: Cloud, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], services: object,
) -> None:
    missing = unique_bucket("gone")
    _config(tmp_path, monkeypatch, cloud, missing)
    storage = f"{store_class(cloud).scheme}://{missing}"
    code = MISSING_BUCKET_CODES[cloud]
    expected = {
        ("ls", "imgs"): f'{storage}: list prefix "img/" failed: {code}',
        ("sync", "imgs"): f'{storage}: list prefix "img/" failed: {code}',
        # An export first clears what an earlier attempt of its run left: S3 deletes a missing
        # object without error only inside an existing bucket; GCS and Azure say nothing until the listing.
        ("export", "out", "--run-key", "r1"): (
            f'{storage}: delete "exports/p/json/r1/manifest.json" failed: {code}'
            if cloud is Cloud.S3
            else f'{storage}: list prefix "exports/p/json/r1/" failed: {code}'
        ),
    }
    for argv, message in expected.items():
        assert cli.main(list(argv)) == 2
        assert capsys.readouterr().err.splitlines()[-1] == f"labelbridge: error: {message}"
