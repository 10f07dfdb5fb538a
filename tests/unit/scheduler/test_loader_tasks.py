"""The loader on tasks: common properties, types, Params checks, flowables, pluginDefaults."""

from __future__ import annotations

import pytest
from test_loader_fakes import HEADER, issues_of, load

from scheduler.flowables import FLOWABLE_KINDS, ForEachParams, resolve_flowable


def tasks(body: str) -> str:
    """A flow with `body` (YAML lines of the task list, indented by 2) as its tasks."""
    return HEADER + "tasks:\n" + body


def test_unknown_task_property_has_a_did_you_mean() -> None:
    assert issues_of(tasks("  - id: load\n    type: duckdb\n    sql: x\n    sqll: y\n")) == [
        "f.yaml:7:5: task 'load': unknown property 'sqll'; did you mean 'sql'?"
    ]


def test_unknown_property_without_a_close_match_lists_the_accepted_ones() -> None:
    assert issues_of(tasks("  - id: r\n    type: return\n    zzz: 1\n")) == [
        "f.yaml:6:5: task 'r': unknown property 'zzz'; remove it or use one of: allowFailure, "
        "allowWarning, assets, description, disabled, format, id, logLevel, logToFile, retry, "
        "runIf, taskCache, timeout, type, version, workerGroup"
    ]


def test_unknown_type_has_a_did_you_mean_and_says_how_to_list_types() -> None:
    assert issues_of(tasks("  - id: a\n    type: io.kestra.plugin.core.log.Logg\n")) == [
        "f.yaml:5:11: task 'a': unknown type 'io.kestra.plugin.core.log.Logg'; did you mean "
        "'io.kestra.plugin.core.log.Log'? (`assetline validate --types` lists the known types)"
    ]
    assert issues_of(tasks("  - id: a\n    type: zzzzzz\n")) == [
        "f.yaml:5:11: task 'a': unknown type 'zzzzzz'; "
        "(`assetline validate --types` lists the known types)"
    ]


def test_missing_id_and_type() -> None:
    assert issues_of(tasks("  - type: log\n    message: m\n  - id: b\n")) == [
        "f.yaml:4:5: task: missing 'id'; give the task an id such as `id: load`",
        "f.yaml:6:5: task 'b': missing 'type'; name the task type it runs",
    ]


def test_a_task_must_be_a_mapping() -> None:
    assert issues_of(tasks("  - log\n")) == [
        "f.yaml:4:5: a task must be a mapping with 'id' and 'type'; got 'log'"
    ]


def test_bad_task_id() -> None:
    assert issues_of(tasks("  - id: load data\n    type: return\n")) == [
        "f.yaml:4:9: task id 'load data' is invalid; use letters, digits, '_' and '-' only, "
        "starting with a letter or digit"
    ]


def test_duplicate_task_id_names_both_positions() -> None:
    body = (
        "  - id: a\n    type: return\n"
        "  - id: seq\n    type: sequential\n    tasks:\n      - id: a\n        type: return\n"
    )
    assert issues_of(tasks(body)) == [
        "f.yaml:9:13: task id 'a' is already used at f.yaml:4:9; task ids must be unique in a flow"
    ]


def test_missing_required_property_is_reported_at_the_task() -> None:
    assert issues_of(tasks("  - id: a\n    type: log\n")) == [
        "f.yaml:4:5: task 'a': missing required property 'message'; add it"
    ]


def test_literal_values_are_checked_against_the_params_annotation() -> None:
    body = (
        "  - id: a\n    type: duckdb\n    sql: x\n    fetchType: ALL\n"
        "  - id: b\n    type: shell\n    commands: [ls, {x: 1}]\n    maxRetries: -1\n"
    )
    assert issues_of(tasks(body)) == [
        "f.yaml:7:16: task 'a': property 'fetchType': Input should be 'NONE', 'FETCH_ONE', "
        "'FETCH' or 'STORE'; got 'ALL'",
        "f.yaml:10:20: task 'b': property 'commands[1]': Input should be a valid string; "
        "got a mapping",
        "f.yaml:11:17: task 'b': property 'maxRetries': Input should be greater than or equal "
        "to 0; got -1",
    ]


def test_templated_values_pass_the_literal_check() -> None:
    body = '  - id: a\n    type: duckdb\n    sql: x\n    fetchType: "{{ inputs.kind }}"\n'
    flow = load(tasks(body))
    assert flow.tasks[0].properties["fetchType"] == "{{ inputs.kind }}"


def test_template_syntax_is_checked_where_the_string_is() -> None:
    body = (
        "  - id: a\n    type: shell\n    commands:\n      - echo ok\n"
        '      - "echo {{ inputs.x "\n    env: {A: "{% if %}"}\n'
    )
    assert issues_of(tasks(body)) == [
        "f.yaml:8:9: task 'a': property 'commands[1]': template error: unexpected end of "
        "template, expected 'end of print statement'; check the {{ }} syntax",
        "f.yaml:9:14: task 'a': property 'env.A': template error: Expected an expression, got "
        "'end of statement block'; check the {{ }} syntax",
    ]


def test_common_properties_are_parsed() -> None:
    body = (
        "  - id: a\n    type: return\n    description: d\n    disabled: true\n"
        "    allowFailure: true\n    allowWarning: true\n    logLevel: WARN\n    logToFile: true\n"
        "    runIf: false\n    version: '1.0'\n    workerGroup: {key: gpu, fallback: WAIT}\n"
        '    taskCache: {enabled: true, ttl: PT1H}\n    timeout: "{{ inputs.t }}"\n'
    )
    node = load(tasks(body)).tasks[0]
    assert (node.description, node.disabled, node.allowFailure, node.allowWarning) == (
        "d", True, True, True,
    )  # fmt: skip
    assert (node.logLevel, node.logToFile, node.runIf, node.version) == (
        "WARN", True, "false", "1.0",
    )  # fmt: skip
    assert node.workerGroup == {"key": "gpu", "fallback": "WAIT"}
    assert node.taskCache == {"enabled": True, "ttl": 3600.0}
    assert (node.timeout, node.timeout_template) == (None, "{{ inputs.t }}")
    assert node.properties == {}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    timeout: 5 minutes\n",
            "f.yaml:6:14: task 'a': 'timeout': '5 minutes' is not an ISO-8601 duration; write "
            "it like PT5M, PT1H30M, P1D or PT0.5S",
        ),
        (
            "    timeout: P1W\n",
            "f.yaml:6:14: task 'a': 'timeout': 'P1W' is not an ISO-8601 duration; write "
            "it like PT5M, PT1H30M, P1D or PT0.5S",
        ),
        (
            "    logLevel: LOUD\n",
            "f.yaml:6:15: task 'a': unknown logLevel 'LOUD'; use one of "
            "TRACE, DEBUG, INFO, WARN, ERROR",
        ),
        ("    disabled: 1\n", "f.yaml:6:15: task 'a': 'disabled' must be true or false; got 1"),
        (
            "    workerGroup: {key: gpu, fallback: RETRY}\n",
            "f.yaml:6:39: task 'a': workerGroup: unknown fallback 'RETRY'; use one of FAIL, "
            "WAIT, CANCEL",
        ),
        (
            "    taskCache: {enabled: true, ttl: 1h}\n",
            "f.yaml:6:37: task 'a': taskCache: 'ttl': '1h' is not an ISO-8601 duration; write it "
            "like PT5M, PT1H30M, P1D or PT0.5S",
        ),
        (
            '    runIf: "{{ x "\n',
            "f.yaml:6:12: task 'a': property 'runIf': template error: unexpected end of template,"
            " expected 'end of print statement'; check the {{ }} syntax",
        ),
        ("    retry: 3\n", "f.yaml:6:12: task 'a': 'retry' must be a mapping; got 3"),
        (
            "    retry: {maxAttempt: 3}\n",
            "f.yaml:6:12: task 'a': retry: missing 'type'; set it to constant, exponential or "
            "random",
        ),
        (
            "    retry: {type: linear}\n",
            "f.yaml:6:19: task 'a': retry: unknown type 'linear'; use constant, exponential or "
            "random",
        ),
        (
            "    retry: {type: constant, interval: PT1S, maxAttempts: 3}\n",
            "f.yaml:6:45: task 'a': retry (constant): unknown property 'maxAttempts'; did you "
            "mean 'maxAttempt'?",
        ),
        (
            "    retry: {type: random, interval: PT1S, minInterval: PT1S, maxInterval: PT2S}\n",
            "f.yaml:6:27: task 'a': retry (random): unknown property 'interval'; did you mean "
            "'minInterval'?",
        ),
        (
            "    retry: {type: exponential, interval: PT1S}\n",
            "f.yaml:6:12: task 'a': retry: a exponential retry needs 'maxInterval'; add it "
            "(e.g. PT30S)",
        ),
        (
            "    retry: {type: constant, interval: soon}\n",
            "f.yaml:6:39: task 'a': retry: 'interval': 'soon' is not an ISO-8601 duration; "
            "write it like PT5M, PT1H30M, P1D or PT0.5S",
        ),
        (
            "    retry: {type: constant, interval: PT1S, maxAttempt: 0}\n",
            "f.yaml:6:57: task 'a': retry: 'maxAttempt' must be 1 or more",
        ),
        (
            "    retry: {type: constant, interval: PT1S, behavior: AGAIN}\n",
            "f.yaml:6:55: task 'a': retry: unknown behavior 'AGAIN'; use one of "
            "RETRY_FAILED_TASK, CREATE_NEW_EXECUTION",
        ),
    ],
)
def test_common_property_errors(extra: str, expected: str) -> None:
    assert issues_of(tasks("  - id: a\n    type: return\n" + extra)) == [expected]


def test_retry_policy_kinds() -> None:
    body = (
        "  - id: a\n    type: return\n"
        "    retry: {type: constant, interval: PT2S, maxAttempt: 2, maxDuration: PT1M,"
        " behavior: CREATE_NEW_EXECUTION}\n"
    )
    retry = load(tasks(body)).tasks[0].retry
    assert retry is not None
    assert (retry.type, retry.interval, retry.maxAttempts, retry.maxDuration, retry.behavior) == (
        "constant", 2.0, 2, 60.0, "CREATE_NEW_EXECUTION",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("assets", "expected"),
    [
        (
            "{outputs: [{id: 'bad id!'}]}",
            "f.yaml:6:29: task 'a': assets.outputs[0]: invalid asset id 'bad id!'; use letters, "
            "digits and . _ : - (starting with a letter or digit)",
        ),
        (
            "{inputs: [{id: " + "x" * 151 + "}]}",
            "f.yaml:6:28: task 'a': assets.inputs[0]: asset id is 151 characters long; shorten it "
            "to at most 150",
        ),
        (
            "{inputs: [{id: x, displayName: X}]}",
            "f.yaml:6:31: task 'a': assets.inputs[0]: unknown property 'displayName'; remove it "
            "or use one of: id, namespace, type",
        ),
        (
            "{outputs: [{id: x, metdata: {}}]}",
            "f.yaml:6:32: task 'a': assets.outputs[0]: unknown property 'metdata'; did you mean "
            "'metadata'?",
        ),
        (
            "{outputs: [{type: TABLE}]}",
            "f.yaml:6:24: task 'a': assets.outputs[0]: missing 'id'; name the asset with "
            "`id: <asset id>`",
        ),
        (
            "{outputs: [x]}",
            "f.yaml:6:24: task 'a': assets.outputs[0]: must be a mapping with an 'id'; got 'x'",
        ),
        ("{inputs: x}", "f.yaml:6:22: task 'a': assets: 'inputs' must be a list; got 'x'"),
        (
            "{output: []}",
            "f.yaml:6:14: task 'a': assets: unknown property 'output'; did you mean 'outputs'?",
        ),
        (
            "{outputs: [{id: x, metadata: [1]}]}",
            "f.yaml:6:42: task 'a': assets.outputs[0]: 'metadata' must be a mapping; got a list",
        ),
        (
            "{outputs: [{id: '{{ x'}]}",
            "f.yaml:6:29: task 'a': assets.outputs[0]: 'id': template error: unexpected end of "
            "template, expected 'end of print statement'; check the {{ }} syntax",
        ),
    ],
)
def test_bad_asset_declarations(assets: str, expected: str) -> None:
    assert issues_of(tasks(f"  - id: a\n    type: return\n    assets: {assets}\n")) == [expected]


def test_templated_asset_ids_are_kept_raw() -> None:
    body = (
        "  - id: a\n    type: return\n    assets: {enableAuto: false, outputs: [{id: '{{ x }}'}]}\n"
    )
    decl = load(tasks(body)).tasks[0].assets
    assert decl is not None
    assert (decl.outputs, decl.enableAuto) == (({"id": "{{ x }}"},), False)


def test_flowables_resolve_by_kestra_name_legacy_name_and_alias() -> None:
    assert resolve_flowable("io.kestra.plugin.core.flow.ForEach") == (
        "io.kestra.plugin.core.flow.ForEach"
    )
    assert resolve_flowable("io.kestra.core.tasks.flows.EachParallel") == (
        "io.kestra.plugin.core.flow.EachParallel"
    )
    assert resolve_flowable("dag") == "io.kestra.plugin.core.flow.Dag"
    assert resolve_flowable("io.kestra.plugin.core.log.Log") is None
    assert FLOWABLE_KINDS["io.kestra.plugin.core.flow.ForEach"] is ForEachParams
    assert ForEachParams(values=[1]).concurrencyLimit == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "  - id: each\n    type: foreach\n    values: [1]\n",
            "f.yaml:4:5: task 'each': 'tasks' needs at least one task; add a task under it",
        ),
        (
            "  - id: each\n    type: foreach\n    tasks: [{id: r, type: return}]\n",
            "f.yaml:4:5: task 'each': missing required property 'values'; add it",
        ),
        (
            "  - id: each\n    type: foreach\n    values: 3\n    tasks: [{id: r, type: return}]\n",
            "f.yaml:6:13: task 'each': property 'values': Input should be a valid list, or a "
            "valid string; got 3",
        ),
        (
            "  - id: each\n    type: foreach\n    values: [1]\n    concurrencyLimit: -1\n"
            "    tasks: [{id: r, type: return}]\n",
            "f.yaml:7:23: task 'each': property 'concurrencyLimit': Input should be greater than "
            "or equal to 0; got -1",
        ),
        (
            "  - id: par\n    type: parallel\n    tasks: []\n",
            "f.yaml:6:12: task 'par': 'tasks' needs at least one task; add a task under it",
        ),
        (
            "  - id: c\n    type: if\n    condition: x\n    els: []\n"
            "    then: [{id: r, type: return}]\n",
            "f.yaml:7:5: task 'c': unknown property 'els'; did you mean 'else'?",
        ),
        (
            "  - id: c\n    type: if\n    condition: x\n",
            "f.yaml:4:5: task 'c': 'then' needs at least one task; add a task under it",
        ),
        (
            "  - id: s\n    type: switch\n    value: x\n    cases: [a]\n",
            "f.yaml:7:12: task 's': 'cases' must be a mapping; got a list",
        ),
        (
            "  - id: s\n    type: switch\n    value: x\n    cases: {a: []}\n",
            "f.yaml:7:16: task 's': case 'a' needs at least one task; add a task under it",
        ),
        (
            "  - id: d\n    type: dag\n    tasks: []\n",
            "f.yaml:6:12: task 'd': 'tasks' needs at least one `- task: {...}` entry; add one",
        ),
        (
            "  - id: d\n    type: dag\n    tasks: [{dependsOn: []}]\n",
            "f.yaml:6:13: task 'd': tasks[0]: missing 'task'; wrap the task as `task: {...}`",
        ),
        (
            "  - id: seq\n    type: sequential\n    tasks: [{id: r, type: return}]\n"
            "    errors: [{id: e, type: nope}]\n",
            "f.yaml:7:28: task 'e': unknown type 'nope'; (`assetline validate --types` lists the "
            "known types)",
        ),
    ],
)
def test_flowable_errors(body: str, expected: str) -> None:
    assert issues_of(tasks(body)) == [expected]


def test_flowable_children_errors_and_finally() -> None:
    body = (
        "  - id: seq\n    type: sequential\n    tasks: [{id: a, type: return}]\n"
        "    errors: [{id: e, type: return}]\n    finally: [{id: f, type: return}]\n"
    )
    node = load(tasks(body)).tasks[0]
    assert [n.id for n in node.tasks] == ["a"]
    assert [n.id for n in node.errors] == ["e"]
    assert [n.id for n in node.finally_] == ["f"]
    assert [n.id for n in node.walk()] == ["seq", "a", "e", "f"]


def test_runnable_tasks_cannot_have_errors() -> None:
    assert issues_of(tasks("  - id: a\n    type: return\n    errors: []\n")) == [
        "f.yaml:6:5: task 'a': 'errors' only applies to flowable tasks; wrap the task in a "
        "Sequential, or move these tasks to the flow's 'errors'"
    ]


def test_depends_on_a_missing_task() -> None:
    body = (
        "  - id: d\n    type: dag\n    tasks:\n"
        "      - task: {id: a, type: return}\n"
        "      - task: {id: b, type: return}\n        dependsOn: [a, c]\n"
    )
    assert issues_of(tasks(body)) == [
        "f.yaml:9:24: task 'd': task 'b' depends on 'c', which is not a task of this Dag; use one"
        " of: a, b"
    ]


def test_dependency_cycle() -> None:
    body = (
        "  - id: d\n    type: dag\n    tasks:\n"
        "      - task: {id: a, type: return}\n        dependsOn: [b]\n"
        "      - task: {id: b, type: return}\n        dependsOn: [a]\n"
    )
    assert issues_of(tasks(body)) == [
        "f.yaml:4:5: task 'd': its tasks wait for each other in a cycle starting at task 'a' "
        "(f.yaml:7:15): a -> b -> a: 'b' depends on 'a' (dependsOn), 'a' depends on 'b' "
        "(dependsOn); remove one of these dependencies"
    ]


def test_plugin_defaults_apply_by_prefix_and_task_values_win() -> None:
    text = HEADER + (
        "pluginDefaults:\n"
        "  - type: io.kestra.plugin.jdbc\n    values: {url: 'jdbc:duckdb:a.db', sql: default}\n"
        "  - type: io.kestra.plugin.core\n    values: {level: WARN, format: f, timeout: PT1M}\n"
        "tasks:\n"
        "  - id: q\n    type: duckdb\n    sql: mine\n"
        "  - id: l\n    type: log\n    message: m\n"
        "  - id: r\n    type: return\n    format: own\n"
    )
    q, log_task, ret = load(text).tasks
    assert q.properties == {"url": "jdbc:duckdb:a.db", "sql": "mine"}
    assert log_task.properties == {"level": "WARN", "message": "m"}
    assert (ret.properties, ret.timeout) == ({"format": "own"}, 60.0)


def test_plugin_default_values_are_validated_at_their_own_position() -> None:
    text = HEADER + (
        "pluginDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values: {level: LOUD}\n"
        "tasks:\n  - id: l\n    type: log\n    message: m\n"
    )
    assert issues_of(text) == [
        "f.yaml:5:21: task 'l': property 'level': Input should be 'TRACE', 'DEBUG', 'INFO', "
        "'WARN' or 'ERROR'; got 'LOUD'"
    ]


def test_plugin_default_key_no_matched_type_accepts_is_an_issue() -> None:
    text = HEADER + (
        "pluginDefaults:\n  - type: io.kestra.plugin.core\n    values: {levl: WARN}\n"
        "tasks:\n  - id: l\n    type: log\n    message: m\n"
    )
    assert issues_of(text) == [
        "f.yaml:5:14: pluginDefaults[0]: 'levl' is not a property of any task type matching "
        "'io.kestra.plugin.core'; did you mean 'level'?"
    ]


def test_plugin_default_matching_no_task_is_checked_against_known_types() -> None:
    text = HEADER + (
        "pluginDefaults:\n"
        "  - type: io.kestra.plugin.jdbc.duckdb.Query\n    values: {sqll: x}\n"
        "  - type: io.kestra.plugin.jdbc.duckdb.Qury\n    values: {sql: x}\n"
        "  - type: io.kestra.plugin.core.trigger\n    values: {interval: PT1M}\n"
        "triggers:\n  - id: t\n    type: io.kestra.plugin.core.trigger.Schedule\n"
        "tasks:\n  - id: l\n    type: log\n    message: m\n"
    )
    assert issues_of(text) == [
        "f.yaml:5:14: pluginDefaults[0]: 'sqll' is not a property of any task type matching "
        "'io.kestra.plugin.jdbc.duckdb.Query'; did you mean 'sql'?",
        "f.yaml:6:11: pluginDefaults[1]: type 'io.kestra.plugin.jdbc.duckdb.Qury' matches no "
        "known task type; did you mean 'io.kestra.plugin.jdbc.duckdb.Query'?",
    ]


def test_plugin_defaults_entry_shape() -> None:
    text = HEADER + (
        "pluginDefaults:\n  - values: {a: 1}\n    force: true\n  - x\n"
        "tasks:\n  - id: r\n    type: return\n"
    )
    assert issues_of(text) == [
        "f.yaml:4:5: pluginDefaults[0]: missing 'type'; name the task type (or a prefix of it)",
        "f.yaml:5:5: pluginDefaults[0]: unknown property 'force'; did you mean 'forced'?",
        "f.yaml:6:5: pluginDefaults[1]: must be a mapping with 'type' and 'values'; got 'x'",
    ]


def test_forced_defaults_merge_deeply() -> None:
    text = HEADER + (
        "pluginDefaults:\n  - type: shell\n    forced: true\n    values: {env: {A: forced}}\n"
        "tasks:\n  - id: s\n    type: shell\n    commands: [ls]\n    env: {A: own, B: own}\n"
    )
    assert load(text).tasks[0].properties["env"] == {"A": "forced", "B": "own"}


def test_alias_fields_of_params_are_written_by_alias_or_name() -> None:
    body = "  - id: s\n    type: shell\n    commands: [ls]\n    maxRetries: 2\n"
    assert load(tasks(body)).tasks[0].properties == {"commands": ["ls"], "maxRetries": 2}


def test_a_pause_declares_its_resume_inputs_like_flow_inputs() -> None:
    pause = "  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n"
    assert issues_of(tasks(pause)) == []
    resume = "    onResume:\n      - id: ok\n        type: BOOLEAN\n"
    assert issues_of(tasks(pause + resume)) == []
    bad = "    onResume:\n      - id: ok\n        type: BOOLEN\n"
    [issue] = issues_of(tasks(pause + bad))
    assert issue.startswith("f.yaml:8:15: input 'ok': unknown type 'BOOLEN'")
    flow = load(tasks(pause + resume))
    [decl] = flow.tasks[0].properties["onResume"]
    assert (decl.id, decl.type, decl.required) == ("ok", "BOOLEAN", True)


def test_waitfor_checks_its_check_frequency() -> None:
    body = "  - id: w\n    type: waitfor\n    condition: 'true'\n    tasks:\n" + (
        "      - id: r\n        type: return\n"
    )
    assert issues_of(tasks(body)) == []
    assert issues_of(tasks(body + "    checkFrequency:\n      maxIteration: 3\n")) == [
        "f.yaml:4:5: task 'w': checkFrequency: unknown key(s) maxIteration; use maxIterations, "
        "maxDuration, interval"
    ]
    assert issues_of(tasks(body + "    checkFrequency:\n      maxIterations: 0\n")) == [
        "f.yaml:4:5: task 'w': checkFrequency.maxIterations 0 must be a whole number of 1 or more"
    ]
