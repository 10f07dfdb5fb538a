"""The Subflow task on the session cluster: it starts a deployed flow, waits, passes inputs,
returns the child's id, state and outputs, and fails when the child fails (transmitFailed)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from scheduler.deploy import deploy_flow
from scheduler.loader import load_flow_text
from scheduler.runner import run_flow
from store import Store

pytestmark = pytest.mark.integration

CHILD = """
id: child
namespace: company.team
inputs:
  - id: table
    type: STRING
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "built {{ inputs.table }} for {{ trigger.flowId }}"
  - id: maybe_fail
    type: io.kestra.plugin.scripts.shell.Commands
    runIf: "{{ inputs.table == 'broken' }}"
    commands:
      - exit 3
"""


def _parent(table: str, *, transmit: bool = True, flow_id: str = "child") -> str:
    return textwrap.dedent(
        f"""\
        id: parent
        namespace: company.team
        tasks:
          - id: call
            type: io.kestra.plugin.core.flow.Subflow
            namespace: company.team
            flowId: {flow_id}
            transmitFailed: {str(transmit).lower()}
            inputs:
              table: {table}
          - id: after
            type: io.kestra.plugin.core.debug.Return
            format: "{{{{ outputs.call.state }}}} {{{{ outputs.call.outputs.echo.value }}}}"
        """
    )


def _run(tmp_path: Path, home: Path, text: str) -> Any:
    flow = load_flow_text(text, "parent.yaml")
    return run_flow(flow, {}, home=home, workdir=str(tmp_path))


@pytest.fixture
def deployed(home: Path) -> Path:
    with Store.open(home) as store:
        deploy_flow(store, load_flow_text(CHILD, "child.yaml"))
    return home


def test_a_subflow_runs_the_deployed_child_and_returns_its_outputs(
    ray_session: Any, tmp_path: Path, deployed: Path
) -> None:
    summary = _run(tmp_path, deployed, _parent("trips"))
    assert summary.state == "SUCCESS", summary.errors
    call = summary.outputs["call"]
    assert call["state"] == "SUCCESS"
    assert summary.outputs["after"]["value"] == "SUCCESS built trips for parent"
    with Store.open(deployed, readonly=True) as store:
        child = store.get_execution(call["executionId"])
        assert child is not None and (child.flow_id, child.state) == ("child", "SUCCESS")
        assert child.flow_revision == 1
        assert child.inputs == {"table": "trips"}


def test_a_failed_child_fails_the_task_unless_told_not_to(
    ray_session: Any, tmp_path: Path, deployed: Path
) -> None:
    failed = _run(tmp_path, deployed, _parent("broken"))
    assert failed.state == "FAILED"
    assert any(
        "subflow company.team.child execution" in error and "ended FAILED" in error
        for error in failed.errors
    ), failed.errors
    tolerated = _run(tmp_path, deployed, _parent("broken", transmit=False))
    assert tolerated.state == "SUCCESS", tolerated.errors
    assert tolerated.outputs["call"]["state"] == "FAILED"


def test_a_missing_child_fails_with_a_hint(
    ray_session: Any, tmp_path: Path, deployed: Path
) -> None:
    summary = _run(tmp_path, deployed, _parent("trips", flow_id="ghost"))
    assert summary.state == "FAILED"
    assert any(
        "subflow company.team.ghost could not start: no deployed flow company.team.ghost; "
        "deploy it with `assetline deploy FLOW.yaml`" in error
        for error in summary.errors
    ), summary.errors
