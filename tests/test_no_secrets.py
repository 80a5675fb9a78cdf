"""Sync, rotate, export and the compliance checks on every cloud: signed URLs are stored, and never
reach logs (at any level, from any SDK logger), XCom, exports, error text or the CLI's output,
whether the job succeeds or fails half-way (issues 17 and 20)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from labelbridge import secrets
from labelbridge.clouds import Cloud
from labelbridge.errors import LabelbridgeError
from labelbridge.operators import rotate as rotate_operators
from labelbridge.operators.export import EXPORT_OPERATORS
from labelbridge.operators.rotate import RotateUrlsOperator
from labelbridge.operators.sync import SYNC_OPERATORS
from labelbridge.storage import ObjectStore
from tests.conftest import CLOUDS, StoreFactory, unique_bucket
from tests.sync.helpers import rows

SECRET_MARKERS = secrets.SECRET_MARKERS
BIN = Path(sys.executable).parent
#: An Authorization value printed unredacted, in any form the SDKs log it.
AUTH_VALUE = re.compile(
    r"(SharedKey(?:Lite)? +[^\s:'\"]+:(?!REDACTED)|Bearer +(?!REDACTED)\S{8}|AWS4-HMAC-SHA256 +(?!REDACTED))"
)


def signature_values(urls: list[str]) -> list[str]:
    """Each stored URL's query string and the value of every signature parameter in it."""
    names = {p.lower() for params in secrets.SIGNATURE_PARAMS.values() for p in params}
    values = [urlsplit(url).query for url in urls]
    for url in urls:
        values += [v for k, v in parse_qsl(urlsplit(url).query) if k.lower() in names]
    return values


def leaks(text: str, urls: list[str]) -> list[str]:
    found = [m for m in SECRET_MARKERS if m in text] + AUTH_VALUE.findall(text)
    return found + [f"signature of a stored URL: {v[:6]}..." for v in signature_values(urls) if v in text]


def write_config(path: Path, cloud: Cloud, bucket: str, *, logs_bucket: str | None = None, **storage: str) -> Path:
    kind = "sas_kind: account_key, " if cloud is Cloud.AZURE else ""
    extra = "".join(f", {k}: {v}" for k, v in storage.items())
    text = (
        "projects: [{name: p}]\nstorages:\n"
        f"  - {{name: imgs, project: p, cloud: {cloud.value}, bucket: {bucket}, prefix: img/,"
        f" {kind}url_ttl: 2h{extra}}}\n"
        f"  - {{name: files, project: p, cloud: {cloud.value}, bucket: {bucket}, prefix: tasks/, "
        f"mode: task_files, {kind}url_ttl: 2h}}\n"
        "export_targets:\n"
        f"  - {{name: out, project: p, cloud: {cloud.value}, bucket: {bucket}, prefix: exports/, "
        "formats: [json, csv]}\n"
    )
    if logs_bucket:
        text += f"compliance:\n  access_logs:\n    - {{name: logs, bucket: {logs_bucket}, prefix: access/}}\n"
    path.write_text(text)
    return path


def fill(store: ObjectStore) -> None:
    store.write("img/a.jpg", b"pixels")
    store.write("tasks/t.json", json.dumps([{
        "data": {"image": store.uri("img/a.jpg")},
        "annotations": [{"result": [{"type": "choices", "from_name": "c", "to_name": "image",
                                     "value": {"choices": ["cat"]}}]}],
    }]).encode())


def signing_make_store(gcs_signer: object) -> Callable[..., ObjectStore]:
    """``make_store`` whose GCS stores sign with the test's key: the emulator's connection is
    anonymous, and a keyfile connection would ask oauth2.googleapis.com for a token."""
    from labelbridge.connections import make_store

    def make(entry: Any, **kwargs: Any) -> ObjectStore:
        store = make_store(entry, **kwargs)
        if entry.cloud is Cloud.GCS:
            store.signing_credentials = gcs_signer  # type: ignore[attr-defined]
        return store

    return make


def stored_urls(dsn: str) -> list[str]:
    return [url for (url,) in rows(dsn, "SELECT url FROM task_url")]


@pytest.mark.parametrize("cloud", CLOUDS, ids=[c.value for c in CLOUDS])
def test_signed_urls_stay_in_the_database(
    cloud: Cloud,
    new_store: StoreFactory,
    gcs_signer: object,
    labeling_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = new_store(cloud)
    fill(store)
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(write_config(tmp_path / "storages.yaml", cloud, store.bucket)))
    monkeypatch.setattr(rotate_operators, "make_store", signing_make_store(gcs_signer))
    caplog.set_level(logging.DEBUG)

    xcom = [
        SYNC_OPERATORS[cloud](task_id="sync", storage="imgs", prefix="img/").execute(context={}),
        SYNC_OPERATORS[cloud](task_id="sync", storage="files", prefix="tasks/").execute(context={}),
        RotateUrlsOperator(task_id="rotate", storage="imgs").execute(context={}),
        *(EXPORT_OPERATORS[cloud](task_id=f"export_{f}", target="out", fmt=f, run_key="r1").execute(context={})
          for f in ("json", "csv")),
    ]

    stored = stored_urls(labeling_dsn)
    assert len(stored) == 2 and all(any(m in url for m in SECRET_MARKERS) for url in stored)
    exported = b"".join(store.read_bytes(o.key) for o in store.iter_objects("exports/")).decode()
    assert "result.json" in " ".join(o.key for o in store.iter_objects("exports/"))
    captured = capsys.readouterr()
    for where, text in {
        "logs": caplog.text + captured.out + captured.err,
        "xcom": json.dumps(xcom, default=str),
        "exports": exported,
    }.items():
        leaked = [m for m in SECRET_MARKERS if m in text] + [u for u in stored if u.split("?")[1] in text]
        assert leaked == [], f"secrets in {where}: {leaked}"


def run_cli(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``labelbridge -v ARGV`` as a user runs it: DEBUG logging configured by the CLI itself."""
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    return subprocess.run(
        [str(BIN / "labelbridge"), "-v", *argv],
        capture_output=True, text=True, env={**env, "LABELBRIDGE_CONFIG": str(config)}, timeout=300,
    )


def assert_no_secret(runs: dict[str, subprocess.CompletedProcess[str]], urls: list[str]) -> None:
    for what, run in runs.items():
        # 0 or 1 (a compliance gate), or 2 with its error line: never an uncaught exception.
        assert run.returncode in (0, 1, 2), f"{what}: {run.stderr[-2000:]}"
        leaked = leaks(run.stdout + run.stderr, urls)
        assert leaked == [], f"{what} printed {leaked}"


def error_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    """The CLI's error lines (Airflow logs a line or two at DEBUG after it, at exit)."""
    return [line for line in run.stderr.splitlines() if line.startswith("labelbridge: error: ")]


@pytest.mark.parametrize("cloud", CLOUDS, ids=[c.value for c in CLOUDS])
def test_every_job_at_debug_prints_no_secret(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, tmp_path: Path
) -> None:
    store = new_store(cloud)
    fill(store)
    logs = new_store(Cloud.S3) if cloud is Cloud.S3 else None
    config = write_config(tmp_path / "storages.yaml", cloud, store.bucket, logs_bucket=logs and logs.bucket)
    runs = {
        "sync imgs": run_cli(config, "sync", "imgs"),
        "sync files": run_cli(config, "sync", "files"),
        "rotate": run_cli(config, "rotate", "imgs"),
        "export": run_cli(config, "export", "out", "--run-key", "r1"),
        "check-buckets": run_cli(config, "compliance", "check-buckets", "--storage", "imgs"),
    }
    if logs is not None:
        runs["logs-audit"] = run_cli(config, "compliance", "logs-audit", "--day", "2025-01-02")
    urls = stored_urls(labeling_dsn)
    # What each job must have done, so the grep below reads real output: the SDKs logged their
    # requests at DEBUG, and a GCS rotation through the emulator's anonymous connection cannot sign.
    assert [runs[j].returncode for j in ("sync imgs", "sync files", "export")] == [0, 0, 0]
    if cloud is Cloud.GCS:
        assert runs["rotate"].returncode == 2 and urls == []
        [line] = error_lines(runs["rotate"])
        assert line.startswith("labelbridge: error: GCSStore(") and "cannot sign URLs" in line
    else:
        assert runs["rotate"].returncode == 0 and urls != []
    debug = "".join(run.stderr for run in runs.values())
    # botocore prints each request with its headers; WasbHook keeps azure-core's request log at
    # WARNING, and the GCS client has none: urllib3's request lines are theirs.
    assert {Cloud.S3: "'Authorization': b'REDACTED'", Cloud.GCS: "urllib3", Cloud.AZURE: "urllib3"}[cloud] in debug
    assert_no_secret(runs, urls)


@pytest.mark.parametrize("cloud", CLOUDS, ids=[c.value for c in CLOUDS])
def test_jobs_failing_half_way_print_no_secret(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(cloud)
    fill(store)
    good = write_config(tmp_path / "good.yaml", cloud, store.bucket)
    assert run_cli(good, "sync", "imgs").returncode == 0
    # Rotation signs, then its canary fetches a URL, which Azurite refuses: signed with another
    # account key (moto serves any signature; the anonymous GCS connection cannot sign at all).
    forged = forged_key_connection(cloud, monkeypatch)
    locked = write_config(tmp_path / "locked.yaml", cloud, store.bucket, **forged)
    missing = unique_bucket("gone")
    gone = write_config(tmp_path / "gone.yaml", cloud, missing, logs_bucket=missing if cloud is Cloud.S3 else None)
    runs = {
        "rotate refused": run_cli(locked, "rotate", "imgs"),
        "sync": run_cli(gone, "sync", "imgs"),
        "export": run_cli(gone, "export", "out", "--run-key", "r1"),
        "check-buckets": run_cli(gone, "compliance", "check-buckets"),
    }
    if cloud is Cloud.S3:
        runs["logs-audit"] = run_cli(gone, "compliance", "logs-audit", "--day", "2025-01-02")
    urls = stored_urls(labeling_dsn)
    for job in ("sync", "export", *(("logs-audit",) if cloud is Cloud.S3 else ())):
        assert runs[job].returncode == 2
        [line] = error_lines(runs[job])
        assert line.startswith(f"labelbridge: error: {store.scheme}://{missing}: ")
    if cloud is Cloud.AZURE:
        assert runs["rotate refused"].returncode == 2
        [line] = error_lines(runs["rotate refused"])
        assert "answered HTTP 403; the new URLs do not work" in line
    assert_no_secret(runs, urls)


def forged_key_connection(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """On Azure, a connection to Azurite's account with another key (``conn_id`` for storages.yaml)."""
    if cloud is not Cloud.AZURE:
        return {}
    import base64

    from devservices import AZURITE_KEY

    connection_string = os.environ["AZURITE_CONNECTION_STRING"].replace(
        AZURITE_KEY, base64.b64encode(b"not the account key".ljust(64, b".")).decode()
    )
    monkeypatch.setenv("AIRFLOW_CONN_WASB_FORGED", json.dumps({"conn_type": "wasb", "extra": {
        "connection_string": connection_string}}))
    return {"conn_id": "wasb_forged"}


def test_a_failed_rotation_raises_and_logs_no_secret(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In an Airflow task the whole exception, chained causes and all, reaches the task log."""
    store = new_store(Cloud.AZURE)
    fill(store)
    good = write_config(tmp_path / "good.yaml", Cloud.AZURE, store.bucket)
    forged = write_config(tmp_path / "forged.yaml", Cloud.AZURE, store.bucket, **forged_key_connection(
        Cloud.AZURE, monkeypatch))
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(good))
    SYNC_OPERATORS[Cloud.AZURE](task_id="sync", storage="imgs", prefix="img/").execute(context={})
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(forged))
    with pytest.raises(LabelbridgeError) as failed:
        RotateUrlsOperator(task_id="rotate", storage="imgs", canary_size=1).execute(context={})
    text = "".join(traceback.format_exception(failed.value)) + caplog.text
    assert "answered HTTP 403" in str(failed.value)
    assert leaks(text, stored_urls(labeling_dsn)) == []


@pytest.mark.parametrize(
    ("logger", "message", "shown"),
    [
        ("botocore.endpoint",
         "Sending http request: <AWSPreparedRequest method=GET, headers={'Authorization': b'AWS4-HMAC-SHA256 "
         "Credential=AKIDEXAMPLE/20250102/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=5d67a1f0'}>",
         "Sending http request: <AWSPreparedRequest method=GET, headers={'Authorization': b'REDACTED'}>"),
        ("azure.core.pipeline.policies._universal",
         "Request headers:\n    Authorization: SharedKey devstoreaccount1:q8Yh2Gd+/vW0=\n    x-ms-version: 2025-01-05",
         "Request headers:\n    Authorization: REDACTED\n    x-ms-version: 2025-01-05"),
        ("google.auth.transport.requests", "retrying with token Bearer ya29.a0AfH6SMBx",
         "retrying with token Bearer REDACTED"),
        ("urllib3.connectionpool", 'http://127.0.0.1:1 "GET /c/b.jpg?se=2025-01-02&sp=r&sig=AbC%2F HTTP/1.1" 200 1',
         'http://127.0.0.1:1 "GET /c/b.jpg?REDACTED&REDACTED&REDACTED HTTP/1.1" 200 1'),
        ("botocore.auth", "Signature:\n5d67a1f0", None),
    ],
    ids=["sigv4-header", "sharedkey", "bearer", "sas-path", "signing-detail"],
)
def test_the_log_filter_redacts_every_sdks_credentials(logger: str, message: str, shown: str | None) -> None:
    record = logging.LogRecord(logger, logging.DEBUG, __file__, 1, "%s", (message,), None)
    kept = secrets.RedactingFilter().filter(record)
    assert (record.getMessage() if kept else None) == shown


def test_the_log_filter_redacts_a_logged_traceback() -> None:
    try:
        raise RuntimeError("GET https://a.blob.core.windows.net/c/b?sv=1&sig=AbC%2F failed")
    except RuntimeError:
        record = logging.LogRecord("azure", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    secrets.RedactingFilter().filter(record)
    assert record.exc_info is None and "sig=" not in record.getMessage()
    assert record.getMessage().endswith("RuntimeError: GET https://a.blob.core.windows.net/c/b?REDACTED failed")
