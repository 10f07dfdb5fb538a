"""The file exporter (`io.kestra.plugin.ee.assets.FileAssetExporter`): the event log or the
inventory to JSON, NDJSON, ION, Parquet or Arrow IPC files.

Where files go:
- `path` names a file: one file there (each run replaces it with what that run shipped);
  with `maxLinesPerFile`, numbered parts `<stem>-00001<suffix>`, `<stem>-00002<suffix>`...
- `path` names a folder (it exists, or ends with `/`), or no `path` and the internal storage:
  files named `<logFilePrefix>-<firstSeq>-<lastSeq>.<ext>` for the event log (so a rerun over
  the same entries rewrites the same file) and `<logFilePrefix>-assets-<part>.<ext>` for the
  inventory.

Exactly once: each file is written under a temporary name and renamed (or put into the
internal storage) when complete; the offset is committed right after, to the last sequence
that file holds. A crash leaves at most a temporary file, which the next run replaces. When a
run starts no new file because no entry matched, the offset still moves past what it read.

This module writes files; it never sends anything over the network.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from shippers.batches import ASSET_SCHEMA, EVENT_SCHEMA, assets_to_batch, entries_to_batch
from shippers.config import FILE_EXPORTER_TYPE, FileExporterConfig
from shippers.errors import ExportError, ShipperConfigError
from shippers.file_formats import EXTENSIONS, BatchFileWriter, open_writer
from shippers.registry import AssetPage, EntryPage, ExportEnv, Exporter, register_exporter

__all__ = ["FileExporter"]


class _Target:
    """Names and finishes the files of one run."""

    def __init__(self, config: FileExporterConfig, env: ExportEnv) -> None:
        self.config = config
        self.env = env
        self.ext = EXTENSIONS[config.format]
        self.single: Path | None = None
        self.folder: Path | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if config.path:
            target = Path(config.path).expanduser()
            if config.path.endswith(("/", os.sep)) or target.is_dir():
                self.folder = target
            else:
                self.single = target
        elif env.sink is None:
            raise ShipperConfigError(
                f"file exporter {config.id!r}: no `path` given and no internal storage to "
                "write to; set `path` (a file or a folder)"
            )
        else:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="assetline-ship-")
            self.folder = Path(self._tmpdir.name)
        place = self.single.parent if self.single else self.folder
        assert place is not None
        try:
            place.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot create the folder {place}: {exc}") from exc

    def temp_path(self, part: int) -> Path:
        place = self.single.parent if self.single else self.folder
        assert place is not None
        return place / f".assetline-ship-{os.getpid()}-{part}.{self.ext}.tmp"

    def final_name(self, part: int, split: bool, label: str) -> Path:
        if self.single is not None:
            if not split:
                return self.single
            return self.single.with_name(f"{self.single.stem}-{part:05d}{self.single.suffix}")
        assert self.folder is not None
        return self.folder / f"{self.config.logFilePrefix}-{label}.{self.ext}"

    def finish(self, tmp: Path, final: Path) -> str:
        """Move a complete temporary file into place; return where it now lives."""
        try:
            tmp.replace(final)
        except OSError as exc:
            raise ExportError(f"cannot move {tmp} to {final}: {exc}") from exc
        if self._tmpdir is None:
            return str(final)
        assert self.env.sink is not None
        try:
            return self.env.sink.put(final, final.name)
        finally:
            final.unlink(missing_ok=True)

    def cleanup(self) -> None:
        if self._tmpdir is not None:
            self._tmpdir.cleanup()


@register_exporter
class FileExporter(Exporter):
    kind: ClassVar[str] = FILE_EXPORTER_TYPE
    aliases: ClassVar[tuple[str, ...]] = ("file", "FileAssetExporter")
    config_class = FileExporterConfig

    @property
    def cfg(self) -> FileExporterConfig:
        assert isinstance(self.config, FileExporterConfig)
        return self.config

    def _split(self, batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[pa.RecordBatch, bool]]:
        """Cut batches at `maxLinesPerFile`: (slice, whether its file is full after it)."""
        limit = self.cfg.maxLinesPerFile
        in_file = 0
        for batch in batches:
            start = 0
            while start < batch.num_rows:
                room = batch.num_rows - start if limit is None else limit - in_file
                piece = batch.slice(start, min(room, batch.num_rows - start))
                start += piece.num_rows
                in_file += piece.num_rows
                full = limit is not None and in_file >= limit
                if full:
                    in_file = 0
                yield piece, full

    def _write_all(
        self,
        schema: pa.Schema,
        batches: Iterator[pa.RecordBatch],
        label: Callable[[pa.RecordBatch | None, pa.RecordBatch | None, int], str],
        on_file: Callable[[pa.RecordBatch | None], None],
        *,
        always_one_file: bool,
    ) -> None:
        """Write every batch to as many files as `maxLinesPerFile` asks; after each file is
        in place, call `on_file` with its last slice."""
        target = _Target(self.cfg, self.env)
        split = self.cfg.maxLinesPerFile is not None
        writer: BatchFileWriter | None = None
        first: pa.RecordBatch | None = None
        last: pa.RecordBatch | None = None
        part = 0

        def close_file() -> None:
            nonlocal writer, first, last
            assert writer is not None
            writer.close()
            final = target.final_name(part, split, label(first, last, part))
            self.env.report.files.append(target.finish(writer.path, final))
            self.env.report.shipped += writer.rows
            ended = last
            writer, first, last = None, None, None
            on_file(ended)

        try:
            for piece, full in self._split(batches):
                if writer is None:
                    part += 1
                    writer = open_writer(self.cfg.format, target.temp_path(part), schema)
                    first = piece
                writer.write(piece)
                last = piece
                if full:
                    close_file()
            if writer is None and always_one_file and part == 0:
                part = 1
                writer = open_writer(self.cfg.format, target.temp_path(part), schema)
            if writer is not None:
                close_file()
        except BaseException:
            if writer is not None:
                writer.path.unlink(missing_ok=True)
            raise
        finally:
            target.cleanup()

    def ship_events(self, pages: Iterator[EntryPage], commit: Callable[[int], None]) -> None:
        read_upto: int | None = None

        def batches() -> Iterator[pa.RecordBatch]:
            nonlocal read_upto
            for entries, last_seq, skipped in pages:
                self.env.report.skipped_by_filter += skipped
                read_upto = last_seq
                self.env.advance(len(entries) + skipped)
                if entries:
                    yield entries_to_batch(entries)

        def seq_of(batch: pa.RecordBatch | None, row: int) -> int:
            assert batch is not None
            return int(batch.column("seq")[row].as_py())

        def seq_label(first: pa.RecordBatch | None, last: pa.RecordBatch | None, _: int) -> str:
            assert last is not None
            return f"{seq_of(first, 0):012d}-{seq_of(last, last.num_rows - 1):012d}"

        def on_file(last: pa.RecordBatch | None) -> None:
            # Rows are in log order: everything up to the file's last row is now delivered
            # (in this file, in an earlier one, or dropped by the filters).
            if last is not None and last.num_rows:
                commit(seq_of(last, last.num_rows - 1))

        self._write_all(EVENT_SCHEMA, batches(), seq_label, on_file, always_one_file=False)
        if read_upto is not None:
            commit(read_upto)

    def ship_assets(self, pages: Iterator[AssetPage]) -> None:
        def batches() -> Iterator[pa.RecordBatch]:
            for assets, skipped in pages:
                self.env.report.skipped_by_filter += skipped
                self.env.advance(len(assets) + skipped)
                if assets:
                    yield assets_to_batch(assets)

        self._write_all(
            ASSET_SCHEMA,
            batches(),
            lambda _first, _last, part: f"assets-{part:05d}",
            lambda _last: None,
            always_one_file=True,
        )
