"""The access-log rules: one module per rule, named after its id (``s3log.sigv2`` lives in
``s3log_sigv2.py``), loaded by :mod:`labelbridge.compliance.rule_modules` as the bucket rules are.

A rule module holds ``RULE`` and its ``KIND``: ``"record"`` (the default) judges request by
request through ``check(request, ctx)`` and ``describe(offence, ctx)`` (and, optionally,
``not_evaluated(ctx)``); ``"window"`` judges the whole day's tally through ``evaluate(denied, ctx)``
(the 403 burst, whose 403s per (bucket, IP, second) merge exactly across shards).
"""

from __future__ import annotations

from types import ModuleType

from labelbridge.compliance.accesslog.rules.base import RecordRule
from labelbridge.compliance.model import RuleMeta
from labelbridge.compliance.rule_modules import load_rule_modules

#: The order of the audit's rule list and findings, as reports have always shown it; a rule
#: missing here comes after these, in id order.
REPORT_ORDER = (
    "s3log.presign_ttl",
    "s3log.presign_long_term_key",
    "s3log.ip_not_allowed",
    "s3log.insecure_transport",
    "s3log.sigv2",
    "s3log.anonymous_success",
    "s3log.account_not_allowed",
    "s3log.burst_403",
)


def _report_position(module: ModuleType) -> tuple[int, str]:
    rule_id: str = module.RULE.id
    return (REPORT_ORDER.index(rule_id) if rule_id in REPORT_ORDER else len(REPORT_ORDER), rule_id)


def _kind(module: ModuleType) -> str:
    return str(getattr(module, "KIND", "record"))


def _record_rule(module: ModuleType) -> RecordRule:
    return RecordRule(
        meta=module.RULE,
        check=module.check,
        describe=module.describe,
        not_evaluated=getattr(module, "not_evaluated", lambda ctx: None),
    )


RULE_MODULES: tuple[ModuleType, ...] = tuple(
    sorted(load_rule_modules(__name__, __path__, prefixes=("s3log",), helpers=("base",)), key=_report_position)
)
RECORD_RULES: tuple[RecordRule, ...] = tuple(_record_rule(m) for m in RULE_MODULES if _kind(m) == "record")
#: The rules judged over the day's tally, not request by request (today the 403 burst alone).
WINDOW_RULES: tuple[ModuleType, ...] = tuple(m for m in RULE_MODULES if _kind(m) == "window")
ALL_RULES: tuple[RuleMeta, ...] = tuple(m.RULE for m in RULE_MODULES)
