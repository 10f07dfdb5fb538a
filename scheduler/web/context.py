"""What every request handler reaches: the store home, one open store, the optional scheduler.

The store is opened once, on first use, and shared by every request (LMDB readers never block
the writer, and each query is one read transaction). When `assetline server` passes its
scheduler, its store is reused. Writes go only through the scheduler's own paths (deploying a
flow); nothing here writes by itself.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from starlette.requests import Request

from store import Store

__all__ = ["WebContext", "context_of"]


class WebContext:
    """The app's shared state (kept in `app.state.context`)."""

    def __init__(self, home: Path, *, scheduler: Any | None = None) -> None:
        self.home = home
        self.scheduler = scheduler
        self._store: Store | None = None
        self._owned = False
        self._lock = threading.Lock()

    def store(self) -> Store:
        """The open store (opened, and created if missing, on first use)."""
        with self._lock:
            if self._store is None:
                borrowed = getattr(self.scheduler, "store", None)
                if isinstance(borrowed, Store):
                    self._store = borrowed
                else:
                    self._store = Store.open(self.home)
                    self._owned = True
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._owned:
                self._store.close()
            self._store = None


def context_of(request: Request) -> WebContext:
    """The context of the app serving `request` (a FastAPI dependency)."""
    context: WebContext = request.app.state.context
    return context
