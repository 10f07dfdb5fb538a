"""A real Chromium for the browser tests, driven by Playwright, and the web app served on
loopback in a thread.

`chromium_executable()` finds Chromium, installing it when it is missing: on Debian and Ubuntu
with `apt-get install -y chromium` (then Playwright drives /usr/bin/chromium through
`executable_path`), elsewhere with `python -m playwright install chromium` (Playwright's own
build). It never skips: a machine that cannot get Chromium fails the tests, loudly.

`open_browser()` launches it headless with a fresh profile and no background traffic;
`serve_app()` runs an ASGI app on uvicorn at 127.0.0.1 on a free port until the block ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_ARGS", "chromium_executable", "open_browser", "serve_app"]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_DEBIAN_NAMES = ("chromium", "chromium-browser")


def _found() -> str | None:
    for name in _DEBIAN_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _is_debian_like() -> bool:
    return Path("/etc/debian_version").exists()


def chromium_executable() -> str | None:
    """The Chromium to drive (a path), or None for Playwright's own build (installed here)."""
    path = _found()
    if path:
        return path
    if _is_debian_like() and shutil.which("apt-get"):
        install = ["apt-get", "install", "-y", "chromium"]
        if subprocess.run(install, check=False, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], check=True, capture_output=True)
            subprocess.run(install, check=True, capture_output=True)
        path = _found()
        if path is None:
            raise RuntimeError("apt-get installed chromium but no chromium is on PATH")
        return path
    subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=True)
    return None


@contextmanager
def open_browser() -> Iterator[Any]:
    """A Playwright browser context on a fresh profile; closed, profile removed, at the end."""
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    with (
        tempfile.TemporaryDirectory(prefix="assetline-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="assetline-ui-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test web server did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
