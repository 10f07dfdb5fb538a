"""The AwsCLI task without a server: which `aws` runs, its environment, exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from workers.registry import resolve
from workers.spec import TaskResult
from workers.tasks.aws_cli import AwsCLI

RunFn = Callable[..., TaskResult]
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEX"
CONN = {
    "accessKeyId": "AKIAEXAMPLE",
    "secretKeyId": SECRET,
    "sessionToken": "session-token-123",
    "region": "eu-west-3",
    "endpointOverride": "http://127.0.0.1:9",
}


def _info(result: TaskResult) -> list[str]:
    return [line.message for line in result.logs if line.level == "INFO"]


def test_registered_under_kestra_name_and_alias() -> None:
    assert resolve("io.kestra.plugin.aws.cli.AwsCLI") is AwsCLI
    assert resolve("aws") is AwsCLI


def test_runs_the_aws_of_this_environment(run: RunFn) -> None:
    result = run("aws", {"commands": ["command -v aws", "aws --version"]})
    assert result.state == "SUCCESS", result.error
    lines = [line.message for line in result.logs]
    assert lines[0] == str(Path(sys.executable).parent / "aws")
    assert any(line.startswith("aws-cli/") for line in lines)


def test_connection_goes_to_the_environment_not_argv(run: RunFn) -> None:
    result = run(
        "aws",
        {
            **CONN,
            "commands": [
                "printenv AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN",
                "printenv AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_DEFAULT_OUTPUT",
                "tr '\\0\\n' '  ' < /proc/$$/cmdline; echo",
            ],
        },
        log_level="DEBUG",
    )
    assert result.state == "SUCCESS", result.error
    info = _info(result)
    assert info[:6] == [
        "AKIAEXAMPLE",
        SECRET,
        "session-token-123",
        "eu-west-3",
        "http://127.0.0.1:9",
        "json",
    ]
    command_line = info[6]
    assert "printenv AWS_ACCESS_KEY_ID" in command_line  # it is the shell running our script
    assert SECRET not in command_line and "AKIAEXAMPLE" not in command_line
    started = [line.message for line in result.logs if line.message.startswith("started process")]
    assert started and all(SECRET not in line for line in started)


def test_secret_values_are_masked(run: RunFn) -> None:
    result = run("aws", {**CONN, "commands": ["printenv AWS_SECRET_ACCESS_KEY"]}, secrets=[SECRET])
    assert _info(result) == ["******"]


def test_task_env_wins_and_output_format(run: RunFn) -> None:
    result = run(
        "aws",
        {
            **CONN,
            "outputFormat": "table",
            "env": {"AWS_DEFAULT_REGION": "us-west-2", "TEAM": "data"},
            "commands": ["printenv AWS_DEFAULT_REGION TEAM AWS_DEFAULT_OUTPUT"],
        },
    )
    assert _info(result) == ["us-west-2", "data", "table"]


def test_bad_output_format(run: RunFn) -> None:
    result = run("aws", {"commands": ["true"], "outputFormat": "csv"})
    assert result.error == (
        "task 'step': property 'outputFormat': Input should be 'JSON', 'TEXT', 'TABLE' or 'YAML'"
    )


def test_non_zero_exit_fails_with_stderr(run: RunFn) -> None:
    result = run("aws", {**CONN, "commands": ["aws s3 frobnicate"]})
    assert result.state == "FAILED"
    assert result.error is not None
    assert result.error.startswith("Command failed with exit code 2; last stderr lines: ")
    assert "Invalid choice" in result.error or "invalid choice" in result.error


def test_outputs_and_files(run: RunFn) -> None:
    result = run(
        "aws",
        {
            "commands": [
                'echo \'::{"outputs": {"bucket": "b-one"}}::\'',
                "echo listing > out.txt",
            ],
            "outputFiles": ["out.txt"],
        },
    )
    assert result.state == "SUCCESS", result.error
    assert result.outputs["vars"] == {"bucket": "b-one"}
    assert result.outputs["exitCode"] == 0
    assert result.outputs["outputFiles"]["out.txt"].startswith("kestra:///company/team/demo/")


def test_half_key_pair(run: RunFn) -> None:
    result = run("aws", {"commands": ["true"], "secretKeyId": SECRET})
    assert result.error is not None
    assert result.error.startswith("task 'step': property 'accessKeyId': missing; secretKeyId")
