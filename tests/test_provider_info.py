"""labelbridge registers as an Airflow provider: what its metadata names exists, and Airflow sees it
(``airflow providers list``, the ``label_studio`` connection type and its form), as Airflow's own
provider tests check theirs."""

from __future__ import annotations

import importlib
import json
import tomllib
from pathlib import Path

import airflow
import jsonschema
import pytest
from airflow._shared.plugins_manager import is_valid_plugin  # what the plugins manager checks
from airflow.sdk import BaseHook, BaseOperatorLink

from labelbridge.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[1]
INFO = get_provider_info()


def _class(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def test_the_metadata_matches_airflows_provider_schema_and_the_package() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(INFO, schema)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert INFO["versions"] == [pyproject["project"]["version"]]
    entry = pyproject["project"]["entry-points"]["apache_airflow_provider"]["provider_info"]
    assert entry == "labelbridge.get_provider_info:get_provider_info"
    # Airflow 3.3 loads the metadata's plugins only with lazy_discover_providers = False; the
    # airflow.plugins entry point must name the same classes for the default.
    plugin_entry_points = pyproject["project"]["entry-points"]["airflow.plugins"]
    assert {name: value.replace(":", ".") for name, value in plugin_entry_points.items()} == {
        plugin["name"]: plugin["plugin-class"] for plugin in INFO["plugins"]
    }


@pytest.mark.parametrize(
    "module", [m for group in INFO["operators"] + INFO["hooks"] for m in group["python-modules"]]
)
def test_every_module_the_metadata_names_imports(module: str) -> None:
    importlib.import_module(module)


def test_every_class_the_metadata_names_is_what_it_claims() -> None:
    for connection in INFO["connection-types"]:
        hook = _class(connection["hook-class-name"])
        assert issubclass(hook, BaseHook) and hook.conn_type == connection["connection-type"]  # type: ignore[attr-defined]
    for link in INFO["extra-links"]:
        assert issubclass(_class(link), BaseOperatorLink)
    assert INFO["plugins"], "the UI plugin is part of the provider"
    for plugin in INFO["plugins"]:
        plugin_class = _class(plugin["plugin-class"])
        assert is_valid_plugin(plugin_class) and plugin_class.name == plugin["name"]  # type: ignore[attr-defined]


def test_airflow_lists_the_provider_its_connection_type_form_and_links() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()  # type: ignore[no-untyped-call]  # the API server's view: providers, forms, links
    assert manager.providers["labelbridge"].version == INFO["versions"][0]
    hook = ProvidersManagerTaskRuntime().hooks["label_studio"]  # type: ignore[no-untyped-call]  # what a task resolves
    assert hook is not None and hook.hook_class_name == "labelbridge.hooks.label_studio.LabelStudioHook"
    form = manager.field_behaviours["label_studio"]
    assert form["hidden_fields"] == ["schema", "login", "port", "extra"]
    assert form["relabeling"] == {"host": "Label Studio URL", "password": "Token"}
    assert set(INFO["extra-links"]) <= set(manager.extra_links_class_names)
    plugins = {(p.name, p.plugin_class) for p in manager.plugins if p.provider_name == "labelbridge"}
    assert plugins == {(p["name"], p["plugin-class"]) for p in INFO["plugins"]}
