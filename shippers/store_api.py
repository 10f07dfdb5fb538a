"""The slice of the store's API the shippers use, as a Protocol (`store.Store` satisfies it).

Shippers only read the event log and the inventory and keep their offsets; they never write
assets or lineage. Tests may pass any object with these methods. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from store import codec

__all__ = ["ShipStore"]


class ShipStore(Protocol):
    def read_log(self, after: int = 0, limit: int = 1000) -> list[codec.LogEntry]: ...

    def last_seq(self) -> int: ...

    def iter_assets(
        self, *, batch_size: int = 10_000, after: str | None = None
    ) -> Iterator[list[codec.Asset]]: ...

    def count_assets(self) -> int: ...

    def get_asset(self, asset_id: str) -> codec.Asset | None: ...

    def get_offset(self, key: str) -> int | None: ...

    def set_offset(self, key: str, seq: int) -> None: ...
