"""Buckets on the emulators set up the way a careful team would, or the way a hurried one did."""

from __future__ import annotations

import json
from typing import Any

from tests.compliance.buckets.snapshots import KMS_KEY

ALL_FLAGS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def compliant_s3_policy(bucket: str) -> dict[str, Any]:
    objects = f"arn:aws:s3:::{bucket}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TLSOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "OfficeOnly",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": objects,
                "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.1.0.0/16", "127.0.0.0/8"]}},
            },
            {
                "Sid": "ShortPresign",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": objects,
                "Condition": {
                    "StringEquals": {"s3:authType": "REST-QUERY-STRING"},
                    "NumericGreaterThan": {"s3:signatureAge": 600000},
                },
            },
            {
                "Sid": "SigV4Only",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": objects,
                "Condition": {"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}},
            },
        ],
    }


def make_compliant_s3(client: Any, bucket: str, log_bucket: str) -> None:
    """Every bucket-level S3 rule passes on ``bucket`` (logs go to ``log_bucket``, which must exist)."""
    client.put_bucket_acl(Bucket=log_bucket, ACL="log-delivery-write")
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(compliant_s3_policy(bucket)))
    client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=ALL_FLAGS)
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY}}]
        },
    )
    client.put_bucket_logging(
        Bucket=bucket,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": log_bucket, "TargetPrefix": f"{bucket}/"}},
    )
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    client.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["https://label.example.com"], "AllowedMethods": ["GET"]}]},
    )


def make_hurried_s3(client: Any, bucket: str) -> None:
    """A public-read policy, a wide-open CORS rule, and nothing else."""
    client.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": {
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                },
            }
        ),
    )
    client.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT"]}]},
    )
