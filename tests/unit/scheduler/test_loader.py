"""The loader: valid flows become the right model; flow-level problems read file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_loader_fakes import HEADER, REGISTRY, issues_of, load

from scheduler.errors import FlowError, FlowIssue, SchedulerError
from scheduler.flow_model import Pos, RetryPolicy
from scheduler.loader import load_flow, load_flow_text, validate_files

FLOWS = Path(__file__).parent / "flows"
TASK = "tasks:\n  - id: a\n    type: log\n    message: hi\n"


def test_full_flow_loads_into_the_model() -> None:
    flow = load_flow(FLOWS / "full.yaml", **REGISTRY)
    path = str(FLOWS / "full.yaml")
    assert (flow.id, flow.namespace, flow.revision) == ("nightly_sales", "company.analytics", 3)
    assert flow.labels == {"team": "analytics", "tier": "1"}
    assert [decl.id for decl in flow.inputs] == ["day", "regions", "limit"]
    assert flow.inputs[1].values == ("emea", "apac", "amer")
    assert flow.inputs[2].required is False
    assert flow.variables == {"table": "sales_{{ inputs.day }}"}
    assert flow.concurrency == {"limit": 1, "behavior": "QUEUE"}
    assert flow.triggers[0]["cron"] == "0 2 * * *"
    assert flow.source == (FLOWS / "full.yaml").read_text()
    assert flow.pos == Pos(path, 1, 1)
    assert [node.id for node in flow.all_tasks()] == [
        "load", "per_region", "report", "report_failed", "steps", "extract", "publish",
        "transform", "alert", "done",
    ]  # fmt: skip

    load_task = flow.tasks[0]
    assert load_task.kind == "io.kestra.plugin.jdbc.duckdb.Query"
    assert load_task.type == "duckdb"
    assert load_task.pos == Pos(path, 33, 5)
    # pluginDefaults merged in, the task's own nested value kept next to the default's
    assert load_task.properties == {
        "url": "jdbc:duckdb:warehouse.db",
        "parameters": {"currency": "EUR", "region": "all"},
        "sql": "CREATE TABLE {{ vars.table }} AS SELECT 1",
    }
    assert load_task.timeout == 600.0
    assert load_task.retry == RetryPolicy(
        type="exponential",
        interval=1.0,
        maxInterval=60.0,
        delayFactor=2.5,
        maxAttempts=4,
        warningOnRetry=True,
    )
    assert load_task.assets is not None
    assert load_task.assets.inputs == ({"id": "raw.sales"},)
    assert load_task.assets.outputs[0]["metadata"] == {"owner": "analytics"}

    each = flow.tasks[1]
    assert each.flowable and each.kind == "io.kestra.plugin.core.flow.ForEach"
    assert each.properties == {"values": "{{ inputs.regions }}", "concurrencyLimit": 0}
    report = each.tasks[0]
    # a forced default wins over the task's own value
    assert report.properties == {"level": "DEBUG", "message": "{{ taskrun.value }}"}
    assert report.runIf == "{{ inputs.limit is not none }}"
    assert [node.id for node in each.errors] == ["report_failed"]

    dag = flow.tasks[2]
    assert [node.id for node in dag.tasks] == ["extract", "publish", "transform"]
    assert dag.depends_on == {"extract": (), "publish": ("transform",), "transform": ("extract",)}
    assert dag.properties == {"concurrent": 2}
    assert [node.id for node in flow.errors] == ["alert"]
    assert [node.id for node in flow.finally_] == ["done"]


def test_legacy_names_list_labels_and_task_defaults() -> None:
    flow = load_flow(FLOWS / "legacy.yml", **REGISTRY)
    assert flow.labels == {"owner": "data"}
    seq, par, branch, check, together = flow.tasks
    assert seq.kind == "io.kestra.plugin.core.flow.Sequential"
    each = seq.tasks[0]
    assert each.kind == "io.kestra.plugin.core.flow.EachSequential"
    assert each.properties == {"value": '["a", "b"]'}
    assert each.tasks[0].properties == {"message": "from defaults"}
    assert par.properties == {"value": [1, 2], "concurrent": 2}
    assert sorted(branch.branches) == ["case:1", "case:A", "defaults"]
    assert [node.id for node in branch.branches["case:A"]] == ["case-a"]
    assert check.properties == {"condition": True}
    assert [node.id for node in check.branches["then"]] == ["yes"]
    assert [node.id for node in check.branches["else"]] == ["no"]
    assert together.properties == {"concurrent": 0}
    assert [node.id for node in together.tasks] == ["p1", "p2"]


def test_flow_error_lists_every_issue_one_per_line() -> None:
    with pytest.raises(FlowError) as caught:
        load("id: a b\nnamespace: team\ntsks: []\n" + TASK)
    err = caught.value
    assert isinstance(err, SchedulerError)
    assert err.issues == [
        FlowIssue(
            Pos("f.yaml", 1, 5),
            "flow id 'a b' is invalid; use 1 to 100 letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
        ),
        FlowIssue(Pos("f.yaml", 3, 1), "flow: unknown key 'tsks'; did you mean 'tasks'?"),
    ]
    assert str(err) == "\n".join(str(issue) for issue in err.issues)


def test_broken_yaml_is_one_issue_at_the_parser_mark() -> None:
    path = FLOWS / "broken.yaml"
    with pytest.raises(FlowError) as caught:
        load_flow(path, **REGISTRY)
    assert [str(issue) for issue in caught.value.issues] == [
        f"{path}:7:1: invalid YAML: expected ',' or ']', but got '<stream end>'; "
        "fix the syntax at this position"
    ]


def test_yaml_with_two_documents_is_invalid() -> None:
    assert issues_of(HEADER + TASK + "---\nid: g\n") == [
        "f.yaml:7:1: invalid YAML: but found another document; fix the syntax at this position"
    ]


def test_duplicate_keys_are_reported_at_the_second_one() -> None:
    assert issues_of(HEADER + "namespace: other\n" + TASK) == [
        "f.yaml:3:1: duplicate key 'namespace' (first at line 2, column 1); remove one of them"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "f.yaml:1:1: the file is empty; a flow needs at least id, namespace and tasks"),
        (
            "- id: a\n",
            "f.yaml:1:1: a flow must be a mapping of properties (id, namespace, tasks, ...); "
            "got a list",
        ),
        (
            "just text\n",
            "f.yaml:1:1: a flow must be a mapping of properties (id, namespace, tasks, ...); "
            "got 'just text'",
        ),
    ],
)
def test_a_flow_file_must_hold_a_mapping(text: str, expected: str) -> None:
    assert issues_of(text) == [expected]


def test_missing_required_flow_keys() -> None:
    assert issues_of("description: nothing\n") == [
        "f.yaml:1:1: flow: missing 'id'; add `id: my_flow`",
        "f.yaml:1:1: flow: missing 'namespace'; add `namespace: company.team`",
        "f.yaml:1:1: flow: missing 'tasks'; add a list with at least one task",
    ]


def test_tasks_must_be_a_non_empty_list() -> None:
    assert issues_of(HEADER + "tasks: []\n") == [
        "f.yaml:3:8: flow: 'tasks' needs at least one task; add a task under it"
    ]
    assert issues_of(HEADER + "tasks: {id: a}\n") == [
        "f.yaml:3:8: flow: 'tasks' must be a list of tasks; got a mapping"
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "id: f\nnamespace: Team\n",
            "f.yaml:2:12: namespace 'Team' is invalid; use 1 to 150 lowercase letters, digits, "
            "'.', '_' and '-', starting with a letter or digit",
        ),
        (
            "id: f\nnamespace: .team\n",
            "f.yaml:2:12: namespace '.team' is invalid; use 1 to 150 lowercase letters, digits, "
            "'.', '_' and '-', starting with a letter or digit",
        ),
        (
            f"id: {'x' * 101}\nnamespace: team\n",
            f"f.yaml:1:5: flow id '{'x' * 101}' is invalid; use 1 to 100 letters, digits, '.', "
            "'_' and '-', starting with a letter or digit",
        ),
        ("id: 12\nnamespace: team\n", "f.yaml:1:5: flow: 'id' must be a text; got 12"),
        (
            "id: f\nnamespace: team\ntenantId: Main\n",
            "f.yaml:3:11: tenantId 'Main' is invalid; use lowercase letters, digits, '_' and '-'",
        ),
        (
            "id: f\nnamespace: team\nrevision: 0\n",
            "f.yaml:3:11: flow: 'revision' must be 1 or more",
        ),
        (
            "id: f\nnamespace: team\ndisabled: maybe\n",
            "f.yaml:3:11: flow: 'disabled' must be true or false; got 'maybe'",
        ),
        (
            "id: f\nnamespace: team\nlabels: [a]\n",
            "f.yaml:3:10: flow: labels[0]: must be a mapping with 'key' and 'value'",
        ),
        (
            "id: f\nnamespace: team\nlabels: {a: [1]}\n",
            "f.yaml:3:13: flow: label 'a' must be a text; got a list",
        ),
        (
            "id: f\nnamespace: team\nconcurrency: {limit: 0, behavior: DROP}\n",
            "f.yaml:3:22: flow: concurrency: 'limit' must be 1 or more",
        ),
        (
            "id: f\nnamespace: team\nvariables: {x: '{{ oops'}\n",
            "f.yaml:3:16: flow: variable 'x': template error: unexpected end of template, "
            "expected 'end of print statement'; check the {{ }} syntax",
        ),
        (
            "id: f\nnamespace: team\ntriggers: [{type: x}]\n",
            "f.yaml:3:12: flow: triggers[0]: missing 'id'; add it",
        ),
        (
            "id: f\nnamespace: team\nretry: {type: constant}\n",
            "f.yaml:3:8: flow: retry: a constant retry needs 'interval'; add it (e.g. PT30S)",
        ),
    ],
)
def test_flow_level_rules(header: str, expected: str) -> None:
    assert expected in issues_of(header + TASK)


def test_concurrency_behavior_must_be_known() -> None:
    assert issues_of(HEADER + "concurrency: {limit: 2, behavior: DROP}\n" + TASK) == [
        "f.yaml:3:35: flow: concurrency: unknown behavior 'DROP'; use one of QUEUE, CANCEL, FAIL"
    ]


def test_all_kestra_flow_keys_are_accepted() -> None:
    text = (
        HEADER
        + (
            "revision: 2\ndescription: d\ndisabled: false\ndeleted: false\n"
            "sla: [{id: s, type: MAX_DURATION, duration: PT1H}]\n"
            "afterExecution: []\nlisteners: []\nworkerGroup: {key: gpu}\nchecks: []\n"
            "tenantId: main\noutputs: [{id: o, type: STRING, value: '{{ 1 }}'}]\n"
            "retry: {type: random, minInterval: PT1S, maxInterval: PT2S}\n"
        )
        + TASK
    )
    flow = load(text)
    assert flow.extras == {
        "sla": [{"id": "s", "type": "MAX_DURATION", "duration": "PT1H"}],
        "afterExecution": [],
        "listeners": [],
        "workerGroup": {"key": "gpu"},
        "checks": [],
        "tenantId": "main",
    }
    assert flow.outputs == ({"id": "o", "type": "STRING", "value": "{{ 1 }}"},)
    assert flow.retry == RetryPolicy(type="random", minInterval=1.0, maxInterval=2.0)


def test_issues_are_ordered_by_position() -> None:
    text = "tasks:\n  - id: a\n    type: nope\nnamespace: Bad\nid: ok\n"
    found = issues_of(text)
    lines = [int(issue.split(":")[1]) for issue in found]
    assert lines == sorted(lines) and len(found) == 2


def test_load_flow_text_names_the_file_in_messages() -> None:
    with pytest.raises(FlowError) as caught:
        load_flow_text("id: f\n", "flows/x.yaml", **REGISTRY)
    assert str(caught.value).startswith("flows/x.yaml:1:1: flow: missing 'namespace'")


def test_unreadable_file_is_an_issue(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FlowError) as caught:
        load_flow(missing, **REGISTRY)
    assert str(caught.value) == (
        f"{missing}:1:1: cannot read the flow file: No such file or directory; check the path"
    )


def test_validate_files_collects_issues_of_every_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(HEADER + TASK)
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEADER + "tasks:\n  - id: a\n    type: log\n")
    other = tmp_path / "other.yaml"
    other.write_text("id: f\n" + TASK)
    assert validate_files([good], **REGISTRY) == []
    assert [str(issue) for issue in validate_files([bad, good, other], **REGISTRY)] == [
        f"{bad}:4:5: task 'a': missing required property 'message'; add it",
        f"{other}:1:1: flow: missing 'namespace'; add `namespace: company.team`",
    ]


def test_default_registry_is_the_workers_one() -> None:
    registry = pytest.importorskip("workers.registry")
    flow = load_flow_text(HEADER + TASK)
    assert flow.tasks[0].kind == registry.resolve("log").kind


def test_folded_scalars_read_as_yaml_folds_them() -> None:
    flow = load_flow_text(
        "id: f\nnamespace: company.team\ntasks:\n  - id: r\n"
        "    type: io.kestra.plugin.core.debug.Return\n"
        "    format: >-\n      one\n      two,\n      three\n",
        "f.yaml",
    )
    assert flow.tasks[0].properties["format"] == "one two, three"
