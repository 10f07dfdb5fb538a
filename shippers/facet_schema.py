"""The JSON Schema of assetline's custom dataset facet, `assetline_metadata`.

Written like the official facet schemas (a `$defs` entry extending OpenLineage's
DatasetFacet, and a top-level `properties` entry naming the facet key), so any consumer can
validate it the same way. `ASSETLINE_FACET_SCHEMA_URL` is what events carry as `_schemaURL`.

Data only, no I/O.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["ASSETLINE_FACET_SCHEMA", "ASSETLINE_FACET_SCHEMA_ID", "ASSETLINE_FACET_SCHEMA_URL"]

ASSETLINE_FACET_SCHEMA_ID: Final = (
    "https://assetline.dev/spec/facets/1-0-0/AssetlineMetadataDatasetFacet.json"
)
ASSETLINE_FACET_SCHEMA_URL: Final = (
    ASSETLINE_FACET_SCHEMA_ID + "#/$defs/AssetlineMetadataDatasetFacet"
)

ASSETLINE_FACET_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": ASSETLINE_FACET_SCHEMA_ID,
    "$defs": {
        "AssetlineMetadataDatasetFacet": {
            "allOf": [
                {"$ref": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetFacet"},
                {
                    "type": "object",
                    "properties": {
                        "assetId": {
                            "description": "The asset's id in assetline.",
                            "type": "string",
                        },
                        "assetType": {"description": "The asset's type.", "type": "string"},
                        "assetNamespace": {
                            "description": "The asset's namespace.",
                            "type": "string",
                        },
                        "displayName": {"description": "Human-readable name.", "type": "string"},
                        "metadata": {
                            "description": "The asset's metadata, as stored.",
                            "type": "object",
                        },
                    },
                    "required": ["assetId", "metadata"],
                },
            ],
            "type": "object",
        }
    },
    "type": "object",
    "properties": {"assetline_metadata": {"$ref": "#/$defs/AssetlineMetadataDatasetFacet"}},
}
