"""`assetline deploy`, `flows list|show|delete` and `server`'s option checks, as a user runs
them (a subprocess per call). The server's triggering is in tests/integration."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ASSETLINE = str(Path(sys.executable).with_name("assetline"))

MART = """
id: mart
namespace: company.team
triggers:
  - id: on_trips
    type: io.kestra.plugin.ee.assets.EventTrigger
    assetId: trips
    events: [UPDATED]
tasks:
  - id: build
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASSETLINE, *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_list_show_and_delete(tmp_path: Path) -> None:
    home = tmp_path / "home"
    flow = tmp_path / "mart.yaml"
    flow.write_text(MART.lstrip())
    first = cli("deploy", str(flow), home=home)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "company.team.mart revision 1 deployed\n"
    again = cli("deploy", str(flow), home=home)
    assert again.stdout == "company.team.mart revision 1 unchanged\n"
    flow.write_text(MART.lstrip().replace("message: hi", "message: hello"))
    changed = cli("deploy", str(flow), "--json", home=home)
    assert json.loads(changed.stdout)[0]["revision"] == 2
    listed = json.loads(cli("flows", "list", "--json", home=home).stdout)
    assert [(f["id"], f["revision"], f["triggers"]) for f in listed] == [
        ("mart", 2, [{"id": "on_trips", "type": "io.kestra.plugin.ee.assets.EventTrigger"}])
    ]
    shown = cli("flows", "show", "company.team", "mart", "--revision", "1", home=home)
    assert shown.stdout == MART.lstrip()
    info = json.loads(cli("flows", "show", "company.team", "mart", "--json", home=home).stdout)
    assert info["revisions"] == [1, 2] and "hello" in info["source"]
    deleted = cli("flows", "delete", "company.team", "mart", home=home)
    assert deleted.stdout == "company.team.mart deleted (revision 3)\n"
    assert cli("flows", "list", home=home).stdout == ""
    gone = cli("flows", "show", "company.team", "mart", home=home)
    assert gone.returncode == 1
    assert "no deployed flow company.team.mart; deploy it with" in gone.stderr
    twice = cli("flows", "delete", "company.team", "mart", home=home)
    assert twice.returncode == 1
    assert "no deployed flow company.team.mart to delete" in twice.stderr


def test_deploy_refuses_an_invalid_trigger_with_its_position(tmp_path: Path) -> None:
    flow = tmp_path / "bad.yaml"
    flow.write_text(textwrap.dedent(MART).lstrip().replace("assetId:", "assetid:"))
    done = cli("deploy", str(flow), home=tmp_path / "home")
    assert done.returncode == 2
    assert done.stderr.startswith(f"{flow}:6:14: trigger 'on_trips': 'assetid': unknown property")
    assert not (tmp_path / "home").exists()


def test_flows_list_without_a_store_says_so(tmp_path: Path) -> None:
    done = cli("flows", "list", home=tmp_path / "none")
    assert done.returncode == 1
    assert f"no assetline store at {tmp_path / 'none'}; deploy a flow first" in done.stderr


def test_server_refuses_bad_options(tmp_path: Path) -> None:
    done = cli("server", "--per-flow", "0", home=tmp_path / "home")
    assert done.returncode == 2
    assert "--per-flow and --max-running at least 1" in done.stderr
