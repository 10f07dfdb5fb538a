"""Blueprint files and the catalog: the extend block, the built-ins, the user's folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler import blueprints
from scheduler.blueprints import (
    BlueprintFileError,
    CatalogError,
    generate_flow,
    load_catalog,
    parse_blueprint,
)

BUILTIN_IDS = ["duckdb-layers", "fleet-upgrade", "lineage-export", "team-buckets"]
SIMPLE = """\
extend:
  title: Hello
  tags: [demo]
  templateArguments:
    - id: who
      type: STRING
      defaults: world
id: hello
namespace: company.team
tasks:
  - id: hi
    type: log
    message: Hello << arg.who >>
"""


def test_public_api_is_pinned() -> None:
    assert blueprints.__all__ == [
        "BUILTIN",
        "ENV_VAR",
        "ArgumentError",
        "Blueprint",
        "BlueprintError",
        "BlueprintFileError",
        "Catalog",
        "CatalogError",
        "GeneratedFlow",
        "GeneratedFlowError",
        "Rendered",
        "ask_arguments",
        "declared_as",
        "generate_flow",
        "load_catalog",
        "missing_arguments",
        "parse_argument_pairs",
        "parse_blueprint",
        "render_blueprint",
        "resolve_arguments",
    ]


def test_the_builtin_catalog() -> None:
    catalog = load_catalog(environ={})
    assert [bp.id for bp in catalog.all()] == BUILTIN_IDS
    assert catalog.problems == []
    buckets = catalog.get("team-buckets")
    assert buckets.origin == "builtin" and buckets.title == "One S3 bucket per team"
    assert [(d.id, d.type) for d in buckets.arguments][:2] == [
        ("teams", "MULTISELECT"),
        ("region", "SELECT"),
    ]


@pytest.mark.parametrize("blueprint_id", BUILTIN_IDS)
def test_every_builtin_renders_with_its_defaults_and_validates(blueprint_id: str) -> None:
    generated = generate_flow(load_catalog(environ={}).get(blueprint_id), {})
    assert generated.flow.tasks
    for fragment in ("<<", ">>", "<%", "%>", "extend:"):
        assert fragment not in generated.text


def test_builtin_assets_are_declared_per_choice() -> None:
    catalog = load_catalog(environ={})
    buckets = generate_flow(catalog.get("team-buckets"), {"teams": "sales,platform"}).flow
    outputs = [task.assets.outputs[0] for task in buckets.tasks[0].tasks if task.assets]
    assert [(o["id"], o["type"], o["metadata"]["team"]) for o in outputs] == [
        ("acme-data-sales", "AWS_BUCKET", "sales"),
        ("acme-data-platform", "AWS_BUCKET", "platform"),
    ]
    layers = generate_flow(catalog.get("duckdb-layers"), {"layers": "mart,staging,intermediate"})
    built = [t.assets.outputs[0] for t in layers.flow.tasks if t.assets and t.assets.outputs]
    assert [(o["id"], o["metadata"]["model_layer"]) for o in built] == [
        ("orders_staging", "staging"),
        ("orders_intermediate", "intermediate"),
        ("orders_mart", "mart"),
    ]
    assert [t.assets.inputs[0]["id"] for t in layers.flow.tasks if t.assets] == [
        "raw.orders",
        "orders_staging",
        "orders_intermediate",
    ]


def test_user_folders_add_and_shadow(tmp_path: Path) -> None:
    env_dir, cli_dir = tmp_path / "env", tmp_path / "cli"
    env_dir.mkdir()
    cli_dir.mkdir()
    (env_dir / "hello.yaml").write_text(SIMPLE)
    (cli_dir / "hello.yml").write_text(SIMPLE.replace("title: Hello", "title: Hi"))
    (cli_dir / "team-buckets.yaml").write_text(SIMPLE)
    catalog = load_catalog([cli_dir], environ={"ASSETLINE_BLUEPRINTS": str(env_dir)})
    assert catalog.get("hello").title == "Hi"
    assert catalog.get("hello").origin == str(cli_dir)
    assert catalog.get("team-buckets").origin == str(cli_dir)
    only_env = load_catalog(environ={"ASSETLINE_BLUEPRINTS": str(env_dir)})
    assert only_env.get("hello").title == "Hello"


def test_a_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(SIMPLE)
    (tmp_path / "bad.yaml").write_text("extend:\n  templateArgs: []\nid: x\n")
    catalog = load_catalog([tmp_path], environ={}, builtin=False)
    assert [bp.id for bp in catalog.all()] == ["good"]
    assert [str(issue) for issue in catalog.problems] == [
        f"{tmp_path / 'bad.yaml'}:2:3: extend: unknown key 'templateArgs'; did you mean "
        "'templateArguments'?"
    ]
    with pytest.raises(BlueprintFileError) as caught:
        catalog.get("bad")
    assert "unknown key 'templateArgs'" in str(caught.value)


def test_an_unknown_id_suggests_the_closest() -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(environ={}).get("team-bucket")
    assert str(caught.value) == (
        "<catalog>:1:1: no blueprint 'team-bucket'; did you mean 'team-buckets'? "
        "(`assetline blueprint list` shows them)"
    )


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog([tmp_path / "nope"], environ={})
    assert str(caught.value) == (
        f"{tmp_path / 'nope'}:1:1: cannot read the blueprint folder: No such file or directory; "
        "check --catalog and ASSETLINE_BLUEPRINTS"
    )


def test_extend_metadata_and_json_view() -> None:
    bp = parse_blueprint(SIMPLE, "hello.yaml", "hello", "test")
    assert bp.to_json() == {
        "id": "hello",
        "title": "Hello",
        "description": None,
        "tags": ["demo"],
        "origin": "test",
        "path": "hello.yaml",
        "arguments": [
            {
                "id": "who",
                "type": "STRING",
                "required": True,
                "defaults": "world",
                "allowCustomValue": False,
                "isRadio": False,
            }
        ],
    }
    assert bp.body.startswith("id: hello\n")


def test_a_blueprint_without_extend_has_no_arguments() -> None:
    bp = parse_blueprint("id: a\nnamespace: b\ntasks: []\n", "a.yaml", "a", "test")
    assert bp.arguments == () and bp.body_lines == (1, 2, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "extend:\n  title: x\nid: a\nextend:\n  tags: []\n",
            "a.yaml:4:1: a second 'extend' block (the first is at line 1); merge them",
        ),
        (
            "extend: [1]\nid: a\n",
            "a.yaml:1:9: extend: must be a mapping with 'templateArguments'; got a list",
        ),
        ("extend:\n  title: [x\nid: a\n", "a.yaml:3:1: invalid YAML:"),
        ("extend:\n  tags: [[x]]\n", "a.yaml:2:10: extend: tag a list must be a text"),
        (
            "extend:\n  templateArguments:\n    - id: n\n      type: NUMBER\n",
            "a.yaml:4:13: argument 'n': unknown type 'NUMBER'",
        ),
        (
            "extend:\n  templateArguments:\n    - id: n\n      type: INT\n      defaults: x\n",
            "a.yaml:5:17: argument 'n': bad defaults: 'x' is not an integer",
        ),
        (
            "extend:\n  templateArguments:\n    - type: INT\n",
            "a.yaml:3:7: templateArguments[0]: missing 'id'",
        ),
    ],
)
def test_extend_block_errors(text: str, message: str) -> None:
    with pytest.raises(BlueprintFileError) as caught:
        parse_blueprint(text, "a.yaml", "a", "test")
    assert str(caught.value.issues[0]).startswith(message)


def test_an_invalid_blueprint_id_is_an_error() -> None:
    with pytest.raises(BlueprintFileError) as caught:
        parse_blueprint(SIMPLE, "x y.yaml", "x y", "test")
    assert str(caught.value).startswith(
        "x y.yaml:1:1: blueprint id 'x y' is invalid; name the file"
    )
