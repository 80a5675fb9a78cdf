"""The built wheel is labelbridge whole: installed beside Airflow, with nothing from this checkout, Airflow
finds its UI plugin (``airflow plugins``), a task process loads that plugin without FastAPI, the provider
is listed, the lineage facets name the facets.json the wheel ships, its ``labelbridge`` command works, and
the repository's DAG files (what users copy into their DAGs folder) build their DAGs from it.

The clean environment is a fresh venv holding only the wheel (installed by uv, as setup.sh installs the
project), which sees the locked dependencies of the development venv through a ``.pth`` file, minus that
venv's own labelbridge (its editable install and metadata): building a second Airflow venv would cost
minutes on a shared two-core machine and prove nothing more about the wheel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labelbridge.get_provider_info import VERSION, get_provider_info

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "include" / "labelbridge"
UV = Path(sys.executable).parent / "uv"
PLUGIN_CLASS = get_provider_info()["plugins"][0]["plugin-class"]


@dataclass(frozen=True)
class CleanEnv:
    wheel: Path
    python: Path
    env: Mapping[str, str]
    cwd: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        return result


def _build_wheel(out: Path) -> Path:
    # Built from a copy of what the Dockerfile copies, so no build/ or egg-info lands in the checkout.
    source = out / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "include", source / "include", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "--quiet", "--wheel-dir", str(out / "dist"), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (wheel,) = (out / "dist").glob("labelbridge-*.whl")
    return wheel


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanEnv]:
    base = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(base)
    venv.EnvBuilder(with_pip=False).create(base / "env")
    python = base / "env" / "bin" / "python"
    subprocess.run([str(UV), "pip", "install", "--python", str(python), "--no-deps", "--no-index", "--quiet",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=120)

    # The development venv's packages, one symlink each, without its labelbridge.
    dependencies = base / "locked-dependencies"
    dependencies.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "labelbridge" not in entry.name.lower():
            (dependencies / entry.name).symlink_to(entry)
    site_packages = next((base / "env" / "lib").glob("python3*/site-packages"))
    # addsitedir, not a plain path line: the dependencies' own .pth files (namespace packages) must run.
    (site_packages / "locked_dependencies.pth").write_text(f"import site; site.addsitedir({str(dependencies)!r})\n")

    home = base / "airflow-home"
    (home / "plugins").mkdir(parents=True)
    env = {
        "PATH": f"{python.parent}:/usr/bin:/bin",
        "HOME": str(base),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),  # empty: the plugin must come from the wheel
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    yield CleanEnv(wheel=wheel, python=python, env=env, cwd=base)


def test_wheel_holds_every_module_and_data_file_of_the_package(clean_env: CleanEnv) -> None:
    with zipfile.ZipFile(clean_env.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"labelbridge-{VERSION}.dist-info/entry_points.txt").decode()
    sources = {
        f"labelbridge/{path.relative_to(PACKAGE).as_posix()}"
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.name != "README.md" and "__pycache__" not in path.parts
    }
    assert sorted(sources - names) == []
    assert {"labelbridge/ui/plugin.py", "labelbridge/ui/app.py", "labelbridge/lineage/facets.json"} <= names
    assert not [name for name in names if not name.startswith(("labelbridge/", f"labelbridge-{VERSION}.dist-info/"))]
    module, _, cls = PLUGIN_CLASS.rpartition(".")
    assert f"[airflow.plugins]\nlabelbridge = {module}:{cls}\n" in entry_points
    provider = "labelbridge.get_provider_info:get_provider_info"
    assert f"[apache_airflow_provider]\nprovider_info = {provider}\n" in entry_points


def test_airflow_plugins_lists_the_wheels_ui_plugin_with_an_empty_plugins_folder(clean_env: CleanEnv) -> None:
    listed = json.loads(clean_env.run(str(clean_env.python), "-m", "airflow", "plugins", "-o", "json").stdout)
    plugins = {p["name"]: p for p in listed}
    assert "labelbridge" in plugins, f"airflow plugins lists only {sorted(plugins)}"
    plugin = plugins["labelbridge"]
    module, _, cls = PLUGIN_CLASS.rpartition(".")
    assert plugin["source"] == (
        f"labelbridge=={VERSION}: EntryPoint(name='labelbridge', value='{module}:{cls}', group='airflow.plugins')"
    )
    assert plugin["fastapi_apps"] == [
        {"app": "fastapi.applications.FastAPI", "url_prefix": "/labelbridge", "name": "labelbridge"}
    ]
    assert [(v["name"], v["destination"], v["href"]) for v in plugin["external_views"]] == [
        ("Compliance reports", "nav", "/labelbridge/reports/"),
        ("Summary", "task_instance", "/labelbridge/tasks/{DAG_ID}/{RUN_ID}/{TASK_ID}/summary?map_index={MAP_INDEX}"),
    ]
    assert plugin["operator_extra_links"] == [
        "<labelbridge.operators.links.BucketConsoleLink object>",
        "<labelbridge.operators.links.ComplianceReportLink object>",
    ]


#: What a task process does with plugins (the Task SDK's plugins manager), then what else the wheel gives.
TASK_PROCESS_PROBE = """
import json, sys, sysconfig
from pathlib import Path

from airflow.sdk import plugins_manager

plugins_manager.integrate_macros_plugins()
loaded, errors = plugins_manager._get_plugins()
watched = ("labelbridge.ui.plugin", "labelbridge.ui.app", "fastapi")
task_view = {"plugins": sorted(p.name for p in loaded), "errors": errors,
             "imported": sorted(m for m in watched if m in sys.modules)}

from airflow.providers_manager import ProvidersManager
import labelbridge
from labelbridge.lineage import facets

facets_json = Path(facets.__file__).with_name("facets.json")
print(json.dumps({"task": task_view, "provider": ProvidersManager().providers["labelbridge"].version,
                  "package": labelbridge.__file__, "schema_url": facets.schema_file_url(),
                  "facets_json": facets_json.relative_to(sysconfig.get_paths()["purelib"]).as_posix()
                  if facets_json.is_file() else None,
                  "run_facet": facets.LabelbridgeRunFacet(job="sync")._schemaURL}))
"""


@pytest.fixture(scope="module")
def probe(clean_env: CleanEnv) -> dict[str, Any]:
    return json.loads(clean_env.run(str(clean_env.python), "-c", TASK_PROCESS_PROBE).stdout)  # type: ignore[no-any-return]


def test_a_task_process_loads_the_plugin_without_fastapi(probe: dict[str, Any]) -> None:
    assert "labelbridge" in probe["task"]["plugins"]
    assert probe["task"]["errors"] == {}
    # The plugin module is imported, its FastAPI app (and FastAPI) only when the API server reads it.
    assert probe["task"]["imported"] == ["labelbridge.ui.plugin"]


def test_the_wheel_is_what_runs_and_is_the_registered_provider(probe: dict[str, Any], clean_env: CleanEnv) -> None:
    assert probe["package"].startswith(str(clean_env.python.parents[1]))
    assert probe["provider"] == VERSION


def test_facets_name_the_facets_json_the_wheel_ships_at_the_declared_source(probe: dict[str, Any]) -> None:
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Source"]
    url = probe["schema_url"]
    assert url == f"{source}/raw/v{VERSION}/include/labelbridge/lineage/facets.json"
    # The file the URL names is the one installed beside the facets, at the same path under include/.
    assert probe["facets_json"] == "labelbridge/lineage/facets.json"
    assert url.endswith(f"/include/{probe['facets_json']}")
    assert probe["run_facet"] == f"{url}#/$defs/LabelbridgeRunFacet"


#: The repository's DAG files parsed by Airflow's DagBag in the clean environment: the DAG factory is the
#: wheel's (labelbridge.operators and the config), the files themselves are what users copy into dags/.
DAG_FILES_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": {k: v[-300:] for k, v in bag.import_errors.items()}}))
"""


def test_the_wheels_cli_checks_a_config_and_lists_its_storages(clean_env: CleanEnv) -> None:
    labelbridge = str(clean_env.python.parent / "labelbridge")  # the wheel's console script
    config = str(ROOT / "config" / "storages.yaml")
    assert "sync one source storage" in clean_env.run(labelbridge, "--help").stdout
    clean_env.run(labelbridge, "config", "check", "--config", config)
    listed = clean_env.run(labelbridge, "storages", "list", "--config", config, "--json").stdout
    assert [json.loads(line)["name"] for line in listed.splitlines()]


def test_the_repositorys_dag_files_build_their_dags_from_the_wheel(clean_env: CleanEnv, tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    shutil.copytree(ROOT / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**clean_env.env, "LABELBRIDGE_CONFIG": str(ROOT / "config" / "storages.yaml")}
    result = subprocess.run([str(clean_env.python), "-c", DAG_FILES_PROBE, str(dags)], env=env, cwd=clean_env.cwd,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    # One sync DAG per source storage of the bundled config, and the other jobs' DAGs.
    assert [d for d in parsed["dags"] if d.startswith("labelbridge_sync")]
    assert {"labelbridge_rotate_urls", "labelbridge_compliance"} <= set(parsed["dags"])
