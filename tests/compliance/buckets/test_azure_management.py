"""Azure account-level settings through the real management SDK, replaying recorded ARM JSON.

The management plane has no local emulator; the recorded storageAccounts list response is
served by a requests transport adapter, so the SDK's own paging and models are exercised.
Container-level settings come from Azurite (test_collectors.py).
"""

from __future__ import annotations

import copy
import io
import json
import time
from typing import Any

import pytest
import requests
import urllib3
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.storage import StorageManagementClient
from requests.adapters import BaseAdapter

from labelbridge.compliance.buckets.collectors import AzureBlobCollector
from labelbridge.compliance.buckets.evaluate import evaluate_snapshot
from labelbridge.config import Cloud, ComplianceConfig
from labelbridge.connections import make_client
from tests.compliance.buckets.snapshots import AZURE_ACCOUNT
from tests.conftest import unique_bucket

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


class _Token:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("recorded", int(time.time()) + 3600)


class _Replay(BaseAdapter):
    """Answers each GET with the recorded JSON for its path, page by page (nextLink)."""

    def __init__(self, pages: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.pages = pages
        self.requested: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = requests.utils.urlparse(request.url)
        self.requested.append(url.path)
        response = requests.Response()
        response.request = request
        response.url = request.url or ""
        body = self.pages.get(url.path)
        response.status_code = 200 if body is not None else 404
        content = json.dumps(body or {"error": {"code": "ResourceNotFound", "message": "gone"}}).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(content))}
        # azure-core reads the urllib3 response underneath, as it would off the wire.
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(content), headers=headers, status=response.status_code, preload_content=False
        )
        response.headers.update(headers)
        return response

    def close(self) -> None:
        pass


def _management(accounts: list[dict[str, Any]], *, split: int = 1) -> tuple[StorageManagementClient, _Replay]:
    base = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Storage/storageAccounts"
    pages = {base: {"value": accounts[:split], "nextLink": f"https://management.azure.com{base}/page2"}}
    pages[f"{base}/page2"] = {"value": accounts[split:]}
    adapter = _Replay(pages)
    session = requests.Session()
    session.mount("https://", adapter)
    client = StorageManagementClient(_Token(), SUBSCRIPTION, transport=RequestsTransport(session=session))  # type: ignore[arg-type]
    return client, adapter


@pytest.mark.usefixtures("services")
def test_account_settings_from_recorded_arm_json_decide_the_account_rules() -> None:
    blob = make_client(Cloud.AZURE, "wasb_default")  # Azurite's account is devstoreaccount1
    container = unique_bucket("acct")
    blob.create_container(container)
    ours = copy.deepcopy(AZURE_ACCOUNT)
    ours["name"] = blob.account_name
    ours["properties"]["allowSharedKeyAccess"] = True  # Azurite itself runs on a shared key
    other = copy.deepcopy(AZURE_ACCOUNT)
    other["name"] = "someoneelse"
    management, adapter = _management([other, ours])

    snapshot = AzureBlobCollector(blob, management=management).collect(container)

    assert len(adapter.requested) == 2  # the SDK followed nextLink to the second page
    assert snapshot.errors == {}
    assert snapshot.settings["account"]["name"] == "devstoreaccount1"
    assert snapshot.settings["account"]["properties"]["networkAcls"]["defaultAction"] == "Deny"
    results = {f.rule.id: (f.status.value, f.detail) for f in evaluate_snapshot(snapshot, ComplianceConfig())}
    assert results == {
        "azure.network_restricted": ("pass", "default action Deny with 1 IP rule(s)"),
        "azure.no_public_access": ("pass", "account disallows blob public access; container is private"),
        "azure.sas_policy": ("pass", "SAS longer than 1.00:00:00 blocked; no CORS origin *"),
        "azure.shared_key_disabled": ("fail", "shared key access allowed"),
        "azure.tls_only": ("pass", "HTTPS only; minimum TLS TLS1_2"),
    }


@pytest.mark.usefixtures("services")
def test_account_not_visible_to_the_management_connection_is_an_error() -> None:
    blob = make_client(Cloud.AZURE, "wasb_default")
    container = unique_bucket("acct")
    blob.create_container(container)
    management, _ = _management([AZURE_ACCOUNT])

    snapshot = AzureBlobCollector(blob, management=management).collect(container)

    assert snapshot.errors == {
        "account": "storage account 'devstoreaccount1' is not visible to the management connection"
    }
    statuses = {f.rule.id: f.status.value for f in evaluate_snapshot(snapshot, ComplianceConfig())}
    assert statuses["azure.tls_only"] == "error"
