"""Template arguments: every input type and rule, checked by the inputs code, reworded."""

from __future__ import annotations

import io
import textwrap
from typing import Any

import pytest
from rich.console import Console

from scheduler.blueprints import (
    ArgumentError,
    Blueprint,
    ask_arguments,
    parse_argument_pairs,
    parse_blueprint,
    resolve_arguments,
)


def blueprint(declarations: str) -> Blueprint:
    text = "extend:\n  templateArguments:\n" + textwrap.indent(
        textwrap.dedent(declarations).strip(), "    "
    )
    text += "\nid: f\nnamespace: company.team\ntasks:\n  - id: t\n    type: log\n    message: x\n"
    return parse_blueprint(text, "bp.yaml", "bp", "test")


def one_error(declarations: str, given: dict[str, Any]) -> str:
    with pytest.raises(ArgumentError) as caught:
        resolve_arguments(blueprint(declarations), given)
    assert len(caught.value.issues) == 1
    return str(caught.value.issues[0])


# -- values of every type ---------------------------------------------------------------------

CASES = [
    ("STRING", "", "hello", "hello"),
    ("SECRET", "", "s3cr3t", "s3cr3t"),
    ("INT", "", "42", 42),
    ("FLOAT", "", "2.5", 2.5),
    ("BOOLEAN", "", "true", True),
    ("BOOL", "", "false", False),
    ("SELECT", "values: [a, b]", "b", "b"),
    ("ENUM", "values: [a, b]", "a", "a"),
    ("MULTISELECT", "values: [a, b, c]", "a,c", ["a", "c"]),
    ("JSON", "", '{"k": [1, 2]}', {"k": [1, 2]}),
    ("YAML", "", "k: [1, 2]", {"k": [1, 2]}),
    ("ARRAY", "itemType: INT", "[1, 2, 3]", [1, 2, 3]),
    ("DATETIME", "", "2024-01-31T12:00:00+00:00", "2024-01-31T12:00:00Z"),
    ("DATE", "", "2024-01-31", "2024-01-31"),
    ("TIME", "", "12:30:00", "12:30:00"),
    ("DURATION", "", "PT5M", "PT5M"),
    ("URI", "", "https://example.com/x", "https://example.com/x"),
    ("EMAIL", "", "ops@example.com", "ops@example.com"),
    ("FILE", "", "data/in.csv", "data/in.csv"),
]


@pytest.mark.parametrize(("kind", "extra", "given", "expected"), CASES)
def test_every_type_parses_its_value(kind: str, extra: str, given: str, expected: Any) -> None:
    decl = f"- id: x\n  type: {kind}\n" + (f"  {extra}\n" if extra else "")
    assert resolve_arguments(blueprint(decl), {"x": given}) == {"x": expected}


def test_defaults_fill_missing_arguments_and_optional_ones_are_none() -> None:
    bp = blueprint(
        """
        - id: region
          type: SELECT
          values: [eu, us]
          defaults: eu
        - id: teams
          type: MULTISELECT
          values: [a, b]
          defaults: [a]
        - id: note
          type: STRING
          required: false
        """
    )
    assert resolve_arguments(bp, {}) == {"region": "eu", "teams": ["a"], "note": None}


# -- every rule, with the argument, the rule and what is allowed ------------------------------


def test_select_outside_its_values_names_the_choices() -> None:
    message = one_error("- id: region\n  type: SELECT\n  values: [eu, us]\n", {"region": "mars"})
    assert message == (
        "bp.yaml:3:7: argument 'region': 'mars' is not one of ['eu', 'us']; "
        "declared as SELECT with values eu, us"
    )


def test_select_with_custom_values_accepts_others() -> None:
    bp = blueprint("- id: r\n  type: SELECT\n  values: [eu]\n  allowCustomValue: true\n")
    assert resolve_arguments(bp, {"r": "mars"}) == {"r": "mars"}


def test_multiselect_item_outside_its_values() -> None:
    message = one_error("- id: t\n  type: MULTISELECT\n  values: [a, b]\n", {"t": "a,z"})
    assert message.endswith(
        "argument 't': 'z' is not one of ['a', 'b']; declared as MULTISELECT with values a, b, "
        "several separated by commas"
    )


def test_validator_pattern() -> None:
    message = one_error("- id: p\n  type: STRING\n  validator: '[a-z]+'\n", {"p": "ABC"})
    assert message.endswith(
        "argument 'p': 'ABC' does not match the pattern '[a-z]+'; "
        "declared as STRING with validator '[a-z]+'"
    )


@pytest.mark.parametrize(
    ("given", "rule"), [("0", "is less than the minimum 1"), ("11", "is more than the maximum 10")]
)
def test_int_bounds(given: str, rule: str) -> None:
    message = one_error("- id: n\n  type: INT\n  min: 1\n  max: 10\n", {"n": given})
    assert message.endswith(f"argument 'n': {given} {rule}; declared as INT with min 1, max 10")


def test_float_bounds() -> None:
    message = one_error("- id: f\n  type: FLOAT\n  max: 1.5\n", {"f": "2"})
    assert message.endswith(
        "argument 'f': 2.0 is more than the maximum 1.5; declared as FLOAT with max 1.5"
    )


def test_duration_bounds() -> None:
    message = one_error("- id: d\n  type: DURATION\n  max: PT1H\n", {"d": "PT2H"})
    assert message.endswith(
        "argument 'd': 'PT2H' is more than the maximum 'PT1H'; declared as DURATION with max PT1H"
    )


def test_date_after() -> None:
    message = one_error("- id: d\n  type: DATE\n  after: '2024-01-01'\n", {"d": "2023-12-31"})
    assert message.endswith(
        "argument 'd': '2023-12-31' is before the earliest allowed '2024-01-01'; "
        "declared as DATE with after 2024-01-01"
    )


@pytest.mark.parametrize(
    ("kind", "given", "problem"),
    [
        ("INT", "many", "'many' is not an integer"),
        ("BOOLEAN", "yes", "'yes' is not a boolean; use true or false"),
        ("EMAIL", "nobody", "'nobody' is not an email address"),
        ("JSON", "{", "'{' is not valid JSON: Expecting property name enclosed in double quotes"),
    ],
)
def test_values_of_the_wrong_type(kind: str, given: str, problem: str) -> None:
    message = one_error(f"- id: v\n  type: {kind}\n", {"v": given})
    assert f"argument 'v': {problem}" in message
    assert message.startswith("bp.yaml:3:7: ")


def test_array_items_are_checked_with_their_type() -> None:
    message = one_error("- id: a\n  type: ARRAY\n  itemType: INT\n", {"a": '[1, "x"]'})
    assert message.endswith(
        "argument 'a': 'x' is not an integer; declared as ARRAY with items of type INT"
    )


def test_missing_required_argument_says_how_to_pass_it() -> None:
    message = one_error("- id: region\n  type: STRING\n", {})
    assert message == (
        "bp.yaml:3:7: argument 'region': required but not given; pass it with -a "
        "region=VALUE; declared as STRING"
    )


def test_undeclared_argument_lists_the_declared_ones() -> None:
    with pytest.raises(ArgumentError) as caught:
        resolve_arguments(blueprint("- id: a\n  type: STRING\n  defaults: x\n"), {"zz": "1"})
    assert str(caught.value) == (
        "bp.yaml:1:1: argument 'zz': not declared by blueprint 'bp'; its arguments: a"
    )


def test_every_problem_is_reported_at_once() -> None:
    bp = blueprint("- id: a\n  type: INT\n- id: b\n  type: INT\n")
    with pytest.raises(ArgumentError) as caught:
        resolve_arguments(bp, {"a": "x"})
    assert [issue.message.split(":")[0] for issue in caught.value.issues] == [
        "argument 'a'",
        "argument 'b'",
    ]


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["region"], "argument 'region': expected name=value; write region=..."),
        (["=x"], "argument '=x': the name is empty; write name=value"),
        (["a=1", "a=2"], "argument 'a': given twice; give it once"),
    ],
)
def test_bad_pairs(pairs: list[str], message: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        parse_argument_pairs(pairs)
    assert caught.value.issues[0].message == message


def test_pairs_split_at_the_first_equal_sign() -> None:
    assert parse_argument_pairs(["q=a=b", "n=1"]) == {"q": "a=b", "n": "1"}


# -- asking on a terminal ---------------------------------------------------------------------

ASKED = """
- id: region
  type: SELECT
  values: [eu-west-1, us-east-1]
- id: teams
  type: MULTISELECT
  values: [sales, finance, hr]
- id: count
  type: INT
  min: 1
  defaults: 2
- id: note
  type: STRING
  required: false
"""


def ask(bp: Blueprint, answers: str, given: dict[str, Any] | None = None) -> tuple[Any, str]:
    screen = io.StringIO()
    console = Console(file=screen, width=200)
    found = ask_arguments(bp, given or {}, console, io.StringIO(answers))
    return found, screen.getvalue()


def test_choices_are_asked_by_number_or_value() -> None:
    found, screen = ask(blueprint(ASKED), "2\n1,hr\n\n\n")
    assert found == {"region": "us-east-1", "teams": ["sales", "hr"]}
    assert "  1. eu-west-1" in screen and "  2. us-east-1" in screen
    assert resolve_arguments(blueprint(ASKED), found)["count"] == 2


def test_given_arguments_are_not_asked() -> None:
    found, screen = ask(blueprint(ASKED), "sales\n\n\n", {"region": "eu-west-1"})
    assert found["region"] == "eu-west-1" and found["teams"] == ["sales"]
    assert "eu-west-1" not in screen


def test_an_answer_breaking_a_rule_is_explained_and_asked_again() -> None:
    found, screen = ask(blueprint(ASKED), "mars\n1\nsales\n0\n3\nhi\n")
    assert found == {"region": "eu-west-1", "teams": ["sales"], "count": "3", "note": "hi"}
    assert "'mars' is not one of ['eu-west-1', 'us-east-1']; declared as SELECT" in screen
    assert "0 is less than the minimum 1; declared as INT with min 1" in screen


def test_an_empty_answer_to_a_required_argument_is_asked_again() -> None:
    _found, screen = ask(blueprint(ASKED), "\n1\nsales\n\n\n")
    assert "'region' is required; declared as SELECT with values eu-west-1, us-east-1" in screen


def test_input_ending_before_a_required_answer_is_an_error() -> None:
    with pytest.raises(ArgumentError) as caught:
        ask(blueprint(ASKED), "1\n")
    assert str(caught.value) == (
        "bp.yaml:6:7: argument 'teams': no answer before the input ended; pass it with "
        "-a teams=VALUE"
    )
