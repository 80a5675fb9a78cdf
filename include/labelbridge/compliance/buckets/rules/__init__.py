"""The bucket-settings rules, one module each; the module name follows the rule id.

``s3.tls_only`` lives in ``s3_tls_only.py``. Each module holds ``RULE`` (a
:class:`~labelbridge.compliance.model.RuleMeta`) and a pure
``evaluate(snapshot, settings) -> Finding``. Loading (:mod:`labelbridge.compliance.rule_modules`,
shared with the access-log rules) refuses a module whose name and rule id disagree, or whose id
names another cloud, so a renamed rule cannot silently change its id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labelbridge.compliance.model import Finding, RuleMeta
from labelbridge.compliance.rule_modules import load_rule_modules
from labelbridge.compliance.rule_modules import module_name_for as module_name_for
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


def _load() -> dict[str, BucketRule]:
    by_prefix = {prefix: cloud for cloud, prefix in RULE_PREFIX.items()}
    rules: dict[str, BucketRule] = {}
    for module in load_rule_modules(__name__, __path__, prefixes=by_prefix):
        meta: RuleMeta = module.RULE
        name = module.__name__.rsplit(".", 1)[1]
        rules[meta.id] = BucketRule(meta, by_prefix[meta.id.split(".", 1)[0]], name, module.evaluate)
    return rules


RULES: dict[str, BucketRule] = _load()


def rules_for(cloud: Cloud) -> list[BucketRule]:
    return [rule for rule in RULES.values() if rule.cloud is cloud]
