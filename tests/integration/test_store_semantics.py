"""What applying events does to a real store (LMDB files in tmp_path): merge rules, External
inputs, failed task runs, idempotency, asset set/delete, executions, version refusal, recovery."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lmdb
import pytest

from store import (
    CodecError,
    InvalidEventError,
    Store,
    StoreClosedError,
    StoreError,
    StoreVersionError,
)
from store.codec import (
    AssetDecl,
    AssetDeleteEvent,
    AssetRef,
    AssetSetEvent,
    ExecutionEvent,
    TaskRunEvent,
    encode,
)

pytestmark = pytest.mark.integration


def task_run(
    taskrun_id: str,
    *,
    inputs: Sequence[str | AssetRef] = (),
    outputs: Sequence[str | AssetDecl] = (),
    state: str = "SUCCESS",
    end: float = 100.0,
    attempt: int = 0,
    execution_id: str = "exec-1",
    flow_id: str = "flow",
    task_id: str | None = None,
    namespace: str = "company.team",
    **extra: Any,
) -> TaskRunEvent:
    """A terminal task-run attempt reading `inputs` and writing `outputs` (ids or structs)."""
    return TaskRunEvent(
        execution_id=execution_id,
        flow_namespace=namespace,
        flow_id=flow_id,
        task_id=task_id or taskrun_id,
        taskrun_id=taskrun_id,
        attempt=attempt,
        state=state,
        start=end - 1.0,
        end=end,
        inputs=[AssetRef(id=i) if isinstance(i, str) else i for i in inputs],
        outputs=[AssetDecl(id=o) if isinstance(o, str) else o for o in outputs],
        **extra,
    )


def execution(
    execution_id: str, state: str, *, start: float = 10.0, **extra: Any
) -> ExecutionEvent:
    return ExecutionEvent(
        id=execution_id,
        namespace="company.team",
        flow_id="flow",
        state=state,
        start=start,
        **extra,
    )


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(tmp_path / "home") as opened:
        yield opened


def test_open_creates_home_and_environment(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b"
    with Store.open(home) as store:
        assert store.home == home
        assert (home / "store" / "data.mdb").exists()
        assert store.count_assets() == 0
        assert store.last_seq() == 0
        assert store.recovered == []


def test_output_created_then_merged(store: Store) -> None:
    first = AssetDecl(
        id="sales",
        namespace="company.sales",
        type="Table",
        displayName="Sales",
        description="all sales",
        metadata={"owner": "ana", "rows": 10, "tier": "gold"},
    )
    store.write([task_run("t1", outputs=[first], end=100.0)])
    created = store.get_asset("sales")
    assert created is not None
    assert (created.created, created.updated) == (100.0, 100.0)
    assert created.namespace == "company.sales"

    update = AssetDecl(id="sales", metadata={"rows": 12, "tier": None, "new": [1, 2]})
    report = store.write([task_run("t2", outputs=[update], end=200.0)])
    merged = store.get_asset("sales")
    assert merged is not None
    assert merged.created == 100.0 and merged.updated == 200.0
    assert merged.metadata == {"owner": "ana", "rows": 12, "new": [1, 2]}  # tier deleted
    assert (merged.type, merged.displayName, merged.description) == ("Table", "Sales", "all sales")
    assert merged.namespace == "company.sales"  # omitted namespace keeps the stored one
    assert report.applied == 1 and report.first_seq == report.last_seq == 2
    changes = store.read_log(after=1)[0].changes
    assert [(c.id, c.event) for c in changes] == [("sales", "UPDATED")]
    # The index follows the merge: old values are gone, new ones found.
    assert store.find_assets(metadata={"tier": "gold"}) == []
    assert [a.id for a in store.find_assets(metadata={"rows": 12})] == ["sales"]
    assert store.find_assets(metadata={"rows": 10}) == []


def test_new_output_defaults_namespace_and_type(store: Store) -> None:
    store.write([task_run("t1", outputs=["bare"], namespace="company.flows")])
    bare = store.get_asset("bare")
    assert bare is not None
    assert (bare.namespace, bare.type, bare.metadata) == ("company.flows", "External", {})


def test_unknown_input_registered_external_then_upgraded(store: Store) -> None:
    store.write(
        [
            task_run(
                "t1",
                inputs=["raw", AssetRef(id="other", namespace="elsewhere")],
                namespace="company.ingest",
                end=50.0,
            ),
        ]
    )
    raw = store.get_asset("raw")
    other = store.get_asset("other")
    assert raw is not None and other is not None
    assert (raw.type, raw.namespace) == ("External", "company.ingest")
    assert other.namespace == "elsewhere"
    entry = store.read_log()[0]
    assert [(c.id, c.type, c.event) for c in entry.changes] == [
        ("raw", "External", "USED"),
        ("other", "External", "USED"),
    ]

    store.write([task_run("t2", outputs=[AssetDecl(id="raw", type="File")], end=60.0)])
    upgraded = store.get_asset("raw")
    assert upgraded is not None and upgraded.type == "File" and upgraded.created == 50.0
    assert [a.id for a in store.find_assets(type="External")] == ["other"]
    assert [a.id for a in store.find_assets(type="File")] == ["raw"]
    # A declaration of External never downgrades a real type.
    store.write([task_run("t3", outputs=[AssetDecl(id="raw", type="External")], end=70.0)])
    kept = store.get_asset("raw")
    assert kept is not None and kept.type == "File"


def test_failed_task_run_records_usages_but_no_asset_or_edges(store: Store) -> None:
    store.write([task_run("t1", inputs=["in"], outputs=["out"], state="FAILED")])
    assert store.get_asset("out") is None
    assert store.get_asset("in") is not None  # inputs are registered whatever the state
    assert [(u.direction, u.state) for u in store.usages("out")] == [("OUTPUT", "FAILED")]
    assert [(u.direction, u.state) for u in store.usages("in")] == [("INPUT", "FAILED")]
    graph = store.lineage("in")
    assert [n.id for n in graph.nodes] == ["in"] and graph.edges == []
    assert [c.event for c in store.read_log()[0].changes] == ["USED"]
    assert [r.state for r in store.task_runs("exec-1")] == ["FAILED"]


def test_warning_state_produces(store: Store) -> None:
    store.write([task_run("t1", inputs=["in"], outputs=["out"], state="WARNING")])
    assert store.get_asset("out") is not None
    assert {n.id for n in store.lineage("out").nodes} == {"out", "t1", "in"}


def test_replay_changes_nothing(store: Store) -> None:
    events = [
        task_run("t1", inputs=["a"], outputs=["b"], end=1.0),
        task_run("t2", inputs=["b"], outputs=[AssetDecl(id="c", metadata={"k": 1})], end=2.0),
    ]
    first = store.write(events)
    assert (first.applied, first.duplicates, first.first_seq, first.last_seq) == (2, 0, 1, 2)
    before = (store.find_assets(), store.usages("b"), store.last_seq())

    again = store.write([*(encode(e) for e in events), *events])
    assert (again.applied, again.duplicates, again.first_seq, again.last_seq) == (0, 4, None, None)
    assert (store.find_assets(), store.usages("b"), store.last_seq()) == before
    assert len(store.task_runs("exec-1")) == 2


def test_same_task_run_other_attempt_is_applied(store: Store) -> None:
    report = store.write(
        [
            task_run("t1", outputs=["x"], state="FAILED", attempt=0, end=1.0),
            task_run("t1", outputs=["x"], state="SUCCESS", attempt=1, end=2.0),
            task_run("t1", outputs=["x"], state="SUCCESS", attempt=1, end=2.0),
        ]
    )
    assert (report.applied, report.duplicates) == (2, 1)
    assert [(u.attempt, u.state) for u in store.usages("x")] == [(0, "FAILED"), (1, "SUCCESS")]
    assert [r.attempt for r in store.task_runs("exec-1")] == [0, 1]


def test_lineage_keeps_latest_task_run_per_pair(store: Store) -> None:
    days = [
        task_run(
            f"day-{d}", inputs=["raw"], outputs=["daily"], end=1000.0 + d, execution_id=f"exec-{d}"
        )
        for d in range(30)
    ]
    store.write(days[:15])
    store.write(days[15:])
    store.write([days[3]])  # an old one replayed: a duplicate, nothing moves
    graph = store.lineage("daily", direction="up")
    tasks = [n for n in graph.nodes if n.kind == "task"]
    assert [t.id for t in tasks] == ["day-29"]
    assert len(graph.edges) == 2
    assert len(store.usages("daily")) == 30  # usages keep the whole history


def test_older_run_arriving_late_does_not_replace_edge(store: Store) -> None:
    store.write([task_run("new", inputs=["a"], outputs=["b"], end=500.0)])
    store.write([task_run("old", inputs=["a"], outputs=["b"], end=100.0)])
    tasks = [n.id for n in store.lineage("b").nodes if n.kind == "task"]
    assert tasks == ["new"]


def test_asset_set_and_delete(store: Store) -> None:
    store.write(
        [
            task_run("t1", inputs=["src"], outputs=["mid"]),
            task_run("t2", inputs=["mid"], outputs=["dst"]),
        ]
    )
    set_event = AssetSetEvent(
        asset=AssetDecl(id="mid", type="View", metadata={"team": "x"}), time=300.0
    )
    report = store.write([set_event, set_event])
    assert (report.applied, report.duplicates) == (1, 1)
    mid = store.get_asset("mid")
    assert mid is not None and mid.type == "View" and mid.metadata == {"team": "x"}
    assert store.read_log(after=(report.first_seq or 0) - 1)[0].changes[0].event == "UPDATED"

    store.write([AssetSetEvent(asset=AssetDecl(id="fresh", namespace="n"), time=5.0)])
    fresh = store.get_asset("fresh")
    assert fresh is not None and fresh.created == 5.0 and fresh.type == "External"

    deleted = store.write([AssetDeleteEvent(id="mid", time=400.0)])
    assert deleted.applied == 1
    assert store.get_asset("mid") is None
    assert store.find_assets(metadata={"team": "x"}) == []
    assert store.find_assets(type="View") == []
    assert [n.id for n in store.lineage("src").nodes] == ["src"]
    assert [n.id for n in store.lineage("dst").nodes] == ["dst"]
    assert len(store.usages("mid")) == 2  # history stays
    entry = store.read_log(after=(deleted.first_seq or 0) - 1)[0]
    assert [(c.id, c.type, c.event) for c in entry.changes] == [("mid", "View", "DELETED")]

    nothing = store.write([AssetDeleteEvent(id="mid", time=500.0)])
    assert (nothing.applied, nothing.duplicates, nothing.last_seq) == (0, 1, None)


def test_delete_and_recreate_in_one_batch(store: Store) -> None:
    store.write([task_run("t1", outputs=[AssetDecl(id="x", metadata={"a": 1})], end=1.0)])
    store.write(
        [
            AssetDeleteEvent(id="x", time=2.0),
            task_run("t2", inputs=["y"], outputs=[AssetDecl(id="x", metadata={"b": 2})], end=3.0),
        ]
    )
    x = store.get_asset("x")
    assert x is not None and x.metadata == {"b": 2} and x.created == 3.0
    assert store.find_assets(metadata={"a": 1}) == []
    assert [a.id for a in store.find_assets(metadata={"b": 2})] == ["x"]
    assert {n.id for n in store.lineage("x").nodes} == {"x", "t2", "y"}


def test_execution_log_only_on_state_change(store: Store) -> None:
    report = store.write(
        [
            execution("e1", "RUNNING", heartbeat=11.0),
            execution("e1", "RUNNING", heartbeat=12.0),
            execution("e1", "RUNNING", heartbeat=12.0),
        ]
    )
    assert (report.applied, report.duplicates) == (2, 1)
    assert store.last_seq() == 1
    record = store.get_execution("e1")
    assert record is not None and record.heartbeat == 12.0
    store.write([execution("e1", "SUCCESS", heartbeat=13.0, end=14.0)])
    assert [type(e.event).__name__ for e in store.read_log()] == ["ExecutionEvent"] * 2
    assert [e.event.state for e in store.read_log()] == ["RUNNING", "SUCCESS"]  # type: ignore[union-attr]
    assert store.get_execution("missing") is None


def test_invalid_events(store: Store) -> None:
    with pytest.raises(CodecError, match="not a valid assetline event"):
        store.write([task_run("ok", outputs=["a"]), b"\x93garbage"])
    assert store.count_assets() == 0  # all or nothing
    with pytest.raises(
        InvalidEventError, match="is 600 bytes of UTF-8; the store keeps ids of at most 511 bytes"
    ):
        store.write([task_run("t", outputs=["x" * 600])])
    with pytest.raises(InvalidEventError, match="an asset id is empty"):
        store.write([task_run("t", inputs=[""])])
    with pytest.raises(CodecError, match="not an assetline event: dict"):
        store.write([{"k": "taskrun"}])  # type: ignore[list-item]

    report = store.write([task_run("ok", outputs=["a"]), b"junk"], invalid="skip")
    assert report.applied == 1 and store.get_asset("a") is not None
    assert [(pos, type(err).__name__) for pos, err in report.rejected] == [(1, "CodecError")]


def test_long_ids_and_keys(store: Store) -> None:
    long_id = "é" * 255  # 510 bytes: the longest id that fits
    long_value = "v" * 2000  # an index key far past LMDB's limit: hashed
    store.write(
        [
            task_run(
                "t" * 600,
                execution_id="e" * 600,
                inputs=[long_id],
                outputs=[
                    AssetDecl(
                        id="o", namespace="n" * 700, type="T" * 700, metadata={"big": long_value}
                    )
                ],
            ),
        ]
    )
    assert [a.id for a in store.find_assets(metadata={"big": long_value})] == ["o"]
    assert [a.id for a in store.find_assets(namespace="n" * 700, type="T" * 700)] == ["o"]
    assert store.find_assets(metadata={"big": long_value + "x"}) == []
    assert [u.direction for u in store.usages(long_id)] == ["INPUT"]
    assert len(store.task_runs("e" * 600)) == 1
    assert {n.id for n in store.lineage("o").nodes} == {"o", "t" * 600, long_id}


def test_version_refusal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Store.open(home).close()
    env = lmdb.open(str(home / "store"), max_dbs=20)
    with env.begin(write=True) as txn:
        txn.put(b"format", b"99", db=env.open_db(b"meta", txn=txn))
    env.close()
    for readonly in (False, True):
        with pytest.raises(StoreVersionError) as caught:
            Store.open(home, readonly=readonly)
        assert str(caught.value) == (
            f"the store at {(home / 'store').resolve()} was written by a newer assetline "
            f"(format 99); this one reads up to 3; upgrade assetline"
        )


def test_readonly_and_closed(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no assetline store at"):
        Store.open(tmp_path / "nothing", readonly=True)
    home = tmp_path / "home"
    Store.open(home).close()
    with Store.open(home, readonly=True) as reader:
        with pytest.raises(StoreError, match="is open read-only; it cannot write"):
            reader.write([task_run("t")])
        with pytest.raises(StoreError, match="is open read-only; it cannot write"):
            reader.set_offset("x", 1)
    reader.close()  # twice is fine
    with pytest.raises(StoreClosedError, match="is closed"):
        reader.get_asset("x")


def test_two_stores_in_one_process_share_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.open(home) as writer, Store.open(home, readonly=True) as reader:
        writer.write([task_run("t", outputs=["a"])])
        assert reader.get_asset("a") is not None
    with Store.open(home, readonly=True) as reader:
        from store import StoreLockedError

        with pytest.raises(StoreLockedError, match="is open read-only in this process"):
            Store.open(home)
        assert reader.count_assets() == 1


def test_stale_executions_recovered(tmp_path: Path) -> None:
    home = tmp_path / "home"
    import time

    now = time.time()
    with Store.open(home) as store:
        store.write(
            [
                execution("stale", "RUNNING", start=now - 500, heartbeat=now - 400),
                execution("no-beat", "RUNNING", start=now - 500),
                execution("alive", "RUNNING", start=now - 500, heartbeat=now - 1),
                execution("done", "SUCCESS", start=now - 500, end=now - 450),
            ]
        )
    with Store.open(home, readonly=True) as reader:
        assert reader.recovered == []  # a reader changes nothing
    with Store.open(home, lease_timeout=60.0) as store:
        assert sorted(store.recovered) == ["no-beat", "stale"]
        stale = store.get_execution("stale")
        assert stale is not None and stale.state == "KILLED"
        assert stale.error == "driver stopped renewing its lease"
        assert stale.end is not None and stale.end >= now
        alive = store.get_execution("alive")
        assert alive is not None and alive.state == "RUNNING"
        states = [e.event.state for e in store.read_log()]  # type: ignore[union-attr]
        assert states.count("KILLED") == 2
    with Store.open(home) as store:
        assert store.recovered == []  # already killed: not again
