"""Collectors read real settings from the emulators; the rules then judge them.

S3 settings are all set through boto3 on moto_server. fake-gcs-server keeps versioning but not
IAM policies (404), uniform access, logging or CORS: those GCS rules are covered on recorded
API JSON in test_rules.py, and here the emulator's gaps must show as ERROR, never as pass.
Azure container and service settings come from Azurite; account settings need the management
plane (test_azure_management.py).
"""

from __future__ import annotations

import json

import pytest

from labelbridge.compliance.buckets.collectors import AzureBlobCollector, GCSCollector, S3Collector
from labelbridge.compliance.buckets.evaluate import evaluate_snapshot
from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.config import Cloud, ComplianceConfig
from labelbridge.connections import make_client
from tests.compliance.buckets.fixtures import make_compliant_s3, make_hurried_s3
from tests.compliance.buckets.snapshots import KMS_KEY
from tests.conftest import create_bucket, unique_bucket

pytestmark = pytest.mark.usefixtures("services")

SETTINGS = ComplianceConfig(allowed_cidrs=("10.0.0.0/8", "127.0.0.0/8"), kms_key_arns=(KMS_KEY,))


def _statuses(snapshot: BucketSnapshot) -> dict[str, tuple[str, str]]:
    return {f.rule.id: (f.status.value, f.detail) for f in evaluate_snapshot(snapshot, SETTINGS)}


def test_s3_compliant_bucket_passes_every_rule() -> None:
    client = make_client(Cloud.S3, "aws_default")
    bucket, logs = unique_bucket("good"), unique_bucket("logs")
    create_bucket(Cloud.S3, client, bucket)
    create_bucket(Cloud.S3, client, logs)
    make_compliant_s3(client, bucket, logs)

    snapshot = S3Collector(client).collect(bucket)

    assert snapshot.errors == {"account_public_access_block": "no S3 Control client or account id given"}
    results = _statuses(snapshot)
    assert {rule: status for rule, (status, _) in results.items()} == {rule: "pass" for rule in results}
    assert results["s3.encryption"] == ("pass", f"default encryption aws:kms with {KMS_KEY}")
    assert results["s3.access_logging"] == ("pass", f"access logs delivered to s3://{logs}/{bucket}/")


def test_s3_hurried_bucket_fails_the_rules_it_breaks() -> None:
    client = make_client(Cloud.S3, "aws_default")
    bucket = unique_bucket("bad")
    create_bucket(Cloud.S3, client, bucket)
    make_hurried_s3(client, bucket)

    results = _statuses(S3Collector(client).collect(bucket))

    assert results == {
        "s3.access_logging": ("fail", "server access logging off"),
        "s3.acl_disabled": ("fail", "object ownership is not set, so ACLs still apply"),
        "s3.block_public_access": (
            "fail",
            "no bucket-level Block Public Access configuration",
        ),
        "s3.cors_restricted": ("fail", "a CORS rule allows origin * with PUT"),
        "s3.cross_account": ("pass", "no Allow to an account outside the allowlist"),
        "s3.encryption": ("fail", "no default encryption configured"),
        "s3.ip_restricted": (
            "fail",
            "no Deny on NotIpAddress aws:SourceIp (or aws:VpcSourceIp / aws:SourceVpce) for object reads",
        ),
        "s3.no_public_acl": ("fail", "S3 reports the bucket policy as public (PolicyStatus.IsPublic)"),
        "s3.no_public_policy": (
            "fail",
            "statement 'PublicRead' allows Principal \"*\" with no VPC endpoint, VPC, org-id or source-ARN condition",
        ),
        "s3.presign_limits": (
            "fail",
            "no Deny on s3:signatureAge for REST-QUERY-STRING requests; "
            "SigV2 allowed: no Deny on s3:signatureversion other than AWS4-HMAC-SHA256",
        ),
        "s3.tls_only": ("fail", "no Deny statement for aws:SecureTransport=false"),
        "s3.versioning": ("fail", "versioning never enabled"),
    }


def test_s3_missing_bucket_is_an_error_on_every_rule_and_the_snapshot_says_why() -> None:
    client = make_client(Cloud.S3, "aws_default")
    snapshot = S3Collector(client).collect(unique_bucket("gone"))
    assert snapshot.errors["versioning"] == "NoSuchBucket: The specified bucket does not exist"
    results = _statuses(snapshot)
    assert {status for status, _ in results.values()} == {"error"}
    assert results["s3.versioning"][1] == "versioning unreadable: NoSuchBucket: The specified bucket does not exist"


def test_s3_snapshot_round_trips_through_json() -> None:
    client = make_client(Cloud.S3, "aws_default")
    bucket = unique_bucket("rt")
    create_bucket(Cloud.S3, client, bucket)
    snapshot = S3Collector(client).collect(bucket)
    again = BucketSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))
    assert again == snapshot


def test_gcs_emulator_settings_are_read_and_its_gaps_are_errors() -> None:
    client = make_client(Cloud.GCS, "google_cloud_default")
    name = unique_bucket("gcs")
    create_bucket(Cloud.GCS, client, name)
    bucket = client.get_bucket(name)
    bucket.versioning_enabled = True
    bucket.patch()

    snapshot = GCSCollector(client).collect(name)

    assert snapshot.settings["bucket"]["versioning"] == {"enabled": True}
    assert snapshot.errors["iam_policy"].startswith("NotFound: 404 GET ")
    results = _statuses(snapshot)
    assert results["gcs.versioning"] == ("pass", "versioning enabled")
    # The emulator keeps no public access prevention: the readable half fails the rule.
    assert results["gcs.no_public_access"][0] == "fail"
    assert results["gcs.no_public_access"][1].startswith(
        "public access prevention is unspecified, not enforced (also iam_policy unreadable: NotFound: 404 GET "
    )
    assert results["gcs.uniform_access"] == ("fail", "uniform bucket-level access off: object ACLs apply")


def test_azure_container_and_cors_from_azurite_account_needs_management() -> None:
    from azure.storage.blob import CorsRule

    client = make_client(Cloud.AZURE, "wasb_default")
    private, public = unique_bucket("priv"), unique_bucket("pub")
    client.create_container(private)
    client.create_container(public, public_access="container")
    client.set_service_properties(cors=[CorsRule(["*"], ["GET", "PUT"])])
    try:
        collector = AzureBlobCollector(client)
        good, bad = collector.collect(private), collector.collect(public)
    finally:
        client.set_service_properties(cors=[])

    assert good.settings["container"]["publicAccess"] is None
    assert good.settings["service_cors"] == [
        {"allowedOrigins": ["*"], "allowedMethods": ["GET", "PUT"], "maxAgeInSeconds": 0}
    ]
    assert good.errors == {
        "account": "no Azure management connection: set compliance.azure_management_conn_id in storages.yaml"
    }
    good_results, bad_results = _statuses(good), _statuses(bad)
    assert good_results["azure.no_public_access"] == (
        "error",
        "account unreadable: no Azure management connection: set compliance.azure_management_conn_id in storages.yaml",
    )
    assert bad_results["azure.no_public_access"] == (
        "fail",
        "container public access level is container (also account unreadable: no Azure management connection: "
        "set compliance.azure_management_conn_id in storages.yaml)",
    )
    assert good_results["azure.sas_policy"][0] == "fail"
    assert good_results["azure.sas_policy"][1].startswith("a blob service CORS rule allows origin *")
    assert good_results["azure.tls_only"][0] == "error"
