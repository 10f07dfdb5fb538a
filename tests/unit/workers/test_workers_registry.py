from __future__ import annotations

from typing import Any, ClassVar

import pytest

import workers
from workers.context import TaskContext
from workers.errors import WorkerError
from workers.registry import TaskType, known_types, register_task, resolve, unregister_task


def test_builtin_types_resolve_by_kind_alias_and_legacy_name() -> None:
    expected = {
        "log": "io.kestra.plugin.core.log.Log",
        "io.kestra.core.tasks.log.Log": "io.kestra.plugin.core.log.Log",
        "return": "io.kestra.plugin.core.debug.Return",
        "io.kestra.core.tasks.debugs.Return": "io.kestra.plugin.core.debug.Return",
        "shell": "io.kestra.plugin.scripts.shell.Commands",
        "python": "io.kestra.plugin.scripts.python.Script",
        "io.kestra.plugin.scripts.python.Commands": "io.kestra.plugin.scripts.python.Commands",
        "download": "io.kestra.plugin.core.http.Download",
        "io.kestra.plugin.fs.http.Download": "io.kestra.plugin.core.http.Download",
        "duckdb": "io.kestra.plugin.jdbc.duckdb.Query",
    }
    for name, kind in expected.items():
        found = resolve(name)
        assert found is not None, name
        assert found.kind == kind
    assert resolve("io.kestra.plugin.core.log.Nope") is None


def test_known_types_are_sorted_canonical_names() -> None:
    names = known_types()
    assert names == sorted(names)
    assert "log" not in names
    assert {
        "io.kestra.plugin.core.debug.Return",
        "io.kestra.plugin.core.http.Download",
        "io.kestra.plugin.core.log.Log",
        "io.kestra.plugin.jdbc.duckdb.Query",
        "io.kestra.plugin.scripts.python.Commands",
        "io.kestra.plugin.scripts.python.Script",
        "io.kestra.plugin.scripts.shell.Commands",
    } <= set(names)


class _Twice(TaskType):
    kind: ClassVar[str] = "test.Twice"
    aliases: ClassVar[tuple[str, ...]] = ("log",)

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        return {}


class _NoKind(TaskType):
    pass


def test_registering_a_taken_name_is_an_error() -> None:
    with pytest.raises(WorkerError) as info:
        register_task(_Twice)
    assert str(info.value) == "task type name 'log' of _Twice is already registered by Log"
    assert resolve("test.Twice") is None


def test_registering_without_kind_is_an_error() -> None:
    with pytest.raises(WorkerError) as info:
        register_task(_NoKind)
    assert str(info.value) == "task type _NoKind declares no `kind`"


def test_register_and_unregister() -> None:
    class Mine(TaskType):
        kind: ClassVar[str] = "test.Mine"
        aliases: ClassVar[tuple[str, ...]] = ("mine",)

    register_task(Mine)
    try:
        assert resolve("mine") is Mine
        assert "test.Mine" in known_types()
    finally:
        unregister_task(Mine)
    assert resolve("mine") is None


def test_public_api_is_pinned() -> None:
    assert workers.__all__ == [
        "InternalStorage",
        "Masker",
        "ParamsError",
        "StorageError",
        "TaskContext",
        "TaskFailed",
        "TaskLogger",
        "TaskResult",
        "TaskRunSpec",
        "TaskType",
        "WorkerError",
        "decode_result",
        "decode_spec",
        "encode_result",
        "encode_spec",
        "known_types",
        "register_task",
        "resolve",
        "run_task",
        "run_task_pack",
    ]
