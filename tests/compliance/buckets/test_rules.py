"""Every rule: its id matches its module, a compliant snapshot passes, each way to break it fails
with an exact message, and an unreadable setting is an ERROR, never a pass or a failure."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

from labelbridge.compliance.buckets import rules as rules_package
from labelbridge.compliance.buckets.evaluate import evaluate_snapshot
from labelbridge.compliance.buckets.rules import RULES, module_name_for
from labelbridge.compliance.model import Severity, Status
from labelbridge.config import Cloud, ComplianceConfig
from tests.compliance.buckets.snapshots import (
    ACCOUNT,
    AZURE_ACCOUNT,
    GCS_GOOD,
    KMS_KEY,
    S3_GOOD,
    Unreadable,
    edited,
    policy_with,
    snapshot,
)

SETTINGS = ComplianceConfig(
    allowed_cidrs=("10.0.0.0/8",), allowed_account_ids=("111122223333",), kms_key_arns=(KMS_KEY,)
)

ISSUE_RULES = {
    "s3.block_public_access": Severity.CRITICAL,
    "s3.no_public_acl": Severity.CRITICAL,
    "s3.no_public_policy": Severity.CRITICAL,
    "s3.tls_only": Severity.HIGH,
    "s3.ip_restricted": Severity.HIGH,
    "s3.presign_limits": Severity.MEDIUM,
    "s3.encryption": Severity.MEDIUM,
    "s3.access_logging": Severity.MEDIUM,
    "s3.versioning": Severity.MEDIUM,
    "s3.acl_disabled": Severity.MEDIUM,
    "s3.cors_restricted": Severity.MEDIUM,
    "s3.cross_account": Severity.HIGH,
    "gcs.no_public_access": Severity.CRITICAL,
    "gcs.uniform_access": Severity.MEDIUM,
    "gcs.logging": Severity.MEDIUM,
    "gcs.ip_filter": Severity.HIGH,
    "gcs.cors_restricted": Severity.MEDIUM,
    "gcs.versioning": Severity.MEDIUM,
    "azure.no_public_access": Severity.CRITICAL,
    "azure.tls_only": Severity.HIGH,
    "azure.shared_key_disabled": Severity.HIGH,
    "azure.network_restricted": Severity.HIGH,
    "azure.sas_policy": Severity.MEDIUM,
}


def test_every_rule_module_is_named_after_its_rule_id() -> None:
    names = [info.name for info in pkgutil.iter_modules(rules_package.__path__) if not info.name.startswith("_")]
    assert names, "no rule modules found"
    for name in names:
        module = importlib.import_module(f"{rules_package.__name__}.{name}")
        assert module_name_for(module.RULE.id) == name, f"{name}.py holds rule {module.RULE.id!r}"
        assert module.RULE.title and module.RULE.rationale and module.RULE.remediation, name


def test_rule_ids_and_severities_are_the_issues() -> None:
    assert {rule_id: rule.meta.severity for rule_id, rule in RULES.items()} == ISSUE_RULES


@pytest.mark.parametrize("cloud", [Cloud.S3, Cloud.GCS, Cloud.AZURE], ids=lambda c: c.value)
def test_compliant_snapshot_passes_every_rule_of_its_cloud(cloud: Cloud) -> None:
    findings = evaluate_snapshot(snapshot(cloud), SETTINGS)
    prefix = {Cloud.S3: "s3.", Cloud.GCS: "gcs.", Cloud.AZURE: "azure."}[cloud]
    assert sorted(f.rule.id for f in findings) == sorted(r for r in ISSUE_RULES if r.startswith(prefix))
    assert {f.rule.id: (f.status, f.detail) for f in findings if f.status is not Status.PASS} == {}


def test_passing_details_name_what_was_found() -> None:
    details = {f.rule.id: f.detail for f in evaluate_snapshot(snapshot(Cloud.S3), SETTINGS)}
    assert details["s3.tls_only"] == "Deny on aws:SecureTransport=false covers the bucket and its objects"
    assert details["s3.ip_restricted"] == "object reads denied outside the allowed networks (aws:sourceip)"
    assert details["s3.presign_limits"] == "presigned requests older than 600000 ms denied; SigV2 refused"
    assert details["s3.access_logging"] == "access logs delivered to s3://images-logs/images/"


S3_PUBLIC_ALLOW = {
    "Sid": "Public",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::images/*",
}

FAILURES: list[tuple[Cloud, dict[str, Any], str, str]] = [
    # S3
    (
        Cloud.S3,
        {"public_access_block": None},
        "s3.block_public_access",
        "no bucket-level Block Public Access configuration",
    ),
    (
        Cloud.S3,
        {
            "public_access_block": {
                "BlockPublicAcls": True,
                "IgnorePublicAcls": False,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": False,
            }
        },
        "s3.block_public_access",
        "bucket-level IgnorePublicAcls, RestrictPublicBuckets off",
    ),
    (
        Cloud.S3,
        {
            "account_public_access_block": {
                "BlockPublicAcls": False,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            }
        },
        "s3.block_public_access",
        "account-level BlockPublicAcls off",
    ),
    (
        Cloud.S3,
        {
            "acl": {
                "Grants": [
                    {
                        "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                        "Permission": "READ",
                    }
                ]
            }
        },
        "s3.no_public_acl",
        "ACL grants AllUsers:READ",
    ),
    (
        Cloud.S3,
        {"policy_status": {"IsPublic": True}},
        "s3.no_public_acl",
        "S3 reports the bucket policy as public (PolicyStatus.IsPublic)",
    ),
    (
        Cloud.S3,
        {"policy": policy_with(S3_PUBLIC_ALLOW)},
        "s3.no_public_policy",
        "statement 'Public' allows Principal \"*\" with no VPC endpoint, VPC, org-id or source-ARN condition",
    ),
    (
        Cloud.S3,
        {"policy": policy_with({**S3_PUBLIC_ALLOW, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})},
        "s3.no_public_policy",
        "statement 'Public' allows Principal \"*\" with no VPC endpoint, VPC, org-id or source-ARN condition",
    ),
    (
        Cloud.S3,
        {
            "policy": policy_with(
                {**S3_PUBLIC_ALLOW, "Condition": {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}}
            )
        },
        "s3.no_public_policy",
        "statement 'Public' allows Principal \"*\" with no VPC endpoint, VPC, org-id or source-ARN condition",
    ),
    (
        Cloud.S3,
        {
            "policy": policy_with(
                {**S3_PUBLIC_ALLOW, "Condition": {"ForAllValues:StringEquals": {"aws:SourceVpce": ["vpce-1"]}}}
            )
        },
        "s3.no_public_policy",
        "statement 'Public' allows Principal \"*\" with no VPC endpoint, VPC, org-id or source-ARN condition",
    ),
    (Cloud.S3, {"policy": None}, "s3.tls_only", "no bucket policy, so no Deny statement for aws:SecureTransport=false"),
    (
        Cloud.S3,
        {"policy": policy_with(drop=("TLSOnly",))},
        "s3.tls_only",
        "no Deny statement for aws:SecureTransport=false",
    ),
    (
        Cloud.S3,
        {
            "policy": policy_with(
                {
                    "Sid": "TLS",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": "arn:aws:s3:::images/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                drop=("TLSOnly",),
            )
        },
        "s3.tls_only",
        "the Deny on aws:SecureTransport=false does not cover the bucket",
    ),
    (
        Cloud.S3,
        {
            "policy": policy_with(
                {
                    "Sid": "TLS",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": "arn:aws:s3:::images/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                },
                drop=("TLSOnly",),
            )
        },
        "s3.tls_only",
        "no Deny statement for aws:SecureTransport=false",
    ),
    (
        Cloud.S3,
        {"policy": policy_with(drop=("OfficeOnly",))},
        "s3.ip_restricted",
        "no Deny on NotIpAddress aws:SourceIp (or aws:VpcSourceIp / aws:SourceVpce) for object reads",
    ),
    (
        Cloud.S3,
        {
            "policy": policy_with(
                {
                    "Sid": "Wide",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::images/*",
                    "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.1.0.0/16", "0.0.0.0/0"]}},
                },
                drop=("OfficeOnly",),
            )
        },
        "s3.ip_restricted",
        "the policy lets in 0.0.0.0/0, outside allowed_cidrs 10.0.0.0/8",
    ),
    (
        Cloud.S3,
        {"policy": policy_with(drop=("ShortPresign",))},
        "s3.presign_limits",
        "no Deny on s3:signatureAge for REST-QUERY-STRING requests",
    ),
    (
        Cloud.S3,
        {"policy": policy_with(drop=("SigV4Only",))},
        "s3.presign_limits",
        "SigV2 allowed: no Deny on s3:signatureversion other than AWS4-HMAC-SHA256",
    ),
    (
        Cloud.S3,
        {
            "policy": policy_with(
                {
                    "Sid": "Long",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": "arn:aws:s3:::images/*",
                    "Condition": {"NumericGreaterThan": {"s3:signatureAge": 900000000}},
                },
                drop=("ShortPresign",),
            )
        },
        "s3.presign_limits",
        "s3:signatureAge limit 900000000 ms exceeds max_presign_ttl (604800000 ms)",
    ),
    (Cloud.S3, {"encryption": None}, "s3.encryption", "no default encryption configured"),
    (
        Cloud.S3,
        {"encryption": {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}},
        "s3.encryption",
        "default encryption is AES256, not SSE-KMS",
    ),
    (
        Cloud.S3,
        {
            "encryption": {
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": "arn:aws:kms:us-east-1:123456789012:key/other",
                        }
                    }
                ]
            }
        },
        "s3.encryption",
        "SSE-KMS key arn:aws:kms:us-east-1:123456789012:key/other is not one of kms_key_arns",
    ),
    (Cloud.S3, {"logging": None}, "s3.access_logging", "server access logging off"),
    (
        Cloud.S3,
        {"logging": {"TargetBucket": "images", "TargetPrefix": "logs/"}},
        "s3.access_logging",
        "server access logs are delivered into the bucket itself",
    ),
    (Cloud.S3, {"versioning": {}}, "s3.versioning", "versioning never enabled"),
    (Cloud.S3, {"versioning": {"Status": "Suspended"}}, "s3.versioning", "versioning suspended"),
    (Cloud.S3, {"ownership_controls": None}, "s3.acl_disabled", "object ownership is not set, so ACLs still apply"),
    (
        Cloud.S3,
        {"ownership_controls": {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}},
        "s3.acl_disabled",
        "object ownership is ObjectWriter, so ACLs still apply",
    ),
    (
        Cloud.S3,
        {"cors": {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]}},
        "s3.cors_restricted",
        "a CORS rule allows origin *",
    ),
    (
        Cloud.S3,
        {"cors": {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "put", "DELETE"]}]}},
        "s3.cors_restricted",
        "a CORS rule allows origin * with DELETE, PUT",
    ),
    (
        Cloud.S3,
        {
            "policy": policy_with(
                {
                    "Sid": "Other",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::images/*",
                }
            )
        },
        "s3.cross_account",
        "Allow to account(s) not on allowed_account_ids: 999988887777",
    ),
    # GCS
    (
        Cloud.GCS,
        {"iam_policy": {"bindings": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]}},
        "gcs.no_public_access",
        "IAM binds allUsers as roles/storage.objectViewer",
    ),
    (
        Cloud.GCS,
        {"bucket": edited(GCS_GOOD["settings"]["bucket"], "iamConfiguration.publicAccessPrevention", "inherited")},
        "gcs.no_public_access",
        "public access prevention is inherited, not enforced",
    ),
    (
        Cloud.GCS,
        {
            "bucket": edited(
                GCS_GOOD["settings"]["bucket"], "iamConfiguration.uniformBucketLevelAccess", {"enabled": False}
            )
        },
        "gcs.uniform_access",
        "uniform bucket-level access off: object ACLs apply",
    ),
    (Cloud.GCS, {"bucket": edited(GCS_GOOD["settings"]["bucket"], "logging", None)}, "gcs.logging", "no usage logs"),
    (
        Cloud.GCS,
        {"bucket": edited(GCS_GOOD["settings"]["bucket"], "ipFilter", {"mode": "Disabled"})},
        "gcs.ip_filter",
        "bucket IP filter mode Disabled",
    ),
    (
        Cloud.GCS,
        {"bucket": edited(GCS_GOOD["settings"]["bucket"], "ipFilter", None)},
        "gcs.ip_filter",
        "bucket IP filter not set",
    ),
    (
        Cloud.GCS,
        {
            "bucket": edited(
                GCS_GOOD["settings"]["bucket"], "ipFilter.publicNetworkSource.allowedIpCidrRanges", ["0.0.0.0/0"]
            )
        },
        "gcs.ip_filter",
        "IP filter allows 0.0.0.0/0, outside allowed_cidrs",
    ),
    (
        Cloud.GCS,
        {"bucket": edited(GCS_GOOD["settings"]["bucket"], "cors", [{"origin": ["*"], "method": ["GET", "PUT"]}])},
        "gcs.cors_restricted",
        "a CORS entry allows origin * for GET, PUT",
    ),
    (
        Cloud.GCS,
        {
            "bucket": edited(
                edited(GCS_GOOD["settings"]["bucket"], "versioning", {"enabled": False}),
                "softDeletePolicy",
                {"retentionDurationSeconds": "0"},
            )
        },
        "gcs.versioning",
        "versioning and soft delete both off",
    ),
    # Azure
    (
        Cloud.AZURE,
        {"account": edited(AZURE_ACCOUNT, "properties.allowBlobPublicAccess", True)},
        "azure.no_public_access",
        "the account allows blob public access",
    ),
    (
        Cloud.AZURE,
        {"container": {"publicAccess": "container"}},
        "azure.no_public_access",
        "container public access level is container",
    ),
    (
        Cloud.AZURE,
        {"account": edited(AZURE_ACCOUNT, "properties.supportsHttpsTrafficOnly", False)},
        "azure.tls_only",
        "HTTPS-only (secure transfer required) is off",
    ),
    (
        Cloud.AZURE,
        {"account": edited(AZURE_ACCOUNT, "properties.minimumTlsVersion", "TLS1_0")},
        "azure.tls_only",
        "minimum TLS version is TLS1_0, below TLS1_2",
    ),
    (
        Cloud.AZURE,
        {"account": edited(AZURE_ACCOUNT, "properties.allowSharedKeyAccess", None)},
        "azure.shared_key_disabled",
        "shared key access allowed (not set: allowed)",
    ),
    (
        Cloud.AZURE,
        {"account": edited(AZURE_ACCOUNT, "properties.networkAcls.defaultAction", "Allow")},
        "azure.network_restricted",
        "default network action is Allow",
    ),
    (
        Cloud.AZURE,
        {"account": edited(AZURE_ACCOUNT, "properties.networkAcls.ipRules", [])},
        "azure.network_restricted",
        "no IP rules",
    ),
    (
        Cloud.AZURE,
        {"account": edited(AZURE_ACCOUNT, "properties.sasPolicy", None)},
        "azure.sas_policy",
        "no SAS expiration policy",
    ),
    (
        Cloud.AZURE,
        {"account": edited(AZURE_ACCOUNT, "properties.sasPolicy.expirationAction", "Log")},
        "azure.sas_policy",
        "SAS expiration policy (1.00:00:00) only logs (action Log), does not Block",
    ),
    (
        Cloud.AZURE,
        {"service_cors": [{"allowedOrigins": ["*"], "allowedMethods": ["GET"]}]},
        "azure.sas_policy",
        "a blob service CORS rule allows origin *",
    ),
]


@pytest.mark.parametrize(
    ("cloud", "changes", "rule_id", "detail"), FAILURES, ids=[f"{r}:{d[:40]}" for _, _, r, d in FAILURES]
)
def test_rule_fails_with_exact_message(cloud: Cloud, changes: dict[str, Any], rule_id: str, detail: str) -> None:
    findings = {f.rule.id: f for f in evaluate_snapshot(snapshot(cloud, **changes), SETTINGS)}
    assert (findings[rule_id].status, findings[rule_id].detail) == (Status.FAIL, detail)
    assert (
        findings[rule_id].resource
        == {Cloud.S3: "s3://images", Cloud.GCS: "gs://images", Cloud.AZURE: "azure-blob://images"}[cloud]
    )


@pytest.mark.parametrize(
    ("cloud", "section"),
    [
        (Cloud.S3, s)
        for s in (
            "public_access_block",
            "acl",
            "policy",
            "encryption",
            "logging",
            "versioning",
            "ownership_controls",
            "cors",
        )
    ]
    + [(Cloud.GCS, "bucket"), (Cloud.AZURE, "account")],
)
def test_unreadable_section_is_an_error_never_pass_or_fail(cloud: Cloud, section: str) -> None:
    findings = evaluate_snapshot(snapshot(cloud, **{section: Unreadable()}), SETTINGS)
    errors = [f for f in findings if f.status is Status.ERROR]
    assert errors, f"no rule reads {section}"
    for finding in errors:
        assert f"{section} unreadable: AccessDenied: Access Denied" in finding.detail


def test_unreadable_account_block_is_noted_but_bucket_flags_decide() -> None:
    finding = next(
        f
        for f in evaluate_snapshot(
            snapshot(Cloud.S3, account_public_access_block=Unreadable("AccessDenied: no")), SETTINGS
        )
        if f.rule.id == "s3.block_public_access"
    )
    assert finding.status is Status.PASS
    assert finding.detail == (
        "all four bucket-level flags on "
        "(account level not checked: account_public_access_block unreadable: AccessDenied: no)"
    )


def test_a_failure_outranks_an_unreadable_part() -> None:
    findings = evaluate_snapshot(
        snapshot(Cloud.AZURE, account=Unreadable("no Azure management connection"), container={"publicAccess": "blob"}),
        SETTINGS,
    )
    finding = next(f for f in findings if f.rule.id == "azure.no_public_access")
    assert finding.status is Status.FAIL
    assert (
        finding.detail
        == "container public access level is blob (also account unreadable: no Azure management connection)"
    )


def test_policy_that_is_not_json_is_an_error_finding_and_other_rules_still_run() -> None:
    findings = {f.rule.id: f for f in evaluate_snapshot(snapshot(Cloud.S3, policy="{not json"), SETTINGS)}
    policy_rules = ("s3.no_public_policy", "s3.tls_only", "s3.ip_restricted", "s3.presign_limits", "s3.cross_account")
    for rule_id in policy_rules:
        assert findings[rule_id].status is Status.ERROR
        assert findings[rule_id].detail == (
            "policy is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
        )
    others = {rule_id: f.status for rule_id, f in findings.items() if rule_id not in policy_rules}
    assert others == {rule_id: Status.PASS for rule_id in others}
    assert len(others) == 7


def test_own_account_is_not_cross_account() -> None:
    settings = ComplianceConfig()  # empty allowlist: only the bucket's own account is fine
    policy = policy_with(
        {
            "Sid": "Own",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/sync"},
            "Action": "s3:*",
            "Resource": "*",
        },
        drop=("Partner",),
    )
    finding = next(
        f for f in evaluate_snapshot(snapshot(Cloud.S3, policy=policy), settings) if f.rule.id == "s3.cross_account"
    )
    assert finding.status is Status.PASS


def test_unexpected_snapshot_shape_is_an_error_naming_the_rule_not_a_crash() -> None:
    findings = {f.rule.id: f for f in evaluate_snapshot(snapshot(Cloud.S3, versioning="Enabled"), SETTINGS)}
    assert findings["s3.versioning"].status is Status.ERROR
    assert findings["s3.versioning"].detail == (
        "snapshot not shaped as the s3 API returns it: AttributeError: 'str' object has no attribute 'get'"
    )
    assert findings["s3.tls_only"].status is Status.PASS


def test_s3_good_fixture_is_realistic() -> None:
    # The fixture must use the shapes the S3 API returns, not simplified ones.
    assert isinstance(S3_GOOD["settings"]["policy"], str)


LABEL_STUDIO = "https://label-studio.example.com"
CORS_WITH = {
    Cloud.S3: lambda origins: {"cors": {"CORSRules": [{"AllowedOrigins": origins, "AllowedMethods": ["GET"]}]}},
    Cloud.GCS: lambda origins: {
        "bucket": edited(GCS_GOOD["settings"]["bucket"], "cors", [{"origin": origins, "method": ["GET"]}])
    },
    Cloud.AZURE: lambda origins: {"service_cors": [{"allowedOrigins": origins, "allowedMethods": ["GET"]}]},
}
CORS_RULE = {Cloud.S3: "s3.cors_restricted", Cloud.GCS: "gcs.cors_restricted", Cloud.AZURE: "azure.sas_policy"}


def test_cors_accepts_exactly_the_allowed_origins_when_they_are_set(cloud: Cloud) -> None:
    # Label Studio's front end fetches text and audio by script: its origin is the one CORS needs.
    settings = SETTINGS.model_copy(update={"allowed_origins": (LABEL_STUDIO,)})
    rule = CORS_RULE[cloud]

    def finding(origins: list[str]) -> Any:
        return {f.rule.id: f for f in evaluate_snapshot(snapshot(cloud, **CORS_WITH[cloud](origins)), settings)}[rule]

    assert finding([LABEL_STUDIO]).status is Status.PASS
    stray = finding([LABEL_STUDIO, "https://evil.example"])
    assert stray.status is Status.FAIL and "https://evil.example" in stray.detail and LABEL_STUDIO not in stray.detail
