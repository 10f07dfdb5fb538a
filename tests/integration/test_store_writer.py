"""BatchingWriter on a real store: batching, flush/close, bad events, submitters in threads."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from store import BatchingWriter, CodecError, InvalidEventError, Store, StoreClosedError
from store.codec import encode
from tests.integration.test_store_semantics import task_run

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(tmp_path / "home") as opened:
        yield opened


def test_flush_commits_everything_submitted(store: Store) -> None:
    writer = BatchingWriter(store, max_batch=100, max_delay=0.5)
    for i in range(250):
        writer.submit(encode(task_run(f"t{i}", outputs=[f"a{i}"])))
    writer.flush(timeout=30)
    assert store.count_assets() == 250
    assert writer.events_written == 250
    assert 3 <= writer.commits <= 250
    writer.close()
    assert writer.events_written == 250


def test_close_flushes_and_refuses_more(store: Store) -> None:
    writer = BatchingWriter(store)
    writer.submit(task_run("t", outputs=["a"]))
    writer.close()
    assert store.get_asset("a") is not None
    with pytest.raises(StoreClosedError, match="the store writer is closed"):
        writer.submit(task_run("u", outputs=["b"]))
    writer.close()  # twice is fine


def test_bad_event_does_not_lose_its_batch(store: Store) -> None:
    writer = BatchingWriter(store, max_batch=1000, max_delay=1.0)
    writer.submit(task_run("good-1", outputs=["a"]))
    writer.submit(b"\x00not msgpack of an event")
    writer.submit(task_run("good-2", outputs=["b"]))
    with pytest.raises(CodecError, match="not a valid assetline event"):
        writer.flush(timeout=30)
    assert store.get_asset("a") is not None and store.get_asset("b") is not None
    assert writer.events_written == 2
    writer.flush(timeout=30)  # the error was reported once
    writer.submit(task_run("bad", outputs=["x" * 600]))
    writer.submit(b"junk")
    with pytest.raises(InvalidEventError, match=r"is 600 bytes .* \(and 1 more failed event"):
        writer.close()


def test_flush_timeout(store: Store) -> None:
    writer = BatchingWriter(store)
    gate = threading.Lock()
    gate.acquire()
    original = store.write

    def slow_write(*args: Any, **kwargs: Any) -> Any:
        with gate:
            return original(*args, **kwargs)

    store.write = slow_write  # type: ignore[method-assign]
    writer.submit(task_run("t", outputs=["a"]))
    with pytest.raises(TimeoutError, match=r"1 event\(s\) still uncommitted after 0.2s"):
        writer.flush(timeout=0.2)
    gate.release()
    writer.close()
    assert store.get_asset("a") is not None


def test_many_threads_submit(store: Store) -> None:
    writer = BatchingWriter(store, max_batch=64)

    def produce(worker: int) -> None:
        for i in range(200):
            writer.submit(
                task_run(f"w{worker}-{i}", inputs=["shared"], outputs=[f"w{worker}-a{i}"])
            )

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert store.count_assets() == 801
    assert len(store.usages("shared")) == 800
    assert store.last_seq() == 800
