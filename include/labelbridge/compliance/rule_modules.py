"""The one rule loader: every rule is a module of its package, named after its id.

``s3.tls_only`` lives in ``buckets/rules/s3_tls_only.py``, ``s3log.sigv2`` in
``accesslog/rules/s3log_sigv2.py``. Each module holds ``RULE`` (a
:class:`~labelbridge.compliance.model.RuleMeta`) and the functions its registry calls. Loading
refuses a module whose name and rule id disagree, or whose id has a prefix the registry does not
know, so a renamed rule cannot silently change its id.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Collection, Iterable
from types import ModuleType

from labelbridge.compliance.model import RuleMeta


def module_name_for(rule_id: str) -> str:
    return rule_id.replace(".", "_")


def load_rule_modules(
    package: str, path: Iterable[str], *, prefixes: Collection[str], helpers: Collection[str] = ()
) -> list[ModuleType]:
    """The rule modules of ``package`` (its ``__name__`` and ``__path__``), sorted by name.

    :param helpers: modules of the package that hold no rule (``base``); private (``_``) ones are skipped too.

    :raises ImportError: a module's rule id does not match its name, or starts with none of ``prefixes``.
    """
    modules = []
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in helpers:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        meta: RuleMeta = module.RULE
        if module_name_for(meta.id) != info.name:
            raise ImportError(f"{module.__file__}: rule id {meta.id!r} must live in {module_name_for(meta.id)}.py")
        if meta.id.split(".", 1)[0] not in prefixes:
            raise ImportError(f"{module.__file__}: rule id {meta.id!r} must start with one of {sorted(prefixes)}")
        modules.append(module)
    return modules
