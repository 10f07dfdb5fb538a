"""`assetline submit` end to end: a subprocess per call, against the session cluster's Jobs API.

The job's driver runs on the head node of `ray_cluster` (same machine), so the store it writes
at `--home` is readable here afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from store import Store

pytestmark = pytest.mark.e2e
ASSETLINE = str(Path(sys.executable).with_name("assetline"))

GOOD_FLOW = """
id: submitted
namespace: company.cluster
inputs:
  - id: label
    type: STRING
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "label={{ inputs.label }}"
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c"]
    concurrencyLimit: 0
    tasks:
      - id: write
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo "part {{ taskrun.value }} of {{ inputs.label }}"
        assets:
          outputs:
            - id: "submitted_{{ taskrun.value }}"
              type: io.kestra.plugin.ee.assets.Table
"""

FAILING_FLOW = """
id: submitted_fails
namespace: company.cluster
tasks:
  - id: boom
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "about to fail"
      - exit 3
"""


def _flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def submit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASSETLINE, "submit", *args, "--assetline-command", ASSETLINE],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _job_ids(ray_cluster: Any) -> set[str]:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_cluster.dashboard_url)
    return {job.submission_id for job in client.list_jobs() if job.submission_id}


def test_follow_streams_logs_and_the_store_on_the_head_holds_the_assets(
    ray_cluster: Any, tmp_path: Path
) -> None:
    flow = _flow(tmp_path, GOOD_FLOW)
    home = tmp_path / "head-home"
    done = submit(
        str(flow),
        "--address",
        ray_cluster.dashboard_url,
        "-i",
        "label=it's a 'quoted' $HOME; value",
        "--home",
        str(home),
        "--follow",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("submitted raysubmit_")
    assert lines[-1].endswith(" SUCCEEDED") and lines[-1].startswith("job raysubmit_")
    # the run's own output, streamed from the head
    assert "execution " in done.stdout and " SUCCESS in " in done.stdout
    # Ray links the run's driver to the submission
    submission_id = lines[0].split()[1]
    from ray.job_submission import JobSubmissionClient

    (job,) = [
        job
        for job in JobSubmissionClient(ray_cluster.dashboard_url).list_jobs()
        if job.submission_id == submission_id
    ]
    assert job.driver_info is not None and job.driver_info.id == job.job_id
    with Store.open(home, readonly=True) as store:
        assert {a.id for a in store.find_assets(namespace="company.cluster")} == {
            "submitted_a",
            "submitted_b",
            "submitted_c",
        }
        (execution,) = store.list_executions(flow_id="submitted")
        assert execution.state == "SUCCESS"
        runs = [r for r in store.task_runs(execution.id) if r.task_id == "write"]
        assert len(runs) == 3
        # the input crossed the head's shell unharmed
        (say,) = [r for r in store.task_runs(execution.id) if r.task_id == "say"]
        assert [line.message for line in say.logs] == ["label=it's a 'quoted' $HOME; value"]


def test_json_without_follow_prints_the_submission(ray_cluster: Any, tmp_path: Path) -> None:
    flow = _flow(tmp_path, GOOD_FLOW)
    done = submit(
        str(flow),
        "--address",
        ray_cluster.dashboard_url,
        "-i",
        "label=x",
        "--home",
        str(tmp_path / "home"),
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["address"] == ray_cluster.dashboard_url
    assert answer["submissionId"] in _job_ids(ray_cluster)
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_cluster.dashboard_url)
    info = client.get_job_info(answer["submissionId"])
    assert info.metadata == {"assetline.flow": "company.cluster.submitted"}
    assert "--address auto" in info.entrypoint


def test_failed_flow_exits_1_naming_the_status(ray_cluster: Any, tmp_path: Path) -> None:
    flow = _flow(tmp_path, FAILING_FLOW)
    done = submit(
        str(flow),
        "--address",
        ray_cluster.dashboard_url,
        "--home",
        str(tmp_path / "home"),
        "--follow",
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("job raysubmit_") and " FAILED: " in last
    streamed = done.stdout.split(last)[0]  # the run's own lines, from the head
    assert "task 'boom': " in streamed and "exit" in streamed, streamed
    assert " FAILED in " in streamed, streamed
    assert done.stderr == ""


def test_invalid_flow_exits_2_and_submits_nothing(ray_cluster: Any, tmp_path: Path) -> None:
    flow = _flow(
        tmp_path,
        """
        id: broken
        namespace: company.cluster
        tasks:
          - id: t
            type: io.kestra.plugin.core.log.Log
            mesage: typo
        """,
    )
    before = _job_ids(ray_cluster)
    done = submit(str(flow), "--address", ray_cluster.dashboard_url, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"{flow}:")
    assert "mesage" in done.stderr
    assert done.stdout == ""
    assert _job_ids(ray_cluster) == before


def test_missing_input_exits_2_and_submits_nothing(ray_cluster: Any, tmp_path: Path) -> None:
    flow = _flow(tmp_path, GOOD_FLOW)
    before = _job_ids(ray_cluster)
    done = submit(str(flow), "--address", ray_cluster.dashboard_url, cwd=tmp_path)
    assert done.returncode == 2
    assert "label" in done.stderr
    assert _job_ids(ray_cluster) == before


def test_address_that_does_not_answer_exits_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    flow = _flow(tmp_path, FAILING_FLOW)
    done = submit(str(flow), "--address", f"http://127.0.0.1:{port}", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"error: cannot reach the Ray Jobs API at http://127.0.0.1:{port}"
    )
    assert done.stdout == ""
