"""Key layouts: the 511-byte limit, hashing, grouping prefixes, the JSON form of index values."""

from __future__ import annotations

import pytest

from store.errors import InvalidEventError
from store.keys import (
    MAX_KEY,
    check_asset_id,
    edge_head,
    edge_key,
    fit,
    from_u64,
    json_form,
    kind_key,
    kind_namespace,
    kind_part,
    meta_key,
    prefix,
    taskrun_key,
    time_key,
    type_prefix,
    u64,
)


def test_fit_keeps_short_keys_and_hashes_long_ones() -> None:
    short = b"k" * MAX_KEY
    assert fit(short) == short
    long_a, long_b = b"k" * 600, b"k" * 599 + b"j"
    assert len(fit(long_a)) == 33 and fit(long_a).startswith(b"\xff")
    assert fit(long_a) == fit(long_a) != fit(long_b)


def test_prefix_groups_and_stays_short() -> None:
    assert prefix("exec-1") == b"exec-1\x00"
    long_prefix = prefix("e" * 1000)
    assert len(long_prefix) == 34 and long_prefix.endswith(b"\x00")
    assert taskrun_key("e", "t", 2) == b"e\x00t/2"
    huge = taskrun_key("e" * 400, "t" * 400, 1)
    assert len(huge) <= MAX_KEY and huge.startswith(prefix("e" * 400))
    assert taskrun_key("e" * 400, "t" * 400, 1) != taskrun_key("e" * 400, "t" * 400, 2)


def test_check_asset_id_messages() -> None:
    assert check_asset_id("é") == "é".encode()
    with pytest.raises(InvalidEventError, match="an asset id is empty"):
        check_asset_id("")
    with pytest.raises(InvalidEventError) as caught:
        check_asset_id("é" * 256)
    assert str(caught.value) == (
        f"asset id {'é' * 40!r}... is 512 bytes of UTF-8; the store keeps ids of at most 511 "
        f"bytes (LMDB's key limit): shorten it"
    )


def test_json_form_distinguishes_types() -> None:
    forms = {json_form(v) for v in (1, "1", 1.0, True)}
    assert len(forms) == 4
    assert json_form({"b": 1, "a": [1, "x"]}) == b'{"a":[1,"x"],"b":1}'
    assert meta_key("k", {"b": 1, "a": 2}) == meta_key("k", {"a": 2, "b": 1})
    assert meta_key("k", 1) != meta_key("k", "1")
    with pytest.raises(InvalidEventError, match=r"metadata value .* is not JSON"):
        json_form(object())


def test_kind_keys_hold_type_and_namespace_apart() -> None:
    assert kind_key("ab", "c") != kind_key("a", "bc")
    assert kind_key("x", "y") != meta_key("x", "y")
    assert kind_key("Table", "company").startswith(type_prefix("Table"))
    assert not kind_key("Tables", "company").startswith(type_prefix("Table"))
    assert kind_namespace(kind_key("Table", "company.team")) == b"company.team"
    # Long parts are hashed, so the key stays under LMDB's limit and still splits.
    long_key = kind_key("T" * 1000, "n" * 1000)
    assert len(long_key) <= MAX_KEY
    assert kind_namespace(long_key) == kind_part("n" * 1000) != kind_part("n" * 999)
    assert long_key.startswith(type_prefix("T" * 1000))


def test_edge_keys_group_by_near_end_and_stay_short() -> None:
    assert edge_key(b"ab", b"c") != edge_key(b"a", b"bc")
    assert edge_key(b"up", b"down").startswith(edge_head(b"up"))
    assert not edge_key(b"upper", b"down").startswith(edge_head(b"up"))
    long_near, long_far = b"u" * 511, b"d" * 511
    assert len(edge_head(long_near)) == 34
    assert len(edge_key(long_near, long_far)) <= MAX_KEY
    assert edge_key(b"u", long_far) != edge_key(b"u", b"d" * 510 + b"e")
    assert edge_key(long_near, b"d").startswith(edge_head(long_near))


def test_numbers_sort_as_bytes() -> None:
    assert from_u64(u64(12345)) == 12345
    assert u64(2) < u64(256) < u64(1 << 40)
    assert time_key(1.5) < time_key(2.0) and time_key(-5) == u64(0)
