"""Config models, the exporter registry and the public API list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

import shippers
from shippers.config import (
    AssetShipperParams,
    FileExporterConfig,
    OpenLineageExporterConfig,
)
from shippers.errors import ShipperConfigError
from shippers.registry import known_kinds, resolve
from shippers.ship import default_offset_key, parse_exporter_config


def test_public_api_is_pinned() -> None:
    assert sorted(shippers.__all__) == [
        "ASSET_SCHEMA",
        "AssetShipperParams",
        "DatasetMapping",
        "DeliveryError",
        "EVENT_SCHEMA",
        "ExportError",
        "Exporter",
        "FileExporterConfig",
        "FileSink",
        "OpenLineageExporterConfig",
        "RetryConfig",
        "ShipFilters",
        "ShipProgress",
        "ShipReport",
        "ShipperConfigError",
        "ShipperError",
        "ShipperTaskContext",
        "asset_batches",
        "default_offset_key",
        "event_batches",
        "known_kinds",
        "register_exporter",
        "run_asset_shipper",
        "ship",
    ]


def test_asset_shipper_params_with_kestra_type_names() -> None:
    params = AssetShipperParams.model_validate(
        {
            "assetExporters": [
                {
                    "id": "file",
                    "type": "io.kestra.plugin.ee.assets.FileAssetExporter",
                    "format": "ion",
                },
                {
                    "id": "ol",
                    "type": "io.kestra.plugin.ee.openlineage.OpenLineageAssetExporter",
                    "uri": "http://localhost:5000/",
                    "mappings": {
                        "io.kestra.plugin.ee.assets.Table": {
                            "namespace": "postgres://db",
                            "name": "{id}",
                        }
                    },
                },
            ],
            "lookbackPeriod": "PT6H",
            "flowNamespace": "company",
        }
    )
    file_cfg, ol_cfg = params.assetExporters
    assert isinstance(file_cfg, FileExporterConfig) and file_cfg.format == "ION"
    assert isinstance(ol_cfg, OpenLineageExporterConfig) and ol_cfg.uri == "http://localhost:5000"
    assert params.lookbackPeriod == timedelta(hours=6)
    assert params.filters().flowNamespace == "company"


def test_default_lookback_is_one_day() -> None:
    params = AssetShipperParams.model_validate({"assetExporters": [{"type": "file"}]})
    assert params.lookbackPeriod == timedelta(days=1)


def test_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(ValidationError, match="maxLinePerFile"):
        FileExporterConfig.model_validate({"maxLinePerFile": 3})


def test_repeated_exporter_ids_are_refused() -> None:
    with pytest.raises(ValidationError, match="ids must be unique; repeated: a"):
        AssetShipperParams.model_validate(
            {"assetExporters": [{"id": "a", "type": "file"}, {"id": "a", "type": "file"}]}
        )


def test_exporter_id_follows_kestra_pattern() -> None:
    with pytest.raises(ValidationError, match="String should match pattern"):
        FileExporterConfig(id="-bad")


def test_uri_must_be_http() -> None:
    with pytest.raises(ValidationError, match="uri must start with http:// or https://"):
        OpenLineageExporterConfig(uri="ftp://x")


def test_reserved_headers_are_refused() -> None:
    with pytest.raises(ValidationError, match="headers may not set Content-Type"):
        OpenLineageExporterConfig(uri="http://x", headers={"Content-Type": "text/plain"})


def test_parse_exporter_config_reports_field_and_message() -> None:
    with pytest.raises(ShipperConfigError, match=r"invalid exporter configuration: .*batchSize"):
        parse_exporter_config({"type": "openlineage", "uri": "http://x", "batchSize": 0})


def test_unknown_exporter_type_lists_known_ones() -> None:
    with pytest.raises(
        ShipperConfigError, match=r"unknown exporter type 'kafka'; known types: .*file"
    ):
        parse_exporter_config({"type": "kafka"})


def test_registry_resolves_kestra_names_and_aliases() -> None:
    assert resolve("file") is resolve("io.kestra.plugin.ee.assets.FileAssetExporter")
    assert resolve("openlineage").kind == "io.kestra.plugin.ee.openlineage.OpenLineageAssetExporter"
    assert "openlineage" in known_kinds()


def test_default_offset_key_is_one_per_exporter() -> None:
    assert default_offset_key(FileExporterConfig(id="nightly")) == "file.nightly"
    assert default_offset_key(OpenLineageExporterConfig(uri="http://x")) == "openlineage.default"


def test_registering_without_a_kind_or_twice_is_refused() -> None:
    from shippers.registry import Exporter, register_exporter, unregister_exporter

    class Nameless(Exporter):
        def ship_events(self, pages: Any, commit: Any) -> None: ...

        def ship_assets(self, pages: Any) -> None: ...

    with pytest.raises(ShipperConfigError, match="declares no `kind`"):
        register_exporter(Nameless)

    class Clash(Nameless):
        kind = "clash-test"
        aliases = ("file",)

    with pytest.raises(
        ShipperConfigError, match=r"exporter name 'file' of .*Clash is already registered"
    ):
        register_exporter(Clash)

    class Fine(Nameless):
        kind = "fine-test"

    register_exporter(Fine)
    assert resolve("fine-test") is Fine
    unregister_exporter(Fine)
    with pytest.raises(ShipperConfigError, match="unknown exporter type 'fine-test'"):
        resolve("fine-test")


def test_unknown_file_format_is_an_export_error(tmp_path: Any) -> None:
    from shippers.batches import ASSET_SCHEMA
    from shippers.errors import ExportError
    from shippers.file_formats import open_writer

    with pytest.raises(ExportError, match="unknown file format 'CSV'; use one of JSON, NDJSON"):
        open_writer("CSV", tmp_path / "x.csv", ASSET_SCHEMA)
