"""Deployed-flow records decode strictly (no LMDB here)."""

from __future__ import annotations

import msgspec
import pytest

from store.errors import CodecError
from store.flows import DeployedFlow, _decode


def test_a_record_round_trips() -> None:
    record = DeployedFlow("team", "a", 3, "id: a\n", 1.5, triggers=[{"id": "t"}])
    assert _decode(msgspec.msgpack.encode(record)) == record
    assert record.key == "team.a"


def test_garbage_and_newer_records_are_refused() -> None:
    with pytest.raises(CodecError, match="not a valid deployed-flow record"):
        _decode(b"\x01\x02")
    newer = msgspec.msgpack.encode(DeployedFlow("team", "a", 1, "", 0.0, v=99))
    with pytest.raises(CodecError, match=r"team\.a was written with schema version 99"):
        _decode(newer)
