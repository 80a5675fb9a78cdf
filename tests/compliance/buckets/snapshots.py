"""Snapshot documents for rule tests: one compliant bucket per cloud, and ways to break it.

The GCS and Azure account documents are API JSON as the services return it (the Azure
account one as the management API's storageAccounts GET returns it), which the local
emulators cannot produce.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from labelbridge.compliance.buckets.snapshot import BucketSnapshot
from labelbridge.config import Cloud

BUCKET = "images"
ACCOUNT = "123456789012"

GOOD_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "TLSOnly",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": False}},
        },
        {
            "Sid": "OfficeOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
            "Condition": {"NotIpAddressIfExists": {"AWS:SourceIp": ["10.1.0.0/16"]}},
        },
        {
            "Sid": "ShortPresign",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
            "Condition": {
                "StringEquals": {"s3:authType": "REST-QUERY-STRING"},
                "NumericGreaterThan": {"s3:signatureAge": "600000"},
            },
        },
        {
            "Sid": "SigV4Only",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
            "Condition": {"StringNotEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}},
        },
        {
            "Sid": "Partner",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::111122223333:role/labelers", ACCOUNT]},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        },
        {
            "Sid": "ViaEndpoint",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
        },
    ],
}

ALL_FLAGS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

S3_GOOD: dict[str, Any] = {
    "cloud": "aws",
    "bucket": BUCKET,
    "account_id": ACCOUNT,
    "settings": {
        "policy": json.dumps(GOOD_POLICY),
        "policy_status": {"IsPublic": False},
        "public_access_block": dict(ALL_FLAGS),
        "account_public_access_block": dict(ALL_FLAGS),
        "acl": {
            "Owner": {"ID": "abc"},
            "Grants": [{"Grantee": {"ID": "abc", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}],
        },
        "encryption": {
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY},
                    "BucketKeyEnabled": True,
                }
            ]
        },
        "logging": {"TargetBucket": "images-logs", "TargetPrefix": "images/"},
        "versioning": {"Status": "Enabled", "MFADelete": "Disabled"},
        "ownership_controls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "cors": {"CORSRules": [{"AllowedOrigins": ["https://label.example.com"], "AllowedMethods": ["GET"]}]},
    },
    "errors": {},
}

# A bucket resource as the GCS JSON API returns it (storage/v1/b/images).
GCS_GOOD: dict[str, Any] = {
    "cloud": "gcp",
    "bucket": BUCKET,
    "settings": {
        "bucket": {
            "kind": "storage#bucket",
            "name": BUCKET,
            "iamConfiguration": {
                "bucketPolicyOnly": {"enabled": True},
                "uniformBucketLevelAccess": {"enabled": True, "lockedTime": "2026-02-01T00:00:00Z"},
                "publicAccessPrevention": "enforced",
            },
            "logging": {"logBucket": "images-logs", "logObjectPrefix": "images"},
            "ipFilter": {
                "mode": "Enabled",
                "publicNetworkSource": {"allowedIpCidrRanges": ["10.1.0.0/16"]},
                "allowCrossOrgVpcs": False,
            },
            "cors": [{"origin": ["https://label.example.com"], "method": ["GET"], "maxAgeSeconds": 3600}],
            "versioning": {"enabled": True},
            "softDeletePolicy": {"retentionDurationSeconds": "604800", "effectiveTime": "2026-01-01T00:00:00Z"},
        },
        "iam_policy": {
            "version": 3,
            "etag": "CAE=",
            "bindings": [
                {"role": "roles/storage.objectViewer", "members": ["serviceAccount:labeler@p.iam.gserviceaccount.com"]}
            ],
        },
    },
    "errors": {},
}

# storageAccounts GET (api-version 2024-01-01), trimmed to what the rules read plus context.
AZURE_ACCOUNT: dict[str, Any] = {
    "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/labeling"
    "/providers/Microsoft.Storage/storageAccounts/labelingdata",
    "name": "labelingdata",
    "type": "Microsoft.Storage/storageAccounts",
    "location": "westeurope",
    "kind": "StorageV2",
    "sku": {"name": "Standard_LRS", "tier": "Standard"},
    "properties": {
        "allowBlobPublicAccess": False,
        "supportsHttpsTrafficOnly": True,
        "minimumTlsVersion": "TLS1_2",
        "allowSharedKeyAccess": False,
        "publicNetworkAccess": "Enabled",
        "networkAcls": {
            "bypass": "AzureServices",
            "virtualNetworkRules": [],
            "ipRules": [{"value": "10.1.0.0/16", "action": "Allow"}],
            "defaultAction": "Deny",
        },
        "sasPolicy": {"sasExpirationPeriod": "1.00:00:00", "expirationAction": "Block"},
        "provisioningState": "Succeeded",
    },
}

AZURE_GOOD: dict[str, Any] = {
    "cloud": "azure",
    "bucket": BUCKET,
    "settings": {
        "account": AZURE_ACCOUNT,
        "container": {"publicAccess": None, "hasImmutabilityPolicy": False, "hasLegalHold": False},
        "service_cors": [
            {"allowedOrigins": ["https://label.example.com"], "allowedMethods": ["GET"], "maxAgeInSeconds": 60}
        ],
    },
    "errors": {},
}

GOOD = {Cloud.S3: S3_GOOD, Cloud.GCS: GCS_GOOD, Cloud.AZURE: AZURE_GOOD}


def snapshot(cloud: Cloud, **changes: Any) -> BucketSnapshot:
    """The compliant snapshot of ``cloud`` with ``changes`` applied to its settings.

    A value of :data:`UNREADABLE` moves that section into ``errors``.
    """
    document = copy.deepcopy(GOOD[cloud])
    for section, value in changes.items():
        if isinstance(value, Unreadable):
            document["settings"].pop(section, None)
            document["errors"][section] = value.why
        else:
            document["settings"][section] = value
    return BucketSnapshot.from_dict(document)


class Unreadable:
    def __init__(self, why: str = "AccessDenied: Access Denied") -> None:
        self.why = why


def policy_with(*statements: dict[str, Any], drop: tuple[str, ...] = ()) -> str:
    kept = [s for s in GOOD_POLICY["Statement"] if s["Sid"] not in drop]
    return json.dumps({"Version": "2012-10-17", "Statement": kept + list(statements)})


def edited(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``base`` with the dotted ``path`` set to ``value``."""
    result = copy.deepcopy(base)
    node = result
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return result
