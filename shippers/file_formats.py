"""Writers of record batches to one file each: JSON (one array), NDJSON, ION (text and
binary), Parquet and Arrow IPC (file format).

JSON-text columns (`assetline.encoding: json`, see `shippers.batches`) are written as nested
values in JSON, NDJSON and ION, and kept as text in Parquet and Arrow, whose schema carries
the field metadata. Timestamps are RFC 3339 in JSON/NDJSON and ION timestamps in ION.

Each writer writes one local file; naming, splitting and the internal storage are
`shippers.file_exporter`'s job. Every failure is an `ExportError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any, Final

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from shippers.batches import JSON_FIELD_METADATA
from shippers.errors import ExportError

__all__ = ["EXTENSIONS", "BatchFileWriter", "open_writer"]

EXTENSIONS: Final = {
    "JSON": "json",
    "NDJSON": "ndjson",
    "ION": "ion",
    "ION_BINARY": "10n",
    "PARQUET": "parquet",
    "ARROW": "arrow",
}

_json = msgspec.json.Encoder()


def _json_paths(schema: pa.Schema) -> tuple[list[str], list[str]]:
    """Top-level JSON columns, and list<struct> columns whose struct has a `metadata` JSON
    field (the event schema's `outputs`)."""
    top: list[str] = []
    nested: list[str] = []
    for f in schema:
        if f.metadata == JSON_FIELD_METADATA:
            top.append(f.name)
        elif pa.types.is_list(f.type) and pa.types.is_struct(f.type.value_type):
            struct = f.type.value_type
            if any(
                struct.field(i).metadata == JSON_FIELD_METADATA for i in range(struct.num_fields)
            ):
                nested.append(f.name)
    return top, nested


class BatchFileWriter(ABC):
    """Write record batches of one schema to one file; `close()` finishes the file."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            self._write(batch)
        except (OSError, pa.ArrowException, msgspec.MsgspecError, ValueError, TypeError) as exc:
            raise ExportError(f"cannot write {self.path}: {exc}") from exc
        self.rows += batch.num_rows

    def close(self) -> None:
        try:
            self._close()
        except (OSError, pa.ArrowException) as exc:
            raise ExportError(f"cannot finish {self.path}: {exc}") from exc

    @abstractmethod
    def _write(self, batch: pa.RecordBatch) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...


class _RowWriter(BatchFileWriter):
    """Formats written row by row from Python values."""

    def __init__(self, path: Path, schema: pa.Schema, *, parse_json: bool) -> None:
        super().__init__(path, schema)
        self._top, self._nested = _json_paths(schema)
        self._parse = parse_json
        self._fh: IO[bytes] = path.open("wb")

    def _value(self, text: str | None) -> Any:
        if text is None:
            return None
        return msgspec.json.decode(text) if self._parse else msgspec.Raw(text.encode())

    def rows_of(self, batch: pa.RecordBatch) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = batch.to_pylist()
        if not (self._top or self._nested):
            return rows
        for row in rows:
            for name in self._top:
                row[name] = self._value(row[name])
            for name in self._nested:
                for item in row[name] or ():
                    item["metadata"] = self._value(item.get("metadata"))
        return rows

    def _close(self) -> None:
        self._fh.close()


class _NdjsonWriter(_RowWriter):
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path, schema, parse_json=False)

    def _write(self, batch: pa.RecordBatch) -> None:
        rows = self.rows_of(batch)
        if rows:
            self._fh.write(b"\n".join(_json.encode(r) for r in rows) + b"\n")


class _JsonArrayWriter(_RowWriter):
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path, schema, parse_json=False)
        self._fh.write(b"[")
        self._first = True

    def _write(self, batch: pa.RecordBatch) -> None:
        for row in self.rows_of(batch):
            self._fh.write(b"\n" if self._first else b",\n")
            self._fh.write(_json.encode(row))
            self._first = False

    def _close(self) -> None:
        self._fh.write(b"]\n" if self._first else b"\n]\n")
        super()._close()


class _IonWriter(_RowWriter):
    """A stream of top-level ION structs (one per row), text or binary."""

    def __init__(self, path: Path, schema: pa.Schema, *, binary: bool) -> None:
        super().__init__(path, schema, parse_json=True)
        self._binary = binary

    def _write(self, batch: pa.RecordBatch) -> None:
        from amazon.ion import simpleion

        rows = self.rows_of(batch)
        if not rows:
            return
        if self._binary:
            # Each call starts with an ION version marker: concatenated streams stay valid.
            self._fh.write(simpleion.dumps(rows, binary=True, sequence_as_stream=True))
        else:
            text = simpleion.dumps(rows, binary=False, sequence_as_stream=True)
            self._fh.write(text.encode() + b"\n")


class _ParquetWriter(BatchFileWriter):
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path, schema)
        self._writer = pq.ParquetWriter(str(path), schema)

    def _write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def _close(self) -> None:
        self._writer.close()


class _ArrowWriter(BatchFileWriter):
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path, schema)
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_file(self._sink, schema)

    def _write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def _close(self) -> None:
        self._writer.close()
        self._sink.close()


def open_writer(fmt: str, path: Path, schema: pa.Schema) -> BatchFileWriter:
    """A writer of `fmt` (a `FileExporterConfig.format`) creating `path`."""
    try:
        if fmt == "JSON":
            return _JsonArrayWriter(path, schema)
        if fmt == "NDJSON":
            return _NdjsonWriter(path, schema)
        if fmt in ("ION", "ION_BINARY"):
            return _IonWriter(path, schema, binary=fmt == "ION_BINARY")
        if fmt == "PARQUET":
            return _ParquetWriter(path, schema)
        if fmt == "ARROW":
            return _ArrowWriter(path, schema)
    except (OSError, pa.ArrowException) as exc:
        raise ExportError(f"cannot create {path}: {exc}") from exc
    raise ExportError(f"unknown file format {fmt!r}; use one of {', '.join(EXTENSIONS)}")
