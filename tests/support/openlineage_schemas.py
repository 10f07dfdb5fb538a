"""Validate OpenLineage events offline against the vendored official JSON Schemas.

Core schema by event kind (RunEvent, DatasetEvent, JobEvent, told by `schemaURL`), then every
facet against its own schema, found by (entity, key) from the facet files' top-level
`properties` and the OpenLineage base they extend; format checking on (uuid, date-time, uri).
assetline's custom facet is registered from `shippers.facet_schema`. An unknown facet key is
an error, so a typo in a facet name fails the tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from shippers.facet_schema import ASSETLINE_FACET_SCHEMA

SPEC_DIR: Final = Path(__file__).resolve().parents[1] / "fixtures" / "openlineage-spec"
CORE_ID: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json"

# The base each facet extends -> where such facets sit in an event.
_ENTITY_OF_BASE: Final = {
    "RunFacet": "run",
    "JobFacet": "job",
    "DatasetFacet": "dataset",
    "InputDatasetFacet": "inputDataset",
    "OutputDatasetFacet": "outputDataset",
}


class OpenLineageValidator:
    def __init__(self) -> None:
        documents = [json.loads((SPEC_DIR / "OpenLineage.json").read_text())]
        documents += [
            json.loads(p.read_text()) for p in sorted((SPEC_DIR / "facets").glob("*.json"))
        ]
        documents.append(ASSETLINE_FACET_SCHEMA)
        self.registry: Registry[Any] = Registry().with_resources(
            (doc["$id"], Resource.from_contents(doc)) for doc in documents
        )
        self.format_checker = FormatChecker()
        self.facets: dict[tuple[str, str], Draft202012Validator] = {}
        for doc in documents[1:]:
            for key, ref in doc.get("properties", {}).items():
                # Usually one $ref; LineageFacet offers a dataset and a job variant (anyOf).
                for one in ref.get("anyOf", [ref]):
                    def_name = one["$ref"].rsplit("/", 1)[-1]
                    if "allOf" not in doc["$defs"][def_name]:
                        continue  # BaseSubsetDatasetFacet: a oneOf of input/output facets
                    base = doc["$defs"][def_name]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
                    entity = _ENTITY_OF_BASE[base]
                    ref_url = f"{doc['$id']}#/$defs/{def_name}"
                    self.facets[(entity, key)] = self._validator(ref_url)

    def _validator(self, ref: str) -> Draft202012Validator:
        return Draft202012Validator(
            {"$ref": ref}, registry=self.registry, format_checker=self.format_checker
        )

    def errors(self, event: dict[str, Any]) -> list[str]:
        """Every problem found in one event (empty when it is valid)."""
        kind = str(event.get("schemaURL", "")).rsplit("/", 1)[-1]
        if kind not in ("RunEvent", "DatasetEvent", "JobEvent"):
            return [f"schemaURL {event.get('schemaURL')!r} names no known event kind"]
        found = [
            f"{kind}: {e.json_path}: {e.message}"
            for e in self._validator(f"{CORE_ID}#/$defs/{kind}").iter_errors(event)
        ]
        for entity, path, facets in self._facet_sets(event):
            for key, facet in (facets or {}).items():
                validator = self.facets.get((entity, key))
                if validator is None:
                    found.append(f"{path}.{key}: no {entity} facet schema has the key {key!r}")
                    continue
                found += [
                    f"{path}.{key}: {e.json_path}: {e.message}"
                    for e in validator.iter_errors(facet)
                ]
        return found

    @staticmethod
    def _facet_sets(event: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None]]:
        sets: list[tuple[str, str, dict[str, Any] | None]] = []
        if "run" in event:
            sets.append(("run", "run.facets", event["run"].get("facets")))
        if "job" in event:
            sets.append(("job", "job.facets", event["job"].get("facets")))
        for i, ds in enumerate(event.get("inputs") or []):
            sets.append(("dataset", f"inputs[{i}].facets", ds.get("facets")))
            sets.append(("inputDataset", f"inputs[{i}].inputFacets", ds.get("inputFacets")))
        for i, ds in enumerate(event.get("outputs") or []):
            sets.append(("dataset", f"outputs[{i}].facets", ds.get("facets")))
            sets.append(("outputDataset", f"outputs[{i}].outputFacets", ds.get("outputFacets")))
        if "dataset" in event:
            sets.append(("dataset", "dataset.facets", event["dataset"].get("facets")))
        return sets
