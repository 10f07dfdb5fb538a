"""Types of the compiled `store._ingest` (store/_ingest.c; `store.native` is its one caller)."""

from collections.abc import Callable, Iterator
from typing import Any

class Slice:
    """A key or value of a Records batch: a read-only buffer (bytes(slice) copies it)."""

    def __buffer__(self, flags: int, /) -> memoryview: ...

class Records:
    """The records ingest() made for one database, for putmulti()."""

    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[tuple[Slice, Slice]]: ...

_Records = tuple[Records, Records, Records, Records, Records, Records, Records]
_Lookup = Callable[[list[bytes], list[bytes]], tuple[set[bytes], dict[bytes, tuple[bytes, bytes]]]]

def configure(
    kind_key: Callable[[str, str], bytes], meta_key: Callable[[str, Any], bytes]
) -> None: ...
def ingest(
    items: list[Any],
    start: int,
    limit: int,
    version: int,
    next_seq: int,
    now: float,
    lookup: _Lookup,
) -> tuple[int, int, int, int, int, _Records]: ...
def declined(items: list[Any], start: int, version: int) -> int: ...
