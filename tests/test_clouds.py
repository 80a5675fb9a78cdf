"""Each cloud's facts live in one place, its store class, and everything else reads them there."""

from __future__ import annotations

import importlib
import inspect

import pytest

from labelbridge.clouds import Cloud
from labelbridge.compliance.buckets.rules import RULE_PREFIX, rules_for
from labelbridge.compliance.buckets.snapshot import CLOUD_NAMES
from labelbridge.config import Cloud as ConfigCloud
from labelbridge.operators.compliance import BUCKET_SETTINGS_OPERATORS
from labelbridge.operators.export import EXPORT_OPERATORS
from labelbridge.operators.rotate import ROTATE_OPERATORS
from labelbridge.operators.sync import SYNC_OPERATORS
from labelbridge.storage import STORE_CLASSES, ObjectStore, store_class

CLOUDS = list(Cloud)


def _import(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def test_config_re_exports_the_one_cloud_enum() -> None:
    assert ConfigCloud is Cloud


@pytest.mark.parametrize("cloud", CLOUDS, ids=[c.value for c in CLOUDS])
def test_the_store_class_names_its_hook_and_the_hooks_own_defaults(cloud: Cloud) -> None:
    store = store_class(cloud)
    assert store.cloud is cloud and STORE_CLASSES[cloud] is store
    hook = _import(store.hook_class)
    # The provider's own names: a storage without conn_id uses the connection Airflow users expect.
    assert store.hook_conn_arg == hook.conn_name_attr  # type: ignore[attr-defined]
    assert store.hook_conn_arg in inspect.signature(hook.__init__).parameters
    assert store.default_conn_id == hook.default_conn_name  # type: ignore[attr-defined]


@pytest.mark.parametrize("cloud", CLOUDS, ids=[c.value for c in CLOUDS])
def test_the_other_facts_are_read_from_the_store_class(cloud: Cloud) -> None:
    store = store_class(cloud)
    assert "console_url" in vars(store), f"{store.__name__} must say where its console is"
    assert RULE_PREFIX[cloud] == store.rule_prefix
    assert rules_for(cloud) and all(r.meta.id.startswith(f"{store.rule_prefix}.") for r in rules_for(cloud))
    assert CLOUD_NAMES[store.cli_name] is cloud


@pytest.mark.parametrize("cloud", CLOUDS, ids=[c.value for c in CLOUDS])
def test_every_job_has_an_operator_pinned_to_the_cloud(cloud: Cloud) -> None:
    for table in (SYNC_OPERATORS, EXPORT_OPERATORS, ROTATE_OPERATORS, BUCKET_SETTINGS_OPERATORS):
        assert table[cloud].store_class is store_class(cloud), table[cloud].__name__


def test_names_that_identify_a_cloud_are_unique() -> None:
    stores: list[type[ObjectStore]] = list(STORE_CLASSES.values())
    for fact in ("scheme", "hook_class", "default_conn_id", "rule_prefix", "cli_name"):
        values = [getattr(store, fact) for store in stores]
        assert len(set(values)) == len(values), fact
