"""SageMaker Ground Truth through its files: input manifests written to the S3 emulator, output
manifests (fixtures/ground_truth/, built from AWS's documented formats) ingested into the labeling DB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from labelbridge.config import Cloud, GroundTruthConfig, load_config
from labelbridge.tools.ground_truth import TASK_KEY, GroundTruthError, parse_line
from labelbridge.tools.ground_truth.output import _BadLine
from tests.conftest import StoreFactory
from tests.sync import helpers as sync_helpers
from tests.tools.ground_truth_helpers import Setup, make_setup


@pytest.fixture
def setup(new_store: StoreFactory, labeling_dsn: str) -> Setup:
    return make_setup(labeling_dsn, new_store(Cloud.S3))


def manifest_lines(setup: Setup, uri: str) -> list[dict[str, object]]:
    key = setup.store.key_from_uri(uri)
    return [json.loads(line) for line in setup.store.read_bytes(key).decode().splitlines()]


# -- config ---------------------------------------------------------------------------------------


def write_yaml(tmp_path: Path, ground_truth: dict[str, object]) -> Path:
    path = tmp_path / "storages.yaml"
    path.write_text(yaml.safe_dump({"projects": [{"name": "birds", "ground_truth": ground_truth}]}))
    return path


GOOD = {"region": "eu-west-1", "manifests": "s3://gt-in/birds", "outputs": "s3://gt-out/",
        "task_type": "bounding_box", "label_attribute": "bounding-box", "class_map": {0: "dog"}}  # fmt: skip


def test_a_valid_section_loads_with_the_prefix_made_a_folder(tmp_path: Path) -> None:
    config = load_config(write_yaml(tmp_path, GOOD))

    gt = config.project("birds").ground_truth
    assert config.problems == () and gt is not None
    assert (gt.manifests, gt.split(gt.manifests)) == ("s3://gt-in/birds/", ("gt-in", "birds/"))
    assert gt.class_map == {0: "dog"}
    assert [p.name for p in config.ground_truth_projects()] == ["birds"]


@pytest.mark.parametrize(("change", "field", "why"), [
    ({"manifests": "gs://bucket/x/"}, "ground_truth.manifests", "Ground Truth reads S3 only"),
    ({"label_attribute": "box-metadata"}, "ground_truth", "containing '-metadata'"),
    ({"task_type": "semantic_segmentation"}, "ground_truth", "must end in '-ref'"),
    ({"label_attribute": "streets-ref"}, "ground_truth", "only semantic_segmentation names end in '-ref'"),
    ({"task_type": "polygons"}, "ground_truth.task_type", "Input should be"),
    ({"region": "europe"}, "ground_truth.region", "should match pattern"),
    ({"class_map": {"zero": "dog"}}, "ground_truth.class_map.zero.[key]", "valid integer"),
    ({"schedule": "hourly"}, "ground_truth.schedule", "not a cron expression"),
])  # fmt: skip
def test_a_bad_section_names_file_entry_and_field(tmp_path: Path, change: dict[str, object], field: str,
                                                  why: str) -> None:  # fmt: skip
    path = write_yaml(tmp_path, {**GOOD, **change})

    (problem,) = load_config(path).problems
    assert str(problem).startswith(f"{path}: projects[0] 'birds': field '{field}'")
    assert why in str(problem)


# -- input manifests ----------------------------------------------------------------------------


def test_the_manifest_holds_each_new_task_once_then_only_new_ones(setup: Setup) -> None:
    first = setup.manifest()

    assert first.manifest is not None and first.manifest.startswith(f"s3://{setup.store.bucket}/gt-input/proj/input/")
    assert first.manifest.endswith("-new.manifest")
    lines = manifest_lines(setup, first.manifest)
    assert [line["source-ref"] for line in lines] == [f"s3://{setup.store.bucket}/images/{c}.png" for c in "abcdefghi"]
    assert all(set(line) == {"source-ref", TASK_KEY} and isinstance(line[TASK_KEY], int) for line in lines)
    assert (first.counts.lines, first.counts.refused, first.counts.no_source) == (9, {}, 0)

    # Nothing new: no manifest written at all.
    assert setup.manifest().manifest is None
    setup.store.write("images/j.png", b"pixels")
    setup.sync()
    second = setup.manifest()
    assert second.manifest is not None and second.manifest != first.manifest
    assert [line["source-ref"] for line in manifest_lines(setup, second.manifest)] == [
        f"s3://{setup.store.bucket}/images/j.png"]

    full = setup.manifest(full=True)
    assert full.manifest is not None and full.manifest.endswith("-full.manifest") and full.counts.lines == 10
    recorded = setup.rows("SELECT direction, lines FROM ground_truth_manifest ORDER BY id")
    assert recorded == [("input", 9), ("input", 1), ("input", 10)]


def test_a_failed_upload_records_nothing_and_the_next_run_writes_the_tasks_again(setup: Setup) -> None:
    class Refusing(type(setup.store)):  # type: ignore[misc]
        def _write(self, key: str, data: object, *, content_type: str | None) -> None:
            raise RuntimeError("upload interrupted")

    broken = Refusing(setup.store.client, setup.store.bucket)
    with pytest.raises(RuntimeError):
        from labelbridge.tools.ground_truth import write_manifest

        write_manifest(setup.dsn, project=setup.project, stores=[(setup.storage, setup.store)], manifest_store=broken)

    assert setup.rows("SELECT count(*) FROM tool_task") == [(0,)]
    assert setup.manifest().counts.lines == 9


def test_text_tasks_carry_the_text_as_source_and_the_carried_fields(new_store: StoreFactory, labeling_dsn: str
                                                                    ) -> None:  # fmt: skip
    store = new_store(Cloud.S3)
    storage = sync_helpers.storage_for(store, prefix="tasks/", mode="task_files")
    store.write("tasks/reviews.json", sync_helpers.task_file({"text": "great bike", "lang": "en"},
                                                             {"text": "flat tyre", "lang": "en", "shop": 3}))
    from labelbridge.config import ProjectConfig

    project = ProjectConfig.model_validate({"name": "proj", "ground_truth": {
        "region": "us-east-1", "manifests": f"s3://{store.bucket}/gt-input/", "outputs": f"s3://{store.bucket}/o/",
        "task_type": "text_classification", "label_attribute": "sentiment", "source_field": "text",
        "carry_fields": ["lang", "shop"]}})  # fmt: skip
    sync_helpers.sync(labeling_dsn, store, storage, project=project)
    setup = Setup(labeling_dsn, store, storage, project)

    result = setup.manifest()

    assert result.manifest is not None
    lines = manifest_lines(setup, result.manifest)
    assert [{k: v for k, v in line.items() if k != TASK_KEY} for line in lines] == [
        {"source": "great bike", "lang": "en"}, {"source": "flat tyre", "lang": "en", "shop": 3}]


def test_storages_ground_truth_cannot_read_are_refused_with_why_and_the_ip_restriction_pointer(
    setup: Setup, new_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    gcs = new_store(Cloud.GCS)
    gcs_storage = sync_helpers.storage_for(gcs, name="gcs-src", prefix="images/")
    gcs.write("images/x.png", b"pixels")
    sync_helpers.sync(setup.dsn, gcs, gcs_storage, project=setup.project)
    elsewhere = type(setup.store)(setup.store.client, f"{setup.store.bucket}-eu")
    setup.store.client.create_bucket(Bucket=elsewhere.bucket,
                                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})  # fmt: skip
    eu_storage = sync_helpers.storage_for(elsewhere, name="eu-src", prefix="images/")
    elsewhere.write("images/y.png", b"pixels")
    sync_helpers.sync(setup.dsn, elsewhere, eu_storage, project=setup.project)
    stores = [(setup.storage, setup.store), (gcs_storage, gcs), (eu_storage, elsewhere)]

    result = setup.manifest(stores=stores)

    assert result.manifest is not None and result.counts.lines == 9  # the us-east-1 bucket's objects only
    assert result.counts.refused == {"gcs-src": 1, "eu-src": 1}
    assert "on gcs: Ground Truth reads only S3 buckets in its job's region (us-east-1)" in result.refusals["gcs-src"]
    assert f"bucket '{elsewhere.bucket}' is in eu-west-1, the labeling jobs in us-east-1" in result.refusals["eu-src"]
    assert "aws:SourceIp / aws:VpcSourceIp" in caplog.text and "s3.ip_restricted" in caplog.text

    with pytest.raises(GroundTruthError, match=r"can read none of its storages: .*aws:SourceIp.*s3\.ip_restricted"):
        setup.manifest(stores=stores[1:])


# -- output manifests ---------------------------------------------------------------------------


def test_boxes_are_ingested_in_percent_and_bad_lines_quarantined_with_where_and_why(setup: Setup) -> None:
    key = setup.put_output("bounding_box.manifest", "identify-dogs-and-toys")

    result = setup.ingest()

    c = result.counts
    assert (c.manifests_read, c.lines, c.created, c.quarantined, c.unlabeled, c.boxes_clipped) == (1, 9, 4, 4, 1, 1)
    found = setup.annotations()
    assert sorted(found) == ["a.png", "b.png", "c.png", "h.png"]
    dog, bone = found["a.png"]
    assert dog == {"from_name": "bounding-box", "to_name": "image", "type": "rectanglelabels", "score": 0.8,
                   "original_width": 500, "original_height": 400, "image_rotation": 0,
                   "value": {"x": 22.2, "y": 33.5, "width": 12.2, "height": 32.0, "rotation": 0,
                             "rectanglelabels": ["dog"]}}  # fmt: skip
    assert bone["value"]["rectanglelabels"] == ["bone"] and bone["score"] == 0.9
    assert found["c.png"] == []  # labeled: nothing in it
    # Reaching past the right and top edges: cut back to the 200x100 image.
    assert found["h.png"][0]["value"] == {"x": 75.0, "y": 0.0, "width": 25.0, "height": 50.0, "rotation": 0,
                                          "rectanglelabels": ["dog"]}  # fmt: skip
    uri = setup.store.uri(key)
    quarantined = setup.rows("SELECT manifest_uri, line, reason FROM ground_truth_quarantine ORDER BY line")
    assert [(u, n) for u, n, _ in quarantined] == [(uri, 4), (uri, 5), (uri, 6), (uri, 7)]
    reasons = [r for _, _, r in quarantined]
    assert reasons[0] == "'bounding-box' without its 'bounding-box-metadata': class names, job and date unknown"
    assert reasons[1] == ("class id 7 is in neither the job's class-map nor ground_truth.class_map "
                          "(known: 0, 5)")  # fmt: skip
    assert reasons[2] == "annotations[0] (400,10 50x50) lies outside the 300x300 image"
    assert reasons[3] == "not JSON: Expecting value at character 66"
    extra = setup.rows("SELECT extra FROM annotation a JOIN task t ON t.id = a.task_id WHERE t.uri LIKE '%%/a.png'")
    assert extra == [({"updated_at": "2018-10-18T22:18:13.527256", "job_name": "identify-dogs-and-toys",
                       "human_annotated": "yes", "type": "groundtruth/object-detection", "manifest": uri,
                       "line": 1},)]  # fmt: skip


def test_an_ingested_manifest_is_not_read_again_and_a_relabeled_object_updates_its_annotation(setup: Setup) -> None:
    setup.put_output("bounding_box.manifest", "identify-dogs-and-toys")
    setup.ingest()
    stamps = setup.rows("SELECT id, updated_at FROM annotation ORDER BY id")

    again = setup.ingest()
    assert (again.counts.manifests_read, again.counts.manifests_skipped, again.counts.lines) == (0, 1, 0)

    setup.put_output("bounding_box_relabel.manifest", "identify-dogs-and-toys-2")
    third = setup.ingest()
    assert (third.counts.manifests_read, third.counts.manifests_skipped) == (1, 1)
    assert (third.counts.created, third.counts.updated) == (0, 1)
    a = setup.annotations()["a.png"]
    assert [r["value"]["rectanglelabels"] for r in a] == [["bone"]] and a[0]["value"]["x"] == 20.0
    assert setup.rows("SELECT count(*) FROM annotation") == [(4,)]  # one per task: updated, not added
    # Everything read again (--full): nothing rewritten, since no label's date moved.
    full = setup.ingest(full=True)
    assert (full.counts.manifests_read, full.counts.created, full.counts.updated) == (2, 0, 0)
    assert full.counts.unchanged == 5
    assert [r for r in setup.rows("SELECT id, updated_at FROM annotation ORDER BY id") if r[0] != stamps[0][0]] == \
        stamps[1:]


def test_the_input_manifests_task_id_finds_the_task_through_the_loop(setup: Setup) -> None:
    written = setup.manifest()
    assert written.manifest is not None
    # What Ground Truth does: every input line comes back with the label beside its keys.
    labeled = []
    for line in manifest_lines(setup, written.manifest)[:2]:
        line["sport"] = 0
        line["sport-metadata"] = {
            "class-name": "football", "confidence": 0.0, "type": "groundtruth/image-classification",
            "job-name": "j", "human-annotated": "yes", "creation-date": "2026-01-01T00:00:00"}  # fmt: skip
        line["source-ref"] = "s3://elsewhere/renamed.png"  # the id wins over the URI
        labeled.append(json.dumps(line))
    setup.store.write("gt-output/j/manifests/output/output.manifest", "\n".join(labeled).encode())
    setup.project = setup.project.model_copy(update={"ground_truth": setup.gt.model_copy(update={
        "task_type": "image_classification", "label_attribute": "sport"})})  # fmt: skip

    result = setup.ingest()

    assert (result.counts.created, result.counts.quarantined) == (2, 0)
    assert sorted(setup.annotations()) == ["a.png", "b.png"]


def test_classification_single_and_multi_label(new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(Cloud.S3)
    single = make_setup(labeling_dsn, store, task_type="image_classification", label_attribute="sport",
                        class_map={1: "basketball"})  # fmt: skip
    single.put_output("image_classification.manifest", "identify-sport")
    assert single.ingest().counts.created == 2
    choices = {name: [r["value"]["choices"] for r in result] for name, result in single.annotations().items()}
    # b.png's metadata names no class: storages.yaml's class_map does.
    assert choices == {"a.png": [["football"]], "b.png": [["basketball"]]}
    assert single.annotations()["a.png"][0]["type"] == "choices"

    multi = make_setup(labeling_dsn, store, images=(), task_type="image_classification_multilabel",
                       label_attribute="image-label-attribute-name")  # fmt: skip
    multi.store.delete("gt-output/identify-sport/manifests/output/output.manifest")
    multi.put_output("image_classification_multilabel.manifest", "multi")
    result = multi.ingest()
    assert (result.counts.updated, result.counts.quarantined) == (0, 1)
    assert [r["value"]["choices"] for r in multi.annotations()["a.png"]] == [["Bicycle", "Motorcycle"]]
    (reason,) = multi.rows("SELECT reason FROM ground_truth_quarantine")
    assert reason == ("class id 3 is in neither the job's class-map nor ground_truth.class_map (known: 0, 1)",)


def test_semantic_segmentation_keeps_the_label_map_reference(new_store: StoreFactory, labeling_dsn: str) -> None:
    setup = make_setup(labeling_dsn, new_store(Cloud.S3), task_type="semantic_segmentation",
                       label_attribute="city-streets-ref")  # fmt: skip
    setup.put_output("semantic_segmentation.manifest", "label-city-streets")

    assert setup.ingest().counts.created == 1
    (region,) = setup.annotations()["a.png"]
    assert region["type"] == "labelmap" and region["from_name"] == "city-streets-ref"
    assert region["value"]["labelmap"] == (f"s3://{setup.store.bucket}/gt-output/label-city-streets/annotations/"
                                           "consolidated-annotation/output/0_2018-10-18T22:18:13.527256.png")
    assert region["value"]["classes"]["2"] == {"class_name": "road", "hex_color": "#f28333"}


@pytest.mark.parametrize(("line", "why"), [
    ([1, 2], "not a JSON object but list"),
    ({"source-ref": "s3://b/k", "bounding-box": {},
      "bounding-box-metadata": {"type": "groundtruth/image-classification"}},
     "metadata type 'groundtruth/image-classification', expected 'groundtruth/object-detection'"),
    ({"bounding-box": {}, "bounding-box-metadata": {"type": "groundtruth/object-detection"}},
     "no way to find its task"),
    ({"source-ref": "s3://b/k", "bounding-box": {"image_size": [{"width": 0, "height": 5}], "annotations": []},
      "bounding-box-metadata": {"type": "groundtruth/object-detection"}}, "is not a positive size"),
    ({"source-ref": "s3://b/k"}, "no 'bounding-box' key"),
])  # fmt: skip
def test_what_makes_a_line_bad(line: object, why: str) -> None:
    gt = GroundTruthConfig(region="us-east-1", manifests="s3://bkt/i/", outputs="s3://bkt/o/", task_type="bounding_box",
                           label_attribute="bounding-box")  # fmt: skip
    with pytest.raises(_BadLine, match=why.replace("(", r"\(").replace(")", r"\)")):
        parse_line(line, gt)
