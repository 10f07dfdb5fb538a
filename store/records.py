"""Records the store keeps for itself (not part of the event contract in `codec`).

No I/O here.
"""

from __future__ import annotations

import msgspec


class EdgeRun(msgspec.Struct, frozen=True, array_like=True):
    """The latest task run that linked one upstream asset to one downstream asset."""

    taskrun_id: str
    execution_id: str
    flow_namespace: str
    flow_id: str
    task_id: str
    attempt: int
    state: str
    end: float


_edge_encoder = msgspec.msgpack.Encoder()
_edge_decoder = msgspec.msgpack.Decoder(EdgeRun)


def encode_edge_run(run: EdgeRun) -> bytes:
    return _edge_encoder.encode(run)


def decode_edge_run(data: bytes) -> EdgeRun:
    return _edge_decoder.decode(data)
