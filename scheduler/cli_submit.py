"""`assetline submit`: send a run of a flow to a Ray cluster through Ray Jobs.

Thin: parses arguments, calls `scheduler.submit`, prints. Exit codes follow `scheduler.cli`:
0 submitted (or, with `--follow`, the job SUCCEEDED), 1 the job FAILED or was STOPPED or the
Jobs API did not answer, 2 an invalid flow, input or option (then nothing is submitted).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from scheduler.errors import FlowError, InputError
from scheduler.submit import SubmitError, follow, submit_flow


def _fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(message.rstrip("\n") + "\n")
    return typer.Exit(code)


def submit(
    flow: Annotated[Path, typer.Argument(help="The flow file (the only file sent).")],
    address: Annotated[
        str,
        typer.Option(
            "--address",
            envvar="RAY_API_SERVER_ADDRESS",
            help="The head node's Ray Jobs API (dashboard), e.g. http://HEAD:8265.",
        ),
    ],
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="An input as key=value (repeatable).")
    ] = None,
    home: Annotated[
        str | None,
        typer.Option(
            "--home",
            help="Store directory ON THE HEAD NODE (default: the head's $ASSETLINE_HOME, else "
            "~/.assetline there).",
            show_default=False,
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Internal storage root for the run (s3://bucket/prefix for a cluster whose "
            "nodes share no folder; S3 settings come from the head's environment). Default: "
            "<home>/storage on the head.",
            show_default=False,
        ),
    ] = None,
    command: Annotated[
        str,
        typer.Option(
            "--assetline-command",
            help="How the head node starts assetline, when `assetline` is not on its PATH "
            "(e.g. /opt/venv/bin/assetline). Every node needs assetline installed.",
        ),
    ] = "assetline",
    do_follow: Annotated[
        bool,
        typer.Option("--follow", help="Stream the job's logs and wait for its end."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Run a flow on a Ray cluster as a Ray job: its driver and store live on the head node."""
    import logging

    import ray.job_submission  # noqa: F401 - Ray's log handler exists once it is imported

    from scheduler.inputs import parse_cli_inputs

    for handler in logging.getLogger("ray").handlers:  # no "Uploading package" INFO lines
        handler.setLevel(logging.WARNING)
    try:
        given = parse_cli_inputs(inputs or [])
        submission = submit_flow(
            flow, given, address=address, home=home, storage=storage, command=command
        )
    except (FlowError, InputError) as exc:
        raise _fail(str(exc), 2) from exc
    except ValueError as exc:
        raise _fail(f"--assetline-command: {exc}", 2) from exc
    except SubmitError as exc:
        raise _fail(f"error: {exc}", 1) from exc
    if not do_follow:
        if as_json:
            sys.stdout.write(json.dumps(submission.to_json()) + "\n")
        else:
            sys.stdout.write(f"submitted {submission.submission_id} to {address}\n")
        return
    # with --json, stdout carries only the final JSON: the logs go to stderr
    logs = sys.stderr if as_json else sys.stdout
    if not as_json:
        logs.write(f"submitted {submission.submission_id} to {address}\n")

    def sink(chunk: str) -> None:
        logs.write(chunk)
        logs.flush()

    try:
        status, message = follow(submission, sink)
    except SubmitError as exc:
        raise _fail(f"error: {exc}", 1) from exc
    reason = message.strip().splitlines()[0] if status != "SUCCEEDED" and message.strip() else ""
    if as_json:
        sys.stdout.write(json.dumps({**submission.to_json(), "status": status}) + "\n")
    else:
        sys.stdout.write(
            f"job {submission.submission_id} {status}" + (f": {reason}" if reason else "") + "\n"
        )
    raise typer.Exit(0 if status == "SUCCEEDED" else 1)


def register(app: typer.Typer) -> None:
    """Mount `submit` on the `assetline` command."""
    app.command("submit")(submit)
