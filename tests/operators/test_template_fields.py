"""Every operator's ``template_fields`` name attributes its ``__init__`` sets from same-named arguments.

Airflow renders a templated field by reading and writing the attribute of that name; one that
``__init__`` renames or never sets is silently not rendered (the check Airflow's providers run).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from airflow.sdk import BaseOperator

import labelbridge.operators

#: Values for the required arguments of the operators' ``__init__``.
REQUIRED = {"storage": "s", "target": "t", "fmt": "json", "log_name": "logs", "shard": 0, "shards": 1, "project": "p"}


def _operators() -> list[type[BaseOperator]]:
    found = []
    for info in pkgutil.iter_modules(labelbridge.operators.__path__):
        module = importlib.import_module(f"labelbridge.operators.{info.name}")
        found += [
            value
            for name, value in vars(module).items()
            if inspect.isclass(value) and issubclass(value, BaseOperator) and value.__module__ == module.__name__
            and not name.startswith("_")
        ]
    return found


def _init_params(operator: type[BaseOperator]) -> dict[str, inspect.Parameter]:
    params: dict[str, inspect.Parameter] = {}
    for klass in operator.__mro__:
        init = vars(klass).get("__init__")
        if init is not None and klass.__module__.startswith("labelbridge."):
            params.update(inspect.signature(init).parameters)
    return params


OPERATORS = _operators()


def test_every_operator_module_was_found() -> None:
    assert {"BaseSyncOperator", "S3ExportOperator", "RotateUrlsOperator", "ComplianceReportOperator"} <= {
        o.__name__ for o in OPERATORS
    }


@pytest.mark.parametrize("operator", OPERATORS, ids=[o.__name__ for o in OPERATORS])
def test_template_fields_are_init_arguments_stored_unchanged(operator: type[BaseOperator]) -> None:
    params = _init_params(operator)
    kwargs: dict[str, Any] = {
        name: REQUIRED[name]
        for name, p in params.items()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    }
    for field in operator.template_fields:
        assert field in params, f"{operator.__name__}.template_fields names {field!r}, not an __init__ argument"
        kwargs[field] = f"<{field}>"

    task = operator(task_id="t", **kwargs)

    for field in operator.template_fields:
        assert field in vars(task), f"{operator.__name__}.__init__ does not set self.{field}"
        assert getattr(task, field) == f"<{field}>", f"{operator.__name__}.__init__ changes {field!r}"
