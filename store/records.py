"""Records the store keeps for itself (not part of the event contract in `codec`), and partial
views that read only what a query needs out of an event-log entry.

Usages and lineage edges point into the event log instead of copying the task run: a usage's
value is its direction, an edge's is the sequence and end time of its latest task run followed
by the id at its far end (`EDGE_RUN`, then the id's UTF-8). The views below decode just those
task-run fields from a log entry (msgspec skips the rest).

No I/O here.
"""

from __future__ import annotations

import struct
from typing import Final

import msgspec

from store.codec import DECODE_ERRORS
from store.errors import CodecError

#: The head of a lineage value: (seq of the task run's log entry, its end time); the far
#: asset's id follows. A seq of 0 means the run is unknown (an edge kept from format 1 without
#: one): the assets are linked directly.
EDGE_RUN: Final = struct.Struct(">Qd")
EDGE_RUN_SIZE: Final = EDGE_RUN.size
USAGE_INPUT: Final = b"I"
USAGE_OUTPUT: Final = b"O"
DIRECTIONS: Final = {USAGE_INPUT: "INPUT", USAGE_OUTPUT: "OUTPUT"}


class TaskRunView(msgspec.Struct, frozen=True):
    """The fields of a logged TaskRunEvent that usages and lineage nodes show."""

    execution_id: str
    flow_namespace: str
    flow_id: str
    task_id: str
    taskrun_id: str
    attempt: int
    state: str
    start: float
    end: float
    value: str | None = None


class _EntryView(msgspec.Struct, frozen=True):
    event: TaskRunView


_view_decoder = msgspec.msgpack.Decoder(_EntryView)


def decode_task_run_view(data: bytes) -> TaskRunView:
    """The task run of a log entry; CodecError if the entry holds something else."""
    try:
        return _view_decoder.decode(data).event
    except DECODE_ERRORS as exc:
        raise CodecError(f"event-log entry is not a task run: {exc}") from exc
