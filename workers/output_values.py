"""Conversion of task outputs to values msgpack (and so the store and templates) can carry.

Kept as is: None, bool, int (within 64 bits), float, str, bytes, lists and string-keyed maps.
Converted: datetime/date/time -> ISO-8601 strings; timedelta -> ISO-8601 durations (`PT1.5S`,
like Kestra); Decimal -> int when integral, else float; UUID, Path and other scalars -> str;
tuples and sets -> lists; numpy-like scalars (anything with `.item()`) -> their Python value;
ints beyond 64 bits -> str; map keys -> str.

Pure code: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

_INT_MIN: Final = -(2**63)
_UINT_MAX: Final = 2**64 - 1


def iso_duration(delta: dt.timedelta) -> str:
    total = delta.total_seconds()
    sign = "-" if total < 0 else ""
    seconds = abs(total)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}P{int(days)}D" if days else f"{sign}P"
    text += "T"
    if hours:
        text += f"{int(hours)}H"
    if minutes:
        text += f"{int(minutes)}M"
    if secs or text.endswith("T"):
        text += f"{secs:g}S" if not float(secs).is_integer() else f"{int(secs)}S"
    return text


def to_msgpack_value(value: Any) -> Any:
    """`value` with every part converted to something msgpack encodes (see module doc)."""
    if value is None or isinstance(value, bool | str | bytes | float):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _UINT_MAX else str(value)
    if isinstance(value, Mapping):
        return {_key(key): to_msgpack_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_msgpack_value(item) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return to_msgpack_value(int(value))
        return float(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return to_msgpack_value(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    converted = to_msgpack_value(key)
    return converted if isinstance(converted, str) else str(converted)
