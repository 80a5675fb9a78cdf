"""S3 listings parse LastModified with the standard library (botocore's dateutil parse was half of
the client's CPU per page): the same instant, aware and in UTC, as botocore's own parser gives."""

from __future__ import annotations

from datetime import UTC

from botocore.parsers import DEFAULT_TIMESTAMP_PARSER

from labelbridge.clouds import Cloud
from labelbridge.connections import make_client
from labelbridge.storage import S3Store
from labelbridge.storage.s3 import _iso_or_default
from tests.conftest import StoreFactory


def test_listed_last_modified_is_the_instant_botocore_reads(new_store: StoreFactory) -> None:
    store = new_store(Cloud.S3)
    store.write("img/a.jpg", b"x")
    listed = next(store.iter_objects())
    plain = make_client(Cloud.S3, "aws_default")  # a client of its own session: botocore's parser
    head = plain.head_object(Bucket=store.bucket, Key="img/a.jpg")["LastModified"]  # an RFC 822 header
    contents = plain.list_objects_v2(Bucket=store.bucket)["Contents"][0]["LastModified"]

    assert listed.last_modified == contents == head
    assert listed.last_modified is not None and listed.last_modified.utcoffset() == UTC.utcoffset(None)


def test_timestamps_other_than_iso_z_go_to_botocore() -> None:
    for value in ("2026-12-04T04:30:38.000Z", "2026-12-04T04:30:38Z", "Fri, 04 Dec 2026 04:30:38 GMT", "1764822638"):
        assert _iso_or_default(value) == DEFAULT_TIMESTAMP_PARSER(value)


def test_a_client_without_botocore_internals_is_left_alone() -> None:
    assert S3Store(None, "bucket").client is None
