"""The single writer of a process: events submitted from any thread, committed in batches.

`submit()` queues an event and returns at once; a background thread takes what has queued (up
to `max_batch`, waiting at most `max_delay` for more) and applies it with one `Store.write`.
An event that does not decode or that the store refuses is set aside; the rest of its batch is
committed, and the first such error is raised by the next `flush()` (or `close()`). A failure of
the whole transaction (a full disk, say) is raised the same way and loses that batch only.

This module holds no store semantics: `Store.write` does the work.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from types import TracebackType

from store import codec
from store.errors import StoreClosedError, StoreError
from store.lmdb_store import Store

__all__ = ["BatchingWriter"]


class BatchingWriter:
    """Batches events into `store` from a background thread. Thread-safe."""

    def __init__(self, store: Store, *, max_batch: int = 5000, max_delay: float = 0.01) -> None:
        if max_batch <= 0:
            raise ValueError(f"max_batch must be positive, not {max_batch}")
        self.store = store
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.events_written = 0
        self.commits = 0
        self._queue: deque[bytes | codec.Event] = deque()
        # A plain lock under the condition: `submit` takes it directly (a Condition's own
        # `with` costs twice as much, on every event).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._submitted = 0
        self._done = 0
        self._errors: list[StoreError] = []
        self._waiting = 0  # threads blocked in flush(): commit without waiting for more
        self._closing = False
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="assetline-store-writer", daemon=True
        )
        self._thread.start()

    def submit(self, event: bytes | codec.Event) -> None:
        """Queue one event (msgpack bytes or a codec event); returns at once."""
        with self._lock:
            if self._closing:
                raise StoreClosedError(
                    "the store writer is closed; events can no longer be submitted"
                )
            self._queue.append(event)
            self._submitted += 1
            if len(self._queue) == 1 or len(self._queue) >= self.max_batch:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything submitted so far is committed; raise a failure since the last
        flush (StoreError), or TimeoutError after `timeout` seconds."""
        with self._cond:
            target = self._submitted
            self._cond.notify_all()
            deadline = None if timeout is None else time.monotonic() + timeout
            self._waiting += 1
            try:
                while self._done < target:
                    if not self._thread.is_alive():
                        raise StoreError("the store writer thread stopped unexpectedly")
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(
                            f"store writer: {target - self._done} event(s) still uncommitted "
                            f"after {timeout}s"
                        )
                    self._cond.wait(remaining if remaining is not None else 1.0)
            finally:
                self._waiting -= 1
            self._raise_errors()

    def close(self) -> None:
        """Flush, then stop the thread. Raises what `flush()` would."""
        if self._closed:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._closed = True
        with self._cond:
            self._raise_errors()

    def __enter__(self) -> BatchingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _raise_errors(self) -> None:
        if not self._errors:
            return
        errors, self._errors = self._errors, []
        first = errors[0]
        if len(errors) > 1:
            more = f"{first} (and {len(errors) - 1} more failed event(s))"
            raise type(first)(more) from first
        raise first

    def _take(self) -> list[bytes | codec.Event] | None:
        """The next batch, or None when closing with nothing left."""
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            # Give a trickle a moment to become a batch, unless someone is waiting on it.
            deadline = time.monotonic() + self.max_delay
            while len(self._queue) < self.max_batch and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._waiting:
                    break
                if not self._cond.wait(remaining):
                    break
            queue = self._queue
            if len(queue) <= self.max_batch:
                batch = list(queue)
                queue.clear()
                return batch
            return [queue.popleft() for _ in range(self.max_batch)]

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            errors: list[StoreError] = []
            written = 0
            try:
                report = self.store.write(batch, invalid="skip")
                errors.extend(error for _, error in report.rejected)
                written = len(batch) - len(report.rejected)
                committed = True
            except StoreError as exc:
                errors.append(exc)
                committed = False
            except Exception as exc:  # a bug must reach flush(), not kill the thread silently
                errors.append(StoreError(f"store writer failed: {exc!r}"))
                errors[-1].__cause__ = exc
                committed = False
            with self._cond:
                if committed:
                    self.events_written += written
                    self.commits += 1
                self._errors.extend(errors)
                self._done += len(batch)
                self._cond.notify_all()
