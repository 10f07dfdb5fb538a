"""`assetline ship` through typer's CliRunner, on a real store and a real receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from scheduler.cli_ship import register
from shippers.openlineage_events import task_run_id
from store.lmdb_store import Store
from tests.support.lineage_data import task_run
from tests.support.openlineage_receiver import OpenLineageReceiver

pytestmark = pytest.mark.integration


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """assetline"""

    register(app)
    return app


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    with Store.open(path) as store:
        store.write([task_run(i) for i in range(6)])
    return path


def test_file_export_prints_counts_as_json(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "lineage.parquet"
    result = CliRunner().invoke(
        _app(),
        [
            "ship",
            "--home",
            str(home),
            "--exporter",
            "file",
            "--format",
            "parquet",
            "--path",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["shipped"], report["retried"], report["dead_lettered"]) == (6, 0, 0)
    assert report["offset_key"] == "file.default" and pq.read_table(out).num_rows == 6


def test_home_from_the_environment_and_inventory_source(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "assets.ndjson"
    result = CliRunner().invoke(
        _app(),
        [
            "ship",
            "--exporter",
            "file",
            "--format",
            "ndjson",
            "--path",
            str(out),
            "--source",
            "assets",
        ],
        env={"ASSETLINE_HOME": str(home)},
    )
    assert result.exit_code == 0, result.output
    assert "shipped 18," in result.stdout  # 6 runs x (2 inputs + 1 output)
    assert len(out.read_text().splitlines()) == 18


def test_openlineage_with_a_dead_letter_exits_1(home: Path, tmp_path: Path) -> None:
    bad = task_run_id(task_run(2))
    receiver = OpenLineageReceiver(reject_run_ids=frozenset({bad})).start()
    try:
        result = CliRunner().invoke(
            _app(),
            [
                "ship",
                "--home",
                str(home),
                "--exporter",
                "openlineage",
                "--url",
                receiver.url,
                "--endpoint",
                "api/v1/lineage",
                "--api-key",
                "k",
                "--offset-key",
                "mine",
                "--dead-letter",
                str(tmp_path / "dead.ndjson"),
                "--json",
            ],
        )
    finally:
        receiver.stop()
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["shipped"], report["dead_lettered"], report["offset_key"]) == (10, 2, "mine")
    assert receiver.invalid == [] and sum(receiver.counts().values()) == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exporter", "file"], "--exporter file needs --path"),
        (["--exporter", "openlineage"], "--exporter openlineage needs --url"),
        (
            ["--exporter", "openlineage", "--url", "ftp://x"],
            "uri must start with http:// or https://",
        ),
        (
            ["--exporter", "openlineage", "--url", "http://x", "--header", "nope"],
            "expected NAME=VALUE",
        ),
        (
            ["--exporter", "file", "--path", "x.json", "--lookback", "yesterday"],
            "is not an ISO-8601 duration",
        ),
        (
            ["--exporter", "file", "--path", "x.json", "--url", "http://x"],
            "--url belongs to --exporter openlineage",
        ),
    ],
)
def test_bad_options_exit_2_with_a_message(home: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(_app(), ["ship", "--home", str(home), *args])
    assert result.exit_code == 2
    assert message in result.stderr
