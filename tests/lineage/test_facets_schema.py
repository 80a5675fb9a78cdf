"""labelbridge's custom OpenLineage facets and the JSON schema they name: the packaged facets.json.

Where the ``_schemaURL`` points (the declared Source, at this release) is checked on a built wheel in
``tests/test_wheel.py``; here: the file is a valid JSON Schema, defines every ``$defs`` entry the facets
name, and its local part accepts what the facets serialize to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openlineage.client.facet_v2 import BaseFacet
from openlineage.client.serde import Serde

import labelbridge
from labelbridge.lineage import facets

FACETS_JSON = Path(facets.__file__).with_name("facets.json")
EXAMPLES: list[BaseFacet] = [
    facets.LabelbridgeRunFacet(job="export", counts={"files": 3, "bytes": 1024, "seconds": 0.5},
                               details={"format": "coco"}),
    facets.LabelbridgeExportDatasetFacet(format="coco"),
]


def _schema() -> dict[str, Any]:
    return json.loads(FACETS_JSON.read_text())  # type: ignore[no-any-return]


def test_facets_json_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(_schema())


@pytest.mark.parametrize("facet", EXAMPLES, ids=lambda f: type(f).__name__)
def test_each_facet_names_a_definition_of_the_packaged_facets_json(facet: BaseFacet) -> None:
    url = facets.schema_file_url()
    assert url is not None, "the installed labelbridge metadata declares no Source URL: rerun scripts/setup.sh"
    # facets.json's path inside the installed package is its path under the source tree's include/.
    packaged = FACETS_JSON.relative_to(Path(labelbridge.__file__).parents[1]).as_posix()
    assert packaged == "labelbridge/lineage/facets.json"
    assert url.endswith(f"/include/{packaged}")
    assert facet._schemaURL == f"{url}#/$defs/{type(facet).__name__}"
    assert type(facet).__name__ in _schema()["$defs"]


@pytest.mark.parametrize("facet", EXAMPLES, ids=lambda f: type(f).__name__)
def test_the_definition_accepts_what_the_facet_serializes_to(facet: BaseFacet) -> None:
    definition = _schema()["$defs"][type(facet).__name__]
    base, own = definition["allOf"]
    # The base part is OpenLineage's own spec, fetched from openlineage.io; labelbridge's part is checked here.
    assert base["$ref"].startswith("https://openlineage.io/spec/")
    serialized = Serde.to_dict(facet)
    Draft202012Validator(own).validate(serialized)
    fields = {name for name in serialized if not name.startswith("_")}
    assert fields == set(own["properties"]), "facets.json and the facet class list different fields"
