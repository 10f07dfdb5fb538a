"""Kestra's KV store on a real LMDB store: the store's KV records, the four KV tasks driven as
the driver runs them, the `kv()` template function in flows on the session's Ray, and
Kestra's own kv.yaml test flow unchanged."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path
from typing import Any, get_args

import pytest

from store import InvalidEventError, Store
from store.kv import KV_TYPES
from tests.integration.flows import open_store, run_text
from tests.integration.test_asset_tasks import Driver
from tests.integration.test_kestra_flows_run import MIRROR, VALIDS
from workers.tasks.kv_tasks import KVType, typed_value

pytestmark = pytest.mark.integration


@pytest.fixture
def driver(tmp_path: Path) -> Any:
    found = Driver(tmp_path / "home", tmp_path / "storage")
    try:
        yield found
    finally:
        found.close()


def test_the_store_keeps_typed_values_by_namespace_with_expiry(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.kv_set("company.team", "orders.file", "kestra:///x.csv")
        assert store.kv_set("company.team", "orders.count", 42, kv_type="NUMBER")
        assert store.kv_set("company.other", "orders.file", {"a": [1, 2]}, kv_type="JSON")
        assert store.kv_set("company.team", "short-lived", "x", ttl=0.05)
        entry = store.kv_get("company.team", "orders.count")
        assert entry is not None and (entry.value, entry.type) == (42, "NUMBER")
        assert store.kv_keys("company.team") == ["orders.count", "orders.file", "short-lived"]
        assert store.kv_keys("company.team", "orders.") == ["orders.count", "orders.file"]
        assert store.kv_keys("company") == []  # namespaces do not nest
        assert not store.kv_set("company.team", "orders.file", "other", overwrite=False)
        assert store.kv_get("company.team", "orders.file").value == "kestra:///x.csv"  # type: ignore[union-attr]
        time.sleep(0.1)
        assert store.kv_get("company.team", "short-lived") is None
        assert store.kv_keys("company.team") == ["orders.count", "orders.file"]
        assert store.kv_set("company.team", "short-lived", "again", overwrite=False)
        assert store.kv_delete("company.team", "orders.count")
        assert not store.kv_delete("company.team", "orders.count")
        with pytest.raises(InvalidEventError, match="KV key '-bad key' is not valid"):
            store.kv_set("company.team", "-bad key", 1)
        with pytest.raises(InvalidEventError, match="KV type 'TEXT'"):
            store.kv_set("company.team", "key", 1, kv_type="TEXT")
    with Store.open(tmp_path, readonly=True) as reader:
        assert reader.kv_get("company.other", "orders.file").value == {"a": [1, 2]}  # type: ignore[union-attr]


def test_kv_types_convert_strings_as_kestra_does() -> None:
    assert set(get_args(KVType)) == set(KV_TYPES)
    assert typed_value("42", "NUMBER") == (42, "NUMBER")
    assert typed_value("1.5", "NUMBER") == (1.5, "NUMBER")
    assert typed_value("TRUE", "BOOLEAN") == (True, "BOOLEAN")
    assert typed_value("yes", "BOOLEAN") == (False, "BOOLEAN")
    assert typed_value('{"a": 1}', "JSON") == ({"a": 1}, "JSON")
    assert typed_value("PT1H", "DURATION") == ("PT1H", "DURATION")
    assert typed_value("2026-11-25T10:00:00Z", "DATETIME") == ("2026-11-25T10:00:00Z", "DATETIME")
    assert typed_value(7, None) == (7, "NUMBER")
    assert typed_value([1], None) == ([1], "JSON")
    assert typed_value("x", None) == ("x", "STRING")


def test_the_kv_tasks_set_get_list_and_delete(driver: Driver) -> None:
    kestra = "io.kestra.plugin.core.kv."
    assert driver.run(
        kestra + "Set", {"key": "my_var", "value": "42", "kvType": "NUMBER"}
    ).state == ("SUCCESS")
    driver.run("kv.set", {"key": "my_other", "value": {"x": 1}, "ttl": "PT1H"})
    got = driver.run(kestra + "Get", {"key": "my_var"})
    assert (got.state, got.outputs) == ("SUCCESS", {"value": 42})
    assert driver.run("kv.get", {"key": "nope"}).outputs == {"value": None}
    missing = driver.run(kestra + "Get", {"key": "nope", "errorOnMissing": True})
    assert (missing.state, missing.error) == (
        "FAILED",
        "No value found for key 'nope' in namespace 'company.team' and `errorOnMissing` is set "
        "to true",
    )
    assert driver.run(kestra + "GetKeys", {"prefix": "my_"}).outputs == {
        "keys": ["my_other", "my_var"]
    }
    refused = driver.run(kestra + "Set", {"key": "my_var", "value": "1", "overwrite": False})
    assert (refused.state, refused.error) == (
        "FAILED",
        "KV key 'my_var' in namespace 'company.team' already has a value and `overwrite` is false",
    )
    bad = driver.run(kestra + "Set", {"key": "n", "value": "forty", "kvType": "NUMBER"})
    assert bad.state == "FAILED" and bad.error.startswith(
        "value 'forty' is not a NUMBER (kvType); write it like 42 or 1.5"
    )
    elsewhere = driver.run(kestra + "Set", {"key": "k", "value": "v", "namespace": "other.ns"})
    assert elsewhere.state == "SUCCESS"
    assert driver.store.kv_get("other.ns", "k").value == "v"  # type: ignore[union-attr]
    assert driver.run(kestra + "Delete", {"key": "my_var"}).outputs == {"deleted": True}
    gone = driver.run(kestra + "Delete", {"key": "my_var", "errorOnMissing": True})
    assert gone.state == "FAILED"
    assert driver.run(kestra + "Delete", {"key": "my_var"}).outputs == {"deleted": False}


def test_a_secret_is_never_written_to_the_kv_store(driver: Driver) -> None:
    result = driver.run(
        "io.kestra.plugin.core.kv.Set",
        {"key": "token", "value": "Bearer s3cr3t-value-123"},
        secrets=["s3cr3t-value-123"],
    )
    assert result.state == "FAILED"
    assert result.error == (
        "the value for KV key 'token' holds a secret, and secrets are never written to the "
        "store; read it with secret() where it is needed"
    )
    assert driver.store.kv_get("company.team", "token") is None


def test_a_flow_sets_and_reads_kv_values(
    ray_session: Any, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_API_TOKEN", base64.b64encode(b"tok-9876543210").decode())
    summary = run_text(
        tmp_path,
        home,
        """
        id: kv_demo
        namespace: company.team
        tasks:
          - id: remember
            type: io.kestra.plugin.core.kv.Set
            key: orders_file
            value: "{{ flow.id }}/orders.csv"
          - id: settings
            type: io.kestra.plugin.core.kv.Set
            key: settings
            kvType: JSON
            value: '{"batch": 500, "region": "eu"}'
          - id: use
            type: io.kestra.plugin.core.debug.Return
            format: "{{ kv('orders_file') }} {{ kv('settings').batch }} {{ kv('nope') ?? 'none' }}"
          - id: fetch
            type: io.kestra.plugin.core.kv.Get
            key: settings
          - id: strict
            type: io.kestra.plugin.core.debug.Return
            format: "{{ kv('nope', errorOnMissing=true) }}"
            allowFailure: true
        """,
    )
    assert summary.state == "WARNING", summary.errors
    with open_store(home) as store:
        runs = {run.task_id: run for run in store.task_runs(summary.execution_id)}
        assert runs["use"].result == {"value": "kv_demo/orders.csv 500 none"}
        assert runs["fetch"].result == {"value": {"batch": 500, "region": "eu"}}
        assert runs["strict"].state == "FAILED"
        assert "the key 'nope' does not exist in the namespace 'company.team'" in str(
            runs["strict"].error
        )
        assert store.kv_keys("company.team") == ["orders_file", "settings"]


@pytest.mark.skipif(not MIRROR.exists(), reason=f"Kestra's repository is not mirrored at {MIRROR}")
def test_kestras_kv_flow_runs_unchanged(ray_session: Any, tmp_path: Path) -> None:
    text = subprocess.run(
        ["git", "-C", str(MIRROR), "show", f"HEAD:{VALIDS}kv.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    home = tmp_path / "home"
    with Store.open(home) as store:
        store.kv_set("io.kestra.tests", "my-key", {"field": "value"}, kv_type="JSON")
    from scheduler.loader import load_flow_text
    from scheduler.runner import run_flow

    summary = run_flow(load_flow_text(text, "kv.yaml"), {}, home=home, workdir=str(tmp_path))
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        runs = {run.task_id: run for run in store.task_runs(summary.execution_id)}
    assert runs["get"].result == {"value": "value"}
    assert runs["getWithArgs"].result == {"value": "value"}


def test_state_tasks_merge_scope_and_refuse_secrets(driver: Driver) -> None:
    state = "io.kestra.plugin.core.state."
    first = driver.run(state + "Set", {"name": "s", "data": {"a": {"x": 1}, "b": 1}}, value="v1")
    assert first.outputs == {"count": 2, "key": "company.team/assets_demo/states/s/v1"}
    driver.run(state + "Set", {"name": "s", "data": {"a": {"y": 2}, "b": 2}}, value="v1")
    got = driver.run(state + "Get", {"name": "s"}, value="v1")
    assert got.outputs == {"count": 2, "data": {"a": {"x": 1, "y": 2}, "b": 2}}
    assert driver.run(state + "Get", {"name": "s"}, value="v2").outputs == {"count": 0, "data": {}}
    shared = driver.run(state + "Get", {"name": "s", "taskrunValue": False, "namespace": True})
    assert shared.outputs == {"count": 0, "data": {}}
    missing = driver.run(state + "Get", {"name": "nope", "errorOnMissing": True})
    assert missing.state == "FAILED" and "Unable to find the state 'nope'" in str(missing.error)
    refused = driver.run(
        state + "Set", {"name": "t", "data": {"token": "xyz-secret-42"}}, secrets=["xyz-secret-42"]
    )
    assert refused.state == "FAILED" and "holds a secret" in str(refused.error)
    assert driver.run(state + "Delete", {"name": "s"}, value="v1").outputs == {"deleted": True}
    assert driver.run(state + "Delete", {"name": "s"}, value="v1").outputs == {"deleted": False}
    assert driver.store.kv_keys("company.team") == []
