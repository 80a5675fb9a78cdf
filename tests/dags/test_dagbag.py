"""Every DAG file in dags/ imports cleanly, with tags, docs and retries (Astronomer's checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[2] / "dags"
#: Gate tasks fail on a verdict about the data, which retrying cannot change: no retries.
GATE_TASKS = {"check_quarantine", "gate"}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports(dagbag: DagBag) -> None:
    errors = {Path(path).name: message.strip().splitlines()[-1] for path, message in dagbag.import_errors.items()}
    assert errors == {}, f"DAG files failed to import: {errors}"


def test_the_bundled_config_yields_the_sync_dags(dagbag: DagBag) -> None:
    assert {"labelbridge_sync_demo_images", "labelbridge_sync_demo_tasks"} <= set(dagbag.dag_ids)


def test_every_dag_has_tags_docs_and_retries(dagbag: DagBag) -> None:
    problems = []
    for dag_id, dag in dagbag.dags.items():
        file = Path(dag.fileloc).name
        if not dag.tags:
            problems.append(f"{file}: {dag_id} has no tags")
        if not dag.doc_md:
            problems.append(f"{file}: {dag_id} has no doc_md")
        for task in dag.tasks:
            if task.task_id not in GATE_TASKS and (task.retries or 0) < 2:
                problems.append(f"{file}: {dag_id}.{task.task_id} has retries={task.retries} (< 2)")
    assert problems == []


def test_an_invalid_storage_is_a_warning_and_the_others_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "storages.yaml"
    config.write_text(
        "projects: [{name: p}]\n"
        "storages:\n"
        "  - {name: good, project: p, cloud: s3, bucket: b}\n"
        "  - {name: bad, project: p, cloud: dropbox, bucket: b}\n"
    )
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))

    bag = DagBag(dag_folder=str(DAGS / "sync.py"))

    assert bag.import_errors == {}
    assert "labelbridge_sync_good" in bag.dag_ids
    assert "labelbridge_sync_bad" not in bag.dag_ids
    warnings = [str(w) for ws in bag.captured_warnings.values() for w in ws]
    expected = "storages[1] 'bad': field 'cloud': Input should be 's3', 'gcs' or 'azure'"
    assert any(expected in w for w in warnings), warnings
