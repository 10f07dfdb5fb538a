"""Types of the compiled `store._ingest` (store/_ingest.c; `store.native` is its one caller)."""

from collections.abc import Callable
from typing import Any

_Records = tuple[tuple[list[bytes], list[bytes]], ...]
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
