"""shippers: lineage out of the store, to files and to OpenLineage backends.

Public API: `ship()` runs one exporter over the event log (resuming at its offset) or the
inventory; `run_asset_shipper()` is the AssetShipper task; the config models validate what
users write; `event_batches`/`asset_batches` stream the store as Arrow record batches.

Importing this package runs nothing: the exporters register when first resolved.
"""

from shippers.asset_shipper import ShipperTaskContext, run_asset_shipper
from shippers.batches import ASSET_SCHEMA, EVENT_SCHEMA, asset_batches, event_batches
from shippers.config import (
    AssetShipperParams,
    DatasetMapping,
    FileExporterConfig,
    OpenLineageExporterConfig,
    RetryConfig,
    ShipFilters,
)
from shippers.errors import DeliveryError, ExportError, ShipperConfigError, ShipperError
from shippers.registry import Exporter, FileSink, known_kinds, register_exporter
from shippers.report import ShipProgress, ShipReport
from shippers.ship import default_offset_key, ship

__all__ = [
    "ASSET_SCHEMA",
    "EVENT_SCHEMA",
    "AssetShipperParams",
    "DatasetMapping",
    "DeliveryError",
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
