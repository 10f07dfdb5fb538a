"""The command-line options several `assetline` commands share, declared once.

Typer annotations only: no commands and no I/O here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["HomeOption", "JsonOption"]

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Store directory (default: $ASSETLINE_HOME or ./.assetline).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
