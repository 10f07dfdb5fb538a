"""The store package's public API, pinned, and the GC pause used while writing."""

from __future__ import annotations

import gc
import threading

import store
from store.gc_pause import gc_paused


def test_public_names() -> None:
    assert sorted(store.__all__) == [
        "AssetNotFound",
        "BatchingWriter",
        "CodecError",
        "InvalidEventError",
        "LineageEdge",
        "LineageGraph",
        "LineageNode",
        "Store",
        "StoreClosedError",
        "StoreError",
        "StoreLockedError",
        "StoreVersionError",
        "WriteReport",
    ]
    for name in store.__all__:
        assert getattr(store, name) is not None


def test_error_tree() -> None:
    for name in (
        "AssetNotFound",
        "CodecError",
        "InvalidEventError",
        "StoreClosedError",
        "StoreLockedError",
        "StoreVersionError",
    ):
        assert issubclass(getattr(store, name), store.StoreError)
    assert issubclass(store.AssetNotFound, KeyError)


def test_gc_pause_nests_across_threads_and_respects_a_disabled_collector() -> None:
    assert gc.isenabled()
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other)
    with gc_paused():
        assert not gc.isenabled()
        thread.start()
        inside.wait(5)
    assert not gc.isenabled()  # the other thread still holds its pause
    leave.set()
    thread.join()
    assert gc.isenabled()

    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # someone else's choice stays
    finally:
        gc.enable()
