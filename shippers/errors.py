"""The shippers package's exceptions, one tree; errors from libraries are converted and chained.

    ShipperError
    ├── ShipperConfigError   an exporter configuration or a filter is not valid
    ├── ExportError          an exporter could not write its output (file, internal storage)
    └── DeliveryError        a lineage backend kept failing after every retry

A `DeliveryError` carries the partial `ShipReport` of the run it ended (what was acknowledged
and committed before it). No I/O here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shippers.report import ShipReport

__all__ = ["DeliveryError", "ExportError", "ShipperConfigError", "ShipperError"]


class ShipperError(Exception):
    """Base of every error the shippers package raises."""


class ShipperConfigError(ShipperError):
    """An exporter configuration, a filter or an option does not validate."""


class ExportError(ShipperError):
    """A file could not be written (disk, internal storage, encoder)."""


class DeliveryError(ShipperError):
    """A backend kept failing (5xx, timeouts, refused connections) after every retry."""

    def __init__(self, message: str, report: ShipReport | None = None) -> None:
        super().__init__(message)
        self.report = report
