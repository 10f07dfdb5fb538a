"""The asset tasks on a real LMDB store: each one driven through `execute` with the services a
driver lends (store and single writer), then a flow using them all on the session's Ray."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from amazon.ion import simpleion

from store import BatchingWriter, Store, codec
from tests.integration.flows import open_store, run_text
from tests.integration.test_store_semantics import task_run
from workers.runner import execute
from workers.spec import TaskResult, TaskRunSpec
from workers.storage import InternalStorage

pytestmark = pytest.mark.integration


class Driver:
    """A store, its writer and a way to run one asset task as the driver would."""

    def __init__(self, home: Path, storage: Path) -> None:
        self.store = Store.open(home)
        self.writer = BatchingWriter(self.store)
        self.storage = storage
        self.runs = 0

    def run(self, type_: str, properties: dict[str, Any], **fields: Any) -> TaskResult:
        self.runs += 1
        spec = TaskRunSpec(
            execution_id="exec1",
            flow_namespace="company.team",
            flow_id="assets_demo",
            task_id="step",
            taskrun_id=f"run{self.runs}",
            type=type_,
            properties=properties,
            storage=str(self.storage),
            **fields,
        )
        services = {"store": self.store, "writer": self.writer, "home": self.store.home}
        return execute(spec, services=services)

    def seed(self, asset_id: str, **fields: Any) -> None:
        self.writer.submit(
            codec.AssetSetEvent(asset=codec.AssetDecl(id=asset_id, **fields), time=time.time())
        )
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
        self.store.close()


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Driver]:
    found = Driver(tmp_path / "home", tmp_path / "storage")
    try:
        yield found
    finally:
        found.close()


def test_set_creates_in_the_flow_namespace_then_merges(driver: Driver) -> None:
    first = driver.run(
        "io.kestra.plugin.ee.assets.Set",
        {
            "assetId": "customers_by_country",
            "assetType": "TABLE",
            "displayName": "Customers by Country",
            "assetDescription": "Customers per country.",
            "metadata": {"database": "my-project", "schema": "analytics"},
        },
    )
    assert (first.state, first.outputs, first.error) == ("SUCCESS", {}, None)
    asset = driver.store.get_asset("customers_by_country")
    assert asset is not None
    assert (asset.namespace, asset.type, asset.displayName, asset.description) == (
        "company.team",
        "TABLE",
        "Customers by Country",
        "Customers per country.",
    )
    assert asset.metadata == {"database": "my-project", "schema": "analytics"}

    second = driver.run(
        "io.kestra.plugin.kestra.ee.assets.Set",
        {
            "assetId": "customers_by_country",
            "assetType": "TABLE",
            "namespace": "assets.data",
            "metadata": {"schema": None, "owner": "bi"},
        },
    )
    assert second.state == "SUCCESS"
    merged = driver.store.get_asset("customers_by_country")
    assert merged is not None
    assert merged.namespace == "assets.data"
    assert merged.displayName == "Customers by Country"
    assert merged.metadata == {"database": "my-project", "owner": "bi"}
    assert merged.created == asset.created and merged.updated > asset.updated

    third = driver.run("assets.set", {"assetId": "customers_by_country", "assetType": "TABLE"})
    assert third.state == "SUCCESS"
    kept = driver.store.get_asset("customers_by_country")
    assert kept is not None and kept.namespace == "assets.data"


def test_set_masks_secrets_in_metadata_and_texts(driver: Driver) -> None:
    result = driver.run(
        "assets.set",
        {
            "assetId": "warehouse",
            "assetType": "DATABASE",
            "displayName": "dsn postgres://app:hunter2-secret@db/x",
            "metadata": {"password": "hunter2-secret", "nested": {"dsn": "u:hunter2-secret@h"}},
        },
        secrets=["hunter2-secret"],
    )
    assert result.state == "SUCCESS"
    asset = driver.store.get_asset("warehouse")
    assert asset is not None
    assert asset.metadata == {"password": "******", "nested": {"dsn": "u:******@h"}}
    assert asset.displayName == "dsn postgres://app:******@db/x"


def test_set_reports_an_id_the_store_refuses(driver: Driver) -> None:
    result = driver.run("assets.set", {"assetId": "a" * 151, "assetType": "T"})
    assert result.state == "FAILED"
    assert result.error == (
        "task 'step': property 'assetId': String should have at most 150 characters"
    )


def _catalog(driver: Driver) -> None:
    driver.seed("mart.orders", namespace="company.data", type="TABLE", metadata={"layer": "mart"})
    driver.seed("stg.orders", namespace="company.data", type="TABLE", metadata={"layer": "staging"})
    driver.seed(
        "stg.users", namespace="company.data.crm", type="VIEW", metadata={"layer": "staging"}
    )
    driver.seed("vm.etl", namespace="company.infra", type="VM", metadata={"subnet": "10.0.1"})
    driver.seed("vm.old", namespace="company.infra", type="VM")


def test_list_filters_and_fetches_maps(driver: Driver) -> None:
    _catalog(driver)
    result = driver.run(
        "assets.list",
        {"namespace": "company.data", "types": ["TABLE", "VIEW"], "fetchType": "FETCH"},
    )
    assert result.state == "SUCCESS"
    assert result.outputs["size"] == 2
    assets = result.outputs["assets"]
    assert [a["id"] for a in assets] == ["mart.orders", "stg.orders"]
    assert set(assets[0]) == {
        "id", "namespace", "type", "displayName", "description", "metadata", "created", "updated",
    }  # fmt: skip
    assert assets[0]["metadata"] == {"layer": "mart"}

    staging = driver.run(
        "assets.list",
        {
            "metadataQuery": [{"field": "layer", "type": "EQUAL_TO", "value": "staging"}],
            "types": ["VIEW"],
            "fetchType": "FETCH",
        },
    )
    assert [a["id"] for a in staging.outputs["assets"]] == ["stg.users"]

    not_mart = driver.run(
        "assets.list",
        {
            "metadataQuery": [{"field": "layer", "type": "NOT_EQUAL_TO", "value": "mart"}],
            "fetchType": "FETCH",
        },
    )
    assert [a["id"] for a in not_mart.outputs["assets"]] == [
        "stg.orders", "stg.users", "vm.etl", "vm.old",
    ]  # fmt: skip


def test_list_pages_fetch_one_and_none(driver: Driver) -> None:
    _catalog(driver)
    page2 = driver.run("assets.list", {"page": 2, "size": 2, "fetchType": "FETCH"})
    assert [a["id"] for a in page2.outputs["assets"]] == ["stg.users", "vm.etl"]
    one = driver.run("assets.list", {"types": ["VM"], "fetchType": "FETCH_ONE"})
    assert one.outputs["size"] == 1 and one.outputs["asset"]["id"] == "vm.etl"
    empty = driver.run("assets.list", {"types": ["BUCKET"], "fetchType": "FETCH_ONE"})
    assert empty.outputs == {"asset": None, "size": 0}
    none = driver.run("assets.list", {"fetchType": "NONE"})
    assert none.outputs == {}
    assert [line.message for line in none.logs] == ["fetchType is NONE: no output"]


def test_list_stores_an_ion_file_by_default(driver: Driver) -> None:
    _catalog(driver)
    result = driver.run("assets.list", {"namespace": "company.infra"})
    assert result.state == "SUCCESS"
    assert result.outputs["size"] == 2
    storage = InternalStorage.from_root(str(driver.storage))
    with storage.open_read(result.outputs["uri"]) as stream:
        values = simpleion.loads(stream.read().decode(), single_value=False)
    assert [value["id"] for value in values] == ["vm.etl", "vm.old"]
    assert values[0]["metadata"]["subnet"] == "10.0.1"


def test_delete_removes_the_asset_and_refuses_an_unknown_id(driver: Driver) -> None:
    _catalog(driver)
    result = driver.run("io.kestra.plugin.ee.assets.Delete", {"assetId": "vm.old"})
    assert (result.state, result.outputs) == ("SUCCESS", {})
    assert driver.store.get_asset("vm.old") is None
    missing = driver.run("assets.delete", {"assetId": "vm.old"})
    assert missing.state == "FAILED"
    assert missing.error == (
        "asset 'vm.old' does not exist; check the id (`assetline assets list` shows the inventory)"
    )


def test_purge_by_namespace_prefix_types_metadata_and_end_date(driver: Driver) -> None:
    _catalog(driver)
    before = time.time()
    time.sleep(0.05)
    driver.seed("stg.fresh", namespace="company.data", type="TABLE", metadata={"layer": "staging"})
    end = {"endDate": datetime.fromtimestamp(before, UTC).isoformat()}
    staging = driver.run(
        "io.kestra.plugin.kestra.ee.assets.PurgeAssets",
        {"namespace": "company.data.*", "metadata": {"layer": "staging"}, **end},
    )
    assert (staging.state, staging.outputs["purgedAssetsCount"]) == ("SUCCESS", 2)
    remaining = [a.id for a in driver.store.find_assets()]
    assert remaining == ["mart.orders", "stg.fresh", "vm.etl", "vm.old"]

    vms = driver.run(
        "assets.purge",
        {
            "assetType": ["VM"],
            "metadataQuery": [{"field": "subnet", "type": "NOT_EQUAL_TO", "value": "10.0.1"}],
            **end,
        },
    )
    assert vms.outputs["purgedAssetsCount"] == 1
    by_id = driver.run("assets.purge", {"assetId": "mart.orders", **end})
    assert by_id.outputs["purgedAssetsCount"] == 1
    kept = driver.run(
        "assets.purge",
        {"purgeAssets": False, "purgeAssetUsages": False, "purgeAssetLineages": False, **end},
    )
    assert kept.outputs == {}
    assert [a.id for a in driver.store.find_assets()] == ["stg.fresh", "vm.etl"]


def _run_event(
    serial: int, inputs: list[str], outputs: list[str], *, namespace: str, end: float
) -> codec.TaskRunEvent:
    return task_run(
        f"tr-{serial}",
        inputs=inputs,
        outputs=outputs,
        end=end,
        execution_id=f"exec-{namespace}",
        flow_id="etl",
        task_id="load",
        namespace=namespace,
    )


def test_purge_takes_old_usages_and_lineage_and_keeps_history(driver: Driver) -> None:
    old, recent = 1_000_000.0, time.time() + 3600
    for event in (
        _run_event(1, ["src"], ["a", "b"], namespace="company.data", end=old),
        _run_event(2, ["src"], ["other"], namespace="company.web", end=old),
    ):
        driver.writer.submit(event)
    driver.writer.flush()
    time.sleep(0.05)
    cut = datetime.fromtimestamp(time.time(), UTC).isoformat()
    time.sleep(0.05)
    driver.writer.submit(_run_event(3, ["src"], ["c"], namespace="company.data", end=recent))
    driver.writer.flush()
    log_before = len(driver.store.read_log(0, 100))

    purged = driver.run(
        "assets.purge", {"namespace": "company.data", "purgeAssets": False, "endDate": cut}
    )
    assert purged.state == "SUCCESS", purged.error
    # Usages of the namespace's assets logged before the cut: src (its own namespace is the
    # first flow's) read by runs 1 and 2, a and b; other is not in the namespace; run 3's
    # usages came after the cut. Lineage: the namespace's flow made src -> a, b before it.
    assert purged.outputs == {"purgedAssetUsagesCount": 4, "purgedAssetLineagesCount": 2}
    store = driver.store
    assert store.usages("a") == [] and store.usages("b") == []
    assert [u.taskrun_id for u in store.usages("src")] == ["tr-3"]
    assert [u.taskrun_id for u in store.usages("other")] == ["tr-2"]
    assert [edge.source for edge in store.lineage("a", direction="up").edges] == []
    assert {(e.source, e.target) for e in store.lineage("c", direction="up").edges} == {
        ("src", "tr-3"),
        ("tr-3", "c"),
    }
    assert store.lineage("other", direction="up").edges  # another namespace's lineage stays
    down = {(e.source, e.target) for e in store.lineage("src", direction="down").edges}
    assert ("tr-1", "a") not in down and ("tr-3", "c") in down
    # History stays: the event log, the task runs, the assets themselves.
    assert len(store.read_log(0, 100)) == log_before
    assert [run.taskrun_id for run in store.task_runs("exec-company.data")] == ["tr-1", "tr-3"]
    assert store.get_asset("a") is not None

    everything = driver.run("assets.purge", {"purgeAssets": False, "endDate": cut})
    assert everything.state == "SUCCESS", everything.error
    assert everything.outputs == {"purgedAssetUsagesCount": 1, "purgedAssetLineagesCount": 1}
    assert store.usages("other") == [] and store.lineage("other", direction="up").edges == []


def test_a_flow_sets_lists_deletes_and_purges(
    ray_session: Any, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_DB_PASSWORD", base64.b64encode(b"pa55-word-xyz").decode())
    summary = run_text(
        tmp_path,
        home,
        """
        id: asset_admin
        namespace: company.infra
        tasks:
          - id: register
            type: io.kestra.plugin.ee.assets.Set
            assetId: etl-node-1
            assetType: VM
            displayName: ETL node
            metadata:
              subnet: 10.0.2
              password: "{{ secret('DB_PASSWORD') }}"
          - id: register_old
            type: io.kestra.plugin.ee.assets.Set
            assetId: etl-node-0
            assetType: VM
          - id: ls
            type: io.kestra.plugin.ee.assets.List
            types: [VM]
            fetchType: FETCH
          - id: show
            type: io.kestra.plugin.core.debug.Return
            format: '{{ outputs.ls.size }} {{ outputs.ls.assets|map(attribute="id") | join(",") }}'
          - id: drop
            type: io.kestra.plugin.ee.assets.Delete
            assetId: etl-node-0
          - id: purge
            type: io.kestra.plugin.ee.assets.PurgeAssets
            namespace: company.infra
            endDate: "{{ now() }}"
            metadataQuery:
              - {field: subnet, type: EQUAL_TO, value: "10.0.3"}
        """,
    )
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        runs = {run.task_id: run for run in store.task_runs(summary.execution_id)}
        assert runs["show"].result == {"value": "2 etl-node-0,etl-node-1"}
        assert runs["purge"].result["purgedAssetsCount"] == 0
        assert store.get_asset("etl-node-0") is None
        node = store.get_asset("etl-node-1")
        assert node is not None
        assert (node.namespace, node.type, node.displayName) == ("company.infra", "VM", "ETL node")
        assert node.metadata == {"subnet": "10.0.2", "password": "******"}
        assert "pa55-word-xyz" not in str(runs["register"].properties)
