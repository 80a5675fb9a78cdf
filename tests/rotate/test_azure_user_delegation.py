"""User delegation SAS end to end, on an Azurite that speaks OAuth over https.

Azurite's "basic" OAuth accepts a well-formed Entra ID token (issuer, audience, times; the
signature is not checked), issues user delegation keys and enforces SAS signed with them. The
token credential below stands in for Entra ID (service principal, managed or workload
identity): the only part of the chain that cannot run here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import devservices
from labelbridge.config import Cloud
from labelbridge.rotate import rotate_storage
from labelbridge.storage import AzureBlobStore
from tests.rotate.helpers import add_tasks, rows, storage_for
from tests.rotate.verify import http_get, query

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OID = "3d5c3ef2-59d6-4f5c-8d36-3d3f2f8b5b11"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class EntraToken:
    """A TokenCredential returning an Entra-ID-shaped token for the storage audience."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        now = int(time.time())
        claims = {
            "aud": "https://storage.azure.com",
            "iss": f"https://sts.windows.net/{TENANT}/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "oid": OID,
            "tid": TENANT,
            "appid": "labelbridge-test",
        }
        return AccessToken(jwt.encode(claims, "not-checked-by-azurite", algorithm="HS256"), now + 3600)


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cert, key = _self_signed(tmp_path_factory.mktemp("azurite-tls"))
    port = devservices.free_port()
    process = subprocess.Popen(
        [
            shutil.which("node") or "node",
            str(devservices.azurite_binary()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",
            "--inMemoryPersistence",
            "--oauth",
            "basic",
            "--cert",
            str(cert),
            "--key",
            str(key),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        devservices.wait_until(
            lambda: devservices.port_open(port), what="azurite (https, oauth)", process=process
        )
        yield f"https://127.0.0.1:{port}/{devservices.AZURITE_ACCOUNT}", cert
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def delegation_store(oauth_azurite: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> AzureBlobStore:
    from azure.storage.blob import BlobServiceClient

    account_url, cert = oauth_azurite
    # Trust the test CA for the SDK (requests) and for urllib (the canary, http_get).
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    client = BlobServiceClient(account_url, credential=EntraToken(), connection_verify=str(cert))
    container = f"ud-{int(time.time() * 1000) % 10**9}"
    client.create_container(container)
    return AzureBlobStore(client, container)


def test_user_delegation_key_comes_from_the_entra_id_connection(delegation_store: AzureBlobStore) -> None:
    store = delegation_store

    signed = store.sign_url("shift 1/cat.jpg", dt.timedelta(hours=1))
    params = query(signed.url)

    assert signed.signer == "azure-sas/user-delegation"
    # The key Azurite issued for this identity, valid for the URL's life plus an hour's slack.
    assert (params["skoid"], params["sktid"], params["sks"]) == (OID, TENANT, "b")
    assert params["ske"] == f"{signed.credential_expires_at:%Y-%m-%dT%H:%M:%SZ}"
    assert signed.credential_expires_at - signed.signed_at == dt.timedelta(hours=2)  # type: ignore[operator]
    assert signed.expires_at == signed.signed_at + dt.timedelta(hours=1)
    assert params["se"] == f"{signed.expires_at:%Y-%m-%dT%H:%M:%SZ}"
    assert params["spr"] == "https" and params["sp"] == "r"
    # A second batch within the slack reuses the key: no second key request.
    again = store.sign_url("shift 1/dog.jpg", dt.timedelta(hours=1))
    assert query(again.url)["ske"] == params["ske"]


@pytest.mark.xfail(
    strict=True,
    reason="Azurite 3.35 checks user delegation SAS with the 2025-07-05 string-to-sign; azure-storage-blob "
    "12.31 signs sv=2026-10-06, which adds the signed request header/query lines, so Azurite answers 403. "
    "This turns into a pass (and strict xfail fails) once Azurite learns the new version.",
)
def test_user_delegation_sas_is_accepted_by_azurite(delegation_store: AzureBlobStore) -> None:
    store = delegation_store
    store.write("shift 1/cat.jpg", b"pixels")

    assert http_get(store.sign_url("shift 1/cat.jpg", dt.timedelta(hours=1)).url) == (200, b"pixels")


def test_rotation_with_an_entra_id_connection(delegation_store: AzureBlobStore, labeling_dsn: str) -> None:
    store = delegation_store
    add_tasks(labeling_dsn, "proj", [{"image": store.uri(f"img{index}.jpg")} for index in range(3)])

    # canary_size=0: see the xfail above; Azurite cannot accept these URLs yet.
    result = rotate_storage(
        labeling_dsn, store, storage=storage_for(store, sas_kind="user_delegation", url_ttl="6h"), canary_size=0
    )

    assert (result.counts.signed, result.signer) == (3, "azure-sas/user-delegation")
    assert rows(labeling_dsn, "SELECT DISTINCT signer, credential_expires_at - signed_at FROM task_url") == [
        ("azure-sas/user-delegation", dt.timedelta(hours=7))
    ]


def test_sas_kind_mismatch_fails_the_run(new_store: Any, labeling_dsn: str) -> None:
    from labelbridge.errors import SigningError

    store = new_store(Cloud.AZURE)  # an account-key connection
    add_tasks(labeling_dsn, "proj", [{"image": store.uri("a.jpg")}])

    with pytest.raises(SigningError) as caught:
        rotate_storage(labeling_dsn, store, storage=storage_for(store, sas_kind="user_delegation"), canary_size=0)

    assert str(caught.value) == (
        "storage imgs: sas_kind is user_delegation but the connection wasb_default signs as azure-sas/account-key"
    )
    assert rows(labeling_dsn, "SELECT count(*) FROM task_url") == [(0,)]
