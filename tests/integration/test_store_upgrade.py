"""A store written in format 1 (lineage as sorted duplicates plus `edge_runs`, separate type
and namespace index entries) is upgraded in place when opened for writing, and refused with
a way forward when opened read-only."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import lmdb
import pytest

from store import Store, StoreError, StoreVersionError
from store.codec import AssetDecl, decode_asset
from store.keys import meta_key
from tests.integration.test_store_semantics import task_run

pytestmark = pytest.mark.integration


def _fit(key: bytes) -> bytes:
    return key if len(key) <= 511 else b"\xff" + hashlib.sha256(key).digest()


def downgrade_to_format_1(home: Path) -> None:
    """Rewrite a current store's lineage and index the way format 1 kept them."""
    env = lmdb.open(str(home / "store"), max_dbs=32)
    with env.begin(write=True) as txn:
        lineage_down = env.open_db(b"lineage_down", txn=txn)
        lineage_up = env.open_db(b"lineage_up", txn=txn)
        index = env.open_db(b"index", txn=txn, dupsort=True)
        assets = env.open_db(b"assets", txn=txn)
        edges_down = env.open_db(b"edges_down", txn=txn, dupsort=True)
        edges_up = env.open_db(b"edges_up", txn=txn, dupsort=True)
        edge_runs = env.open_db(b"edge_runs", txn=txn)
        for key, value in list(txn.cursor(db=lineage_down)):
            upstream = key[2 : 2 + struct.unpack(">H", key[:2])[0]]
            downstream = value[16:]
            txn.put(upstream, downstream, db=edges_down)
            txn.put(downstream, upstream, db=edges_up)
            pair = struct.pack(">H", len(upstream)) + upstream + downstream
            txn.put(_fit(pair), value[:16], db=edge_runs)
        txn.drop(lineage_down)
        txn.drop(lineage_up)
        txn.drop(index, delete=False)
        for key, value in list(txn.cursor(db=assets)):
            asset = decode_asset(value)
            txn.put(_fit(b"t\x00" + asset.type.encode()), key, db=index)
            txn.put(_fit(b"n\x00" + asset.namespace.encode()), key, db=index)
            for name, item in asset.metadata.items():
                txn.put(meta_key(name, item), key, db=index)
        txn.put(b"format", b"1", db=env.open_db(b"meta", txn=txn))
    env.close()


def test_format_1_is_upgraded_in_place(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.open(home) as store:
        store.write(
            [
                task_run("load", inputs=["raw"], outputs=["staged"], end=10.0),
                task_run(
                    "build",
                    inputs=["staged", "raw"],
                    outputs=[AssetDecl(id="report", type="Table", metadata={"owner": "ana"})],
                    end=20.0,
                ),
            ]
        )
        graph = store.lineage("staged").to_json()
        usages = store.usages("staged")
    downgrade_to_format_1(home)

    with pytest.raises(StoreVersionError) as caught:
        Store.open(home, readonly=True)
    assert str(caught.value) == (
        f"the store at {(home / 'store').resolve()} is in format 1, written by an older "
        f"assetline; open it once for writing (any command that writes to it) to upgrade it "
        f"in place to format 3"
    )

    with Store.open(home) as store:
        assert store.lineage("staged").to_json() == graph
        assert store.usages("staged") == usages
        assert [a.id for a in store.find_assets(type="Table", namespace="company.team")] == [
            "report"
        ]
        assert [a.id for a in store.find_assets(type="External")] == ["raw", "staged"]
        assert [a.id for a in store.find_assets(metadata={"owner": "ana"})] == ["report"]
        # The upgraded store takes new events, and a newer run still replaces an edge's run.
        store.write([task_run("rebuild", inputs=["staged"], outputs=["report"], end=30.0)])
        tasks = [n.id for n in store.lineage("report", direction="up").nodes if n.kind == "task"]
        assert "rebuild" in tasks and "build" in tasks  # raw -> report is still via build
        now = store.lineage("staged").to_json()
    env = lmdb.open(str(home / "store"), max_dbs=32, readonly=True)
    with env.begin() as txn:
        assert txn.get(b"format", db=env.open_db(b"meta", txn=txn)) == b"3"
        with pytest.raises(lmdb.NotFoundError):
            env.open_db(b"edge_runs", txn=txn, create=False)
    env.close()
    with Store.open(home, readonly=True) as reader:
        assert reader.lineage("staged").to_json() == now != graph


def test_format_1_edge_without_its_run_links_the_assets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.open(home) as store:
        store.write([task_run("load", inputs=["raw"], outputs=["staged"])])
    downgrade_to_format_1(home)
    env = lmdb.open(str(home / "store"), max_dbs=32)
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(b"edge_runs", txn=txn), delete=False)
    env.close()
    with Store.open(home) as store:
        edges = store.lineage("staged", direction="up").to_json()["edges"]
    assert edges == [{"from": "raw", "to": "staged"}]


def test_unknown_old_format_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Store.open(home).close()
    env = lmdb.open(str(home / "store"), max_dbs=32)
    with env.begin(write=True) as txn:
        txn.put(b"format", b"0", db=env.open_db(b"meta", txn=txn))
    env.close()
    with pytest.raises(StoreError) as caught:
        Store.open(home)
    assert str(caught.value) == (
        "no upgrade from store format 0; this assetline reads formats 1 to 3"
    )


def test_format_2_gains_the_kv_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.open(home) as store:
        store.write([task_run("load", inputs=["raw"], outputs=["staged"])])
    env = lmdb.open(str(home / "store"), max_dbs=32)
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(b"kv", txn=txn), delete=True)
        txn.put(b"format", b"2", db=env.open_db(b"meta", txn=txn))
    env.close()
    with pytest.raises(StoreVersionError, match=r"is in format 2.*to format 3"):
        Store.open(home, readonly=True)
    with Store.open(home) as store:
        assert store.kv_get("company.team", "missing") is None
        assert store.kv_set("company.team", "greeting", "hello")
        assert [a.id for a in store.find_assets()] == ["raw", "staged"]
    with Store.open(home, readonly=True) as reader:
        entry = reader.kv_get("company.team", "greeting")
        assert entry is not None and entry.value == "hello"
