"""Kestra compatibility: every flow of Kestra's own `valids` test set whose task types assetline
supports loads without an issue.

Reads Kestra's repository from the read-only mirror when it exists (never copied into this
repository) and skips with a reason otherwise. Flows using a task type assetline does not have
are skipped, naming the types. Flows that rely on Pebble-only template syntax (`??`, `equals`,
...) that Jinja2 does not parse are expected failures, listed in KNOWN_GAPS.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from scheduler.errors import FlowError
from scheduler.loader import load_flow_text

MIRROR = Path("/work/.mirror/kestra-io+kestra/repo")
VALIDS = "core/src/test/resources/flows/valids/"
PEBBLE = "uses Pebble syntax Jinja2 does not parse"
#: Flow file -> why it does not load here.
KNOWN_GAPS = {
    # Pebble's `??`, `equals` and `?:` are rewritten to Jinja (scheduler/pebble_compat.py);
    # a `{% %}` block nested inside `{{ }}` is not.
    "flowable-with-parent-fail.yaml": f"{PEBBLE}: `{{% ... %}}` inside `{{{{ }}}}`",
}


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(MIRROR), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def _valid_flows() -> list[str]:
    if not MIRROR.exists() or shutil.which("git") is None:
        return []
    names = _git("ls-tree", "-r", "--name-only", "HEAD", VALIDS).split()
    return [name for name in names if name.endswith((".yaml", ".yml"))]


FLOWS = _valid_flows()


@pytest.mark.skipif(not FLOWS, reason=f"Kestra's repository is not mirrored at {MIRROR}")
@pytest.mark.parametrize("path", FLOWS or ["none"], ids=lambda path: path.rsplit("/", 1)[-1])
def test_supported_kestra_flow_loads_without_issues(path: str) -> None:
    pytest.importorskip("workers.registry", reason="the workers' task registry is not available")
    name = path.rsplit("/", 1)[-1]
    try:
        load_flow_text(_git("show", f"HEAD:{path}"), name)
    except FlowError as exc:
        if name in KNOWN_GAPS and all("template error" in i.message for i in exc.issues):
            pytest.xfail(KNOWN_GAPS[name])
        unknown = sorted(
            {
                issue.message.split("unknown type '", 1)[1].split("'", 1)[0]
                for issue in exc.issues
                if "unknown type '" in issue.message and issue.message.startswith("task")
            }
        )
        if unknown:
            pytest.skip("task types assetline does not have: " + ", ".join(unknown))
        raise
