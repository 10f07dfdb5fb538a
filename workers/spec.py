"""What crosses the wire to a Ray worker and back: one small spec in, one small result out.

The scheduler plans a `TaskRunSpec` (templates already rendered, secrets known by value so the
worker can mask them) and ships it, msgpack-encoded, to `workers.runner.run_task`. The worker
answers with a msgpack-encoded `TaskResult`, whose `event` is the store's `TaskRunEvent` for
that attempt, ready for the store writer.

No I/O here, and nothing that holds a handle (store, registry, hooks) ever goes into a spec.
"""

from __future__ import annotations

from typing import Any

import msgspec

from store.codec import AssetDecl, AssetRef, LogLine


class TaskRunSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One attempt of one task run, ready to run anywhere."""

    execution_id: str
    flow_namespace: str
    flow_id: str
    task_id: str
    taskrun_id: str
    #: The task type as the flow wrote it (Kestra name or alias); the registry resolves it.
    type: str
    #: Rendered properties, validated by the task type's Params model on the worker.
    properties: dict[str, Any]
    attempt: int = 1
    value: str | None = None
    iteration: int | None = None
    parent_taskrun_id: str | None = None
    inputs: list[AssetRef] = []
    outputs: list[AssetDecl] = []
    #: Seconds; the worker stops the task and reports FAILED past it.
    timeout: float | None = None
    #: Values that came from secret(): masked as ****** in logs, outputs and records.
    secrets: list[str] = []
    #: Root URI of the internal storage (a local folder path or s3://bucket/prefix).
    storage: str = ""
    #: Environment the task process gets on top of the worker's (e.g. AWS credentials).
    env: dict[str, str] = {}
    #: Directory relative paths in properties resolve against (where `assetline run` ran).
    workdir: str | None = None
    #: Task log level threshold (Kestra's `logLevel`): TRACE, DEBUG, INFO, WARN, ERROR.
    log_level: str = "INFO"


class TaskResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one attempt produced. `event` is an encoded store.codec.TaskRunEvent."""

    taskrun_id: str
    attempt: int
    state: str
    outputs: dict[str, Any]
    logs: list[LogLine]
    event: bytes
    error: str | None = None
    node: str | None = None
    start: float = 0.0
    end: float = 0.0


_encoder = msgspec.msgpack.Encoder()
_spec_decoder = msgspec.msgpack.Decoder(TaskRunSpec)
_result_decoder = msgspec.msgpack.Decoder(TaskResult)


def encode_spec(spec: TaskRunSpec) -> bytes:
    return _encoder.encode(spec)


def decode_spec(data: bytes) -> TaskRunSpec:
    return _spec_decoder.decode(data)


def encode_result(result: TaskResult) -> bytes:
    return _encoder.encode(result)


def decode_result(data: bytes) -> TaskResult:
    return _result_decoder.decode(data)
