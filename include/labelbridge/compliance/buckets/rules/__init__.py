"""The bucket-settings rules, one module each; the module name follows the rule id.

``s3.tls_only`` lives in ``s3_tls_only.py``. Each module holds ``RULE`` (a
:class:`~labelbridge.compliance.model.RuleMeta`) and a pure
``evaluate(snapshot, settings) -> Finding``. Loading refuses a module whose name and rule id
disagree, or whose id names another cloud, so a renamed rule cannot silently change its id.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labelbridge.compliance.model import Finding, RuleMeta
from labelbridge.config import Cloud, ComplianceConfig
from labelbridge.storage import STORE_CLASSES

if TYPE_CHECKING:
    from labelbridge.compliance.buckets.snapshot import BucketSnapshot

#: Rule-id prefix per cloud.
RULE_PREFIX: dict[Cloud, str] = {cloud: cls.rule_prefix for cloud, cls in STORE_CLASSES.items()}


@dataclass(frozen=True)
class BucketRule:
    meta: RuleMeta
    cloud: Cloud
    module: str
    evaluate: Callable[[BucketSnapshot, ComplianceConfig], Finding]


def module_name_for(rule_id: str) -> str:
    return rule_id.replace(".", "_")


def _load() -> dict[str, BucketRule]:
    rules: dict[str, BucketRule] = {}
    by_prefix = {prefix: cloud for cloud, prefix in RULE_PREFIX.items()}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        meta: RuleMeta = module.RULE
        if module_name_for(meta.id) != info.name:
            raise ImportError(f"{module.__file__}: rule id {meta.id!r} must live in {module_name_for(meta.id)}.py")
        prefix = meta.id.split(".", 1)[0]
        if prefix not in by_prefix:
            raise ImportError(f"{module.__file__}: rule id {meta.id!r} must start with one of {sorted(by_prefix)}")
        rules[meta.id] = BucketRule(meta, by_prefix[prefix], info.name, module.evaluate)
    return rules


RULES: dict[str, BucketRule] = _load()


def rules_for(cloud: Cloud) -> list[BucketRule]:
    return [rule for rule in RULES.values() if rule.cloud is cloud]
