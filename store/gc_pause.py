"""Pausing Python's cyclic garbage collector while a batch is decoded and applied.

A batch makes tens of thousands of small acyclic objects (decoded events, assets, keys); with
the collector on, their allocation triggers collections that rescan them, which about doubles
the cost of a write. Reference counting still frees everything. The pause is process-wide, so
it is counted: the collector runs again when the last concurrent pauser leaves, and a collector
someone else turned off stays off.

No I/O here; nothing store-specific either.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


class _Pauses:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def enter(self) -> bool:
        with self.lock:
            if self.count == 0 and not gc.isenabled():
                return False
            self.count += 1
            gc.disable()
            return True

    def leave(self) -> None:
        with self.lock:
            self.count -= 1
            if self.count == 0:
                gc.enable()


_pauses = _Pauses()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (see the module docstring)."""
    paused = _pauses.enter()
    try:
        yield
    finally:
        if paused:
            _pauses.leave()
