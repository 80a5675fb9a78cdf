"""The access-log rules: one module per rule, named after its id (``s3log.sigv2`` lives in
``s3log_sigv2.py``). All but the 403 burst are judged request by request."""

from __future__ import annotations

from types import ModuleType

from labelbridge.compliance.accesslog.rules import (
    s3log_account_not_allowed,
    s3log_anonymous_success,
    s3log_burst_403,
    s3log_insecure_transport,
    s3log_ip_not_allowed,
    s3log_presign_long_term_key,
    s3log_presign_ttl,
    s3log_sigv2,
)
from labelbridge.compliance.accesslog.rules.base import RecordRule
from labelbridge.compliance.model import RuleMeta


def _record_rule(module: ModuleType) -> RecordRule:
    return RecordRule(
        meta=module.RULE,
        check=module.check,
        describe=module.describe,
        not_evaluated=getattr(module, "not_evaluated", lambda ctx: None),
    )


RULE_MODULES: tuple[ModuleType, ...] = (
    s3log_presign_ttl,
    s3log_presign_long_term_key,
    s3log_ip_not_allowed,
    s3log_insecure_transport,
    s3log_sigv2,
    s3log_anonymous_success,
    s3log_account_not_allowed,
    s3log_burst_403,
)
RECORD_RULES: tuple[RecordRule, ...] = tuple(_record_rule(m) for m in RULE_MODULES if m is not s3log_burst_403)
BURST_RULE: RuleMeta = s3log_burst_403.RULE
ALL_RULES: tuple[RuleMeta, ...] = tuple(m.RULE for m in RULE_MODULES)
