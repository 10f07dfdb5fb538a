"""The explicit registry of exporters, in the style of OpenLineage's transports.

An exporter is an `Exporter` subclass declaring its canonical Kestra type name (`kind`), its
other names (`aliases`) and its pydantic config model (`config_class`). `@register_exporter`
adds it; a name registered twice is an error. Nothing runs at import time: the built-in
exporter modules are imported the first time `resolve` or `known_kinds` is called.

No I/O here besides those imports.
"""

from __future__ import annotations

import functools
import importlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from shippers.errors import ShipperConfigError
from shippers.report import ShipProgress, ShipReport
from shippers.store_api import ShipStore
from store import codec

__all__ = [
    "BUILTIN_MODULES",
    "AssetPage",
    "EntryPage",
    "ExportEnv",
    "Exporter",
    "FileSink",
    "known_kinds",
    "register_exporter",
    "resolve",
]

BUILTIN_MODULES: Final = ("shippers.file_exporter", "shippers.openlineage_exporter")

#: Matching log entries, the last sequence read to get them, and how many the filters dropped.
EntryPage = tuple[list[codec.LogEntry], int, int]
#: Matching assets and how many the filters dropped.
AssetPage = tuple[list[codec.Asset], int]


class FileSink(Protocol):
    """Where files go when no path is given: the internal storage of the running task."""

    def put(self, local: Path, name: str) -> str:
        """Store `local` under `name`; return its URI (`kestra:///...`)."""
        ...


@dataclass
class ExportEnv:
    """What an exporter may use while running; built by `shippers.ship`."""

    store: ShipStore
    report: ShipReport
    #: Store home, for default file locations (dead letters); None when unknown.
    home: Path | None = None
    sink: FileSink | None = None
    progress: Callable[[ShipProgress], None] | None = None
    total: int | None = None
    done: int = field(default=0)
    #: An httpx client for HTTP exporters (tests pass one with an `httpx.MockTransport`).
    http_client: httpx.Client | None = None

    def advance(self, units: int) -> None:
        """Count `units` read entries (or assets) and tell the progress callback."""
        self.done += units
        if self.progress is not None:
            r = self.report
            self.progress(
                ShipProgress(self.done, self.total, r.shipped, r.retried, r.dead_lettered)
            )


class Exporter(ABC):
    """Base class of every exporter. One instance ships one run."""

    kind: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    config_class: ClassVar[type[BaseModel]] = BaseModel

    def __init__(self, config: BaseModel, env: ExportEnv) -> None:
        self.config = config
        self.env = env

    @abstractmethod
    def ship_events(self, pages: Iterator[EntryPage], commit: Callable[[int], None]) -> None:
        """Export the pages in order; call `commit(seq)` once everything up to `seq` is durably
        delivered (never for a sequence whose entries are not)."""

    @abstractmethod
    def ship_assets(self, pages: Iterator[AssetPage]) -> None:
        """Export the inventory (no offsets)."""


E = TypeVar("E", bound=type[Exporter])

_by_name: dict[str, type[Exporter]] = {}
_lock = threading.RLock()


def register_exporter(cls: E) -> E:
    """Class decorator: register an exporter under its kind and aliases."""
    if not cls.kind:
        raise ShipperConfigError(f"exporter {cls.__qualname__} declares no `kind`")
    names = (cls.kind, *cls.aliases)
    with _lock:
        for name in names:
            owner = _by_name.get(name)
            if owner is not None and owner is not cls:
                raise ShipperConfigError(
                    f"exporter name {name!r} of {cls.__qualname__} is already registered by "
                    f"{owner.__qualname__}"
                )
        for name in names:
            _by_name[name] = cls
    return cls


def unregister_exporter(cls: type[Exporter]) -> None:
    """Remove an exporter (for tests and plugins that replace one)."""
    with _lock:
        for name in (cls.kind, *cls.aliases):
            if _by_name.get(name) is cls:
                del _by_name[name]


@functools.cache
def _load_builtins() -> None:
    with _lock:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def resolve(type_name: str) -> type[Exporter]:
    """The exporter registered under `type_name`; ShipperConfigError listing the known ones."""
    _load_builtins()
    found = _by_name.get(type_name)
    if found is None:
        raise ShipperConfigError(
            f"unknown exporter type {type_name!r}; known types: {', '.join(known_kinds())}"
        )
    return found


def known_kinds() -> list[str]:
    """Every registered name (kinds and aliases), sorted."""
    _load_builtins()
    return sorted(_by_name)
