"""Script tasks (shell and Python) run as real local processes through run_task."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from workers.runner import run_task
from workers.spec import TaskResult, TaskRunSpec, decode_result, encode_spec
from workers.storage import InternalStorage

pytestmark = pytest.mark.integration


def run(tmp_path: Path, type_: str, properties: dict[str, Any], **fields: Any) -> TaskResult:
    spec = TaskRunSpec(
        execution_id="exec1",
        flow_namespace="company.team",
        flow_id="demo",
        task_id="script",
        taskrun_id="run1",
        type=type_,
        properties=properties,
        storage=str(tmp_path / "storage"),
        **fields,
    )
    return decode_result(run_task(encode_spec(spec)))


def messages(result: TaskResult) -> list[tuple[str, str]]:
    return [(line.level, line.message) for line in result.logs]


def test_shell_outputs_vars_and_files(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "shell",
        {
            "beforeCommands": ["echo before"],
            "commands": [
                "echo hello",
                """echo '::{"outputs":{"rows":3,"name":"orders"}}::'""",
                'echo "id,n" > out.csv',
                'test "$WORKING_DIR" = "$(pwd)" && echo cwd-ok',
                'echo "$GREETING"',
            ],
            "env": {"GREETING": "hi"},
            "outputFiles": ["*.csv"],
        },
    )
    assert result.state == "SUCCESS", result.error
    assert messages(result) == [
        ("INFO", "before"),
        ("INFO", "hello"),
        ("INFO", "cwd-ok"),
        ("INFO", "hi"),
    ]
    assert result.outputs["exitCode"] == 0
    assert result.outputs["vars"] == {"rows": 3, "name": "orders"}
    assert result.outputs["stdOutLineCount"] == 5
    uri = result.outputs["outputFiles"]["out.csv"]
    assert uri == "kestra:///company/team/demo/executions/exec1/tasks/script/run1/out.csv"
    storage = InternalStorage.from_root(str(tmp_path / "storage"))
    with storage.open_read(uri) as stream:
        assert stream.read() == b"id,n\n"


def test_shell_input_files_inline_and_from_storage(tmp_path: Path) -> None:
    storage = InternalStorage.from_root(str(tmp_path / "storage"))
    source = tmp_path / "src.txt"
    source.write_text("stored content\n")
    uri = storage.put(
        source, namespace="a", flow_id="f", execution_id="e", task_id="t", taskrun_id="r"
    )
    result = run(
        tmp_path,
        "io.kestra.plugin.scripts.shell.Commands",
        {
            "inputFiles": {"conf/inline.txt": "inline {{ workingDir }}", "stored.txt": uri},
            "commands": ["cat conf/inline.txt", "echo", "cat stored.txt"],
        },
    )
    assert result.state == "SUCCESS", result.error
    logged = [message for _, message in messages(result)]
    assert logged[0].startswith("inline /") and "assetline-script-" in logged[0]
    assert len(logged) == 2
    assert logged[1] == "stored content"


def test_shell_input_file_escaping_the_working_dir_fails(tmp_path: Path) -> None:
    result = run(tmp_path, "shell", {"inputFiles": {"../x": "no"}, "commands": ["true"]})
    assert result.state == "FAILED"
    assert result.error == (
        "task 'script': property 'inputFiles': '../x' must be a path relative to the task's "
        "working directory, without '..'"
    )


def test_shell_non_zero_exit_fails_with_stderr_tail(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "shell",
        {"commands": ["echo first >&2", "echo second >&2", "exit 4", "echo never"]},
    )
    assert result.state == "FAILED"
    assert result.error == "Command failed with exit code 4; last stderr lines: first | second"
    assert ("INFO", "never") not in messages(result)


def test_shell_fail_fast_stops_at_first_failing_command(tmp_path: Path) -> None:
    result = run(tmp_path, "shell", {"commands": ["false", "echo after"]})
    assert result.error == "Command failed with exit code 1"
    relaxed = run(tmp_path, "shell", {"commands": ["false", "echo after"], "failFast": False})
    assert relaxed.state == "SUCCESS"
    assert messages(relaxed) == [("INFO", "after")]


def test_shell_stderr_gives_warning_unless_disabled(tmp_path: Path) -> None:
    result = run(tmp_path, "shell", {"commands": ["echo careful >&2"]})
    assert result.state == "WARNING"
    assert messages(result) == [("ERROR", "careful")]
    quiet = run(tmp_path, "shell", {"commands": ["echo careful >&2"], "warningOnStdErr": False})
    assert quiet.state == "SUCCESS"


def test_shell_runner_options(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "shell",
        {
            "commands": ["echo ok"],
            "containerImage": "ubuntu:22.04",
            "taskRunner": {"type": "io.kestra.plugin.scripts.runner.docker.Docker"},
        },
    )
    assert result.state == "SUCCESS"
    assert messages(result) == [
        (
            "WARN",
            "taskRunner io.kestra.plugin.scripts.runner.docker.Docker ignored: assetline runs "
            "script tasks as local processes (io.kestra.plugin.core.runner.Process)",
        ),
        (
            "WARN",
            "containerImage 'ubuntu:22.04' ignored: commands run as local processes with the "
            "tools installed on the worker",
        ),
        ("INFO", "ok"),
    ]
    process = run(
        tmp_path,
        "shell",
        {"commands": ["echo ok"], "taskRunner": {"type": "io.kestra.plugin.core.runner.Process"}},
    )
    assert messages(process) == [("INFO", "ok")]
    k8s = run(
        tmp_path,
        "shell",
        {"commands": ["true"], "taskRunner": {"type": "io.kestra.plugin.ee.kubernetes.runner"}},
    )
    assert k8s.error == (
        "task 'script': property 'taskRunner.type': 'io.kestra.plugin.ee.kubernetes.runner' is "
        "not available in assetline; use io.kestra.plugin.core.runner.Process"
    )


def test_shell_missing_interpreter_fails(tmp_path: Path) -> None:
    result = run(tmp_path, "shell", {"commands": ["x"], "interpreter": ["/no/such/sh", "-c"]})
    assert result.state == "FAILED"
    assert result.error == "cannot start '/no/such/sh': No such file or directory"


def test_invalid_outputs_line_is_logged(tmp_path: Path) -> None:
    result = run(tmp_path, "shell", {"commands": ["echo '::{not json}::'"]})
    assert result.state == "SUCCESS"
    assert messages(result) == [
        (
            "WARN",
            "Invalid outputs 'Expecting property name enclosed in double quotes' in line "
            "::{not json}::",
        ),
    ]


def test_secret_masked_in_process_logs_and_outputs(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "shell",
        {
            "commands": [
                'echo "token=$TOKEN"',
                """echo "::{\\"outputs\\":{\\"t\\":\\"$TOKEN\\"}}::" """,
            ],
            "env": {"TOKEN": "tk-123456"},
        },
        secrets=["tk-123456"],
    )
    assert result.state == "SUCCESS", result.error
    assert messages(result) == [("INFO", "token=******")]
    assert result.outputs["vars"] == {"t": "******"}


def test_timeout_kills_the_process_tree(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    result = run(
        tmp_path,
        "shell",
        {"commands": [f'sleep 120 & echo $! > "{pid_file}"', "wait"]},
        timeout=1.0,
    )
    elapsed = time.monotonic() - started
    assert result.state == "FAILED"
    assert result.error == "timed out after 1 s"
    assert elapsed < 10
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            gone = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            gone = True
        if gone:
            break
        time.sleep(0.05)
    assert gone, f"process {pid} still running"


def test_python_script_uses_the_worker_interpreter(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "import json, sys, msgspec",
            "print(sys.executable)",
            "open('result.json', 'w').write(json.dumps({'ok': True}))",
            "print('::' + json.dumps({'outputs': {'answer': 42}}) + '::')",
        ]
    )
    result = run(tmp_path, "python", {"script": script, "outputFiles": ["result.json"]})
    assert result.state == "SUCCESS", result.error
    import sys

    assert messages(result) == [("INFO", sys.executable)]
    assert result.outputs["vars"] == {"answer": 42}
    assert list(result.outputs["outputFiles"]) == ["result.json"]


def test_python_script_exception_fails(tmp_path: Path) -> None:
    result = run(tmp_path, "python", {"script": "raise SystemExit('bad input')"})
    assert result.state == "FAILED"
    assert result.error == "Command failed with exit code 1; last stderr lines: bad input"


def test_python_commands(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "io.kestra.plugin.scripts.python.Commands",
        {
            "inputFiles": {"main.py": "import sys; print('argv', sys.argv[1])"},
            "commands": ["python main.py one"],
        },
    )
    assert result.state == "SUCCESS", result.error
    assert messages(result) == [("INFO", "argv one")]


def test_python_script_requires_script(tmp_path: Path) -> None:
    result = run(tmp_path, "python", {"commands": ["x"]})
    assert result.error == (
        "task 'script': property 'script': Field required; unknown property 'commands' "
        "(did you mean 'beforeCommands'?)"
    )


def test_working_dir_is_private_and_removed(tmp_path: Path) -> None:
    result = run(tmp_path, "shell", {"commands": ['echo "$WORKING_DIR"', "ls -A"]}, workdir="/")
    assert result.state == "SUCCESS", result.error
    working_dir = Path(messages(result)[0][1])
    assert working_dir.name.startswith("assetline-script-")
    assert not working_dir.exists()
    env = run(tmp_path, "shell", {"commands": ['echo "$ASSETLINE_WORKDIR"']}, workdir=str(tmp_path))
    assert messages(env) == [("INFO", str(tmp_path))]
