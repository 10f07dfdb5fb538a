from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

from workers.output_values import iso_duration, to_msgpack_value


def test_scalars_and_containers() -> None:
    value = {
        1: (dt.time(10, 5), Decimal("2.25"), Decimal("7")),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "path": Path("/a/b"),
        "big": -(2**64),
        "raw": bytearray(b"xy"),
    }
    assert to_msgpack_value(value) == {
        "1": ["10:05:00", 2.25, 7],
        "id": "12345678-1234-5678-1234-567812345678",
        "path": "/a/b",
        "big": str(-(2**64)),
        "raw": b"xy",
    }


def test_durations_are_iso_8601() -> None:
    assert iso_duration(dt.timedelta(seconds=90)) == "PT1M30S"
    assert iso_duration(dt.timedelta(days=1, hours=2)) == "P1DT2H"
    assert iso_duration(dt.timedelta(seconds=1.5)) == "PT1.5S"
    assert iso_duration(dt.timedelta(0)) == "PT0S"
    assert to_msgpack_value(dt.timedelta(minutes=-5)) == "-PT5M"


class _Scalar:
    def item(self) -> int:
        return 4


def test_numpy_like_scalars() -> None:
    assert to_msgpack_value([_Scalar()]) == [4]
