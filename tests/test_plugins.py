"""The UI plugin without a running stack: extra links on the emulators, the report view, task summaries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pendulum
import pytest
from fastapi.testclient import TestClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

from labelbridge.compliance.report import StoreReportSink, write_report
from labelbridge.compliance.report.sink import LocalReportSink, ReportSink
from labelbridge.config import Cloud
from labelbridge.connections import make_client
from labelbridge.operators.compliance import ComplianceReportOperator
from labelbridge.operators.links import (
    BucketConsoleLink,
    ComplianceReportLink,
    bucket_console_url,
    report_link_from_xcom,
)
from labelbridge.operators.sync import GCSSyncOperator, S3SyncOperator
from labelbridge.ui.app import REPORT_HEADERS, create_app, summary_line
from tests.conftest import DEFAULT_CONN_IDS, StoreFactory

# Links: the cloud consoles ------------------------------------------------------------------


def test_s3_link_goes_to_the_console_of_the_bucket_prefix_in_its_region() -> None:
    client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    assert bucket_console_url(Cloud.S3, client, "images", "incoming/2025 01/") == (
        "https://console.aws.amazon.com/s3/buckets/images?region=eu-west-1&prefix=incoming%2F2025+01%2F"
        "&showversions=false"
    )


def test_s3_link_in_china_uses_that_partition_console() -> None:
    client = boto3.client("s3", region_name="cn-north-1", aws_access_key_id="k", aws_secret_access_key="s")
    assert bucket_console_url(Cloud.S3, client, "b", "").startswith("https://console.amazonaws.cn/s3/buckets/b?")


def test_gcs_link_goes_to_the_storage_browser_with_the_project() -> None:
    client = gcs.Client(project="vision-labels", credentials=AnonymousCredentials(),
                        client_options={"api_endpoint": "https://storage.googleapis.com"})
    assert bucket_console_url(Cloud.GCS, client, "images", "incoming/") == (
        "https://console.cloud.google.com/storage/browser/images/incoming/?project=vision-labels"
    )


def test_azure_link_goes_to_the_portal_storage_accounts() -> None:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient("https://labels.blob.core.windows.net/")
    assert bucket_console_url(Cloud.AZURE, client, "images", "x/") == (
        "https://portal.azure.com/#browse/Microsoft.Storage%2FStorageAccounts"
    )


# Links on the emulators: the plain listing, never signed ------------------------------------


@pytest.mark.parametrize("cloud", [Cloud.S3, Cloud.GCS], ids=["s3", "gcs"])
def test_emulator_link_lists_the_prefix_over_plain_http(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud)
    store.write("incoming/20250101/a.jpg", b"jpeg")
    store.write("other/b.jpg", b"jpeg")
    url = bucket_console_url(cloud, make_client(cloud, DEFAULT_CONN_IDS[cloud]), store.bucket, "incoming/20250101/")

    assert url.startswith("http://127.0.0.1:")
    assert "Signature" not in url and "sig=" not in url
    listing = httpx.get(url, timeout=10)
    assert listing.status_code == 200
    assert "incoming/20250101/a.jpg" in listing.text
    assert "other/b.jpg" not in listing.text


def test_azurite_link_is_the_container_listing_url(new_store: StoreFactory) -> None:
    store = new_store(Cloud.AZURE)
    url = bucket_console_url(Cloud.AZURE, make_client(Cloud.AZURE, "wasb_default"), store.bucket, "in/")
    assert url.endswith(f"/devstoreaccount1/{store.bucket}?restype=container&comp=list&prefix=in%2F")


# The links as the operators carry them ------------------------------------------------------


def _storages_yaml(tmp_path: Path, bucket: str, cloud: Cloud = Cloud.S3) -> str:
    path = tmp_path / "storages.yaml"
    path.write_text(
        f"projects: [{{name: p}}]\nstorages:\n  - name: images\n    project: p\n    cloud: {cloud.value}\n"
        f"    conn_id: {DEFAULT_CONN_IDS[cloud]}\n    bucket: {bucket}\n    prefix: all/\n"
    )
    return str(path)


def test_sync_operator_link_names_the_rendered_prefix(new_store: StoreFactory, tmp_path: Path) -> None:
    store = new_store(Cloud.S3)
    config = _storages_yaml(tmp_path, store.bucket)
    dated = S3SyncOperator(task_id="sync", storage="images", prefix="incoming/20250102/", config_path=config)
    plain = S3SyncOperator(task_id="sync", storage="images", config_path=config)

    (link,) = dated.operator_extra_links
    assert link.name == "Bucket"
    assert link.get_link(dated, ti_key=None).endswith(  # type: ignore[arg-type]
        f"/{store.bucket}?list-type=2&prefix=incoming%2F20250102%2F"
    )
    assert link.get_link(plain, ti_key=None).endswith("&prefix=all%2F")  # type: ignore[arg-type]


def test_sync_link_of_an_unknown_storage_is_empty_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    operator = GCSSyncOperator(task_id="sync", storage="gone", config_path=_storages_yaml(tmp_path, "b", Cloud.GCS))
    assert BucketConsoleLink().get_link(operator, ti_key=None) == ""  # type: ignore[arg-type]
    assert "No bucket link:" in caplog.text and "'gone'" in caplog.text


def test_report_link_points_at_the_plugin_view_of_the_reported_day(monkeypatch: pytest.MonkeyPatch) -> None:
    written = {"report": "s3://logs/compliance-reports/2026-11-22/compliance.json", "rows": 3}
    assert report_link_from_xcom(written) == "/labelbridge/reports/2026-11-22/compliance.html"
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    assert report_link_from_xcom(written) == "https://airflow.example.com/labelbridge/reports/2026-11-22/compliance.html"
    assert report_link_from_xcom(None) == ""
    assert report_link_from_xcom({"rows": 0}) == ""


def test_serialized_operators_carry_the_links_the_api_server_reads_from_xcom(tmp_path: Path) -> None:
    """The API server resolves links from the serialized DAG alone: name -> XCom key."""
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("links", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC")) as dag:
        S3SyncOperator(task_id="sync", storage="images")
        ComplianceReportOperator(task_id="report")
    serialized = DagSerialization.to_dict(dag)
    tasks = {t["__var"]["task_id"]: t["__var"] for t in serialized["dag"]["tasks"]}
    assert tasks["sync"]["_operator_extra_links"] == {"Bucket": "_link_BucketConsoleLink"}
    assert tasks["report"]["_operator_extra_links"] == {"Compliance report": "_link_ComplianceReportLink"}
    loaded = DagSerialization.from_dict(serialized)
    assert loaded.get_task("sync").extra_links == ["Bucket"]
    assert loaded.get_task("report").extra_links == ["Compliance report"]


def test_plugin_builds_its_app_once_read_from_the_class_or_an_instance() -> None:
    from labelbridge.ui.plugin import LabelbridgeUIPlugin

    # Airflow uses an entry-point plugin as an instance and a provider's plugin as the class itself.
    (app,) = LabelbridgeUIPlugin.fastapi_apps
    assert LabelbridgeUIPlugin().fastapi_apps == [app]
    assert (app["url_prefix"], app["name"], type(app["app"]).__name__) == ("/labelbridge", "labelbridge", "FastAPI")
    links = LabelbridgeUIPlugin.operator_extra_links
    assert [type(link) for link in links] == [BucketConsoleLink, ComplianceReportLink]
    assert [view["destination"] for view in LabelbridgeUIPlugin.external_views] == ["nav", "task_instance"]


# The report view -----------------------------------------------------------------------------


def _report(day: str) -> dict[str, Any]:
    row = {"status": "FAIL", "severity": "critical", "rule_id": "s3.block_public_access", "storage": "images",
           "role": "source", "resource": "s3://lb-imgs", "detail": "no Block Public Access", "remediation": "..."}
    return {"day": day, "fail_on": "critical", "generated_at": f"{day}T01:00:00+00:00", "rows": [row],
            "changes": {"previous_day": None},
            "summary": {"rows": 1, "pass": 0, "fail": 1, "error": 0, "waived": 0, "storages": 1, "gate": "fail",
                        "blocking": [row]}}


async def _allow(request: Any, dag_id: str, entity: str) -> None:
    return None


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    sink = LocalReportSink(tmp_path / "reports")
    for day in ("2026-11-21", "2026-11-22"):
        write_report([sink], _report(day))
    # Beside the report, for the night's tasks only: never served.
    sink.write("2026-11-22/parts/buckets/s3-lb-imgs.json", b'{"findings": []}', content_type="application/json")
    (tmp_path / "secret.txt").write_text("not a report")
    return tmp_path / "reports"


@pytest.fixture
def client(reports_dir: Path) -> Iterator[TestClient]:
    app = create_app(sinks=lambda: [LocalReportSink(reports_dir)], authorize=_allow, read_xcom=lambda *a: None)
    with TestClient(app) as test_client:
        yield test_client


def test_report_view_serves_the_days_html_with_its_rule_rows(client: TestClient, reports_dir: Path) -> None:
    page = client.get("/reports/2026-11-22/compliance.html")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content == (reports_dir / "2026-11-22" / "compliance.html").read_bytes()
    assert "s3.block_public_access" in page.text and "lb-imgs" in page.text
    for header, value in REPORT_HEADERS.items():
        assert page.headers[header] == value
    assert client.get("/reports/2026-11-22/compliance.json").json()["summary"]["gate"] == "fail"


def test_report_index_lists_days_newest_first_with_relative_links(client: TestClient) -> None:
    page = client.get("/reports/").text
    assert page.index('href="2026-11-22/compliance.html"') < page.index('href="2026-11-21/compliance.html"')


@pytest.mark.parametrize(
    "path",
    [
        "/reports/2026-11-22/parts%2Fbuckets%2Fs3-lb-imgs.json",
        "/reports/2026-11-22/..%2F..%2Fsecret.txt",
        "/reports/..%2F..%2Fsecret.txt/compliance.html",
        "/reports/2026-11-22/../../secret.txt",
        "/reports/..%2F2026-11-22/compliance.html",
        "/reports/2026-11-2/compliance.html",
    ],
)
def test_report_view_serves_nothing_but_report_files(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "not a report" not in response.text and "findings" not in response.text


def test_report_view_says_which_day_has_no_report(client: TestClient) -> None:
    response = client.get("/reports/2026-11-23/compliance.html")
    assert (response.status_code, response.json()["detail"]) == (404, "no compliance report for 2026-11-23")


def test_report_view_reads_a_report_kept_only_in_a_bucket(new_store: StoreFactory) -> None:
    store = new_store(Cloud.S3, prefix="")
    sinks: list[ReportSink] = [StoreReportSink(store, "compliance-reports/")]
    write_report(sinks, _report("2026-11-22"))
    app = create_app(sinks=lambda: sinks, authorize=_allow, read_xcom=lambda *a: None)
    with TestClient(app) as test_client:
        page = test_client.get("/reports/2026-11-22/compliance.html")
        index = test_client.get("/reports/").text
    assert page.status_code == 200 and "s3.block_public_access" in page.text
    assert 'href="2026-11-22/compliance.html"' in index


def test_report_view_without_credentials_is_401(reports_dir: Path) -> None:
    app = create_app(sinks=lambda: [LocalReportSink(reports_dir)], read_xcom=lambda *a: None)
    with TestClient(app) as test_client:
        response = test_client.get("/reports/2026-11-22/compliance.html")
    assert (response.status_code, response.json()["detail"]) == (401, "Not authenticated")


# Task summaries --------------------------------------------------------------------------------


def test_sync_task_summary_is_one_line_of_its_counts() -> None:
    # In the order PostgreSQL's JSONB gives the keys back.
    counts = {"listed": 9, "deleted": 0, "seconds": 1.234, "updated": 0, "inserted": 4, "restored": 0,
              "unchanged": 5, "quarantined": 0}
    assert summary_line(counts) == (
        "listed 9, inserted 4, updated 0, unchanged 5, deleted 0, restored 0, quarantined 0 in 1.2s"
    )
    assert summary_line(None) is None
    assert summary_line(["a"]) is None


def test_summary_tab_of_the_report_task_links_to_the_report() -> None:
    seen: list[tuple[Any, ...]] = []

    def read_xcom(*key: Any) -> Any:
        seen.append(key)
        return {"fail": 1, "rows": 12, "error": 0, "report": "/r/2026-11-22/compliance.json", "waived": 2,
                "blocking": 1}

    app = create_app(sinks=lambda: [], authorize=_allow, read_xcom=read_xcom)
    with TestClient(app) as test_client:
        page = test_client.get("/tasks/labelbridge_compliance/manual__2026/report/summary?map_index={MAP_INDEX}")
    assert page.status_code == 200
    assert "rows 12, fail 1, error 0, waived 2, blocking 1" in page.text
    assert 'href="/labelbridge/reports/2026-11-22/compliance.html"' in page.text
    assert seen == [("labelbridge_compliance", "manual__2026", "report", -1)]


def test_summary_tab_of_a_task_without_counts_says_so() -> None:
    app = create_app(sinks=lambda: [], authorize=_allow, read_xcom=lambda *a: "a string")
    with TestClient(app) as test_client:
        page = test_client.get("/tasks/d/r/t/summary?map_index=3")
    assert "This task returned no counts to summarize." in page.text


def test_report_day_helper_rejects_a_non_date() -> None:
    from labelbridge.operators.links import report_view_path

    assert report_view_path(dt.date(2026, 1, 2).isoformat()) == "/labelbridge/reports/2026-01-02/compliance.html"
    with pytest.raises(ValueError, match=r"report day must be YYYY-MM-DD, got '\.\./x'"):
        report_view_path("../x")
