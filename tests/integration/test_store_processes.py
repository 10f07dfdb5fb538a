"""The store across processes: a reader in another process during writes, and a writer killed
with SIGKILL in the middle of an ingest loop (committed = durable, nothing half-written)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from store import Store
from tests.integration.test_store_semantics import task_run

pytestmark = pytest.mark.integration

# LMDB environments must not cross fork(): children start fresh.
_spawn = multiprocessing.get_context("spawn")
BATCH = 10


def _reader(home: str, until: int, results: Any, ready: Any) -> None:
    """Read counts repeatedly until `until` assets show up; report what was seen."""
    seen: list[int] = []
    deadline = time.monotonic() + 60
    with Store.open(home, readonly=True) as store:
        ready.set()  # a loaded machine can take longer to spawn this than the writes take
        while time.monotonic() < deadline:
            count = store.count_assets()
            page = store.find_assets(type="Item", limit=5)
            # One snapshot per call: a batch is all there or not at all. The page is read
            # after the count, so it sees at least as much.
            seen.append(count)
            assert len(page) >= min(5, count)
            if count >= until:
                break
            time.sleep(0.001)
    results.put(seen)


def test_reader_in_another_process_reads_while_writer_writes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    batches = 60
    with Store.open(home) as store:
        results = _spawn.Queue()
        ready = _spawn.Event()
        reader = _spawn.Process(target=_reader, args=(str(home), batches * BATCH, results, ready))
        reader.start()
        try:
            assert ready.wait(60), "the reader process did not open the store"
            for b in range(batches):
                store.write([_item_run(b, i) for i in range(BATCH)])
                time.sleep(0.005)
            seen = results.get(timeout=60)
        finally:
            reader.join(timeout=60)
        assert reader.exitcode == 0
    assert seen[-1] == batches * BATCH
    assert all(count % BATCH == 0 for count in seen)  # never half a transaction
    assert seen == sorted(seen)
    assert len(set(seen)) > 1  # it did read while the writer wrote


def _item_run(batch: int, i: int) -> Any:
    from store.codec import AssetDecl

    return task_run(f"t{batch}-{i}", outputs=[AssetDecl(id=f"a{batch:04d}-{i}", type="Item")])


def _ingest_forever(home: str, progress: str) -> None:
    """Write batches until killed; after each write() returns, record its number."""
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    with Store.open(home) as store:
        batch = 0
        while True:
            store.write([_item_run(batch, i) for i in range(BATCH)])
            os.write(fd, f"{batch}\n".encode())
            batch += 1


def test_sigkill_mid_ingest_keeps_every_committed_write(tmp_path: Path) -> None:
    home = tmp_path / "home"
    progress = tmp_path / "progress.txt"
    writer = _spawn.Process(target=_ingest_forever, args=(str(home), str(progress)))
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if progress.exists() and len(progress.read_bytes().splitlines()) >= 30:
                break
            time.sleep(0.01)
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.join(timeout=30)
    assert writer.exitcode == -signal.SIGKILL
    returned = len(progress.read_bytes().splitlines())
    assert returned >= 30

    with Store.open(home) as store:  # opens fine, writable, after the crash
        count = store.count_assets()
        # Every write() that returned is there. The kill may also land after a commit and
        # before its write() returned to record it: that one batch is then there as a whole.
        assert count in (returned * BATCH, (returned + 1) * BATCH)
        assert store.last_seq() == count  # one log entry per event, no gap, no torn batch
        batches = count // BATCH
        assert store.find_assets(id=f"a{batches - 1:04d}-{BATCH - 1}") != []
        assert store.find_assets(id=f"a{batches:04d}-0") == []
        store.write([_item_run(batches, 0)])  # and it takes writes again
        assert store.count_assets() == count + 1
