"""Bucket-policy parsing holds up to every shape real policies take (issue 8's list)."""

from __future__ import annotations

import json

import pytest

from labelbridge.compliance.buckets.policy import PolicyParseError, account_of, parse_policy

TLS_DENY = {
    "Sid": "TLSOnly",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::images", "arn:aws:s3:::images/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def test_policy_as_json_string_and_as_object_parse_alike() -> None:
    document = {"Version": "2012-10-17", "Statement": [TLS_DENY]}
    assert parse_policy(json.dumps(document)) == parse_policy(document)
    assert parse_policy(json.dumps(document).encode()) == parse_policy(document)


def test_statement_as_single_object() -> None:
    policy = parse_policy({"Version": "2012-10-17", "Statement": TLS_DENY})
    assert len(policy.statements) == 1
    assert policy.statements[0].sid == "TLSOnly"


@pytest.mark.parametrize(
    "action", ["s3:GetObject", ["s3:GetObject"], ["s3:PutObject", "s3:Get*"], "s3:*", "*", "S3:getobject"]
)
def test_action_as_string_list_or_wildcard(action: object) -> None:
    statement = parse_policy({"Statement": {**TLS_DENY, "Action": action}}).statements[0]
    assert statement.covers_action("s3:GetObject")


@pytest.mark.parametrize("resource", ["arn:aws:s3:::images/*", ["arn:aws:s3:::images/*"], "*"])
def test_resource_as_string_or_list(resource: object) -> None:
    statement = parse_policy({"Statement": {**TLS_DENY, "Resource": resource}}).statements[0]
    assert statement.covers_resource("arn:aws:s3:::images/cat.jpg")


@pytest.mark.parametrize(
    ("principal", "everyone", "aws"),
    [
        ("*", True, ()),
        ({"AWS": "*"}, True, ()),
        ({"AWS": ["*"]}, True, ()),
        ({"AWS": "arn:aws:iam::111122223333:root"}, False, ("arn:aws:iam::111122223333:root",)),
        (
            {"AWS": ["111122223333", "arn:aws:iam::444455556666:role/x"]},
            False,
            ("111122223333", "arn:aws:iam::444455556666:role/x"),
        ),
        ({"Service": "logging.s3.amazonaws.com"}, False, ()),
    ],
)
def test_principal_shapes(principal: object, everyone: bool, aws: tuple[str, ...]) -> None:
    statement = parse_policy({"Statement": {**TLS_DENY, "Principal": principal}}).statements[0]
    assert statement.principal is not None
    assert statement.principal.everyone is everyone
    assert statement.principal.aws == aws
    assert statement.applies_to_everyone() is everyone


def test_not_principal_applies_to_everyone_else() -> None:
    raw = {k: v for k, v in TLS_DENY.items() if k != "Principal"}
    statement = parse_policy(
        {"Statement": {**raw, "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}}}
    ).statements[0]
    assert statement.principal is None
    assert statement.applies_to_everyone()


def test_not_action_covers_everything_else() -> None:
    raw = {k: v for k, v in TLS_DENY.items() if k != "Action"}
    statement = parse_policy({"Statement": {**raw, "NotAction": ["s3:PutObject"]}}).statements[0]
    assert statement.covers_action("s3:GetObject")
    assert not statement.covers_action("s3:PutObject")


def test_not_resource_covers_everything_else() -> None:
    raw = {k: v for k, v in TLS_DENY.items() if k != "Resource"}
    statement = parse_policy({"Statement": {**raw, "NotResource": "arn:aws:s3:::images/public/*"}}).statements[0]
    assert statement.covers_resource("arn:aws:s3:::images/cat.jpg")
    assert not statement.covers_resource("arn:aws:s3:::images/public/a.jpg")


@pytest.mark.parametrize(
    ("operator", "base", "if_exists", "set_operator"),
    [
        ("NotIpAddress", "NotIpAddress", False, None),
        ("NotIpAddressIfExists", "NotIpAddress", True, None),
        ("ForAnyValue:StringEquals", "StringEquals", False, "ForAnyValue"),
        ("ForAllValues:StringLikeIfExists", "StringLike", True, "ForAllValues"),
        ("foranyvalue:StringEquals", "StringEquals", False, "ForAnyValue"),
    ],
)
def test_condition_operator_prefixes_and_suffixes(
    operator: str, base: str, if_exists: bool, set_operator: str | None
) -> None:
    statement = parse_policy(
        {"Statement": {**TLS_DENY, "Condition": {operator: {"aws:SourceIp": "10.0.0.0/8"}}}}
    ).statements[0]
    (condition,) = statement.conditions
    assert (condition.operator, condition.if_exists, condition.set_operator) == (base, if_exists, set_operator)
    assert condition.values == ("10.0.0.0/8",)


@pytest.mark.parametrize("key", ["aws:SecureTransport", "AWS:SECURETRANSPORT", "aws:securetransport"])
def test_condition_keys_in_any_case(key: str) -> None:
    statement = parse_policy({"Statement": {**TLS_DENY, "Condition": {"Bool": {key: "false"}}}}).statements[0]
    assert len(statement.conditions_on("aws:SecureTransport")) == 1


@pytest.mark.parametrize("value", ["false", False, ["false"], [False]])
def test_boolean_false_as_string_or_json(value: object) -> None:
    statement = parse_policy(
        {"Statement": {**TLS_DENY, "Condition": {"Bool": {"aws:SecureTransport": value}}}}
    ).statements[0]
    assert statement.conditions[0].values == ("false",)


def test_policy_that_is_not_json_names_the_parse_error() -> None:
    with pytest.raises(PolicyParseError) as info:
        parse_policy('{"Version": "2012-10-17", "Statement": [')
    assert str(info.value).startswith("policy is not valid JSON: Expecting value: line 1 column 41")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[]", "policy: expected a JSON object, got list"),
        ({"Version": "2012-10-17"}, "policy: no 'Statement'"),
        ({"Statement": "Allow"}, "policy: 'Statement' must be an object or a list, got str"),
        ({"Statement": [{"Effect": "Maybe"}]}, "Statement[0]: 'Effect' must be Allow or Deny, got 'Maybe'"),
        ({"Statement": [TLS_DENY, 3]}, "Statement[1]: expected an object, got int"),
        (
            {"Statement": {**TLS_DENY, "Condition": {"Bool": "x"}}},
            "Statement[0].Condition.Bool: expected an object of key: value(s)",
        ),
        ({"Statement": {**TLS_DENY, "Action": {"x": 1}}}, "Statement[0].Action: expected a string, got dict"),
    ],
)
def test_malformed_policies_say_where(document: object, message: str) -> None:
    with pytest.raises(PolicyParseError) as info:
        parse_policy(document)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("principal", "account"),
    [
        ("111122223333", "111122223333"),
        ("arn:aws:iam::111122223333:root", "111122223333"),
        ("arn:aws:sts::111122223333:assumed-role/r/s", "111122223333"),
        ("arn:aws-cn:iam::111122223333:user/u", "111122223333"),
        ("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be", None),
    ],
)
def test_account_of(principal: str, account: str | None) -> None:
    assert account_of(principal) == account
