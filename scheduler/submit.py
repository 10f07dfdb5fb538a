"""Sending a run to a Ray cluster through Ray Jobs: the library behind `assetline submit`.

`submit_flow` checks the flow and its inputs here first (a FlowError or InputError means nothing
was sent), then submits one Ray job whose working_dir holds the flow file and nothing else, and
whose entrypoint runs `assetline run <flow> -i ... --address auto --home <H>` on the head node.
The run, its Ray tasks and its store all live on the cluster:

- the store's home is a path on the head: `--home`, else the head's own `$ASSETLINE_HOME`,
  else `~/.assetline` of the user the head runs as (expanded by the head's shell);
- the head and every worker node must have assetline installed (the same version) in the Python
  Ray runs with; `command` names how the head starts it when `assetline` is not on its PATH;
- an `s3://` `storage` reads its endpoint and credentials from the head's environment;
- the working_dir is for the driver only: the entrypoint hands the driver the job's identity
  (`job_submission_id` metadata) without the working_dir, so the run's Ray tasks use the
  cluster's warm workers instead of per-job workers that must first unpack the package.

`follow` streams the job's logs and returns its final status. Every failure to reach or talk to
the Jobs API is a `SubmitError`. Nothing here runs a flow, opens a store or starts Ray.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shlex
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from scheduler.errors import SchedulerError

__all__ = [
    "HEAD_HOME",
    "TERMINAL_STATUSES",
    "JobClient",
    "Submission",
    "SubmitError",
    "build_entrypoint",
    "connect",
    "follow",
    "new_submission_id",
    "submit_flow",
]

#: The home the entrypoint uses without `--home`: expanded by the head node's shell.
HEAD_HOME: Final = '"${ASSETLINE_HOME:-$HOME/.assetline}"'
TERMINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
#: Seconds between two status checks once the log stream has ended.
POLL_EVERY: Final = 0.2
#: What the Jobs API answers while the head's job agent is still starting.
NO_AGENT_YET: Final = "No available agent to submit job"
AGENT_RETRY_EVERY: Final = 1.0
#: How Ray passes a job's config (runtime_env, metadata) to the entrypoint's driver.
JOB_CONFIG_ENV: Final = "RAY_JOB_CONFIG_JSON_ENV_VAR"
#: Ray's submission ids: `raysubmit_` and 16 characters without look-alikes.
_ID_CHARS: Final = "".join(sorted(set("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ123456789")))


class SubmitError(SchedulerError):
    """The Ray Jobs API could not be reached or refused the job."""


class JobClient(Protocol):
    """The part of `ray.job_submission.JobSubmissionClient` this module uses."""

    def submit_job(
        self,
        *,
        entrypoint: str,
        runtime_env: dict[str, Any],
        metadata: dict[str, str],
        submission_id: str,
    ) -> str: ...

    def get_job_status(self, job_id: str) -> Any: ...

    def get_job_info(self, job_id: str) -> Any: ...

    def tail_job_logs(self, job_id: str) -> AsyncIterator[str]: ...


@dataclass(frozen=True)
class Submission:
    """A job the Jobs API accepted."""

    submission_id: str
    address: str
    entrypoint: str

    def to_json(self) -> dict[str, str]:
        return {"submissionId": self.submission_id, "address": self.address}


def build_entrypoint(
    flow_name: str,
    inputs: Mapping[str, str],
    *,
    home: str | None = None,
    storage: str | None = None,
    command: str = "assetline",
    job_metadata: Mapping[str, str] | None = None,
) -> str:
    """The shell command the head node runs; every value from the user is quoted. With
    `job_metadata`, the driver joins the job under that metadata and without its runtime_env.

    The run starts in a private folder holding a copy of the flow, removed when it ends: Ray's
    working_dir is a shared cache that Ray may unpack again under a running driver (it does when
    several nodes share one machine's /tmp/ray), which would pull the driver's cwd from under
    it."""
    words = shlex.split(command)
    if not words:
        raise ValueError("the command that starts assetline on the head node is empty")
    flow = shlex.quote(flow_name)
    parts = [shlex.join(words), "run", flow]
    if job_metadata is not None:
        config = json.dumps({"runtime_env": {}, "metadata": dict(job_metadata)})
        parts.insert(0, f"{JOB_CONFIG_ENV}={shlex.quote(config)}")
    for key, value in inputs.items():
        parts += ["-i", shlex.quote(f"{key}={value}")]
    parts += ["--address", "auto", "--home", shlex.quote(home) if home else HEAD_HOME]
    if storage:
        parts += ["--storage", shlex.quote(storage)]
    return (
        f'run_dir="$(mktemp -d -t assetline-job-XXXXXX)" && cp {flow} "$run_dir"/ && '
        f'cd "$run_dir" && {" ".join(parts)}; code=$?; cd / && rm -rf "$run_dir"; exit $code'
    )


def new_submission_id() -> str:
    """A fresh id in Ray's own format (`raysubmit_...`)."""
    return "raysubmit_" + "".join(secrets.choice(_ID_CHARS) for _ in range(16))


def connect(address: str) -> JobClient:
    """A Jobs API client for the head at `address` (http://HEAD:8265); SubmitError if it does
    not answer."""
    from ray.job_submission import JobSubmissionClient

    try:
        client: JobClient = JobSubmissionClient(address)
    except (ConnectionError, OSError, RuntimeError, ValueError) as exc:
        raise SubmitError(
            f"cannot reach the Ray Jobs API at {address}: {exc} "
            "(is the head's dashboard running? pass --address http://HEAD:8265)"
        ) from exc
    return client


def submit_flow(
    flow_path: Path,
    inputs: Mapping[str, str],
    *,
    address: str,
    home: str | None = None,
    storage: str | None = None,
    command: str = "assetline",
    client: JobClient | None = None,
    agent_wait: float = 120.0,
) -> Submission:
    """Check the flow and inputs here, then submit one run of it as a Ray job.

    A head whose job agent is not up yet is asked again for up to `agent_wait` seconds.
    Raises FlowError or InputError (nothing submitted) or SubmitError."""
    from scheduler.inputs import resolve_inputs
    from scheduler.loader import load_flow

    flow = load_flow(flow_path)
    resolve_inputs(flow, inputs)
    submission_id = new_submission_id()
    metadata = {"assetline.flow": f"{flow.namespace}.{flow.id}"}
    entrypoint = build_entrypoint(
        flow_path.name,
        inputs,
        home=home,
        storage=storage,
        command=command,
        job_metadata={"job_submission_id": submission_id, "job_name": submission_id, **metadata},
    )
    jobs = client if client is not None else connect(address)
    deadline = time.monotonic() + agent_wait
    with tempfile.TemporaryDirectory(prefix="assetline-submit-") as folder:
        shutil.copyfile(flow_path, Path(folder) / flow_path.name)
        while True:
            try:
                submission_id = jobs.submit_job(
                    entrypoint=entrypoint,
                    runtime_env={"working_dir": folder},
                    metadata=metadata,
                    submission_id=submission_id,
                )
                break
            except (ConnectionError, OSError, RuntimeError, ValueError) as exc:
                # a head that just started answers before its job agent is up
                if NO_AGENT_YET in str(exc) and time.monotonic() < deadline:
                    time.sleep(AGENT_RETRY_EVERY)
                    continue
                raise SubmitError(f"the Ray Jobs API at {address} refused the job: {exc}") from exc
    return Submission(submission_id=submission_id, address=address, entrypoint=entrypoint)


def follow(
    submission: Submission,
    sink: Callable[[str], None],
    *,
    client: JobClient | None = None,
    timeout: float | None = None,
) -> tuple[str, str]:
    """Stream the job's logs to `sink` until it ends; return (status, the status message).

    SubmitError if the API stops answering, or the job is still running after `timeout` s."""
    jobs = client if client is not None else connect(submission.address)
    job_id = submission.submission_id

    async def tail() -> None:
        async for chunk in jobs.tail_job_logs(job_id):
            sink(chunk)

    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        asyncio.run(asyncio.wait_for(tail(), timeout))
        while True:
            status = str(getattr(jobs.get_job_status(job_id), "value", ""))
            if status in TERMINAL_STATUSES:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError
            time.sleep(POLL_EVERY)
        message = str(getattr(jobs.get_job_info(job_id), "message", "") or "")
    except TimeoutError as exc:
        raise SubmitError(f"job {job_id} still running after {timeout:g} s") from exc
    except (ConnectionError, OSError, RuntimeError) as exc:
        raise SubmitError(f"lost the Ray Jobs API at {submission.address}: {exc}") from exc
    return status, message
