"""Apply `ShipFilters` to log entries and assets. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shippers.config import ShipFilters
from store import codec

__all__ = ["EntryFilter"]


def _in_namespace(value: str | None, prefix: str) -> bool:
    return value is not None and (value == prefix or value.startswith(prefix + "."))


@dataclass(frozen=True)
class EntryFilter:
    """A compiled `ShipFilters`."""

    filters: ShipFilters

    @property
    def has_asset_filter(self) -> bool:
        return bool(self.filters.assetNamespace or self.filters.assetTypes)

    def asset_matches(self, namespace: str | None, type_: str | None) -> bool:
        f = self.filters
        if f.assetNamespace and not _in_namespace(namespace, f.assetNamespace):
            return False
        return not (f.assetTypes and type_ not in f.assetTypes)

    def _flow_matches(self, namespace: str, flow_id: str) -> bool:
        f = self.filters
        if f.flowNamespace and not _in_namespace(namespace, f.flowNamespace):
            return False
        return not (f.flowId and flow_id != f.flowId)

    def entry_matches(self, entry: codec.LogEntry) -> bool:
        event = entry.event
        if isinstance(event, codec.TaskRunEvent):
            if not self._flow_matches(event.flow_namespace, event.flow_id):
                return False
            if self.filters.taskId and event.task_id != self.filters.taskId:
                return False
            if not self.has_asset_filter:
                return True
            assets: Iterable[tuple[str | None, str | None]] = [
                *((a.namespace, a.type) for a in event.inputs),
                *((a.namespace, a.type) for a in event.outputs),
                *((c.namespace, c.type) for c in entry.changes),
            ]
            return any(self.asset_matches(ns, t) for ns, t in assets)
        if isinstance(event, codec.ExecutionEvent):
            if self.filters.taskId or self.has_asset_filter:
                return False
            return self._flow_matches(event.namespace, event.flow_id)
        # Asset set/delete entries belong to no flow: only asset filters apply to them.
        if self.filters.flowNamespace or self.filters.flowId or self.filters.taskId:
            return False
        if not self.has_asset_filter:
            return True
        return any(self.asset_matches(c.namespace, c.type) for c in entry.changes)

    def asset_record_matches(self, asset: codec.Asset) -> bool:
        return self.asset_matches(asset.namespace, asset.type)
