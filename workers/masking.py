"""Masking of secret values in anything a task run reports (logs, outputs, properties, errors).

`Masker` replaces each secret's value, wherever it occurs inside a string, by `******`. Secrets
are matched longest first, so a secret that contains another one is masked whole. A multi-line
secret (a PEM key, say) is also masked line by line, since tasks often log it that way.

Secrets shorter than `MIN_SECRET_LENGTH` (3) characters are ignored: masking every "a" or "42"
in every log line would destroy the logs while protecting nothing worth protecting.

Pure code: no I/O, nothing global.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

MASK: Final = "******"
MIN_SECRET_LENGTH: Final = 3


class Masker:
    """Replace secret values inside (nested) strings by `******`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str):
                continue
            values.add(secret)
            if "\n" in secret:
                values.update(line.strip() for line in secret.splitlines())
        kept = sorted(
            (value for value in values if len(value) >= MIN_SECRET_LENGTH),
            key=lambda value: (-len(value), value),
        )
        self._pattern: re.Pattern[str] | None = (
            re.compile("|".join(re.escape(value) for value in kept)) if kept else None
        )

    @property
    def active(self) -> bool:
        """Whether there is anything to mask."""
        return self._pattern is not None

    def mask_text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask(self, value: Any) -> Any:
        """A copy of `value` with every secret masked in its strings (dict keys included)."""
        if self._pattern is None:
            return value
        return self._mask(value)

    def _mask(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {self._mask(key): self._mask(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(item) for item in value]
        return value
