"""`assetline impact` on a three-flow chain run on the session cluster, plus a deployed flow that
never ran (its declared assets extend the chain)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.deploy import deploy_flow
from scheduler.impact import impact
from scheduler.loader import load_flow_text
from scheduler.runner import run_flow
from store import Store

pytestmark = pytest.mark.integration


def _flow(flow_id: str, task: str, reads: list[str], writes: list[str]) -> str:
    return textwrap.dedent(
        f"""\
        id: {flow_id}
        namespace: company.etl
        tasks:
          - id: {task}
            type: io.kestra.plugin.core.log.Log
            message: {task}
            assets:
              inputs: [{", ".join("{id: " + a + "}" for a in reads)}]
              outputs: [{", ".join("{id: " + a + "}" for a in writes)}]
        """
    )


CHAIN = [
    ("ingest", "pull", ["onprem.etl_node"], ["raw_trips"]),
    ("staging", "clean", ["raw_trips"], ["trips"]),
    ("mart", "aggregate", ["trips"], ["avg_trip_distance"]),
]
NEVER_RAN = ("report", "render", ["avg_trip_distance"], ["dashboard"])


@pytest.fixture(scope="module")
def chain_home(ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("impact")
    home = work / "home"
    with Store.open(home) as store:
        for spec in [*CHAIN, NEVER_RAN]:
            deploy_flow(store, load_flow_text(_flow(*spec), f"{spec[0]}.yaml"))
    for spec in CHAIN:
        flow = load_flow_text(_flow(*spec), f"{spec[0]}.yaml")
        summary = run_flow(flow, {}, home=home, workdir=str(work))
        assert summary.state == "SUCCESS", summary.errors
    return home


def test_downstream_names_every_asset_flow_and_task_with_its_path(chain_home: Path) -> None:
    with Store.open(chain_home, readonly=True) as store:
        report = impact(store, "onprem.etl_node")
    paths = {asset.id: asset.path for asset in report.assets}
    assert paths == {
        "onprem.etl_node": ("onprem.etl_node",),
        "raw_trips": ("onprem.etl_node", "raw_trips"),
        "trips": ("onprem.etl_node", "raw_trips", "trips"),
        "avg_trip_distance": ("onprem.etl_node", "raw_trips", "trips", "avg_trip_distance"),
        "dashboard": ("onprem.etl_node", "raw_trips", "trips", "avg_trip_distance", "dashboard"),
    }
    assert report.flows() == [
        ("company.etl", "ingest"),
        ("company.etl", "mart"),
        ("company.etl", "report"),
        ("company.etl", "staging"),
    ]
    by_task = {(t.flow_id, t.task_id, t.direction, t.asset): t for t in report.tasks}
    clean = by_task[("staging", "clean", "INPUT", "raw_trips")]
    assert clean.seen_in == {"declared", "observed"} and clean.deployed
    assert clean.path == ("onprem.etl_node", "raw_trips")
    render = by_task[("report", "render", "INPUT", "avg_trip_distance")]
    assert render.seen_in == {"declared"}  # deployed, never ran
    assert by_task[("mart", "aggregate", "OUTPUT", "avg_trip_distance")].seen_in == {
        "declared",
        "observed",
    }


def test_upstream_walks_the_other_way(chain_home: Path) -> None:
    with Store.open(chain_home, readonly=True) as store:
        report = impact(store, "avg_trip_distance", upstream=True)
    assert [asset.id for asset in report.assets] == [
        "avg_trip_distance",
        "trips",
        "raw_trips",
        "onprem.etl_node",
    ]
    assert ("company.etl", "report") in report.flows()  # it reads the root


def test_the_cli_prints_text_and_json(chain_home: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["impact", "trips", "--home", str(chain_home), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert [a["id"] for a in data["assets"]] == ["trips", "avg_trip_distance", "dashboard"]
    assert [f["flowId"] for f in data["flows"]] == ["mart", "report", "staging"]
    text = runner.invoke(app, ["impact", "trips", "--home", str(chain_home)])
    assert text.exit_code == 0, text.output
    assert "downstream of trips: 2 asset(s), 3 flow(s)" in text.stdout
    assert "  dashboard  via trips -> avg_trip_distance -> dashboard" in text.stdout
    assert "task render reads avg_trip_distance  via trips -> avg_trip_distance  [declared]" in (
        text.stdout
    )


def test_the_cli_says_when_nothing_mentions_the_asset(chain_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["impact", "nope", "--home", str(chain_home)])
    assert done.exit_code == 1
    assert "no asset, lineage or deployed flow mentions 'nope'" in done.stderr
    missing = runner.invoke(app, ["impact", "x", "--home", str(tmp_path / "none")])
    assert missing.exit_code == 1
    assert f"no assetline store at {tmp_path / 'none'}" in missing.stderr
