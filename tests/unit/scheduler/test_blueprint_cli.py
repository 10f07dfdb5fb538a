"""`assetline blueprint list | show | use`, through Typer's runner (no terminal: no prompts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from scheduler.cli_blueprint import register

SIMPLE = """\
extend:
  title: Hello
  templateArguments:
    - id: who
      type: STRING
      validator: "[a-z]+"
    - id: level
      type: SELECT
      values: [INFO, WARN]
      defaults: INFO
id: hello
namespace: company.team
tasks:
  - id: hi
    type: io.kestra.plugin.core.log.Log
    level: << arg.level >>
    message: "Hello << arg.who >> from {{ flow.id }}"
"""


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """assetline (test root)."""

    register(root)
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "bp"
    path.mkdir()
    (path / "hello.yaml").write_text(SIMPLE)
    return path


runner = CliRunner()


def test_list_json_holds_builtins_and_folder(app: typer.Typer, folder: Path) -> None:
    result = runner.invoke(app, ["blueprint", "list", "--json", "--catalog", str(folder)])
    assert result.exit_code == 0, result.output
    ids = [item["id"] for item in json.loads(result.stdout)]
    assert ids == ["duckdb-layers", "fleet-upgrade", "hello", "lineage-export", "team-buckets"]


def test_list_table(app: typer.Typer) -> None:
    result = runner.invoke(app, ["blueprint", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "team-buckets" in result.stdout and "One S3 bucket per team" in result.stdout


def test_show_lists_arguments_with_types_choices_and_defaults(app: typer.Typer) -> None:
    result = runner.invoke(app, ["blueprint", "show", "team-buckets"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.count("│") > 3
    }
    assert "MULTISELECT" in rows["teams"] and "analytics, finance" in rows["teams"]
    assert "eu-west-1, eu-central-1, us-east-1, us-west-2" in rows["region"]
    assert "validator" in rows["prefix"] and "acme-data" in rows["prefix"]


def test_use_writes_a_valid_flow(app: typer.Typer, folder: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "flow.yaml"
    result = runner.invoke(
        app,
        ["blueprint", "use", "hello", "--catalog", str(folder), "-a", "who=ada", "-o", str(target)],
    )
    assert result.exit_code == 0, result.output
    assert target.read_text().endswith(
        '    level: INFO\n    message: "Hello ada from {{ flow.id }}"\n'
    )
    assert f"flow company.team.hello generated from 'hello' to {target}" in result.output


def test_use_prints_the_flow_without_output(app: typer.Typer, folder: Path) -> None:
    result = runner.invoke(
        app,
        [
            "blueprint",
            "use",
            "hello",
            "--catalog",
            str(folder),
            "-a",
            "who=ada",
            "-a",
            "level=WARN",
        ],
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("id: hello\n") and "level: WARN" in result.stdout


def test_use_json(app: typer.Typer, folder: Path) -> None:
    result = runner.invoke(
        app, ["blueprint", "use", "hello", "--catalog", str(folder), "-a", "who=ada", "--json"]
    )
    data = json.loads(result.stdout)
    assert data["arguments"] == {"who": "ada", "level": "INFO"}
    assert data["flow"] == {"id": "hello", "namespace": "company.team"}


def test_a_bad_argument_exits_2_with_rule_and_allowed_values(
    app: typer.Typer, folder: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "blueprint",
            "use",
            "hello",
            "--catalog",
            str(folder),
            "-a",
            "who=ada",
            "-a",
            "level=DEBUG",
        ],
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"{folder / 'hello.yaml'}:7:7: argument 'level': 'DEBUG' is not one of "
        "['INFO', 'WARN']; declared as SELECT with values INFO, WARN"
    )


def test_a_missing_required_argument_without_terminal_exits_2(
    app: typer.Typer, folder: Path
) -> None:
    result = runner.invoke(app, ["blueprint", "use", "hello", "--catalog", str(folder), "--json"])
    assert result.exit_code == 2
    assert "argument 'who': required but not given; pass it with -a who=VALUE" in result.stderr
    assert result.stdout == ""


def test_an_invalid_generated_flow_exits_2(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(
        "id: b\nnamespace: c\ntasks:\n  - id: x\n    type: nope\n"
    )
    result = runner.invoke(app, ["blueprint", "use", "broken", "--catalog", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("broken.generated.yaml:5:11: task 'x': unknown type 'nope'")
    assert result.stderr.rstrip().endswith(f"(template {tmp_path / 'broken.yaml'}:5)")


def test_an_unknown_blueprint_exits_2(app: typer.Typer) -> None:
    result = runner.invoke(app, ["blueprint", "show", "nope"])
    assert result.exit_code == 2
    assert result.stderr.startswith("<catalog>:1:1: no blueprint 'nope'")


def test_a_missing_catalog_folder_exits_2(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["blueprint", "list", "--catalog", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "cannot read the blueprint folder: No such file or directory" in result.stderr


def test_deploy_puts_the_generated_flow_into_the_store(
    app: typer.Typer, folder: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    args = ["blueprint", "use", "hello", "--catalog", str(folder), "-a", "who=ada", "--deploy"]
    result = runner.invoke(app, [*args, "--home", str(home), "--json"])
    assert result.exit_code == 0, result.stderr
    deployed = json.loads(result.stdout)["deployed"]
    assert deployed["revision"] == 1 and deployed["created"] is True
    again = runner.invoke(app, [*args, "--home", str(home), "--json"])
    assert json.loads(again.stdout)["deployed"]["created"] is False

    from store import Store
    from store.flows import DeployedFlows

    with Store.open(home, readonly=True) as store:
        record = DeployedFlows(store).get(deployed["namespace"], deployed["id"])
    assert record is not None and record.revision == 1


def test_an_unwritable_output_exits_1(app: typer.Typer, folder: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = runner.invoke(
        app,
        [
            "blueprint",
            "use",
            "hello",
            "--catalog",
            str(folder),
            "-a",
            "who=ada",
            "-o",
            str(tmp_path / "file" / "flow.yaml"),
        ],
    )
    assert result.exit_code == 1
    assert "cannot write the flow" in result.stderr
