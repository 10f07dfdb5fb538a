"""A Pause without a delay waits for `assetline executions resume`, on the session's Ray: the
flow runs in a thread while the test resumes it through the CLI, as a user would from another
terminal; bad onResume inputs are refused and the Pause keeps waiting. Kestra's own pause.yaml
and pause_on_resume.yaml run unchanged the same way."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.executor import ExecutionSummary
from scheduler.loader import load_flow_text
from scheduler.runner import run_flow
from store import Store
from tests.integration.test_kestra_flows_run import MIRROR, _kestra_flow

pytestmark = pytest.mark.integration

ON_RESUME = """
id: approval
namespace: company.team
tasks:
  - id: before
    type: io.kestra.plugin.core.debug.Return
    format: ready
  - id: approve
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: approved
        type: BOOLEAN
      - id: reason
        type: STRING
        defaults: none given
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.approve.onResume.approved }} {{ outputs.approve.onResume.reason }}"
"""


class Background:
    """A flow running in a thread, and its execution id once the store lists it."""

    def __init__(self, text: str, name: str, home: Path, tmp_path: Path) -> None:
        self.home = home
        self.summary: ExecutionSummary | None = None
        self.failure: BaseException | None = None
        flow = load_flow_text(text, name)

        def work() -> None:
            try:
                self.summary = run_flow(flow, {}, home=home, workdir=str(tmp_path))
            except BaseException as exc:  # reported by the test
                self.failure = exc

        self.thread = threading.Thread(target=work)
        self.thread.start()

    def execution_id(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.home / "store").exists():
                with Store.open(self.home, readonly=True) as store:
                    running = store.list_executions(state="RUNNING")
                if running:
                    return running[0].id
            time.sleep(0.1)
        raise AssertionError("the execution never showed as RUNNING")

    def join(self) -> ExecutionSummary:
        self.thread.join(120)
        assert self.failure is None, self.failure
        assert self.summary is not None
        return self.summary


def resume(home: Path, execution_id: str, *inputs: str) -> Any:
    args = ["executions", "resume", execution_id, "--home", str(home)]
    for pair in inputs:
        args += ["-i", pair]
    return CliRunner().invoke(app, args)


def test_a_pause_waits_for_a_resume_and_refuses_bad_inputs(
    ray_session: Any, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    running = Background(ON_RESUME, "approval.yaml", home, tmp_path)
    execution_id = running.execution_id()
    refused = resume(home, execution_id, "approved=perhaps")
    assert refused.exit_code == 2, refused.output
    assert "refused the resume" in refused.output and "approved" in refused.output
    unknown = resume(home, execution_id, "approved=true", "colour=blue")
    assert unknown.exit_code == 2
    assert "input 'colour': not among the onResume inputs of task 'approve'" in unknown.output
    accepted = resume(home, execution_id, "approved=true")
    assert accepted.exit_code == 0, accepted.output
    summary = running.join()
    assert summary.state == "SUCCESS", summary.errors
    with Store.open(home, readonly=True) as store:
        runs = {run.task_id: run for run in store.task_runs(summary.execution_id)}
        assert runs["approve"].result == {"onResume": {"approved": True, "reason": "none given"}}
        assert runs["after"].result == {"value": "true none given"}
        assert store.kv_keys("company.team") == []
    done = resume(home, execution_id, "approved=true")
    assert done.exit_code == 1 and "is SUCCESS" in done.output


def test_resuming_what_is_not_there_says_so(tmp_path: Path) -> None:
    missing_home = resume(tmp_path / "nowhere", "abc")
    assert missing_home.exit_code == 1 and "no assetline store" in missing_home.output
    Store.open(tmp_path / "home").close()
    unknown = resume(tmp_path / "home", "abc")
    assert unknown.exit_code == 1 and "execution 'abc' not found" in unknown.output
    malformed = resume(tmp_path / "home", "abc", "novalue")
    assert malformed.exit_code == 2 and "expected name=value" in malformed.output


@pytest.mark.skipif(not MIRROR.exists(), reason=f"Kestra's repository is not mirrored at {MIRROR}")
@pytest.mark.parametrize(
    ("name", "inputs"), [("pause.yaml", ()), ("pause_on_resume.yaml", ("asked=restarted",))]
)
def test_kestras_pause_flows_resume_as_kestras_pause_test_expects(
    name: str, inputs: tuple[str, ...], ray_session: Any, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    running = Background(_kestra_flow(name), name, home, tmp_path)
    result = resume(home, running.execution_id(), *inputs)
    assert result.exit_code == 0, result.output
    summary = running.join()
    assert summary.state == "SUCCESS", summary.errors
    with Store.open(home, readonly=True) as store:
        runs = {run.task_id: run for run in store.task_runs(summary.execution_id)}
    if name == "pause_on_resume.yaml":
        assert runs["last"].result == {"values": {"asked": "restarted", "data": ""}}
    else:
        assert [runs[task].state for task in ("subtask", "pause", "last")] == ["SUCCESS"] * 3


def _paused(home: Path, execution_id: str, timeout: float = 60.0) -> dict[str, Any]:
    from scheduler.reports import execution_json

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Store.open(home, readonly=True) as store:
            paused = execution_json(store, execution_id)["paused"]
        if paused:
            return dict(paused)
        time.sleep(0.1)
    raise AssertionError("the execution never showed its Pause")


def test_the_api_and_executions_show_tell_the_pause_and_the_api_resumes_it(
    ray_session: Any, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from scheduler.web import create_app

    home = tmp_path / "home"
    running = Background(ON_RESUME, "approval.yaml", home, tmp_path)
    execution_id = running.execution_id()
    paused = _paused(home, execution_id)
    assert paused == {
        "task": "approve",
        "inputs": [
            {"id": "approved", "type": "BOOLEAN", "required": True},
            {"id": "reason", "type": "STRING", "required": True, "defaults": "none given"},
        ],
    }
    shown = CliRunner().invoke(app, ["executions", "show", execution_id, "--home", str(home)])
    assert (
        f"paused at task 'approve': resume it with `assetline executions resume {execution_id} "
        "-i approved=... -i reason=...`" in shown.output
    )
    with TestClient(create_app(home, token=None)) as client:
        url = f"/api/v1/executions/{execution_id}"
        assert client.get(url).json()["paused"]["task"] == "approve"
        refused = client.post(url + "/resume", json={"inputs": {"approved": "perhaps"}})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "the execution refused the resume"
        assert "approved" in refused.json()["details"][0]
        accepted = client.post(url + "/resume", json={"inputs": {"approved": False}})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"id": execution_id, "resumed": True, "pending": False}
        summary = running.join()
        assert summary.state == "SUCCESS", summary.errors
        done = client.get(url).json()
        assert done["paused"] is None
        again = client.post(url + "/resume", json={"inputs": {}})
        assert again.status_code == 400 and "is SUCCESS" in again.json()["error"]
        assert client.post("/api/v1/executions/nope/resume", json={}).status_code == 404
    with Store.open(home, readonly=True) as store:
        runs = {run.task_id: run for run in store.task_runs(summary.execution_id)}
    assert runs["after"].result == {"value": "false none given"}
