"""Signed URLs from each store: they fetch the object, carry the limits asked for, and are the
SDK's own signature over exactly those limits (recomputed, since moto and fake-gcs-server accept
any signature; Azurite checks SAS itself)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from labelbridge.config import Cloud
from labelbridge.connections import make_client
from labelbridge.errors import SigningError
from labelbridge.storage import AzureBlobStore, S3Store
from tests.conftest import StoreFactory
from tests.rotate.verify import (
    amz_date,
    gcs_expected_url,
    http_get,
    query,
    s3_expected_signature,
    service_account_credentials,
)

KEY = "shift 1/cat+dog~é.jpg"  # space, plus, tilde, non-ASCII: every encoding rule at once
HOUR = timedelta(hours=1)


def test_signed_url_fetches_the_object(cloud: Cloud, signing_store: StoreFactory) -> None:
    store = signing_store(cloud)
    store.write(KEY, b"pixels")

    signed = store.sign_url(KEY, HOUR)

    assert http_get(signed.url) == (200, b"pixels")
    assert signed.uri == store.uri(KEY)


def test_expiry_and_limits_are_recorded(cloud: Cloud, signing_store: StoreFactory) -> None:
    store = signing_store(cloud)
    before = datetime.now(UTC).replace(microsecond=0)

    [first, second] = store.sign_urls(["a.jpg", "b.jpg"], timedelta(hours=6), ip_range="203.0.113.0/24")

    assert before <= first.signed_at <= datetime.now(UTC)
    assert first.expires_at == first.signed_at + timedelta(hours=6)
    assert first.requested_ttl == timedelta(hours=6)
    assert first.credential_expires_at is None
    assert (
        first.signer
        == {
            Cloud.S3: "s3-sigv4/explicit",
            Cloud.GCS: "gcs-v4/service-account-key",
            Cloud.AZURE: "azure-sas/account-key",
        }[cloud]
    )
    # Only a SAS can carry the range; S3 and GCS rely on a bucket policy / IP filter.
    assert first.ip_range == ("203.0.113.0/24" if cloud is Cloud.AZURE else None)
    assert second.uri == store.uri("b.jpg") and second.url != first.url


def test_signed_url_never_appears_in_repr(cloud: Cloud, signing_store: StoreFactory) -> None:
    signed = signing_store(cloud).sign_url("a.jpg", HOUR)

    assert signed.url not in repr(signed) and "?" not in repr(signed)


def test_lifetime_over_the_cloud_cap_is_refused(cloud: Cloud, signing_store: StoreFactory) -> None:
    store = signing_store(cloud)
    if cloud is Cloud.AZURE:
        pytest.skip("an account-key SAS has no cloud cap; the delegation test covers the 7-day one")

    with pytest.raises(
        SigningError, match=r"URL lifetime 8 days, 0:00:00 exceeds the .+ cap of 7 days, 0:00:00"
    ):
        store.sign_url("a.jpg", timedelta(days=8))


# S3 ------------------------------------------------------------------------------------------


def test_s3_signature_is_botocores_over_every_parameter(signing_store: StoreFactory) -> None:
    store = signing_store(Cloud.S3)

    signed = store.sign_url(KEY, timedelta(days=7))
    params = query(signed.url)

    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Credential"] == f"testing/{signed.signed_at:%Y%m%d}/us-east-1/s3/aws4_request"
    assert params["X-Amz-SignedHeaders"] == "host"
    assert params["X-Amz-Expires"] == "604800"
    signed_on = amz_date(params["X-Amz-Date"])
    assert signed.signed_at <= signed_on <= signed.signed_at + timedelta(seconds=5)
    # The stored expiry is never later than the one S3 will enforce.
    assert signed.expires_at <= signed_on + timedelta(seconds=604800)
    assert params["X-Amz-Signature"] == s3_expected_signature(
        signed.url, access_key="testing", secret_key="testing"
    )


def test_s3_verification_fails_for_a_url_signed_with_another_key(
    services: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_OTHER", json.dumps(conn))
    store = S3Store(make_client(Cloud.S3, "aws_other"), "bucket")

    signed = store.sign_url(KEY, HOUR)

    assert query(signed.url)["X-Amz-Signature"] != s3_expected_signature(
        signed.url, access_key="testing", secret_key="testing"
    )
    assert query(signed.url)["X-Amz-Signature"] == s3_expected_signature(
        signed.url, access_key="testing", secret_key="not-the-secret"
    )


def test_s3_tampered_parameter_breaks_the_signature(signing_store: StoreFactory) -> None:
    signed = signing_store(Cloud.S3).sign_url(KEY, HOUR)
    tampered = signed.url.replace("X-Amz-Expires=3600", "X-Amz-Expires=604800")

    assert query(tampered)["X-Amz-Signature"] != s3_expected_signature(
        tampered, access_key="testing", secret_key="testing"
    )


def test_s3_url_equals_the_clients_own_presigned_url(signing_store: StoreFactory) -> None:
    store = signing_store(Cloud.S3)
    assert isinstance(store, S3Store)
    for key in (KEY, "a?b#c%d.jpg", "deep/ly/nested/ü.png", "x y"):
        ours = store.sign_url(key, HOUR).url
        theirs = store.client.generate_presigned_url(
            "get_object", Params={"Bucket": store.bucket, "Key": key}, ExpiresIn=3600
        )
        # Same endpoint, path encoding and parameters; only the second-resolution stamp may differ.
        assert ours.split("?")[0] == theirs.split("?")[0]
        volatile = {"X-Amz-Date", "X-Amz-Signature", "X-Amz-Credential"}
        assert {k: v for k, v in query(ours).items() if k not in volatile} == {
            k: v for k, v in query(theirs).items() if k not in volatile
        }
        for url in (ours, theirs):
            assert query(url)["X-Amz-Signature"] == s3_expected_signature(
                url, access_key="testing", secret_key="testing"
            )


def test_s3_sigv2_client_is_refused_with_the_fix(services: object) -> None:
    import boto3

    client = boto3.client(
        "s3",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        endpoint_url=json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"],
    )

    with pytest.raises(SigningError) as caught:
        S3Store(client, "bucket").sign_url("a.jpg", HOUR)

    assert str(caught.value) == (
        "S3Store('s3://bucket/'): the S3 client presigns with SigV2 (no 7-day cap, deprecated); set the AWS "
        'connection\'s extra to {"config_kwargs": {"signature_version": "s3v4"}}'
    )


def test_s3_assumed_role_session_caps_the_expiry(services: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real assume-role through the AWS connection (moto's STS): a 1-hour session.
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn["extra"]["role_arn"] = "arn:aws:iam::123456789012:role/labelbridge-signer"
    conn["extra"]["assume_role_kwargs"] = {"DurationSeconds": 3600}
    conn["extra"]["service_config"] = {"sts": {"endpoint_url": conn["extra"]["endpoint_url"]}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_ROLE", json.dumps(conn))
    store = S3Store(make_client(Cloud.S3, "aws_role"), "bucket")

    signed = store.sign_url(KEY, timedelta(days=1))
    params = query(signed.url)

    assert signed.signer == "s3-sigv4/sts-assume-role"
    assert signed.credential_expires_at is not None
    # signed_at is truncated to the second; the session's expiry is not.
    assert timedelta(minutes=55) < signed.credential_expires_at - signed.signed_at < HOUR + timedelta(seconds=1)
    assert signed.expires_at == signed.credential_expires_at.replace(microsecond=0)
    assert int(params["X-Amz-Expires"]) == int((signed.expires_at - signed.signed_at).total_seconds())
    assert params["X-Amz-Credential"].startswith("ASIA")  # temporary credentials
    assert "X-Amz-Security-Token" in params


# GCS -----------------------------------------------------------------------------------------


def test_gcs_signature_is_the_sdks_over_every_parameter(
    signing_store: StoreFactory, gcs_signer: object
) -> None:
    store = signing_store(Cloud.GCS)

    signed = store.sign_url(KEY, timedelta(days=7))
    params = query(signed.url)

    assert params["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert params["X-Goog-Credential"] == (
        f"signer@labelbridge-test.iam.gserviceaccount.com/{signed.signed_at:%Y%m%d}/auto/storage/goog4_request"
    )
    assert params["X-Goog-SignedHeaders"] == "host"
    assert params["X-Goog-Expires"] == "604800"
    signed_on = amz_date(params["X-Goog-Date"])
    assert signed.signed_at <= signed_on <= signed.signed_at + timedelta(seconds=5)
    assert signed.url == gcs_expected_url(signed.url, gcs_signer)


def test_gcs_verification_fails_for_a_url_signed_with_another_key(
    signing_store: StoreFactory, gcs_signer: object
) -> None:
    other = service_account_credentials()  # same email, different private key
    signed = signing_store(Cloud.GCS, signing_credentials=other).sign_url(KEY, HOUR)

    assert signed.url != gcs_expected_url(signed.url, gcs_signer)
    assert signed.url == gcs_expected_url(signed.url, other)


def test_gcs_anonymous_connection_cannot_sign(new_store: StoreFactory) -> None:
    store = new_store(Cloud.GCS)

    with pytest.raises(
        SigningError,
        match=r"credentials \(AnonymousCredentials\) cannot sign URLs; use a service account key",
    ):
        store.sign_url("a.jpg", HOUR)


# Azure (Azurite enforces SAS signature, permission, expiry, start) -------------------------------


def test_azure_expired_sas_is_refused(new_store: StoreFactory) -> None:
    store = new_store(Cloud.AZURE)
    store.write(KEY, b"pixels")

    expired = store.sign_url(KEY, HOUR, now=datetime.now(UTC) - timedelta(hours=2))
    live = store.sign_url(KEY, HOUR)

    assert http_get(expired.url)[0] == 403
    assert http_get(live.url) == (200, b"pixels")


def test_azure_tampered_or_foreign_sas_is_refused(
    new_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.AZURE)
    store.write(KEY, b"pixels")
    signed = store.sign_url(KEY, HOUR)
    other_key = "b3RoZXIta2V5LW5vdC1henVyaXRlcy1kZXZzdG9yZWFjY291bnQta2V5LXh4eHg="
    conn = json.loads(os.environ["AIRFLOW_CONN_WASB_DEFAULT"])
    conn["extra"]["connection_string"] = conn["extra"]["connection_string"].replace(
        conn["extra"]["connection_string"].split("AccountKey=")[1].split(";")[0], other_key
    )
    monkeypatch.setenv("AIRFLOW_CONN_WASB_OTHER", json.dumps(conn))
    foreign = AzureBlobStore(make_client(Cloud.AZURE, "wasb_other"), store.bucket).sign_url(KEY, HOUR)

    store.write("other.jpg", b"secret")

    assert http_get(signed.url)[0] == 200
    assert http_get(signed.url.replace("sp=r", "sp=rw"))[0] == 403  # widened permission
    assert http_get(signed.url.replace("cat%2Bdog~%C3%A9.jpg", "../other.jpg"))[0] == 403  # another blob
    assert http_get(foreign.url)[0] == 403  # signed with a key that is not the account's


def test_azure_sas_carries_the_ip_range_and_https_only_on_https(services: object) -> None:
    from azure.storage.blob import BlobServiceClient

    # Signing is offline: an https account shows what production URLs carry.
    client = BlobServiceClient(
        "https://labelbridge.blob.core.windows.net",
        credential={"account_name": "labelbridge", "account_key": "a2V5LWZvci1vZmZsaW5lLXNpZ25pbmctb25seQ=="},
    )

    signed = AzureBlobStore(client, "images").sign_url(KEY, HOUR, ip_range="203.0.113.0/24")
    params = query(signed.url)

    assert signed.url.startswith(
        "https://labelbridge.blob.core.windows.net/images/shift%201/cat%2Bdog~%C3%A9.jpg?"
    )
    assert params["sip"] == "203.0.113.0-203.0.113.255"
    assert params["spr"] == "https"
    assert params["sp"] == "r"
    assert params["se"] == f"{signed.expires_at:%Y-%m-%dT%H:%M:%SZ}"


def test_azure_sas_token_connection_cannot_sign(services: object) -> None:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient("https://labelbridge.blob.core.windows.net", credential="sv=2024&sig=abc")

    with pytest.raises(SigningError, match=r"cannot sign a SAS; use an account key, or Entra ID"):
        AzureBlobStore(client, "images").sign_url("a.jpg", HOUR)


def test_azure_user_delegation_sas_is_capped_by_its_key(services: object) -> None:
    from azure.identity import ClientSecretCredential
    from azure.storage.blob import BlobServiceClient, UserDelegationKey

    # An Entra ID connection. Fetching a delegation key needs OAuth over https, which the
    # Azurite run here does not offer: the key Azure would return is set up front instead.
    credential = ClientSecretCredential("tenant-id", "client-id", "client-secret")
    store = AzureBlobStore(
        BlobServiceClient("https://labelbridge.blob.core.windows.net", credential=credential), "images"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    key = UserDelegationKey()
    key.signed_oid, key.signed_tid = (
        "00000000-0000-0000-0000-0000000000a1",
        "00000000-0000-0000-0000-0000000000b2",
    )
    key.signed_start, key.signed_expiry = (
        f"{now:%Y-%m-%dT%H:%M:%SZ}",
        f"{now + timedelta(minutes=90):%Y-%m-%dT%H:%M:%SZ}",
    )
    key.signed_service, key.signed_version, key.value = "b", "2025-01-05", "ZGVsZWdhdGlvbi1rZXktdmFsdWU="
    store._delegation_key = key

    signed = store.sign_url(KEY, timedelta(hours=2), now=now)
    params = query(signed.url)

    assert signed.signer == "azure-sas/user-delegation"
    assert signed.credential_expires_at == now + timedelta(minutes=90)
    assert signed.expires_at == now + timedelta(minutes=90)  # clipped to the key's expiry
    assert params["se"] == params["ske"] == f"{now + timedelta(minutes=90):%Y-%m-%dT%H:%M:%SZ}"
    assert params["skoid"] == key.signed_oid and params["sktid"] == key.signed_tid
    with pytest.raises(SigningError, match=r"a user delegation SAS lives at most 7 days; got 8 days"):
        store.sign_url(KEY, timedelta(days=8))
