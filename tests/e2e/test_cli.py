"""The `assetline` command end to end, as a user runs it (a subprocess per call)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ASSETLINE = str(Path(sys.executable).with_name("assetline"))


def cli(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASSETLINE, *args, *(["--home", str(home)] if args[0] not in ("validate",) else [])],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def taxi_run(ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the example pipeline on the session's cluster, shared by the read tests."""
    work = tmp_path_factory.mktemp("taxi")
    (work / "examples" / "data").mkdir(parents=True)
    home = work / "home"
    done = cli(
        "run",
        str(ROOT / "examples" / "taxi_pipeline.yaml"),
        "--address",
        ray_cluster.address,
        "--json",
        cwd=work,
        home=home,
    )
    assert done.returncode == 0, done.stderr
    return {"work": work, "home": home, "summary": json.loads(done.stdout)}


def test_run_json_prints_the_execution_summary(taxi_run: dict[str, Any]) -> None:
    summary = taxi_run["summary"]
    assert summary["state"] == "SUCCESS"
    assert summary["flowId"] == "taxi_pipeline" and summary["namespace"] == "company.analytics"
    assert [t["taskId"] for t in summary["taskRuns"]] == [
        "load_sample_data",
        "staging_trips",
        "mart_avg_trip_distance",
        "report",
    ]
    assert summary["assetsRead"] == ["sample_data.nyc.taxi", "trips"]
    assert summary["assetsWritten"] == ["avg_trip_distance", "trips"]


def test_lineage_up_lists_trips_and_the_external_source(taxi_run: dict[str, Any]) -> None:
    done = cli(
        "lineage",
        "avg_trip_distance",
        "--direction",
        "up",
        "--format",
        "json",
        cwd=taxi_run["work"],
        home=taxi_run["home"],
    )
    assert done.returncode == 0, done.stderr
    graph = json.loads(done.stdout)
    assets = {n["id"] for n in graph["nodes"] if n["kind"] == "asset"}
    assert {"trips", "sample_data.nyc.taxi", "avg_trip_distance"} == assets
    tasks = {n["id"] for n in graph["nodes"] if n["kind"] == "task"}
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert any(("trips", t) in edges and (t, "avg_trip_distance") in edges for t in tasks)
    for fmt, needle in (("dot", "digraph"), ("mermaid", "flowchart"), ("text", "trips")):
        done = cli(
            "lineage",
            "avg_trip_distance",
            "--direction",
            "up",
            "--format",
            fmt,
            cwd=taxi_run["work"],
            home=taxi_run["home"],
        )
        assert done.returncode == 0 and needle in done.stdout, (fmt, done.stdout)


def test_assets_show_says_external(taxi_run: dict[str, Any]) -> None:
    done = cli(
        "assets", "show", "sample_data.nyc.taxi", cwd=taxi_run["work"], home=taxi_run["home"]
    )
    assert done.returncode == 0, done.stderr
    assert "External" in done.stdout
    done = cli(
        "assets",
        "show",
        "sample_data.nyc.taxi",
        "--json",
        cwd=taxi_run["work"],
        home=taxi_run["home"],
    )
    assert json.loads(done.stdout)["type"] == "External"


def test_assets_list_json_shape_and_filters(taxi_run: dict[str, Any]) -> None:
    done = cli("assets", "list", "--json", cwd=taxi_run["work"], home=taxi_run["home"])
    rows = json.loads(done.stdout)
    assert [r["id"] for r in rows] == ["avg_trip_distance", "sample_data.nyc.taxi", "trips"]
    assert set(rows[0]) == {
        "id",
        "namespace",
        "type",
        "displayName",
        "description",
        "metadata",
        "created",
        "updated",
    }
    done = cli(
        "assets",
        "list",
        "--meta",
        "model_layer=mart",
        "--json",
        cwd=taxi_run["work"],
        home=taxi_run["home"],
    )
    assert [r["id"] for r in json.loads(done.stdout)] == ["avg_trip_distance"]
    done = cli(
        "assets",
        "list",
        "--type",
        "External",
        "--json",
        cwd=taxi_run["work"],
        home=taxi_run["home"],
    )
    assert [r["id"] for r in json.loads(done.stdout)] == ["sample_data.nyc.taxi"]


def test_executions_list_and_show(taxi_run: dict[str, Any]) -> None:
    done = cli("executions", "list", "--json", cwd=taxi_run["work"], home=taxi_run["home"])
    rows = json.loads(done.stdout)
    assert len(rows) == 1
    assert set(rows[0]) == {"id", "namespace", "flowId", "state", "startDate", "endDate"}
    assert rows[0]["id"] == taxi_run["summary"]["id"]
    done = cli("executions", "show", rows[0]["id"], cwd=taxi_run["work"], home=taxi_run["home"])
    assert done.returncode == 0 and "staging_trips" in done.stdout
    done = cli("executions", "show", "nope", cwd=taxi_run["work"], home=taxi_run["home"])
    assert done.returncode == 1
    assert "execution 'nope' not found" in done.stderr


def test_validate_reports_every_error_with_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent("""\
        id: bad
        namespace: company.team
        tasks:
          - id: hello
            type: io.kestra.plugin.core.log.Log
            mesage: hi
    """)
    )
    done = cli("validate", str(bad), cwd=tmp_path, home=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{bad}:4:5: task 'hello': missing required property 'message'; add it",
        f"{bad}:6:5: task 'hello': unknown property 'mesage'; did you mean 'message'?",
    ]
    good = cli(
        "validate", str(ROOT / "examples" / "taxi_pipeline.yaml"), cwd=tmp_path, home=tmp_path
    )
    assert good.returncode == 0, good.stderr


def test_bad_input_exits_2_and_failed_run_exits_1(ray_cluster: Any, tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(
        textwrap.dedent("""\
        id: f
        namespace: company.team
        inputs:
          - id: n
            type: INT
        tasks:
          - id: fail
            type: io.kestra.plugin.scripts.shell.Commands
            commands: ["exit {{ inputs.n }}"]
    """)
    )
    home = tmp_path / "home"
    done = cli(
        "run", str(flow), "-i", "n=abc", "--address", ray_cluster.address, cwd=tmp_path, home=home
    )
    assert done.returncode == 2
    assert "input 'n'" in done.stderr
    done = cli(
        "run", str(flow), "-i", "n=4", "--address", ray_cluster.address, cwd=tmp_path, home=home
    )
    assert done.returncode == 1, done.stderr
    assert "FAILED" in done.stdout
    done = cli(
        "run",
        str(flow),
        "-i",
        "n=0",
        "--address",
        ray_cluster.address,
        "--json",
        cwd=tmp_path,
        home=home,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["state"] == "SUCCESS"


def test_embedded_ray_runs_the_fanout_example(tmp_path: Path) -> None:
    """The default: the command starts (and stops) its own Ray."""
    home = tmp_path / "home"
    done = cli(
        "run",
        str(ROOT / "examples" / "hello_assets.yaml"),
        "-i",
        "teams=sales,finance",
        "--json",
        cwd=tmp_path,
        home=home,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["assetsWritten"] == ["workspace-finance", "workspace-sales"]
    log = next(t for t in summary["taskRuns"] if t["taskId"] == "inventory")
    assert log["state"] == "SUCCESS"


def test_validate_types_lists_every_task_type(tmp_path: Path) -> None:
    done = cli("validate", "--types", cwd=tmp_path, home=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "io.kestra.plugin.core.flow.ForEach  [flowable: the scheduler drives it]" in lines
    assert any(
        line.startswith("io.kestra.plugin.core.log.Log  (also: log") and "Ray worker" in line
        for line in lines
    )
    assert any(
        line.startswith("io.kestra.plugin.ee.assets.AssetShipper") and "[runs on: driver]" in line
        for line in lines
    )
    done = cli("validate", cwd=tmp_path, home=tmp_path)
    assert done.returncode == 2
    assert "give one or more flow files" in done.stderr
