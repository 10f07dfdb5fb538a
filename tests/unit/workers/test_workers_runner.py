from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, ClassVar

import msgspec
import pydantic
import pytest

from store.codec import AssetDecl, AssetRef, TaskRunEvent, decode_event
from workers.context import TaskContext
from workers.registry import TaskType, known_types, register_task, unregister_task
from workers.runner import run_task, run_task_pack
from workers.spec import TaskResult, TaskRunSpec, decode_result, encode_spec

RunFn = Callable[..., TaskResult]


class ProbeParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    action: str = "ok"
    count: int = 0
    text: str = ""


class Probe(TaskType):
    """A task type for these tests: does what `action` says."""

    kind: ClassVar[str] = "test.workers.Probe"
    aliases: ClassVar[tuple[str, ...]] = ("probe",)
    Params: ClassVar[type[pydantic.BaseModel]] = ProbeParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: ProbeParams = params
        if p.action == "warn":
            ctx.warn("something odd")
            return {"done": True}
        if p.action == "leak":
            ctx.logger.info(f"using {p.text}")
            raise ValueError(f"login refused for {p.text}")
        if p.action == "crash":
            raise KeyError("missing-key")
        if p.action == "lines":
            for i in range(p.count):
                ctx.logger.info(f"line {i}")
            return {}
        if p.action == "levels":
            for level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR"):
                ctx.logger.log(level, f"at {level}")
            return {}
        if p.action == "values":
            return {
                "when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
                "day": dt.date(2024, 5, 1),
                "price": Decimal("12.50"),
                "whole": Decimal("3"),
                "tags": {"b", "a"} and ("x", "y"),
                "huge": 2**70,
                "echo": p.text,
            }
        return {"echo": p.text}


@pytest.fixture(autouse=True)
def probe() -> Iterator[None]:
    register_task(Probe)
    yield
    unregister_task(Probe)


def test_success_builds_the_event_from_the_spec(run: RunFn) -> None:
    outputs = [AssetDecl(id="db.orders", type="io.kestra.plugin.ee.assets.Table")]
    inputs = [AssetRef(id="raw.orders")]
    result = run("probe", {"text": "hello"}, inputs=inputs, outputs=outputs, attempt=2, value="v1")
    assert result.state == "SUCCESS"
    assert result.outputs == {"echo": "hello"}
    assert result.error is None
    assert result.attempt == 2
    event = decode_event(result.event)
    assert isinstance(event, TaskRunEvent)
    assert event.state == "SUCCESS"
    assert event.task_type == "test.workers.Probe"
    assert event.outputs == outputs
    assert event.inputs == inputs
    assert event.value == "v1"
    assert event.result == {"echo": "hello"}
    assert event.properties == {"text": "hello"}
    assert event.node == result.node and event.node
    assert event.start <= event.end
    assert event.idempotency_key == "exec1/run1/2"


def test_ctx_warn_ends_in_warning(run: RunFn) -> None:
    result = run("probe", {"action": "warn"})
    assert result.state == "WARNING"
    assert [(line.level, line.message) for line in result.logs] == [("WARN", "something odd")]


def test_exception_becomes_a_one_line_failure(run: RunFn) -> None:
    result = run("probe", {"action": "crash"})
    assert result.state == "FAILED"
    assert result.error == "KeyError: 'missing-key'"
    assert [line.message for line in result.logs] == ["KeyError: 'missing-key'"]
    event = decode_event(result.event)
    assert isinstance(event, TaskRunEvent)
    assert event.error == "KeyError: 'missing-key'"
    assert event.state == "FAILED"
    assert event.result == {}


def test_traceback_is_logged_only_at_debug(run: RunFn) -> None:
    result = run("probe", {"action": "crash"}, log_level="DEBUG")
    debug = [line.message for line in result.logs if line.level == "DEBUG"]
    assert len(debug) == 1
    assert "Traceback" in debug[0] and "missing-key" in debug[0]


def test_log_level_filters_lower_levels(run: RunFn) -> None:
    result = run("probe", {"action": "levels"}, log_level="WARN")
    assert [line.message for line in result.logs] == ["at WARN", "at ERROR"]


def test_invalid_log_level_falls_back_to_info(run: RunFn) -> None:
    result = run("probe", {"action": "levels"}, log_level="LOUD")
    assert [line.message for line in result.logs] == [
        "logLevel ignored: unknown log level 'LOUD'; use one of TRACE, DEBUG, INFO, WARN, ERROR",
        "at INFO",
        "at WARN",
        "at ERROR",
    ]


def test_logs_are_capped_with_a_note(run: RunFn) -> None:
    result = run("probe", {"action": "lines", "count": 1200})
    messages = [line.message for line in result.logs]
    assert len(messages) == 1001
    assert messages[0] == "line 0" and messages[499] == "line 499"
    assert messages[500] == (
        "[200 log lines dropped: a task run keeps its first 500 and last 500 lines]"
    )
    assert messages[501] == "line 700" and messages[-1] == "line 1199"


def test_outputs_become_msgpack_values(run: RunFn) -> None:
    result = run("probe", {"action": "values", "text": "t"})
    assert result.outputs == {
        "when": "2024-05-01T12:30:00+00:00",
        "day": "2024-05-01",
        "price": 12.5,
        "whole": 3,
        "tags": ["x", "y"],
        "huge": str(2**70),
        "echo": "t",
    }


def test_secrets_are_masked_everywhere(run: RunFn) -> None:
    result = run("probe", {"action": "crash", "text": "tok-XYZ"}, secrets=["tok-XYZ"])
    event = decode_event(result.event)
    assert isinstance(event, TaskRunEvent)
    assert event.properties == {"action": "crash", "text": "******"}
    ok = run("probe", {"text": "key=tok-XYZ"}, secrets=["tok-XYZ"])
    assert ok.outputs == {"echo": "key=******"}
    ok_event = decode_event(ok.event)
    assert isinstance(ok_event, TaskRunEvent)
    assert ok_event.result == {"echo": "key=******"}
    assert ok_event.properties == {"text": "key=******"}


def test_secret_in_error_and_logs_is_masked(run: RunFn) -> None:
    result = run("log", {"message": "pw is hunter22", "level": "WARN"}, secrets=["hunter22"])
    assert [line.message for line in result.logs] == ["pw is ******"]
    failed = run("probe", {"action": "leak", "text": "hunter22"}, secrets=["hunter22"])
    assert failed.error == "ValueError: login refused for ******"
    assert [line.message for line in failed.logs] == [
        "using ******",
        "ValueError: login refused for ******",
    ]


def test_unknown_type_lists_known_types(run: RunFn) -> None:
    result = run("io.kestra.plugin.core.log.Lgo", {})
    known = ", ".join(known_types())
    assert "test.workers.Probe" in known
    assert result.state == "FAILED"
    assert result.error == (
        "task 'step': unknown task type 'io.kestra.plugin.core.log.Lgo' (did you mean "
        f"'io.kestra.plugin.core.log.Log'?); known types: {known}"
    )


def test_unknown_type_without_close_match(run: RunFn) -> None:
    result = run("zzz", {})
    known = ", ".join(known_types())
    assert result.error == f"task 'step': unknown task type 'zzz'; known types: {known}"


def test_params_errors_name_task_property_and_problem(run: RunFn) -> None:
    result = run("probe", {"count": "many", "acton": "x"})
    assert result.state == "FAILED"
    assert result.error == (
        "task 'step': property 'count': Input should be a valid integer, unable to parse "
        "string as an integer; unknown property 'acton' (did you mean 'action'?)"
    )


def test_params_are_coerced_in_lax_mode(run: RunFn) -> None:
    result = run("probe", {"count": "3", "action": "lines"})
    assert result.state == "SUCCESS"
    assert [line.message for line in result.logs] == ["line 0", "line 1", "line 2"]


def test_invalid_spec_bytes_give_a_failed_result() -> None:
    result = decode_result(run_task(b"\x81\xa1x\x01"))
    assert result.state == "FAILED"
    assert result.error is not None
    assert result.error == "invalid task run spec: Object contains unknown field `x`"
    assert isinstance(decode_event(result.event), TaskRunEvent)


def test_run_task_pack_keeps_order(spec_factory: Callable[..., TaskRunSpec]) -> None:
    specs = [
        encode_spec(spec_factory("probe", {"text": str(i)}, taskrun_id=f"r{i}")) for i in range(3)
    ] + [encode_spec(spec_factory("probe", {"action": "crash"}, taskrun_id="r3"))]
    results = [decode_result(data) for data in run_task_pack(specs)]
    assert [r.taskrun_id for r in results] == ["r0", "r1", "r2", "r3"]
    assert [r.state for r in results] == ["SUCCESS", "SUCCESS", "SUCCESS", "FAILED"]
    assert [r.outputs for r in results[:3]] == [{"echo": "0"}, {"echo": "1"}, {"echo": "2"}]


def test_result_round_trips_through_msgpack(run: RunFn) -> None:
    result = run("probe", {"action": "values"})
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(result.outputs)) == result.outputs
