"""What a shipping run did (`ShipReport`) and where it stands while running (`ShipProgress`).

Plain data, no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ShipProgress", "ShipReport"]


@dataclass
class ShipReport:
    """Counts of one run of one exporter.

    `shipped` counts delivered records (OpenLineage events, or rows written to files);
    `retried` counts requests sent again after a retriable failure; `dead_lettered` counts
    events a backend refused for good (4xx), written to the dead-letter file;
    `skipped_by_filter` counts log entries (or assets) the filters left out. `first_seq` and
    `last_seq` are the first and last log sequence this run went through (None when it read
    the inventory or found nothing new); `committed_seq` is the offset stored at the end.
    """

    exporter: str
    offset_key: str | None = None
    shipped: int = 0
    retried: int = 0
    dead_lettered: int = 0
    skipped_by_filter: int = 0
    entries_read: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    committed_seq: int | None = None
    files: list[str] = field(default_factory=list)
    dead_letter_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ShipProgress:
    """A snapshot while shipping: `done` of `total` units read (entries or assets)."""

    done: int
    total: int | None
    shipped: int
    retried: int
    dead_lettered: int
