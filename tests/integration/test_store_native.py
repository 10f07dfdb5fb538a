"""The compiled ingest path (`store.native`) writes exactly what `store.apply` writes.

Every test writes the same batches into two stores, one with `native_ingest` on and one with
it off (every event through `store.apply`, the reference), at the same clock, and compares the
two byte for byte, database by database, together with the write reports. The batches mix what
the compiled path takes (plain task runs with new outputs) with everything it must leave to
Python (updates, deletions, execution events, structs, unusual and invalid events), and a
fuzzer mutates valid events to check that it never accepts what the codec rejects.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from store import Store, StoreError, WriteReport, _ingest, native
from store.codec import (
    AssetDecl,
    AssetDeleteEvent,
    AssetRef,
    AssetSetEvent,
    ExecutionEvent,
    LogLine,
    TaskRunEvent,
    encode,
)
from store.environment import Databases
from store.keys import from_u64

pytestmark = pytest.mark.integration

NOW = 1_750_000_000.25


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("store.lmdb_store.time", SimpleNamespace(time=lambda: NOW))


@pytest.fixture
def native_calls(monkeypatch: pytest.MonkeyPatch) -> list[native.NativeRun]:
    """Every run the compiled path applied (so a test can check it was taken)."""
    calls: list[native.NativeRun] = []
    original = native.apply_run

    def spy(*args: Any) -> native.NativeRun:
        run = original(*args)
        calls.append(run)
        return run

    monkeypatch.setattr(native, "apply_run", spy)
    return calls


class Pair:
    """Two stores fed the same batches: compiled path on, and off."""

    def __init__(self, root: Path) -> None:
        self.fast = Store.open(root / "fast")
        self.reference = Store.open(root / "reference")
        self.reference.native_ingest = False

    def write(self, batch: list[Any], *, invalid: str = "raise") -> WriteReport:
        fast = self.fast.write(batch, invalid=invalid)  # type: ignore[arg-type]
        reference = self.reference.write(batch, invalid=invalid)  # type: ignore[arg-type]
        assert _report(fast) == _report(reference)
        return fast

    def assert_same(self) -> None:
        fast, reference = _dump(self.fast), _dump(self.reference)
        for name in reference:
            assert fast[name] == reference[name], f"database {name!r} differs"

    def close(self) -> None:
        self.fast.close()
        self.reference.close()


@pytest.fixture
def pair(tmp_path: Path, fixed_clock: None) -> Iterator[Pair]:
    stores = Pair(tmp_path)
    yield stores
    stores.close()


def _report(report: WriteReport) -> tuple[Any, ...]:
    rejected = tuple((at, type(exc).__name__, str(exc)) for at, exc in report.rejected)
    return (report.applied, report.duplicates, report.first_seq, report.last_seq, rejected)


def _dump(store: Store) -> dict[str, list[tuple[bytes, bytes]]]:
    shared = store._env()
    dump = {}
    with shared.env.begin(buffers=False) as txn:
        for name in Databases.__dataclass_fields__:
            cursor = txn.cursor(db=getattr(shared.dbs, name))
            dump[name] = list(cursor.iternext())
    return dump


def run(
    i: int,
    *,
    execution: str = "exec-1",
    inputs: list[AssetRef] | None = None,
    outputs: list[AssetDecl] | None = None,
    state: str = "SUCCESS",
    attempt: int = 0,
    **extra: Any,
) -> TaskRunEvent:
    return TaskRunEvent(
        execution_id=execution,
        flow_namespace="company.team",
        flow_id="fan_out",
        task_id="process",
        taskrun_id=f"tr-{i}",
        attempt=attempt,
        state=state,
        start=1_700_000_000.0 + i,
        end=1_700_000_000.5 + i,
        inputs=inputs if inputs is not None else [AssetRef(id="source")],
        outputs=outputs
        if outputs is not None
        else [AssetDecl(id=f"item-{i}", type="Table", metadata={"owner": "a", "n": i % 3})],
        **extra,
    )


def test_a_fan_out_is_applied_by_the_compiled_path_and_matches(
    pair: Pair, native_calls: list[native.NativeRun]
) -> None:
    batch = [encode(run(i)) for i in range(300)]
    report = pair.write(batch)
    assert report.applied == 300
    assert sum(call.applied for call in native_calls) == 300
    pair.assert_same()
    # A replay changes nothing, on both paths.
    assert pair.write(batch).duplicates == 300
    pair.assert_same()


def test_every_field_and_value_kind_matches(
    pair: Pair, native_calls: list[native.NativeRun]
) -> None:
    events = [
        run(
            1,
            inputs=[AssetRef(id="raw.ω", namespace="other"), AssetRef(id="raw.b", type="File")],
            outputs=[
                AssetDecl(
                    id="out.ü" * 3,
                    namespace="ns.out",
                    type="io.kestra.plugin.ee.assets.Table",
                    displayName="Out",
                    description="d" * 300,
                    metadata={
                        "s": "x" * 40,
                        "i": -200,
                        "big": 2**40,
                        "f": 1.5,
                        "nan": float("nan"),
                        "t": True,
                        "false": False,
                        "ü": "ß",
                    },
                ),
                AssetDecl(id="out.2"),
            ],
            task_type="io.kestra.plugin.core.log.Log",
            value="v",
            iteration=3,
            parent_taskrun_id="p",
            properties={"a": [1, {"b": None}], "c": b"bytes", "d": {1: 2.5}},
            result={"x": "y"},
            logs=[LogLine(1.0, "INFO", "hello"), LogLine(2.0, "ERROR", "ü")],
            error=None,
            node="node-1",
        ),
        run(2, inputs=[AssetRef(id="out.2")], outputs=[AssetDecl(id="next", metadata={})]),
        run(3, inputs=[], outputs=[AssetDecl(id="alone")]),
        run(4, inputs=[AssetRef(id="raw.b")], outputs=[]),
        run(5, state="FAILED", outputs=[AssetDecl(id="never", metadata={"a": 1})]),
        run(6, state="WARNING", attempt=2, execution="e" * 300),
        run(7, state="KILLED", inputs=[AssetRef(id="raw.ω")] * 2),
    ]
    report = pair.write([encode(event) for event in events])
    assert report.applied == len(events)
    assert sum(call.applied for call in native_calls) == len(events)
    pair.assert_same()


def test_updates_and_other_events_go_to_python_in_order(
    pair: Pair, native_calls: list[native.NativeRun]
) -> None:
    pair.write([encode(run(i)) for i in range(5)])
    batch: list[Any] = [
        encode(run(10)),
        encode(run(11, outputs=[AssetDecl(id="item-1", metadata={"owner": "b", "n": None})])),
        encode(run(12)),
        encode(
            ExecutionEvent(
                id="exec-1", namespace="company.team", flow_id="f", state="RUNNING", start=1.0
            )
        ),
        encode(run(13)),
        run(14),  # a struct, not bytes
        encode(run(15, outputs=[AssetDecl(id="twice"), AssetDecl(id="twice")])),
        encode(run(16, inputs=[AssetRef(id="self")], outputs=[AssetDecl(id="self")])),
        encode(AssetSetEvent(asset=AssetDecl(id="item-12", metadata={"k": 1}), time=5.0)),
        encode(run(17, inputs=[AssetRef(id="item-12")])),
        encode(AssetDeleteEvent(id="item-13", time=6.0)),
        encode(run(18, outputs=[AssetDecl(id="item-13")])),
        encode(run(19, outputs=[AssetDecl(id="meta-none", metadata={"gone": None})])),
        encode(run(20, outputs=[AssetDecl(id="nested", metadata={"list": [1, 2]})])),
        encode(run(21, outputs=[AssetDecl(id="x" * 300)])),
        encode(run(22, inputs=[AssetRef(id="y" * 201)])),
        encode(run(23)),
        encode(run(23)),  # a duplicate within the batch
        encode(run(2)),  # a duplicate of a stored run
    ]
    report = pair.write(batch)
    assert report.duplicates == 2
    assert native_calls and sum(call.applied for call in native_calls) > 5
    pair.assert_same()


def test_an_invalid_event_raises_and_writes_nothing(pair: Pair) -> None:
    good = [encode(run(i)) for i in range(10)]
    bad = encode(run(10))[:-3]
    for store in (pair.fast, pair.reference):
        with pytest.raises(Exception, match="not a valid assetline event"):
            store.write([*good, bad])
        assert store.count_assets() == 0
    pair.assert_same()


def test_skipped_invalid_events_are_reported_at_their_positions(pair: Pair) -> None:
    batch = [encode(run(i)) for i in range(6)]
    batch[2] = batch[2][:-1]
    batch[4] = msgspec.msgpack.encode({"k": "taskrun", "v": 99})
    report = pair.write(batch, invalid="skip")
    assert [at for at, _ in report.rejected] == [2, 4]
    pair.assert_same()


def _mutations(rng: random.Random, data: bytes) -> Iterator[bytes]:
    for _ in range(40):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.5:
                mutated[at] = rng.randrange(256)
            elif choice < 0.75:
                del mutated[at]
            else:
                mutated.insert(at, rng.choice([0xC0, 0xC2, 0xCB, 0xD9, 0xA1, 0x81, 0x91, 0x00]))
        yield bytes(mutated)


@pytest.mark.parametrize("seed", range(8))
def test_mutated_events_are_accepted_or_rejected_exactly_as_the_codec_does(
    pair: Pair, seed: int
) -> None:
    rng = random.Random(seed)
    templates = [
        encode(
            run(
                seed * 1000 + i,
                execution=f"exec-{seed}",
                properties={"p": [1, "x", None]},
                logs=[LogLine(1.0, "INFO", "m")],
                value="v",
                iteration=i,
            )
        )
        for i in range(5)
    ]
    for template in templates:
        batch = list(_mutations(rng, template))
        pair.write(batch, invalid="skip")
    pair.assert_same()


@pytest.mark.parametrize("seed", range(4))
def test_random_mixes_match(pair: Pair, seed: int) -> None:
    rng = random.Random(seed)
    ids = [f"asset-{n}" for n in range(60)]
    for round_ in range(6):
        batch: list[Any] = []
        for i in range(rng.randint(20, 120)):
            serial = round_ * 1000 + i
            kind = rng.random()
            if kind < 0.08:
                batch.append(encode(AssetDeleteEvent(id=rng.choice(ids), time=float(serial))))
                continue
            if kind < 0.12:
                decl = AssetDecl(id=rng.choice(ids), metadata={"m": rng.randint(0, 2)})
                batch.append(encode(AssetSetEvent(asset=decl, time=float(serial))))
                continue
            inputs = [AssetRef(id=rng.choice(ids)) for _ in range(rng.randint(0, 2))]
            outputs = [
                AssetDecl(
                    id=rng.choice(ids) if rng.random() < 0.3 else f"new-{seed}-{serial}-{o}",
                    type=rng.choice([None, "Table", "File"]),
                    metadata=rng.choice([None, {}, {"owner": rng.choice(["a", "b"]), "n": o}]),
                )
                for o in range(rng.randint(0, 2))
            ]
            state = rng.choice(["SUCCESS", "SUCCESS", "WARNING", "FAILED"])
            event = run(
                serial % 500,
                inputs=inputs,
                outputs=outputs,
                state=state,
                execution=f"exec-{seed}-{round_ % 3}",
            )
            batch.append(encode(event) if rng.random() < 0.9 else event)
        pair.write(batch)
    pair.assert_same()


def test_a_store_that_fills_up_mid_run_keeps_what_it_had(tmp_path: Path) -> None:
    store = Store.open(tmp_path, map_size=4 << 20)
    try:
        store.write([encode(run(i)) for i in range(10)])
        before = _dump(store)
        with pytest.raises(StoreError, match="is full"):
            store.write([encode(run(i, execution="big")) for i in range(20_000)])
        assert _dump(store) == before
        report = store.write([encode(run(100))])  # still writable
        assert report.applied == 1
    finally:
        store.close()


def test_the_lookup_contract_is_checked() -> None:
    batch = [encode(run(i)) for i in range(3)]

    def wrong(keys: list[bytes], ids: list[bytes]) -> Any:
        return [], {}

    def failing(keys: list[bytes], ids: list[bytes]) -> Any:
        raise RuntimeError("lookup failed")

    with pytest.raises(TypeError, match="lookup must return"):
        _ingest.ingest(batch, 0, 3, 1, 1, NOW, wrong)
    with pytest.raises(TypeError, match="lookup must map asset ids"):
        _ingest.ingest(batch, 0, 3, 1, 1, NOW, lambda keys, ids: (set(), {b"source": ("n", "t")}))
    with pytest.raises(RuntimeError, match="lookup failed"):
        _ingest.ingest(batch, 0, 3, 1, 1, NOW, failing)
    assert _ingest.ingest([], 0, 0, 1, 7, NOW, failing)[:5] == (0, 0, 0, 0, 7)
    assert _ingest.declined([run(0), b"", *batch], 0, 1) == 2


def test_events_from_a_newer_schema_are_left_to_the_codec(pair: Pair) -> None:
    newer = msgspec.structs.asdict(run(1))
    newer.update(k="taskrun", v=2)
    report = pair.write([msgspec.msgpack.encode(newer)], invalid="skip")
    assert "newer" in str(report.rejected[0][1])
    pair.assert_same()


def test_record_batches_never_change_a_pair_someone_keeps() -> None:
    batch = [encode(run(i)) for i in range(5)]
    records = _ingest.ingest(batch, 0, 5, 1, 1, NOW, lambda keys, ids: (set(), {}))[5]
    log = records[6]
    kept = list(log)  # every pair kept: each must stay its own
    streamed = [(bytes(key), bytes(value)) for key, value in log]  # pairs handed on
    assert [(bytes(key), bytes(value)) for key, value in kept] == streamed
    assert len({id(pair) for pair in kept}) == len(kept) == len(log) == 5
    assert [from_u64(key) for key, _ in streamed] == [1, 2, 3, 4, 5]
    assert memoryview(kept[0][1]).readonly


def test_threads_writing_their_own_stores_at_once_match_the_reference(
    tmp_path: Path, fixed_clock: None
) -> None:
    import threading

    batches = {
        name: [[encode(run(b * 500 + i, execution=name)) for i in range(500)] for b in range(6)]
        for name in ("left", "right")
    }
    stores = {name: Store.open(tmp_path / name) for name in batches}
    failures: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for batch in batches[name]:
                stores[name].write(batch)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    for name, store in stores.items():
        reference = Store.open(tmp_path / f"{name}-reference")
        reference.native_ingest = False
        for batch in batches[name]:
            reference.write(batch)
        assert _dump(store) == _dump(reference)
        reference.close()
        store.close()


def test_index_entries_that_cannot_be_appended_are_put_the_usual_way(
    pair: Pair, native_calls: list[native.NativeRun]
) -> None:
    serials = iter(range(10**6))

    def outputs(ids: list[str]) -> list[bytes]:
        return [
            encode(run(next(serials), outputs=[AssetDecl(id=asset_id, type="T")]))
            for asset_id in ids
        ]

    pair.write(outputs([f"z-{i:03d}" for i in range(50)]))  # appended: a fresh index
    pair.write(outputs([f"a-{i:03d}" for i in range(50)]))  # sort before: appends refused
    pair.write(outputs([f"m-{i:03d}" for i in reversed(range(50))]))  # descending in a batch
    for start in range(0, 400, 50):  # during and after the pause
        pair.write(outputs([f"zz-{i:03d}" for i in range(start, start + 50)]))
    assert sum(call.applied for call in native_calls) == 550
    pair.assert_same()
