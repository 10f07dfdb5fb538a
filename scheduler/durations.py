"""ISO-8601 durations as Kestra writes them (Java's `Duration.parse`), to seconds.

Accepts `PnDTnHnMn.nS` (e.g. `PT5M`, `P1D`, `PT0.5S`, `P1DT2H`), case-insensitive, and plain
numbers of seconds (YAML `timeout: 30`). Calendar units (years, months, weeks) are rejected like
Java does, since their length in seconds is not fixed. Negative durations are rejected.

Pure: no I/O here.
"""

from __future__ import annotations

import math
import re

from scheduler.errors import DurationError

__all__ = ["parse_duration"]

_DURATION = re.compile(
    r"P(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d{1,9})?)S)?)?",
    re.IGNORECASE,
)
_EXAMPLES = "write it like PT5M, PT1H30M, P1D or PT0.5S"


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`, an ISO-8601 duration (`PT5M`) or a number of seconds.

    Raises `DurationError` (a `ValueError`) naming the text and the expected form.
    """
    if isinstance(text, bool):
        raise DurationError(f"{text!r} is not a duration; {_EXAMPLES}")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise DurationError(f"{text!r} is not a duration of zero or more seconds")
        return float(text)
    match = _DURATION.fullmatch(text.strip())
    if match is None or text.strip().upper() in {"P", "PT"} or text.strip()[-1:] in "Tt":
        raise DurationError(f"{text!r} is not an ISO-8601 duration; {_EXAMPLES}")
    days = int(match["days"] or 0)
    hours = int(match["hours"] or 0)
    minutes = int(match["minutes"] or 0)
    seconds = float((match["seconds"] or "0").replace(",", "."))
    return days * 86400.0 + hours * 3600.0 + minutes * 60.0 + seconds
