"""Pure planning: contexts, ForEach values, asset rendering and specs, without Ray or a store."""

from __future__ import annotations

import pytest

from scheduler.errors import TemplateError
from scheduler.flow_model import AssetsDecl, Flow, Pos, TaskNode
from scheduler.planner import (
    ExecutionInfo,
    Frame,
    OutputsTree,
    base_context,
    foreach_values,
    label_context,
    new_id,
    plan_task_run,
    task_context,
)
from scheduler.templating import Renderer
from store.codec import AssetDecl, AssetRef

POS = Pos("f.yaml", 4, 5)


def node(**kwargs: object) -> TaskNode:
    fields: dict[str, object] = {
        "id": "t",
        "type": "log",
        "kind": "io.kestra.plugin.core.log.Log",
        "pos": POS,
    }
    fields.update(kwargs)
    return TaskNode.model_validate(fields)


def flow(*tasks: TaskNode) -> Flow:
    return Flow(
        id="f",
        namespace="company.team",
        tasks=tasks,
        variables={"env": "prod"},
        pos=Pos("f.yaml", 1, 1),
    )


def info(*tasks: TaskNode) -> ExecutionInfo:
    return ExecutionInfo(execution_id="exec1", flow=flow(*tasks), inputs={"n": 3}, start=0.0)


def test_new_ids_are_22_chars_base62_and_unique() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 22 and i.isalnum() for i in ids)


def test_foreach_values_from_lists_and_json_strings() -> None:
    assert foreach_values(["a", 1, {"k": 2}], where="w") == ["a", "1", '{"k": 2}']
    assert foreach_values('["x", "y"]', where="w") == ["x", "y"]
    assert foreach_values("", where="w") == []
    assert foreach_values(None, where="w") == []


def test_foreach_values_that_are_not_a_list_say_so() -> None:
    with pytest.raises(TemplateError) as info_:
        foreach_values("sales, finance", where="task 'each': values")
    assert str(info_.value) == (
        "task 'each': values: values rendered to 'sales, finance', which is not a JSON array; "
        "give a list, or a template that renders one (e.g. `{{ x | jq('.[]') }}`)"
    )
    with pytest.raises(TemplateError, match="values must be a list, got dict"):
        foreach_values('{"a": 1}', where="w")


def test_outputs_tree_nests_by_foreach_values() -> None:
    tree = OutputsTree()
    tree.set("plain", (), {"value": 1})
    tree.set("child", ("s1", "a a"), {"value": 2})
    tree.set("child", ("s1", "b b"), {"value": 3})
    assert tree.data == {
        "plain": {"value": 1},
        "child": {"s1": {"a a": {"value": 2}, "b b": {"value": 3}}},
    }


def test_task_context_exposes_kestra_variables() -> None:
    task = node()
    base = base_context(info(task), {"ENV_REGION": "eu"})
    parents = (Frame("outer", "tr0", "s1", 0), Frame("inner", "tr1", "a a", 1))
    context = task_context(base, OutputsTree(), task, "tr2", parents)
    assert context["flow"]["namespace"] == "company.team"
    assert context["execution"]["id"] == "exec1"
    assert context["inputs"] == {"n": 3}
    assert context["vars"] == {"env": "prod"}
    assert context["envs"] == {"region": "eu"}
    assert context["taskrun"]["value"] == "a a"
    assert context["taskrun"]["iteration"] == 1
    assert context["parent"]["taskrun"]["value"] == "s1"
    # Kestra's parents[i]: the i-th enclosing ForEach run, valued by the iteration around it
    assert [p["taskrun"]["value"] for p in context["parents"]] == ["s1", None]
    assert [p["taskrun"]["id"] for p in context["parents"]] == ["tr1", "tr0"]


def test_plan_renders_properties_assets_and_collects_secrets() -> None:
    task = node(
        properties={"message": "{{ taskrun.value }} uses {{ secret('TOKEN') }}"},
        assets=AssetsDecl(
            inputs=({"id": "src-{{ taskrun.value | slugify }}", "namespace": "raw"},),
            outputs=(
                {
                    "id": "kestra-{{ taskrun.value | slugify }}-bucket",
                    "type": "AWS_BUCKET",
                    "metadata": {"team": "{{ taskrun.value }}"},
                },
            ),
        ),
    )
    run_info = info(task)
    renderer = Renderer(environ={"ASSETLINE_SECRET_TOKEN": "tok-123"})
    parents = (Frame("each", "tr0", "Data Eng", 0),)
    context = task_context(base_context(run_info, {}), OutputsTree(), task, "tr1", parents)
    spec = plan_task_run(renderer, run_info, task, context, taskrun_id="tr1", parents=parents)
    assert spec.properties == {"message": "Data Eng uses tok-123"}
    assert spec.secrets == ["tok-123"]
    assert spec.inputs == [AssetRef(id="src-data-eng", namespace="raw")]
    assert spec.outputs == [
        AssetDecl(id="kestra-data-eng-bucket", type="AWS_BUCKET", metadata={"team": "Data Eng"})
    ]
    assert (spec.value, spec.iteration, spec.parent_taskrun_id) == ("Data Eng", 0, "tr0")


def test_rendered_asset_id_is_checked() -> None:
    task = node(assets=AssetsDecl(outputs=({"id": "bad id {{ taskrun.value }}"},)))
    run_info = info(task)
    context = task_context(base_context(run_info, {}), OutputsTree(), task, "tr", ())
    with pytest.raises(TemplateError) as info_:
        plan_task_run(Renderer(), run_info, task, context, taskrun_id="tr", parents=())
    assert str(info_.value) == (
        "f.yaml:4:5: task 't': assets.outputs[0]: asset id 'bad id ' is invalid; ids start with "
        "a letter or digit, use only letters, digits and . _ : - and have at most 150 characters"
    )


def test_secrets_never_reach_asset_records() -> None:
    task = node(
        assets=AssetsDecl(
            outputs=(
                {
                    "id": "db",
                    "description": "dsn {{ secret('PW') }}",
                    "metadata": {"dsn": "postgres://u:{{ secret('PW') }}@h/db"},
                },
            )
        )
    )
    run_info = info(task)
    renderer = Renderer(environ={"ASSETLINE_SECRET_PW": "hunter22"})
    context = task_context(base_context(run_info, {}), OutputsTree(), task, "tr", ())
    spec = plan_task_run(renderer, run_info, task, context, taskrun_id="tr", parents=())
    assert spec.outputs == [
        AssetDecl(id="db", description="dsn ******", metadata={"dsn": "postgres://u:******@h/db"})
    ]


def test_labels_carry_kestras_correlation_id_and_nest_dotted_keys() -> None:
    labels = label_context({"team": "data", "app.tier": "web", "app.zone": "eu"}, "E1")
    assert labels["system"] == {"correlationId": "E1"}
    assert labels["system.correlationId"] == "E1"
    assert labels["app"] == {"tier": "web", "zone": "eu"} and labels["app.tier"] == "web"
    assert label_context({"system.correlationId": "ROOT"}, "E2")["system"]["correlationId"] == (
        "ROOT"
    )
    flat_wins = label_context({"app": "x", "app.tier": "web"}, "E3")
    assert flat_wins["app"] == "x" and flat_wins["app.tier"] == "web"
