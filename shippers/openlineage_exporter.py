"""The OpenLineage exporter (`io.kestra.plugin.ee.openlineage.OpenLineageAssetExporter`).

Reads log entries page by page, builds their events (`shippers.openlineage_events`), groups
whole entries into requests of about `batchSize` events and hands them to the
`HttpTransport`, at most `maxConcurrency` requests in flight.

Offsets: requests are numbered in log order; when request k is acknowledged (delivered or
dead-lettered) and every request before it too, the offset is committed to the last sequence
request k covers (entries with no event, and entries the filters dropped, are covered by the
next request, or committed directly when nothing is in flight). So after a crash the next run
starts right after the last acknowledged, committed event. Two residual windows remain, both
at-least-once: (1) a crash between a backend's acknowledgement and the offset commit that
follows it resends that request; (2) with `maxConcurrency > 1`, requests acknowledged out of
order (after one still pending) are not committed yet and are resent after a crash. With
the default `maxConcurrency: 1`, only window (1) exists, and it is as small as one LMDB
commit.

With `source: ASSETS` it sends one DatasetEvent per inventory asset instead (no offset).
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import ClassVar

from shippers.config import OPENLINEAGE_EXPORTER_TYPE, OpenLineageExporterConfig
from shippers.filters import EntryFilter
from shippers.http_transport import DeadLetterFile, HttpTransport
from shippers.naming import DatasetNamer
from shippers.openlineage_events import EventBuilder, OutgoingEvent
from shippers.registry import AssetPage, EntryPage, Exporter, register_exporter

__all__ = ["OpenLineageExporter"]

#: Assets looked up in the store are cached per run (least recently used first out), up to
#: this many: enough for the assets a stream of task runs keeps reusing, small enough that
#: the cache does not become a large live set for the garbage collector to scan again and
#: again (50,000 cost a fifth of the CPU time of a run).
_CACHE_SIZE = 4096


@register_exporter
class OpenLineageExporter(Exporter):
    kind: ClassVar[str] = OPENLINEAGE_EXPORTER_TYPE
    aliases: ClassVar[tuple[str, ...]] = ("openlineage", "OpenLineageAssetExporter")
    config_class = OpenLineageExporterConfig

    #: Set by `shippers.ship` before shipping.
    entry_filter: EntryFilter | None = None
    transport: HttpTransport | None = None

    @property
    def cfg(self) -> OpenLineageExporterConfig:
        assert isinstance(self.config, OpenLineageExporterConfig)
        return self.config

    def dead_letter_path(self) -> Path:
        if self.cfg.deadLetterPath:
            return Path(self.cfg.deadLetterPath).expanduser()
        home = self.env.home or Path.cwd()
        key = (self.env.report.offset_key or self.cfg.id).replace("/", "_")
        return home / "dead-letter" / f"{key}.ndjson"

    def _transport(self) -> HttpTransport:
        if self.transport is None:
            self.transport = HttpTransport(
                self.cfg, DeadLetterFile(self.dead_letter_path()), client=self.env.http_client
            )
        self.env.report.dead_letter_file = str(self.transport.dead_letter.path)
        return self.transport

    def _builder(self) -> EventBuilder:
        return EventBuilder(
            DatasetNamer(self.cfg.mappings),
            functools.lru_cache(maxsize=_CACHE_SIZE)(self.env.store.get_asset),
            entry_filter=self.entry_filter,
            emit_executions=self.cfg.emitExecutionEvents,
        )

    def _sync_counts(self, transport: HttpTransport) -> None:
        report = self.env.report
        report.shipped = transport.stats.delivered
        report.retried = transport.stats.retried
        report.dead_lettered = transport.stats.dead_lettered

    def ship_events(self, pages: Iterator[EntryPage], commit: Callable[[int], None]) -> None:
        transport = self._transport()
        builder = self._builder()
        window = self.cfg.maxConcurrency
        lock = threading.Lock()
        # (upto seq, future) in log order; the head is committed once its future is done.
        in_flight: deque[tuple[int, Future[None]]] = deque()
        group: list[OutgoingEvent] = []
        group_upto: int | None = None

        def drain(block_until: int) -> None:
            """Commit done requests at the head; wait while more than `block_until` remain."""
            while in_flight:
                upto, future = in_flight[0]
                if future.done():
                    future.result()  # re-raises DeliveryError
                    in_flight.popleft()
                    commit(upto)
                    continue
                if len(in_flight) <= block_until:
                    return
                # Only the head's completion lets the window move (offsets are committed in
                # order): waiting for any request spun while a later one was already done.
                wait([future])
            self._sync_counts(transport)

        with ThreadPoolExecutor(max_workers=window, thread_name_prefix="ol-send") as pool:

            def submit(events: list[OutgoingEvent], upto: int) -> None:
                drain(window - 1)
                with lock:
                    in_flight.append((upto, pool.submit(transport.send, events)))

            try:
                for entries, last_seq, skipped in pages:
                    self.env.report.skipped_by_filter += skipped
                    for entry in entries:
                        group.extend(builder.for_entry(entry))
                        group_upto = entry.seq
                        # One entry per request when requests carry one event each: the
                        # offset then moves entry by entry.
                        limit = self.cfg.batchSize if transport.may_batch else 1
                        if len(group) >= limit:
                            submit(group, entry.seq)
                            group, group_upto = [], None
                    if group:
                        group_upto = last_seq
                    elif in_flight:
                        # Nothing pending of this page: its tail is committed with the
                        # requests in flight, by making the last one cover it.
                        upto, future = in_flight.pop()
                        in_flight.append((max(upto, last_seq), future))
                    else:
                        commit(last_seq)
                    drain(window)
                    self._sync_counts(transport)
                    self.env.advance(len(entries) + skipped)
                if group:
                    assert group_upto is not None
                    submit(group, group_upto)
                drain(0)
            finally:
                for _, future in in_flight:
                    future.cancel()
                self._sync_counts(transport)
                transport.close()

    def ship_assets(self, pages: Iterator[AssetPage]) -> None:
        transport = self._transport()
        builder = self._builder()
        try:
            for assets, skipped in pages:
                self.env.report.skipped_by_filter += skipped
                events = [builder.dataset_event(a) for a in assets]
                for start in range(0, len(events), self.cfg.batchSize):
                    transport.send(events[start : start + self.cfg.batchSize])
                self._sync_counts(transport)
                self.env.advance(len(assets) + skipped)
        finally:
            self._sync_counts(transport)
            transport.close()
