"""An in-memory double of the store's read side and offsets (the `ShipStore` protocol), for
unit tests of the shippers that need no LMDB file. It keeps the real contract: `read_log`
returns entries with seq > after in order, `iter_assets` pages by id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from store import codec


class MemoryStore:
    def __init__(self) -> None:
        self.log: list[codec.LogEntry] = []
        self.assets: dict[str, codec.Asset] = {}
        self.offsets: dict[str, int] = {}
        self.offset_writes: list[tuple[str, int]] = []

    def append(
        self,
        event: codec.Event,
        *,
        time: float | None = None,
        changes: Sequence[codec.AssetChange] = (),
    ) -> codec.LogEntry:
        seq = len(self.log) + 1
        when = time if time is not None else 1_700_000_000.0 + seq
        entry = codec.LogEntry(seq=seq, time=when, event=event, changes=list(changes))
        self.log.append(entry)
        return entry

    def put_asset(self, asset: codec.Asset) -> None:
        self.assets[asset.id] = asset

    def read_log(self, after: int = 0, limit: int = 1000) -> list[codec.LogEntry]:
        return [e for e in self.log if e.seq > after][:limit]

    def last_seq(self) -> int:
        return self.log[-1].seq if self.log else 0

    def iter_assets(
        self, *, batch_size: int = 10_000, after: str | None = None
    ) -> Iterator[list[codec.Asset]]:
        ids = sorted(i for i in self.assets if after is None or i > after)
        for start in range(0, len(ids), batch_size):
            yield [self.assets[i] for i in ids[start : start + batch_size]]

    def count_assets(self) -> int:
        return len(self.assets)

    def get_asset(self, asset_id: str) -> codec.Asset | None:
        return self.assets.get(asset_id)

    def get_offset(self, key: str) -> int | None:
        return self.offsets.get(key)

    def set_offset(self, key: str, seq: int) -> None:
        self.offsets[key] = seq
        self.offset_writes.append((key, seq))
