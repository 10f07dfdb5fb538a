"""`scheduler.submit` as a library: what it sends to the Ray Jobs API and how it reads the answer.

A `RecordingJobs` double implements the same small interface (`JobClient`) as Ray's
`JobSubmissionClient`; the entrypoint it receives is run through a real `sh` to show what the
head node would execute. One test talks to the session cluster's real Jobs API.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scheduler.errors import FlowError, InputError
from scheduler.submit import (
    HEAD_HOME,
    Submission,
    SubmitError,
    build_entrypoint,
    connect,
    follow,
    submit_flow,
)

pytestmark = pytest.mark.integration

FLOW = """
id: sent
namespace: company.cluster
inputs:
  - id: label
    type: STRING
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.label }}"
"""
# prints its arguments and the job config Ray would read: stands in for `assetline` on the head
ECHO_ARGS = (
    f"{sys.executable} -c 'import json, os, sys; "
    'print(json.dumps({"argv": sys.argv[1:], '
    '"job": os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")}))\''
)


@dataclass
class _Status:
    value: str


@dataclass
class _Info:
    message: str


@dataclass
class RecordingJobs:
    """A Jobs API double: records submissions (and the working_dir's files at that moment)."""

    statuses: list[str] = field(default_factory=lambda: ["SUCCEEDED"])
    logs: list[str] = field(default_factory=list)
    message: str = ""
    refusals: list[Exception] = field(default_factory=list)
    submitted: list[dict[str, Any]] = field(default_factory=list)

    def submit_job(
        self,
        *,
        entrypoint: str,
        runtime_env: dict[str, Any],
        metadata: dict[str, str],
        submission_id: str,
    ) -> str:
        if self.refusals:
            raise self.refusals.pop(0)
        folder = Path(runtime_env["working_dir"])
        files = {p.name: p.read_text() for p in folder.iterdir()}
        self.submitted.append(
            {
                "entrypoint": entrypoint,
                "files": files,
                "metadata": metadata,
                "env": runtime_env,
                "id": submission_id,
            }
        )
        return submission_id

    def get_job_status(self, job_id: str) -> _Status:
        value = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return _Status(value)

    def get_job_info(self, job_id: str) -> _Info:
        return _Info(self.message)

    async def tail_job_logs(self, job_id: str) -> AsyncIterator[str]:
        for chunk in self.logs:
            yield chunk


def _flow(tmp_path: Path, text: str = FLOW) -> Path:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "secret-notes.txt").write_text("stays here\n")
    path = work / "flow.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _run_on_fake_head(entrypoint: str, flow: Path, env: dict[str, str]) -> Any:
    """Run the entrypoint as the head would: `sh -c` in a folder holding the flow."""
    job_dir = flow.parent.parent / "job-working-dir"
    job_dir.mkdir()
    (job_dir / flow.name).write_bytes(flow.read_bytes())
    done = subprocess.run(
        ["sh", "-c", entrypoint],
        cwd=job_dir,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_only_the_flow_travels_and_the_entrypoint_runs_assetline_on_the_head(
    tmp_path: Path,
) -> None:
    flow = _flow(tmp_path)
    jobs = RecordingJobs()
    label = 'it\'s "quoted" $HOME `date`; rm -rf /'
    submission = submit_flow(
        flow,
        {"label": label},
        address="http://127.0.0.1:8265",
        home="/srv/assetline home",
        command=ECHO_ARGS,
        client=jobs,
    )
    (sent,) = jobs.submitted
    assert re.fullmatch(r"raysubmit_[a-zA-Z1-9]{16}", sent["id"])
    assert submission == Submission(
        submission_id=sent["id"], address="http://127.0.0.1:8265", entrypoint=sent["entrypoint"]
    )
    assert submission.to_json() == {"submissionId": sent["id"], "address": "http://127.0.0.1:8265"}
    assert sent["files"] == {"flow.yaml": flow.read_text()}
    assert sent["metadata"] == {"assetline.flow": "company.cluster.sent"}
    assert set(sent["env"]) == {"working_dir"}
    seen = _run_on_fake_head(sent["entrypoint"], flow, {"HOME": str(tmp_path)})
    # the driver joins the job by its id, without the working_dir its tasks do not need
    assert json.loads(seen["job"]) == {
        "runtime_env": {},
        "metadata": {
            "job_submission_id": sent["id"],
            "job_name": sent["id"],
            "assetline.flow": "company.cluster.sent",
        },
    }
    assert seen["argv"] == [
        "run",
        "flow.yaml",
        "-i",
        f"label={label}",
        "--address",
        "auto",
        "--home",
        "/srv/assetline home",
    ]


@pytest.mark.parametrize(
    ("head_env", "expected_home"),
    [({"ASSETLINE_HOME": "/data/al"}, "/data/al"), ({}, "{HOME}/.assetline")],
)
def test_default_home_is_the_heads_own(
    tmp_path: Path, head_env: dict[str, str], expected_home: str
) -> None:
    flow = _flow(tmp_path)
    entrypoint = build_entrypoint(
        "flow.yaml", {"label": "x"}, storage="s3://b/p", command=ECHO_ARGS
    )
    assert HEAD_HOME in entrypoint
    seen = _run_on_fake_head(entrypoint, flow, {"HOME": str(tmp_path), **head_env})
    assert seen["job"] is None
    assert seen["argv"][-4:] == [
        "--home",
        expected_home.format(HOME=str(tmp_path)),
        "--storage",
        "s3://b/p",
    ]


def test_the_entrypoint_cleans_its_run_folder_and_keeps_the_exit_code(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    tmp = tmp_path / "head-tmp"
    tmp.mkdir()
    script = f"{sys.executable} -c 'import os, sys; print(os.getcwd()); sys.exit(3)'"
    entrypoint = build_entrypoint("flow.yaml", {}, home="/h", command=script)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / "flow.yaml").write_bytes(flow.read_bytes())
    done = subprocess.run(
        ["sh", "-c", entrypoint],
        cwd=job_dir,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(tmp)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    run_dir = Path(done.stdout.strip())
    assert run_dir.parent == tmp and run_dir.name.startswith("assetline-job-")
    assert not run_dir.exists()


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(ValueError, match="the command that starts assetline on the head node"):
        build_entrypoint("flow.yaml", {}, command="  ")


def test_an_invalid_flow_is_not_submitted(tmp_path: Path) -> None:
    flow = _flow(tmp_path, FLOW.replace("message:", "mesage:"))
    jobs = RecordingJobs()
    with pytest.raises(FlowError) as caught:
        submit_flow(flow, {"label": "x"}, address="http://127.0.0.1:1", client=jobs)
    assert str(caught.value).startswith(f"{flow}:")
    assert "mesage" in str(caught.value)
    assert jobs.submitted == []


def test_a_missing_input_is_not_submitted(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    jobs = RecordingJobs()
    with pytest.raises(InputError, match="label"):
        submit_flow(flow, {}, address="http://127.0.0.1:1", client=jobs)
    assert jobs.submitted == []


def test_a_head_whose_agent_is_starting_is_asked_again(tmp_path: Path) -> None:
    jobs = RecordingJobs(
        refusals=[
            RuntimeError(
                "Request failed with status code 500: "
                "No available agent to submit job, please try again later."
            )
        ]
    )
    submission = submit_flow(
        _flow(tmp_path), {"label": "x"}, address="http://h:8265", client=jobs, agent_wait=10
    )
    assert [sent["id"] for sent in jobs.submitted] == [submission.submission_id]


def test_a_refused_job_is_a_submit_error(tmp_path: Path) -> None:
    jobs = RecordingJobs(refusals=[RuntimeError("Request failed with status code 400: bad env")])
    with pytest.raises(SubmitError) as caught:
        submit_flow(_flow(tmp_path), {"label": "x"}, address="http://h:8265", client=jobs)
    assert str(caught.value) == (
        "the Ray Jobs API at http://h:8265 refused the job: "
        "Request failed with status code 400: bad env"
    )


def test_an_address_that_does_not_answer_is_a_submit_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SubmitError) as caught:
        connect(f"http://127.0.0.1:{port}")
    assert str(caught.value).startswith(
        f"cannot reach the Ray Jobs API at http://127.0.0.1:{port}: "
    )
    assert "pass --address http://HEAD:8265" in str(caught.value)


def test_follow_streams_the_logs_and_waits_for_a_final_status() -> None:
    jobs = RecordingJobs(
        statuses=["RUNNING", "RUNNING", "FAILED"],
        logs=["line 1\n", "line 2\n"],
        message="Job entrypoint command failed with exit code 1",
    )
    seen: list[str] = []
    status, message = follow(
        Submission("raysubmit_9", "http://h:8265", "x"), seen.append, client=jobs
    )
    assert seen == ["line 1\n", "line 2\n"]
    assert (status, message) == ("FAILED", "Job entrypoint command failed with exit code 1")


def test_follow_gives_up_after_its_timeout() -> None:
    jobs = RecordingJobs(statuses=["RUNNING"])
    with pytest.raises(SubmitError, match=r"job raysubmit_9 still running after 0.5 s"):
        follow(Submission("raysubmit_9", "http://h:8265", "x"), print, client=jobs, timeout=0.5)


def test_submit_and_follow_on_the_session_cluster(ray_cluster: Any, tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    home = tmp_path / "head-home"
    submission = submit_flow(
        flow,
        {"label": "from the library"},
        address=ray_cluster.dashboard_url,
        home=str(home),
        command=str(Path(sys.executable).with_name("assetline")),
    )
    chunks: list[str] = []
    status, _message = follow(submission, chunks.append, timeout=240)
    assert status == "SUCCEEDED", "".join(chunks)
    assert "execution " in "".join(chunks)
    from store import Store

    with Store.open(home, readonly=True) as store:
        (execution,) = store.list_executions(flow_id="sent")
        assert execution.state == "SUCCESS"
        (run,) = store.task_runs(execution.id)
        assert [line.message for line in run.logs] == ["from the library"]
