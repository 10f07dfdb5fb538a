"""What runs on a Ray worker: task types, `run_task`, log masking, the internal storage.

The scheduler ships a msgpack `TaskRunSpec` to `run_task` (or several to `run_task_pack`) and
gets a msgpack `TaskResult` back. This package never opens the store and never imports the
scheduler; it depends on `store.codec` for the event it returns.
"""

from workers.context import TaskContext, TaskLogger
from workers.errors import ParamsError, StorageError, TaskFailed, WorkerError
from workers.masking import Masker
from workers.registry import TaskType, known_types, register_task, resolve
from workers.runner import run_task, run_task_pack
from workers.spec import (
    TaskResult,
    TaskRunSpec,
    decode_result,
    decode_spec,
    encode_result,
    encode_spec,
)
from workers.storage import InternalStorage

__all__ = [
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
