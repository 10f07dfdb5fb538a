"""Preparing a batch before its transaction: decoding, checks, task-run keys, the ids gathered,
and the cached index entries the applier builds from them."""

from __future__ import annotations

import re

import msgspec
import pytest

from store.codec import (
    SCHEMA_VERSION,
    AssetDecl,
    AssetRef,
    ExecutionEvent,
    TaskRunEvent,
    encode,
)
from store.errors import CodecError, InvalidEventError
from store.intake import prepare, prepare_batch
from store.keys import index_entries, kind_key, meta_key, taskrun_key


def task_run(taskrun_id: str, *, inputs: list[str], outputs: list[AssetDecl]) -> TaskRunEvent:
    return TaskRunEvent(
        execution_id="exec-1",
        flow_namespace="company.team",
        flow_id="flow",
        task_id="t",
        taskrun_id=taskrun_id,
        attempt=2,
        state="SUCCESS",
        start=1.0,
        end=2.0,
        inputs=[AssetRef(id=i) for i in inputs],
        outputs=outputs,
    )


def test_batch_keys_task_runs_and_gathers_their_asset_ids() -> None:
    first = task_run("a", inputs=["src"], outputs=[AssetDecl(id="out-a")])
    second = task_run("b", inputs=["src"], outputs=[AssetDecl(id="out-b")])
    execution = ExecutionEvent(id="exec-1", namespace="n", flow_id="f", state="RUNNING", start=1.0)
    batch = prepare_batch([encode(first), second, bytearray(encode(execution))], skip_invalid=False)
    assert [event for event, _, _ in batch.items] == [first, second, execution]
    assert [raw for _, raw, _ in batch.items] == [encode(first), encode(second), encode(execution)]
    expected = [taskrun_key("exec-1", "a", 2), taskrun_key("exec-1", "b", 2)]
    assert [key for _, _, key in batch.items] == [*expected, None]
    assert batch.run_keys == expected
    assert batch.asset_ids == {"src", "out-a", "out-b"}
    assert batch.rejected == []


def test_batch_sets_bad_items_aside_by_position_or_raises() -> None:
    good = task_run("a", inputs=[], outputs=[AssetDecl(id="ok")])
    long_id = task_run("b", inputs=["x" * 600], outputs=[])
    ext = msgspec.msgpack.Ext(1, b"x")  # decodes fine; JSON cannot hold it
    bad_metadata = encode(
        task_run("c", inputs=[], outputs=[AssetDecl(id="m", metadata={"k": ext})])
    )
    newer = encode(good).replace(b"\xa1v\x01", b"\xa1v\x7f")
    items = [b"junk", encode(good), encode(long_id), bad_metadata, newer, 42]
    batch = prepare_batch(items, skip_invalid=True)  # type: ignore[arg-type]
    assert [event for event, _, _ in batch.items] == [good]
    messages = {position: str(error) for position, error in batch.rejected}
    assert sorted(messages) == [0, 2, 3, 4, 5]
    assert messages[0].startswith("not a valid assetline event")
    assert "is 600 bytes of UTF-8; the store keeps ids of at most 511 bytes" in messages[2]
    assert re.fullmatch(
        r"metadata value <msgspec.msgpack.Ext object at \w+> is not JSON: "
        r"Encoding objects of type msgspec.msgpack.Ext is unsupported",
        messages[3],
    )
    assert "schema version 127, newer than this assetline's" in messages[4]
    assert messages[5] == "not an assetline event: int"
    with pytest.raises(InvalidEventError, match="is 600 bytes of UTF-8"):
        prepare_batch([encode(good), encode(long_id)], skip_invalid=False)


def test_prepare_one_event() -> None:
    event = task_run("a", inputs=[""], outputs=[])
    with pytest.raises(InvalidEventError, match="an asset id is empty"):
        prepare(event)
    ok = task_run("a", inputs=["src"], outputs=[])
    assert prepare(ok) == (ok, encode(ok), taskrun_key("exec-1", "a", 2))
    with pytest.raises(CodecError, match="not a valid assetline event"):
        prepare(b"\x93garbage")
    assert SCHEMA_VERSION == 1  # the version byte the test above rewrites


def test_index_entries_are_cached_by_json_form() -> None:
    entries = index_entries("Table", "company.team", {"a": 1, "b": True, "c": "1", "d": 1.0})
    assert entries == [
        kind_key("Table", "company.team"),
        meta_key("a", 1),
        meta_key("b", True),
        meta_key("c", "1"),
        meta_key("d", 1.0),
    ]
    assert len(set(entries)) == 5  # 1, true, "1" and 1.0 are four values
    # Asked again with equal-but-different values, the cache must not answer the first form.
    again = index_entries("Table", "company.team", {"a": True, "b": 1, "d": -0.0, "e": [1]})
    assert again[1:] == [
        meta_key("a", True),
        meta_key("b", 1),
        meta_key("d", -0.0),
        meta_key("e", [1]),
    ]
    assert meta_key("d", -0.0) != meta_key("d", 0.0)
