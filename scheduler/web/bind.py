"""Where the web UI may listen: loopback by default, any other address only with a token.

`resolve_token` picks `--token` or `ASSETLINE_TOKEN`; `check_bind` refuses a non-loopback host
without one. Pure checks: no sockets are opened here.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

from scheduler.web.errors import BindRefused

__all__ = ["TOKEN_ENV", "check_bind", "is_loopback", "resolve_token"]

TOKEN_ENV = "ASSETLINE_TOKEN"


def resolve_token(given: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The token to require: `given`, else `ASSETLINE_TOKEN`; None when neither is set."""
    if given:
        return given
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "")
    return value or None


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Raise `BindRefused` when `host` is not loopback and no token protects the server."""
    if token or is_loopback(host):
        return
    raise BindRefused(
        f"refusing to listen on {host!r} without a token: anyone who can reach that address "
        f"could read the store. Pass --token (or set {TOKEN_ENV}), or listen on 127.0.0.1"
    )
