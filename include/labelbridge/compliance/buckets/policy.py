"""S3 bucket policies as real ones look, normalized once so rules ask simple questions.

Real policies vary in shape, and every variant is legal: the document as a JSON string or an
already-parsed object; ``Statement`` as one object or a list; ``Action`` / ``Resource`` /
``Principal`` as a string, a list, or ``{"AWS": ...}``; ``NotPrincipal`` / ``NotAction`` /
``NotResource``; condition operators with an ``IfExists`` suffix and a ``ForAnyValue:`` /
``ForAllValues:`` prefix; condition keys in any case (IAM compares them case-insensitively);
booleans as ``"false"`` or ``false``. :func:`parse_policy` accepts all of them and raises
:class:`PolicyParseError` on anything else, with where and why.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from labelbridge.errors import ComplianceInputError


class PolicyParseError(ComplianceInputError, ValueError):
    """The policy is not JSON, or not shaped like an IAM policy."""


@dataclass(frozen=True)
class Condition:
    """One key test inside a statement's ``Condition`` block.

    ``operator`` is the base operator (``StringEquals``, ``Bool``, ``NotIpAddress``) without
    the ``IfExists`` suffix or set prefix, which are kept apart.
    """

    operator: str
    key: str  # lower-cased: IAM condition keys are case-insensitive
    values: tuple[str, ...]
    if_exists: bool = False
    set_operator: str | None = None  # "ForAnyValue" / "ForAllValues"

    def is_(self, operator: str, key: str) -> bool:
        return self.operator.lower() == operator.lower() and self.key == key.lower()


@dataclass(frozen=True)
class Principal:
    """``Principal`` or ``NotPrincipal``: ``everyone`` for ``"*"`` / ``{"AWS": "*"}``."""

    everyone: bool
    aws: tuple[str, ...] = ()
    other: tuple[tuple[str, str], ...] = ()  # (kind, value): Service, Federated, CanonicalUser


@dataclass(frozen=True)
class Statement:
    effect: str  # "Allow" / "Deny"
    sid: str | None
    principal: Principal | None
    not_principal: Principal | None
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: tuple[Condition, ...]

    @property
    def is_deny(self) -> bool:
        return self.effect == "Deny"

    @property
    def is_allow(self) -> bool:
        return self.effect == "Allow"

    def applies_to_everyone(self) -> bool:
        """Whether the statement's principals include any caller (``*``, or ``NotPrincipal``)."""
        if self.not_principal is not None:
            return True  # "everyone except ...": for a Deny or an Allow alike, that is everyone else
        return self.principal is not None and self.principal.everyone

    def covers_action(self, action: str) -> bool:
        if self.not_actions:
            return not _any_glob(self.not_actions, action)
        return _any_glob(self.actions, action)

    def covers_resource(self, arn: str) -> bool:
        if self.not_resources:
            return not _any_glob(self.not_resources, arn)
        return _any_glob(self.resources, arn)

    def conditions_on(self, key: str) -> list[Condition]:
        return [c for c in self.conditions if c.key == key.lower()]

    @property
    def label(self) -> str:
        return f"statement {self.sid!r}" if self.sid else "statement"


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]

    def denies(self) -> list[Statement]:
        return [s for s in self.statements if s.is_deny]

    def allows(self) -> list[Statement]:
        return [s for s in self.statements if s.is_allow]


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def objects_arn(bucket: str, key: str = "any-object") -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def parse_policy(document: str | bytes | Mapping[str, Any]) -> Policy:
    """Normalize a bucket policy.

    :param document: the policy as ``get_bucket_policy`` returns it (a JSON string) or parsed.
    :raises PolicyParseError: not JSON, or not an IAM policy; the message says where.
    """
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise PolicyParseError(f"policy is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise PolicyParseError(f"policy: expected a JSON object, got {type(document).__name__}")
    raw = _field(document, "Statement")
    if raw is None:
        raise PolicyParseError("policy: no 'Statement'")
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list):
        raise PolicyParseError(f"policy: 'Statement' must be an object or a list, got {type(raw).__name__}")
    return Policy(tuple(_statement(item, index) for index, item in enumerate(items)))


def _statement(item: Any, index: int) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(item, Mapping):
        raise PolicyParseError(f"{where}: expected an object, got {type(item).__name__}")
    effect = _field(item, "Effect")
    if not isinstance(effect, str) or effect.capitalize() not in ("Allow", "Deny"):
        raise PolicyParseError(f"{where}: 'Effect' must be Allow or Deny, got {effect!r}")
    sid = _field(item, "Sid")
    return Statement(
        effect=effect.capitalize(),
        sid=str(sid) if sid not in (None, "") else None,
        principal=_principal(_field(item, "Principal"), f"{where}.Principal"),
        not_principal=_principal(_field(item, "NotPrincipal"), f"{where}.NotPrincipal"),
        actions=_strings(_field(item, "Action"), f"{where}.Action"),
        not_actions=_strings(_field(item, "NotAction"), f"{where}.NotAction"),
        resources=_strings(_field(item, "Resource"), f"{where}.Resource"),
        not_resources=_strings(_field(item, "NotResource"), f"{where}.NotResource"),
        conditions=_conditions(_field(item, "Condition"), f"{where}.Condition"),
    )


def _field(item: Mapping[str, Any], name: str) -> Any:
    # Element names are case-sensitive to IAM, but hand-written policies in the wild (and
    # some tools' output) vary the case; reading them leniently beats calling them absent.
    if name in item:
        return item[name]
    lowered = name.lower()
    return next((v for k, v in item.items() if isinstance(k, str) and k.lower() == lowered), None)


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # `false` and `"false"` mean the same to IAM
    if isinstance(value, str | int | float):
        return str(value)
    raise PolicyParseError(f"{where}: expected a string, got {type(value).__name__}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_scalar(v, f"{where}[{i}]") for i, v in enumerate(value))
    return (_scalar(value, where),)


def _principal(value: Any, where: str) -> Principal | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value == "*":
            return Principal(everyone=True)
        return Principal(everyone=False, aws=(value,))
    if not isinstance(value, Mapping):
        raise PolicyParseError(f'{where}: expected "*" or an object, got {type(value).__name__}')
    aws: list[str] = []
    other: list[tuple[str, str]] = []
    for kind, members in value.items():
        names = _strings(members, f"{where}.{kind}")
        if str(kind).upper() == "AWS":
            aws.extend(names)
        else:
            other.extend((str(kind), name) for name in names)
    everyone = "*" in aws
    return Principal(everyone=everyone, aws=tuple(a for a in aws if a != "*"), other=tuple(other))


_SET_PREFIX = re.compile(r"^(ForAnyValue|ForAllValues):", re.IGNORECASE)


def _conditions(value: Any, where: str) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise PolicyParseError(f"{where}: expected an object, got {type(value).__name__}")
    found: list[Condition] = []
    for raw_operator, tests in value.items():
        if not isinstance(tests, Mapping):
            raise PolicyParseError(f"{where}.{raw_operator}: expected an object of key: value(s)")
        operator = str(raw_operator)
        set_operator = None
        prefix = _SET_PREFIX.match(operator)
        if prefix:
            set_operator = "ForAnyValue" if prefix.group(1).lower() == "foranyvalue" else "ForAllValues"
            operator = operator[prefix.end() :]
        if_exists = operator.lower().endswith("ifexists")
        if if_exists:
            operator = operator[: -len("IfExists")]
        for key, values in tests.items():
            found.append(
                Condition(
                    operator=operator,
                    key=str(key).lower(),
                    values=_strings(values, f"{where}.{raw_operator}.{key}"),
                    if_exists=if_exists,
                    set_operator=set_operator,
                )
            )
    return tuple(found)


def _any_glob(patterns: Iterable[str], value: str) -> bool:
    # IAM wildcards: `*` and `?`; actions match case-insensitively, and so (leniently) do ARNs.
    lowered = value.lower()
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in patterns)


# Questions several rules ask -----------------------------------------------------------------


def is_false(condition: Condition) -> bool:
    return condition.operator.lower() == "bool" and any(v.lower() == "false" for v in condition.values)


def networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The IP ranges among ``values``; anything that is not one is skipped by the caller's check."""
    found = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            continue
    return found


_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):")


def account_of(principal: str) -> str | None:
    """The 12-digit account of an AWS principal (account id, or IAM/STS ARN), else ``None``."""
    if re.fullmatch(r"\d{12}", principal):
        return principal
    match = _ACCOUNT_IN_ARN.match(principal)
    return match.group(1) if match else None
