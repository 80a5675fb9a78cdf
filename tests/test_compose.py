"""docker-compose.yml, validated offline, and kept in step with docs/deploy.md and the stack script.

There is no Docker engine in CI: the file is checked against the compose-spec JSON schema that
check-jsonschema vendors (``--builtin-schema vendor.compose-spec``, from
https://github.com/compose-spec/compose-spec/blob/main/schema/compose-spec.json via SchemaStore).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")

AIRFLOW_SERVICES = {
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def doc_table(heading: str) -> list[list[str]]:
    """Rows of the first Markdown table under ``## heading`` in docs/deploy.md, cells stripped."""
    text = DEPLOY_DOC.read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def first_column(heading: str) -> list[str]:
    return [row[0].strip("`") for row in doc_table(heading)]


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_matches_the_compose_spec_schema() -> None:
    result = check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    # Guards against a vacuous pass (e.g. an unresolved YAML merge key or a schema that accepts anything).
    broken = compose()
    broken["services"]["airflow-scheduler"]["healthcheck"]["intervall"] = "30s"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = check_jsonschema(path)
    assert result.returncode == 1
    assert "['airflow-scheduler']: Unevaluated properties are not allowed" in result.stdout


def test_services_are_the_ones_docs_deploy_lists() -> None:
    assert sorted(compose()["services"]) == sorted(first_column("Services"))


def test_airflow_services_run_airflow_3_3_2_with_the_project_mounted() -> None:
    services = compose()["services"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11" in dockerfile
    for name, command in AIRFLOW_SERVICES.items():
        service = services[name]
        assert service["build"]["args"]["AIRFLOW_IMAGE"] == "apache/airflow:3.3.2-python3.11", name
        if command is not None:
            assert service["command"] == command, name
        mounts = {volume.split(":")[1] for volume in service["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/include", "/opt/airflow/config"} <= mounts
        # The UI plugin comes with the package installed in the image, not from a plugins folder.
        assert "/opt/airflow/plugins" not in mounts, name
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_init_migrates_both_databases_and_the_others_wait_for_it() -> None:
    services = compose()["services"]
    assert services["airflow-init"]["command"] == ["bash", "-c", "airflow db migrate && labelbridge db upgrade"]
    for name in set(AIRFLOW_SERVICES) - {"airflow-init"}:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"] == {"condition": "service_completed_successfully"}, name
        for database in ("airflow-db", "labeling-db", "redis"):
            assert depends[database] == {"condition": "service_healthy"}, f"{name} -> {database}"


def test_every_long_running_service_has_a_health_check() -> None:
    services = compose()["services"]
    one_shot = {"airflow-init"}
    emulators = {name for name, service in services.items() if "emulators" in service.get("profiles", [])}
    missing = [name for name in sorted(set(services) - one_shot - emulators) if "healthcheck" not in services[name]]
    assert missing == []


def test_shared_environment_is_the_one_docs_deploy_lists() -> None:
    documented = first_column("Environment")
    for name in AIRFLOW_SERVICES:
        environment = compose()["services"][name]["environment"]
        assert sorted(environment.keys() - {"DUMB_INIT_SETSID"}) == sorted(documented), name


def test_labeling_connection_is_json_for_the_labeling_db_service() -> None:
    raw = compose()["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_LABELING_DB"]
    filled = raw.replace("${LABELING_DB_PASSWORD:?set LABELING_DB_PASSWORD in .env}", "secret")
    import json

    assert json.loads(filled) == {
        "conn_type": "postgres",
        "host": "labeling-db",
        "port": 5432,
        "schema": "labeling",
        "login": "labelbridge",
        "password": "secret",
    }


def test_secrets_have_no_defaults() -> None:
    text = COMPOSE.read_text()
    for variable in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
                     "AIRFLOW_DB_PASSWORD", "LABELING_DB_PASSWORD"):
        assert re.search(rf"\$\{{{variable}:\?", text), f"{variable} must be required (${{{variable}:?…}})"
        assert not re.search(rf"\$\{{{variable}:-", text), f"{variable} must not have a default"


def test_stack_script_sets_the_same_shared_environment(tmp_path: Path) -> None:
    from devservices import stack

    settings = stack.StackSettings.from_env(state_dir=tmp_path, environ={})
    env = stack.shared_env(settings, secrets=stack.Secrets.generate(), server_dsn="postgresql://postgres@127.0.0.1:5432/postgres")
    assert sorted(env) == sorted(first_column("Environment"))
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://127.0.0.1:{settings.api_port}/execution/"


def test_readme_deploy_section_names_every_service() -> None:
    readme = ROOT / "README.md"
    if not readme.exists() or "\n## Deploy" not in readme.read_text():
        pytest.skip("README.md has no '## Deploy' section yet")
    section = readme.read_text().split("\n## Deploy", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in first_column("Services") if f"`{name}`" not in section]
    assert missing == [], "README's Deploy section must name these services (see docs/deploy.md)"
