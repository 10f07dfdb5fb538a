from __future__ import annotations

from collections.abc import Callable

from workers.spec import TaskResult

RunFn = Callable[..., TaskResult]


def test_log_single_message(run: RunFn) -> None:
    result = run("log", {"message": "hello"})
    assert result.state == "SUCCESS"
    assert result.outputs == {}
    assert [(line.level, line.message) for line in result.logs] == [("INFO", "hello")]


def test_log_list_at_level(run: RunFn) -> None:
    result = run("io.kestra.core.tasks.log.Log", {"message": ["a", "b"], "level": "ERROR"})
    assert [(line.level, line.message) for line in result.logs] == [("ERROR", "a"), ("ERROR", "b")]


def test_log_below_threshold_is_dropped(run: RunFn) -> None:
    result = run("log", {"message": "quiet", "level": "DEBUG"})
    assert result.logs == []


def test_log_bad_level(run: RunFn) -> None:
    result = run("log", {"message": "x", "level": "LOUD"})
    assert result.state == "FAILED"
    assert result.error == (
        "task 'step': property 'level': Input should be 'TRACE', 'DEBUG', 'INFO', 'WARN' or 'ERROR'"
    )


def test_log_missing_message(run: RunFn) -> None:
    result = run("log", {})
    assert result.error == "task 'step': property 'message': Field required"


def test_return_value(run: RunFn) -> None:
    result = run("return", {"format": "42 apples"})
    assert result.state == "SUCCESS"
    assert result.outputs == {"value": "42 apples"}


def test_return_rejects_unknown_property(run: RunFn) -> None:
    result = run("io.kestra.plugin.core.debug.Return", {"formt": "x"})
    assert result.error == "task 'step': unknown property 'formt' (did you mean 'format'?)"
