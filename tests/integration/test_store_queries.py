"""Reading a real store: find_assets filters and pages, lineage, usages, executions, the log."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from store import AssetNotFound, Store
from store.codec import AssetDecl, TaskRunEvent
from tests.integration.test_store_semantics import execution, task_run

pytestmark = pytest.mark.integration


def decl(asset_id: str, **fields: Any) -> AssetDecl:
    return AssetDecl(id=asset_id, **fields)


@pytest.fixture
def inventory(tmp_path: Path) -> Any:
    """Twelve assets over two types, three namespaces and a few metadata values."""
    with Store.open(tmp_path / "home") as store:
        outputs = [
            decl(
                "orders",
                type="Table",
                namespace="sales",
                displayName="All Orders",
                metadata={"owner": "ana", "rows": 1, "pii": True},
            ),
            decl(
                "orders_daily",
                type="Table",
                namespace="sales.daily",
                metadata={"owner": "ana", "rows": "1"},
            ),
            decl("salesy", type="Table", namespace="salesy", metadata={"owner": "bo"}),
            decl("refunds", type="File", namespace="sales", metadata={"owner": "bo", "rows": 1.0}),
            decl("config", type="File", namespace="ops", metadata={"shape": {"a": [1, 2]}}),
        ] + [
            decl(f"item-{i:02d}", type="Item", namespace="ops", metadata={"n": i % 2})
            for i in range(7)
        ]
        store.write([task_run("build", outputs=outputs)])
        yield store


def ids(assets: list[Any]) -> list[str]:
    return [a.id for a in assets]


def test_find_by_each_filter(inventory: Store) -> None:
    store = inventory
    assert ids(store.find_assets(id="orders")) == ["orders"]
    assert store.find_assets(id="nope") == []
    assert store.find_assets(id="orders", type="File") == []
    assert ids(store.find_assets(type="File")) == ["config", "refunds"]
    assert ids(store.find_assets(namespace="sales")) == ["orders", "refunds"]
    assert ids(store.find_assets(namespace_prefix="sales")) == [
        "orders",
        "orders_daily",
        "refunds",
    ]  # not "salesy"
    assert ids(store.find_assets(metadata={"owner": "ana"})) == ["orders", "orders_daily"]
    assert ids(store.find_assets(metadata={"owner": "bo", "rows": 1.0})) == ["refunds"]
    assert ids(store.find_assets(metadata={"shape": {"a": [1, 2]}})) == ["config"]
    assert ids(store.find_assets(metadata={"pii": True})) == ["orders"]
    assert ids(store.find_assets(q="ORDER")) == ["orders", "orders_daily"]
    assert ids(store.find_assets(q="all ord")) == ["orders"]  # displayName
    assert ids(store.find_assets(type="Item", metadata={"n": 1})) == [
        "item-01",
        "item-03",
        "item-05",
    ]
    assert ids(store.find_assets(type="Table", namespace="sales", q="ord")) == ["orders"]
    assert store.find_assets(type="Table", metadata={"owner": "nobody"}) == []
    assert store.find_assets(type="Nope") == []
    assert len(store.find_assets()) == store.count_assets() == 12


def test_type_or_namespace_alone_spans_every_kind_key_in_id_order(inventory: Store) -> None:
    """One index entry holds an asset's type and namespace together: a type alone or a
    namespace alone is the union of several entries, merged in id order, paged with after=."""
    store = inventory
    pages: list[list[str]] = []
    after = None
    while page := store.find_assets(type="Table", after=after, limit=2):
        pages.append(ids(page))
        after = page[-1].id
    assert pages == [["orders", "orders_daily"], ["salesy"]]  # three namespaces
    assert ids(store.find_assets(namespace="ops"))[:3] == ["config", "item-00", "item-01"]
    assert len(store.find_assets(namespace="ops")) == 8  # a File and seven Items
    assert ids(store.find_assets(namespace="sales", after="orders")) == ["refunds"]
    assert ids(store.find_assets(namespace="ops", metadata={"n": 0}, limit=2)) == [
        "item-00",
        "item-02",
    ]
    assert store.find_assets(namespace="nowhere") == []
    assert store.find_assets(type="Table", namespace="ops") == []


def test_metadata_values_compare_by_json_form(inventory: Store) -> None:
    store = inventory
    assert ids(store.find_assets(metadata={"rows": 1})) == ["orders"]
    assert ids(store.find_assets(metadata={"rows": "1"})) == ["orders_daily"]
    assert ids(store.find_assets(metadata={"rows": 1.0})) == ["refunds"]
    assert store.find_assets(metadata={"pii": 1}) == []


def test_cursor_pagination(inventory: Store) -> None:
    store = inventory
    pages: list[list[str]] = []
    after = None
    while page := store.find_assets(type="Item", after=after, limit=3):
        pages.append(ids(page))
        after = page[-1].id
    assert pages == [
        ["item-00", "item-01", "item-02"],
        ["item-03", "item-04", "item-05"],
        ["item-06"],
    ]
    everything: list[str] = []
    after = None
    while page := store.find_assets(after=after, limit=5):
        everything.extend(ids(page))
        after = page[-1].id
    assert everything == sorted(everything) and len(everything) == 12
    assert ids(store.find_assets(after="item-05", q="item")) == ["item-06"]
    assert store.find_assets(id="config", after="config") == []
    assert store.find_assets(limit=0) == []


def test_iter_and_count(inventory: Store) -> None:
    pages = list(inventory.iter_assets(batch_size=5))
    assert [len(p) for p in pages] == [5, 5, 2]
    flat = [a.id for p in pages for a in p]
    assert flat == sorted(flat)
    assert [a.id for p in inventory.iter_assets(after="orders_daily") for a in p] == [
        "refunds",
        "salesy",
    ]
    with pytest.raises(ValueError, match="batch_size must be positive, not 0"):
        next(inventory.iter_assets(batch_size=0))


@pytest.fixture
def chain(tmp_path: Path) -> Any:
    """raw -> t1 -> clean -> t2 -> mart -> t3 -> report, plus side -> t2 and clean -> t4 -> alt,
    and a cycle: mart -> t5 -> loop -> t6 -> mart."""
    with Store.open(tmp_path / "home") as store:
        store.write(
            [
                task_run("t1", inputs=["raw"], outputs=["clean"], end=1.0),
                task_run("t2", inputs=["clean", "side"], outputs=["mart"], end=2.0),
                task_run("t3", inputs=["mart"], outputs=["report"], end=3.0),
                task_run("t4", inputs=["clean"], outputs=["alt"], end=4.0),
                task_run("t5", inputs=["mart"], outputs=["loop"], end=5.0),
                task_run("t6", inputs=["loop"], outputs=["mart"], end=6.0),
            ]
        )
        yield store


def asset_ids(graph: Any) -> set[str]:
    return {n.id for n in graph.nodes if n.kind == "asset"}


def test_lineage_up_down_both_with_depth(chain: Store) -> None:
    up = chain.lineage("mart", direction="up")
    assert asset_ids(up) == {"mart", "clean", "side", "raw", "loop"}
    assert asset_ids(chain.lineage("mart", direction="up", depth=1)) == {
        "mart",
        "clean",
        "side",
        "loop",
    }
    assert asset_ids(chain.lineage("clean", direction="down")) == {
        "clean",
        "mart",
        "report",
        "alt",
        "loop",
    }
    assert asset_ids(chain.lineage("clean", direction="down", depth=1)) == {"clean", "mart", "alt"}
    assert asset_ids(chain.lineage("clean", depth=1)) == {"clean", "raw", "mart", "alt"}
    assert asset_ids(chain.lineage("clean", depth=0)) == {"clean"}
    graph = chain.lineage("report", direction="up", depth=1)
    task = graph.node("t3")
    assert task is not None and task.kind == "task" and task.label == "flow.t3"
    assert (task.flow_id, task.task_id, task.execution_id, task.state) == (
        "flow",
        "t3",
        "exec-1",
        "SUCCESS",
    )
    assert {(e.source, e.target) for e in graph.edges} == {("mart", "t3"), ("t3", "report")}
    data = graph.to_json()
    assert data["root"] == "report"
    assert {"from": "mart", "to": "t3"} in data["edges"]


def test_lineage_cycle_terminates(chain: Store) -> None:
    graph = chain.lineage("loop", direction="both")
    # Ancestors and descendants; "alt" (a sibling through clean) is neither.
    assert asset_ids(graph) == {"loop", "mart", "clean", "side", "raw", "report"}
    assert ("t6", "mart") in {(e.source, e.target) for e in graph.edges}
    text = graph.to_text()
    assert "(cycle)" in text
    assert text.splitlines()[0] == "loop (External)"


def test_lineage_of_unknown_asset(chain: Store) -> None:
    with pytest.raises(AssetNotFound, match="no asset 'ghost' in the store") as caught:
        chain.lineage("ghost")
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == "no asset 'ghost' in the store"
    with pytest.raises(ValueError, match="direction 'sideways': use one of up, down, both"):
        chain.lineage("raw", direction="sideways")


def test_usages_oldest_first_with_limit(chain: Store) -> None:
    usages = chain.usages("mart")
    assert [(u.direction, u.taskrun_id) for u in usages] == [
        ("OUTPUT", "t2"),
        ("INPUT", "t3"),
        ("INPUT", "t5"),
        ("OUTPUT", "t6"),
    ]
    assert [u.taskrun_id for u in chain.usages("mart", limit=2)] == ["t2", "t3"]
    assert chain.usages("ghost") == []
    assert usages[0].asset_id == "mart" and usages[0].end == 2.0


def test_executions_and_task_runs(tmp_path: Path) -> None:
    with Store.open(tmp_path / "home") as store:
        store.write(
            [
                execution("e-old", "SUCCESS", start=10.0),
                execution("e-mid", "FAILED", start=20.0),
                execution("e-new", "RUNNING", start=30.0, heartbeat=9e12),
            ]
        )
        other = execution("x-1", "SUCCESS", start=25.0)
        store.write(
            [
                type(other)(
                    **{
                        **{f: getattr(other, f) for f in other.__struct_fields__},
                        "flow_id": "other",
                        "namespace": "else",
                    }
                )
            ]
        )
        assert [e.id for e in store.list_executions()] == ["e-new", "x-1", "e-mid", "e-old"]
        assert [e.id for e in store.list_executions(flow_id="flow")] == ["e-new", "e-mid", "e-old"]
        assert [e.id for e in store.list_executions(flow_id="other")] == ["x-1"]
        assert [e.id for e in store.list_executions(namespace="else")] == ["x-1"]
        assert [e.id for e in store.list_executions(state="FAILED")] == ["e-mid"]
        assert [e.id for e in store.list_executions(limit=2)] == ["e-new", "x-1"]
        assert store.list_executions(flow_id="fl") == []

        runs: list[TaskRunEvent] = [
            task_run(f"r{i}", execution_id="e-new", end=float(50 - i)) for i in range(4)
        ]
        store.write(runs[:2])
        store.write([task_run("elsewhere", execution_id="e-new2"), *runs[2:]])
        assert [r.taskrun_id for r in store.task_runs("e-new")] == ["r0", "r1", "r2", "r3"]
        assert store.task_runs("e-none") == []


def test_read_log_and_offsets(tmp_path: Path) -> None:
    with Store.open(tmp_path / "home") as store:
        assert store.read_log() == [] and store.last_seq() == 0
        for i in range(5):
            store.write([task_run(f"t{i}", outputs=[f"a{i}"]), execution("e", f"S{i}")])
        assert store.last_seq() == 10
        entries = store.read_log()
        assert [e.seq for e in entries] == list(range(1, 11))
        assert all(a.time <= b.time for a, b in itertools.pairwise(entries))
        assert [e.seq for e in store.read_log(after=4, limit=3)] == [5, 6, 7]
        assert store.read_log(after=10) == []
        assert store.get_offset("shipper") is None
        store.set_offset("shipper", 7)
        store.set_offset("other", 2)
        store.set_offset("shipper", 9)
        assert (store.get_offset("shipper"), store.get_offset("other")) == (9, 2)
    with Store.open(tmp_path / "home", readonly=True) as reader:
        assert reader.get_offset("shipper") == 9
