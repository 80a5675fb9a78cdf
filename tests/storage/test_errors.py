"""A request the cloud refuses, or that gets no answer, is one readable StorageError line
(issue 20, item 4): the storage, the operation, the key (escaped, shortened) and the cloud's
error code; never the cloud's message, which Azure fills with the request it received."""

from __future__ import annotations

import traceback

import pytest

from labelbridge.config import Cloud
from labelbridge.display import escaped, short_name
from labelbridge.errors import StorageError
from labelbridge.storage import AzureBlobStore, S3Store, store_class
from tests.conftest import DEFAULT_CONN_IDS, StoreFactory, unique_bucket

MISSING_BUCKET = {
    Cloud.S3: "NoSuchBucket (HTTP 404)",
    Cloud.GCS: "NotFound (HTTP 404)",
    Cloud.AZURE: "ContainerNotFound (HTTP 404)",
}
#: What no message of ours may carry: the SDKs' own message text and the XML body Azure returns.
SDK_TEXT = ("<Error>", "</Error>", "RequestId", "The specified", "An error occurred", "Content:", "http://")


def _assert_one_clean_line(exc: StorageError, expected: str) -> None:
    assert str(exc) == expected
    assert "\n" not in str(exc)
    # Raised from None: a traceback does not print the SDK's exception (and its message) as the cause.
    whole = "".join(traceback.format_exception(exc))
    assert [t for t in SDK_TEXT if t in whole] == []


def test_every_operation_on_a_missing_bucket_names_storage_operation_key_and_code(
    cloud: Cloud, services: object
) -> None:
    from labelbridge.connections import make_client

    name = unique_bucket("gone")
    store = store_class(cloud)(make_client(cloud, DEFAULT_CONN_IDS[cloud]), name)
    storage, code = f"{store.scheme}://{name}", MISSING_BUCKET[cloud]
    with pytest.raises(StorageError) as listed:
        list(store.iter_objects("img/"))
    _assert_one_clean_line(listed.value, f'{storage}: list prefix "img/" failed: {code}')
    with pytest.raises(StorageError) as written:
        store.write("img/a.jpg", b"x")
    _assert_one_clean_line(written.value, f'{storage}: write "img/a.jpg" failed: {code}')
    with pytest.raises(StorageError) as shards:
        list(store.list_prefixes("img/"))
    _assert_one_clean_line(shards.value, f'{storage}: list prefix "img/" failed: {code}')
    if cloud is not Cloud.GCS:  # fake-gcs-server answers a read in a missing bucket as a missing object
        with pytest.raises(StorageError) as read:
            store.read_bytes("img/a.jpg")
        _assert_one_clean_line(read.value, f'{storage}: read "img/a.jpg" failed: {code}')
        assert type(read.value) is StorageError  # not ObjectNotFound: the bucket is what is missing


def test_a_name_the_cloud_refuses_is_named_escaped_and_shortened(new_store: StoreFactory) -> None:
    # Azurite refuses a name whose ".." segments climb above the container (real Azure: the same
    # code); moto answers 404 to a key holding a newline. Each: the key as shown, the cloud's code.
    azure = new_store(Cloud.AZURE)
    with pytest.raises(StorageError) as refused:
        azure.write("a/../../b", b"x")
    expected = f'azure-blob://{azure.bucket}: write "a/../../b" failed: OutOfRangeInput (HTTP 400)'
    _assert_one_clean_line(refused.value, expected)

    s3 = new_store(Cloud.S3)
    key = "img/" + "é" * 100 + "\n" + "x" * 30 + ".jpg"
    with pytest.raises(StorageError) as newline:
        s3.write(key, b"x")
    _assert_one_clean_line(newline.value, f"s3://{s3.bucket}: write {short_name(key)} failed: HTTP 404")
    assert short_name(key) == f'"img/{"é" * 46}…{"x" * 21}.jpg" (139 chars, 239 bytes)'


def test_a_shortened_name_keeps_its_escapes_whole() -> None:
    key = "\x1b" * 60 + "\u202e" * 60
    esc, rlo = "\\x1b", "\\u202e"
    assert short_name(key) == f'"{esc * 50}…{rlo * 25}" (120 chars, 240 bytes)'
    assert escaped("a\\nb\nc") == "a\\\\nb\\nc"


@pytest.mark.parametrize("cloud", [Cloud.S3, Cloud.AZURE], ids=["s3", "azure"])
def test_no_answer_is_one_line_naming_the_sdks_connection_error(cloud: Cloud) -> None:
    from devservices import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    if cloud is Cloud.S3:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3", endpoint_url=dead, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1",
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
        )
        store: S3Store | AzureBlobStore = S3Store(client, "b")
        expected = 's3://b: write "k" failed: EndpointConnectionError'
    else:
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient(f"{dead}/devstoreaccount1", credential=None, retry_total=0)
        store = AzureBlobStore(client, "b")
        expected = 'azure-blob://b: write "k" failed: ServiceRequestError'
    with pytest.raises(StorageError) as failed:
        store.write("k", b"x")
    _assert_one_clean_line(failed.value, expected)
