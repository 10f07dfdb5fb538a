"""Flows run through the session's real two-node Ray cluster; the LMDB store is read back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from scheduler.errors import InputError
from scheduler.loader import load_flow
from scheduler.runner import run_flow
from tests.integration.flows import open_store, run_text

pytestmark = pytest.mark.integration


def _file_contains(path: Path, needle: bytes) -> bool:
    """Search a sparse file (LMDB's data.mdb maps far more than it holds) region by region."""
    with path.open("rb") as handle:
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:
                return False
            end = os.lseek(fd, start, os.SEEK_HOLE)
            handle.seek(max(0, start - len(needle)))
            if needle in handle.read(end - max(0, start - len(needle))):
                return True
            offset = end
    return False


ROOT = Path(__file__).resolve().parents[2]


def test_taxi_pipeline_records_assets_usages_and_lineage(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    (tmp_path / "examples" / "data").mkdir(parents=True)
    flow = load_flow(ROOT / "examples" / "taxi_pipeline.yaml")
    summary = run_flow(flow, {}, home=home, workdir=str(tmp_path))
    assert summary.state == "SUCCESS", summary.errors
    assert summary.assets_read == ["sample_data.nyc.taxi", "trips"]
    assert summary.assets_written == ["avg_trip_distance", "trips"]
    with open_store(home) as store:
        external = store.get_asset("sample_data.nyc.taxi")
        assert external is not None and external.type == "External"
        assert external.namespace == "company.analytics"
        trips = store.get_asset("trips")
        assert trips is not None
        assert trips.type == "io.kestra.plugin.ee.assets.Table"
        assert trips.metadata == {"model_layer": "staging", "owner": "analytics"}
        graph = store.lineage("avg_trip_distance", direction="up").to_json()
        asset_nodes = {n["id"] for n in graph["nodes"] if n["kind"] == "asset"}
        assert asset_nodes == {"avg_trip_distance", "trips", "sample_data.nyc.taxi"}
        task_nodes = [n for n in graph["nodes"] if n["kind"] == "task"]
        assert len(task_nodes) == 2
        usages = store.usages("trips")
        assert [(u.direction, u.task_id) for u in usages] == [
            ("OUTPUT", "staging_trips"),
            ("INPUT", "mart_avg_trip_distance"),
        ]
        execution = store.get_execution(summary.execution_id)
        assert execution is not None and execution.state == "SUCCESS"
        runs = store.task_runs(summary.execution_id)
        assert [r.task_id for r in runs] == [
            "load_sample_data",
            "staging_trips",
            "mart_avg_trip_distance",
            "report",
        ]
        mart = runs[2]
        assert mart.result["size"] == 4
        assert "average trip distance by passenger count" in runs[3].logs[0].message


def test_rerun_merges_assets_and_keeps_created(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    flow = """
        id: merge
        namespace: company.team
        inputs:
          - id: tier
            type: STRING
        tasks:
          - id: produce
            type: io.kestra.plugin.core.log.Log
            message: producing
            assets:
              outputs:
                - id: customers
                  type: io.kestra.plugin.ee.assets.Table
                  displayName: Customers
                  metadata:
                    tier: "{{ inputs.tier }}"
                    stale: "{{ inputs.tier == 'gold' }}"
    """
    first = run_text(tmp_path, home, flow, {"tier": "silver"})
    with open_store(home) as store:
        before = store.get_asset("customers")
    assert first.state == "SUCCESS" and before is not None
    second = run_text(
        tmp_path,
        home,
        flow.replace("stale: \"{{ inputs.tier == 'gold' }}\"", "stale: null"),
        {"tier": "gold"},
    )
    assert second.state == "SUCCESS"
    with open_store(home) as store:
        after = store.get_asset("customers")
        assert after is not None
        assert after.created == before.created
        assert after.updated > before.updated
        assert after.metadata == {"tier": "gold"}
        assert after.displayName == "Customers"


def test_foreach_respects_concurrency_limit_and_keys_outputs_by_value(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: fanout
        namespace: company.team
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: ["a", "b", "c", "d", "e", "f"]
            concurrencyLimit: 2
            tasks:
              - id: work
                type: io.kestra.plugin.scripts.shell.Commands
                commands:
                  - sleep 0.3
                  - 'echo "::{\\"outputs\\": {\\"v\\": \\"{{ taskrun.value }}\\"}}::"'
                assets:
                  outputs:
                    - id: "item-{{ taskrun.value }}"
                      type: ITEM
          - id: after
            type: io.kestra.plugin.core.debug.Return
            format: "{{ outputs.work['c'].vars.v }}{{ outputs.work.f.vars.v }}"
    """,
    )
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        runs = [r for r in store.task_runs(summary.execution_id) if r.task_id == "work"]
        assert sorted(r.value or "" for r in runs) == list("abcdef")
        spans = sorted((r.start, r.end) for r in runs)
        peak = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
        assert peak <= 2
        assert {a.id for a in store.find_assets(type="ITEM")} == {f"item-{v}" for v in "abcdef"}
        after = next(r for r in store.task_runs(summary.execution_id) if r.task_id == "after")
        assert after.result == {"value": "cf"}


def test_nested_foreach_sees_parent_value(ray_session: Any, tmp_path: Path, home: Path) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: nested
        namespace: company.team
        tasks:
          - id: outer
            type: io.kestra.plugin.core.flow.ForEach
            values: ["eu", "us"]
            tasks:
              - id: inner
                type: io.kestra.plugin.core.flow.ForEach
                values: ["web", "db"]
                concurrencyLimit: 0
                tasks:
                  - id: name
                    type: io.kestra.plugin.core.debug.Return
                    format: "{{ parent.taskrun.value }}-{{ taskrun.value }}"
          - id: pick
            type: io.kestra.plugin.core.debug.Return
            format: "{{ outputs.name.us.db.value }}"
    """,
    )
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        runs = store.task_runs(summary.execution_id)
        values = sorted(r.result["value"] for r in runs if r.task_id == "name")
        assert values == ["eu-db", "eu-web", "us-db", "us-web"]
        assert next(r for r in runs if r.task_id == "pick").result == {"value": "us-db"}


def test_failure_stops_the_flow_runs_errors_and_finally(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: failing
        namespace: company.team
        tasks:
          - id: ok_but_allowed
            type: io.kestra.plugin.scripts.shell.Commands
            allowFailure: true
            commands: ["exit 3"]
          - id: boom
            type: io.kestra.plugin.scripts.shell.Commands
            commands: ["echo going down >&2", "exit 7"]
            assets:
              inputs: [{id: raw_events}]
              outputs: [{id: never_written, type: Table}]
          - id: not_reached
            type: io.kestra.plugin.core.log.Log
            message: unreachable
        errors:
          - id: on_error
            type: io.kestra.plugin.core.log.Log
            message: "handling {{ execution.id }}"
        finally:
          - id: cleanup
            type: io.kestra.plugin.core.log.Log
            message: cleanup
    """,
    )
    assert summary.state == "FAILED"
    assert any("boom" in e for e in summary.errors)
    with open_store(home) as store:
        runs = {r.task_id: r for r in store.task_runs(summary.execution_id)}
        assert set(runs) == {"ok_but_allowed", "boom", "on_error", "cleanup"}
        assert runs["ok_but_allowed"].state == "FAILED"
        assert runs["boom"].state == "FAILED"
        assert store.get_asset("never_written") is None
        assert store.get_asset("raw_events") is not None  # registered as External input
        assert [u.state for u in store.usages("never_written")] == ["FAILED"]
        execution = store.get_execution(summary.execution_id)
        assert execution is not None and execution.state == "FAILED"


def test_allowed_failure_ends_in_warning(ray_session: Any, tmp_path: Path, home: Path) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: warn
        namespace: company.team
        tasks:
          - id: flaky
            type: io.kestra.plugin.scripts.shell.Commands
            allowFailure: true
            commands: ["exit 1"]
          - id: next
            type: io.kestra.plugin.core.log.Log
            message: still here
    """,
    )
    assert summary.state == "WARNING"
    assert summary.counts.get("SUCCESS") == 1


def test_retry_records_every_attempt_and_the_asset_once(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    marker = tmp_path / "attempts"
    summary = run_text(
        tmp_path,
        home,
        f"""
        id: retrying
        namespace: company.team
        tasks:
          - id: second_time_lucky
            type: io.kestra.plugin.scripts.shell.Commands
            retry:
              type: constant
              interval: PT0.1S
              maxAttempt: 3
            commands:
              - echo x >> {marker}
              - test $(wc -l < {marker}) -ge 2
            assets:
              outputs: [{{id: lucky_table, type: Table}}]
    """,
    )
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        runs = store.task_runs(summary.execution_id)
        assert [(r.attempt, r.state) for r in runs] == [(1, "FAILED"), (2, "SUCCESS")]
        assert len({r.taskrun_id for r in runs}) == 1
        assert [a.id for a in store.find_assets(type="Table")] == ["lucky_table"]
        assert [u.state for u in store.usages("lucky_table")] == ["FAILED", "SUCCESS"]


def test_timeout_fails_the_task(ray_session: Any, tmp_path: Path, home: Path) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: slow
        namespace: company.team
        tasks:
          - id: sleeper
            type: io.kestra.plugin.scripts.shell.Commands
            timeout: PT1S
            commands: ["sleep 30"]
    """,
    )
    assert summary.state == "FAILED"
    assert summary.end - summary.start < 20
    assert any("timed out" in e for e in summary.errors), summary.errors


def test_secrets_are_masked_in_logs_outputs_and_assets(
    ray_session: Any, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_API_TOKEN", "c3VwZXItc2VjcmV0LXZhbHVl")  # super-secret-value
    summary = run_text(
        tmp_path,
        home,
        """
        id: secretive
        namespace: company.team
        tasks:
          - id: use
            type: io.kestra.plugin.core.log.Log
            message: "token is {{ secret('API_TOKEN') }}"
          - id: echo
            type: io.kestra.plugin.core.debug.Return
            format: "{{ secret('API_TOKEN') }}"
            assets:
              outputs:
                - id: api
                  type: API
                  metadata: {auth: "Bearer {{ secret('API_TOKEN') }}"}
    """,
    )
    assert summary.state == "SUCCESS", summary.errors
    files = list((home / "store").iterdir())
    assert any(_file_contains(p, b"token is ******") for p in files)  # the search does see data
    assert not any(_file_contains(p, b"super-secret-value") for p in files)
    with open_store(home) as store:
        runs = {r.task_id: r for r in store.task_runs(summary.execution_id)}
        assert runs["use"].logs[0].message == "token is ******"
        assert runs["use"].properties == {"message": "token is ******"}
        assert runs["echo"].result == {"value": "******"}
        api = store.get_asset("api")
        assert api is not None and api.metadata == {"auth": "Bearer ******"}


def test_inventory_drives_a_fanout(ray_session: Any, tmp_path: Path, home: Path) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: inventory
        namespace: company.infra
        tasks:
          - id: register
            type: io.kestra.plugin.core.flow.ForEach
            values: ["vm-1", "vm-2", "vm-3", "db-1"]
            concurrencyLimit: 0
            tasks:
              - id: machine
                type: io.kestra.plugin.core.log.Log
                message: "{{ taskrun.value }}"
                assets:
                  outputs:
                    - id: "{{ taskrun.value }}"
                      type: VM
                      metadata:
                        nodes: "{{ 'python' if taskrun.value.startswith('vm') else 'java' }}"
          - id: upgrade
            type: io.kestra.plugin.core.flow.ForEach
            values: "{{ assets(metadata={'nodes': 'python'}) | jq('.[].id') }}"
            concurrencyLimit: 0
            tasks:
              - id: upgrade_python
                type: io.kestra.plugin.core.debug.Return
                format: "upgraded {{ taskrun.value }}"
                assets:
                  inputs: [{id: "{{ taskrun.value }}"}]
    """,
    )
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        runs = store.task_runs(summary.execution_id)
        upgraded = sorted(r.value or "" for r in runs if r.task_id == "upgrade_python")
        assert upgraded == ["vm-1", "vm-2", "vm-3"]


def test_sandbox_escape_fails_the_task_with_its_position(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: escape
        namespace: company.team
        tasks:
          - id: sneaky
            type: io.kestra.plugin.core.log.Log
            message: "{{ ''.__class__.__mro__ }}"
    """,
    )
    assert summary.state == "FAILED"
    assert summary.errors == [
        f"{tmp_path / 'flow.yaml'}:4:5: task 'sneaky': property 'message': template error: "
        "access to attribute '__class__' of 'str' object is unsafe.; templates run in a sandbox"
    ]


def test_invalid_input_stops_before_anything_runs(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    with pytest.raises(InputError):
        run_text(
            tmp_path,
            home,
            """
            id: typed
            namespace: company.team
            inputs:
              - id: count
                type: INT
                min: 1
            tasks:
              - id: t
                type: io.kestra.plugin.core.log.Log
                message: "{{ inputs.count }}"
        """,
            {"count": "0"},
        )
    assert not (home / "store").exists()


def test_inventory_driven_fanout_over_thousands_of_assets(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: fleet
        namespace: company.infra
        tasks:
          - id: register
            type: io.kestra.plugin.core.flow.ForEach
            values: "{{ range(3000) | list }}"
            concurrencyLimit: 0
            tasks:
              - id: vm
                type: io.kestra.plugin.core.log.Log
                message: "vm-{{ taskrun.value }}"
                assets:
                  outputs:
                    - id: "vm-{{ taskrun.value }}"
                      type: VM
                      metadata:
                        nodes: "{{ 'python' if (taskrun.value | int) % 3 == 0 else 'java' }}"
          - id: upgrade
            type: io.kestra.plugin.core.flow.ForEach
            values: "{{ assets(type='VM', metadata={'nodes': 'python'}) | jq('.[].id') }}"
            concurrencyLimit: 0
            tasks:
              - id: upgrade_python
                type: io.kestra.plugin.core.debug.Return
                format: "{{ taskrun.value }}"
                assets:
                  inputs: [{id: "{{ taskrun.value }}"}]
        """,
    )
    assert summary.state == "SUCCESS", summary.errors
    assert summary.end - summary.start < 60
    with open_store(home) as store:
        runs = [r for r in store.task_runs(summary.execution_id) if r.task_id == "upgrade_python"]
        assert sorted(r.value or "" for r in runs) == sorted(f"vm-{i}" for i in range(0, 3000, 3))
        assert store.count_assets() == 3000
