"""Flow inputs: declarations (at load time) and values (from the CLI or from Python)."""

from __future__ import annotations

from typing import Any

import pytest
from test_loader_fakes import HEADER, issues_of, load

from scheduler.errors import InputError
from scheduler.flow_model import Flow
from scheduler.inputs import parse_cli_inputs, resolve_inputs

TASK = "tasks:\n  - id: a\n    type: return\n"


def flow_with(inputs: str) -> Flow:
    flow: Flow = load(HEADER + "inputs:\n" + inputs + TASK)
    return flow


def input_errors(inputs: str, given: dict[str, Any]) -> list[str]:
    with pytest.raises(InputError) as caught:
        resolve_inputs(flow_with(inputs), given)
    return [str(issue) for issue in caught.value.issues]


def test_parse_cli_inputs_splits_at_the_first_equal_sign() -> None:
    assert parse_cli_inputs(["a=1", "sql=x=y", "empty="]) == {"a": "1", "sql": "x=y", "empty": ""}


def test_parse_cli_inputs_errors() -> None:
    with pytest.raises(InputError) as caught:
        parse_cli_inputs(["novalue", "=x", "a=1", "a=2"])
    assert str(caught.value).splitlines() == [
        "<command line>:1:1: input 'novalue': expected name=value; write novalue=...",
        "<command line>:1:2: input '=x': the name is empty; write name=value",
        "<command line>:1:4: input 'a': given twice; give it once",
    ]


def test_values_from_the_cli_are_parsed_per_type() -> None:
    flow = flow_with(
        "  - {id: s, type: STRING}\n  - {id: i, type: INT}\n  - {id: f, type: FLOAT}\n"
        "  - {id: b, type: BOOL}\n  - {id: sel, type: SELECT, values: [x, y]}\n"
        "  - {id: e, type: ENUM, values: [x, y]}\n"
        "  - {id: m, type: MULTISELECT, values: [a, b, c]}\n  - {id: m2, type: MULTISELECT, "
        "values: [a, b]}\n  - {id: j, type: JSON}\n  - {id: y, type: YAML}\n"
        "  - {id: arr, type: ARRAY, itemType: INT}\n  - {id: dt, type: DATETIME}\n"
        "  - {id: d, type: DATE}\n  - {id: t, type: TIME}\n  - {id: dur, type: DURATION}\n"
        "  - {id: u, type: URI}\n  - {id: mail, type: EMAIL}\n  - {id: sec, type: SECRET}\n"
        "  - {id: file, type: FILE}\n"
    )
    given = {
        "s": "text", "i": "-42", "f": "2.5", "b": "TRUE", "sel": "x", "e": "y", "m": "a, c",
        "m2": '["b"]', "j": '{"k": [1]}', "y": "k: v", "arr": "[1, 2]",
        "dt": "2024-01-31T12:00:00+00:00", "d": "2024-01-31", "t": "08:30", "dur": "PT5M",
        "u": "s3://bucket/key", "mail": "a.b@example.com", "sec": "hunter2",
        "file": "data/in.csv",
    }  # fmt: skip
    assert resolve_inputs(flow, given) == {
        "s": "text", "i": -42, "f": 2.5, "b": True, "sel": "x", "e": "y", "m": ["a", "c"],
        "m2": ["b"], "j": {"k": [1]}, "y": {"k": "v"}, "arr": [1, 2],
        "dt": "2024-01-31T12:00:00Z", "d": "2024-01-31", "t": "08:30:00", "dur": "PT5M",
        "u": "s3://bucket/key", "mail": "a.b@example.com", "sec": "hunter2",
        "file": "data/in.csv",
    }  # fmt: skip
    assert flow.inputs[3].type == "BOOLEAN"


def test_typed_values_from_python_pass_through() -> None:
    flow = flow_with(
        "  - {id: i, type: INT}\n  - {id: f, type: FLOAT}\n  - {id: b, type: BOOLEAN}\n"
        "  - {id: m, type: MULTISELECT, values: [a, b]}\n  - {id: j, type: JSON}\n"
    )
    given = {"i": 3, "f": 1, "b": False, "m": ["a"], "j": {"x": 1}}
    assert resolve_inputs(flow, given) == {"i": 3, "f": 1.0, "b": False, "m": ["a"], "j": {"x": 1}}


def test_defaults_and_optional_inputs() -> None:
    flow = flow_with(
        "  - {id: n, type: INT, defaults: 5}\n  - {id: o, type: STRING, required: false}\n"
        "  - {id: w, type: MULTISELECT, values: [a, b], defaults: [b]}\n"
    )
    assert resolve_inputs(flow, {}) == {"n": 5, "o": None, "w": ["b"]}
    assert resolve_inputs(flow, {"n": "7"})["n"] == 7


@pytest.mark.parametrize(
    ("decl", "value", "expected"),
    [
        ("{id: n, type: INT}", "1.5", "input 'n': '1.5' is not an integer"),
        ("{id: n, type: INT}", True, "input 'n': True is not an integer"),
        ("{id: x, type: FLOAT}", "abc", "input 'x': 'abc' is not a number"),
        ("{id: b, type: BOOLEAN}", "yes", "input 'b': 'yes' is not a boolean; use true or false"),
        ("{id: n, type: INT, min: 1}", "0", "input 'n': 0 is less than the minimum 1"),
        ("{id: n, type: INT, max: 10}", "11", "input 'n': 11 is more than the maximum 10"),
        ("{id: x, type: FLOAT, max: 1.5}", "2", "input 'x': 2.0 is more than the maximum 1.5"),
        (
            "{id: code, type: STRING, validator: '[a-z]{3}'}",
            "abcd",
            "input 'code': 'abcd' does not match the pattern '[a-z]{3}'",
        ),
        (
            "{id: env, type: SELECT, values: [dev, prod]}",
            "qa",
            "input 'env': 'qa' is not one of ['dev', 'prod']",
        ),
        (
            "{id: teams, type: MULTISELECT, values: [eng, ops]}",
            "eng,sales",
            "input 'teams': 'sales' is not one of ['eng', 'ops']",
        ),
        (
            "{id: teams, type: MULTISELECT, values: [eng]}",
            '["eng"',
            "input 'teams': '[\"eng\"' is not a valid JSON array: Expecting ',' delimiter",
        ),
        (
            "{id: cfg, type: JSON}",
            "{bad",
            "input 'cfg': '{bad' is not valid JSON: Expecting "
            "property name enclosed in double quotes",
        ),
        (
            "{id: arr, type: ARRAY, itemType: INT}",
            "[1, x]",
            "input 'arr': '[1, x]' is not a valid JSON array: Expecting value",
        ),
        ("{id: arr, type: ARRAY, itemType: INT}", "1, x", "input 'arr': 'x' is not an integer"),
        (
            "{id: start, type: DATETIME}",
            "2024-13-01T00:00:00Z",
            "input 'start': '2024-13-01T00:00:00Z' is not an ISO-8601 date-time; write it like "
            "2024-01-31T12:00:00Z",
        ),
        (
            "{id: start, type: DATETIME}",
            "2024-01-01T00:00:00",
            "input 'start': '2024-01-01T00:00:00' has no time zone; add one, e.g. Z or +02:00",
        ),
        (
            "{id: d, type: DATE, after: '2024-01-01'}",
            "2023-12-31",
            "input 'd': '2023-12-31' is before the earliest allowed '2024-01-01'",
        ),
        (
            "{id: t, type: TIME, before: '12:00:00'}",
            "13:00",
            "input 't': '13:00:00' is after the latest allowed '12:00:00'",
        ),
        (
            "{id: d, type: DATE}",
            "2024-01-01T10:00:00",
            "input 'd': '2024-01-01T10:00:00' is not an ISO-8601 date; write it like 2024-01-31",
        ),
        (
            "{id: w, type: DURATION, max: PT1H}",
            "PT2H",
            "input 'w': 'PT2H' is more than the maximum 'PT1H'",
        ),
        (
            "{id: w, type: DURATION}",
            "2h",
            "input 'w': '2h' is not an ISO-8601 duration; write it like PT5M or P1D",
        ),
        ("{id: mail, type: EMAIL}", "nobody", "input 'mail': 'nobody' is not an email address"),
        (
            "{id: u, type: URI}",
            "no-scheme",
            "input 'u': 'no-scheme' is not a URI; write it with a scheme, e.g. https://host/path",
        ),
        ("{id: s, type: STRING}", ["a"], "input 's': a list is not a text"),
    ],
)
def test_bad_input_values(decl: str, value: Any, expected: str) -> None:
    assert input_errors(f"  - {decl}\n", {decl.split(",", 1)[0][5:]: value}) == [
        f"f.yaml:4:5: {expected}"
    ]


def test_allow_custom_value_accepts_other_choices() -> None:
    flow = flow_with("  - {id: s, type: SELECT, values: [a], allowCustomValue: true}\n")
    assert resolve_inputs(flow, {"s": "z"}) == {"s": "z"}


def test_missing_required_and_unknown_inputs_are_all_reported() -> None:
    errors = input_errors(
        "  - {id: a, type: STRING}\n  - {id: b, type: INT}\n", {"b": "x", "c": "1"}
    )
    assert errors == [
        "f.yaml:1:1: input 'c': not declared by flow 'team.f'; declared inputs: a, b",
        "f.yaml:4:5: input 'a': required but not given; pass a value or declare defaults",
        "f.yaml:5:5: input 'b': 'x' is not an integer",
    ]


@pytest.mark.parametrize(
    ("decl", "expected"),
    [
        (
            "{id: n, type: NUMBER}",
            "f.yaml:4:19: input 'n': unknown type 'NUMBER'; did you mean 'ENUM'?",
        ),
        (
            "{id: n, type: INTT}",
            "f.yaml:4:19: input 'n': unknown type 'INTT'; did you mean 'INT'?",
        ),
        (
            "{id: n}",
            "f.yaml:4:5: input 'n': missing 'type'; use one of STRING, SECRET, INT, "
            "FLOAT, BOOLEAN, SELECT, ENUM, MULTISELECT, JSON, YAML, ARRAY, DATETIME, DATE, TIME, "
            "DURATION, URI, EMAIL, FILE",
        ),
        ("{type: INT}", "f.yaml:4:5: inputs[0]: missing 'id'; name the input with `id: <name>`"),
        (
            "{id: 'my input', type: INT}",
            "f.yaml:4:10: input 'my input': invalid id; use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
        ),
        (
            "{id: n, type: STRING, min: 1}",
            "f.yaml:4:27: input 'n': 'min' does not apply to STRING inputs; remove it",
        ),
        (
            "{id: n, type: STRING, validater: x}",
            "f.yaml:4:27: input 'n': unknown property 'validater'; did you mean 'validator'?",
        ),
        (
            "{id: n, type: STRING, validator: '('}",
            "f.yaml:4:38: input 'n': 'validator' is not a valid regular expression (missing ), "
            "unterminated subpattern at position 0); fix it",
        ),
        (
            "{id: n, type: INT, min: a}",
            "f.yaml:4:29: input 'n': bad 'min': 'a' is not an integer",
        ),
        (
            "{id: n, type: INT, min: 5, max: 1}",
            "f.yaml:4:29: input 'n': 'min' 5 is more than 'max' 1; swap them",
        ),
        (
            "{id: n, type: INT, defaults: x}",
            "f.yaml:4:34: input 'n': bad defaults: 'x' is not an integer",
        ),
        (
            "{id: n, type: SELECT, values: [a], defaults: b}",
            "f.yaml:4:50: input 'n': bad defaults: 'b' is not one of ['a']",
        ),
        (
            "{id: n, type: SELECT}",
            "f.yaml:4:5: input 'n': a SELECT input needs 'values'; list the choices",
        ),
        (
            "{id: n, type: SELECT, values: []}",
            "f.yaml:4:35: input 'n': 'values' is empty; list the choices",
        ),
        (
            "{id: n, type: ARRAY}",
            "f.yaml:4:5: input 'n': an ARRAY input needs 'itemType'; add e.g. `itemType: STRING`",
        ),
        (
            "{id: n, type: ARRAY, itemType: ARRAY}",
            "f.yaml:4:36: input 'n': 'itemType' 'ARRAY' is not an item type; use STRING, INT, "
            "FLOAT, BOOLEAN, DATETIME, DATE, TIME, DURATION, JSON, ...",
        ),
        (
            "{id: n, type: DATE, after: yesterday}",
            "f.yaml:4:32: input 'n': bad 'after': 'yesterday' is not an ISO-8601 date; write it "
            "like 2024-01-31",
        ),
        (
            "{id: n, type: INT, required: maybe}",
            "f.yaml:4:34: input 'n': 'required' must be true or false; got 'maybe'",
        ),
        (
            "{id: n, type: STRING, displayName: " + "x" * 65 + "}",
            "f.yaml:4:40: input 'n': 'displayName' is 65 characters; shorten it to at most 64",
        ),
        ("x", "f.yaml:4:5: inputs[0]: must be a mapping with 'id' and 'type'; got 'x'"),
    ],
)
def test_bad_input_declarations(decl: str, expected: str) -> None:
    assert issues_of(HEADER + "inputs:\n  - " + decl + "\n" + TASK) == [expected]


def test_duplicate_input_ids() -> None:
    assert issues_of(
        HEADER + "inputs:\n  - {id: a, type: INT}\n  - {id: a, type: INT}\n" + TASK
    ) == ["f.yaml:5:10: input 'a': already declared at f.yaml:4:10; input ids must be unique"]


def test_kestra_input_properties_are_kept() -> None:
    flow = flow_with(
        "  - {name: legacy, type: STRING}\n"
        "  - {id: m, type: MULTISELECT, options: [a, b], itemType: STRING}\n"
        "  - {id: f, type: FILE, extension: .csv}\n"
        "  - {id: s, type: SELECT, expression: '{{ [1] }}', isRadio: true}\n"
        "  - {id: dt, type: DATETIME, after: '2024-01-01T00:00:00Z', dependsOn: {inputs: [m]}}\n"
    )
    legacy, multi, upload, select, stamp = flow.inputs
    assert legacy.id == "legacy"
    assert multi.values == ("a", "b")
    assert upload.extension == ".csv"
    assert (select.expression, select.isRadio) == ("{{ [1] }}", True)
    assert (stamp.after, stamp.dependsOn) == ("2024-01-01T00:00:00Z", {"inputs": ["m"]})
