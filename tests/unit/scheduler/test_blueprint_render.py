"""Rendering: delimiters, loops and conditions, `{{ }}` kept, leftovers, errors mapped back."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from scheduler.blueprints import (
    BlueprintFileError,
    GeneratedFlowError,
    generate_flow,
    parse_blueprint,
)

HEADER = """\
extend:
  title: Demo
  templateArguments:
    - id: teams
      type: MULTISELECT
      values: [Online Shop, HR, Finance]
      defaults: [HR, Online Shop]
    - id: target
      type: SELECT
      values: [Postgres, Oracle, DuckDB]
      defaults: Oracle
    - id: loud
      type: BOOLEAN
      defaults: false
    - id: note
      type: STRING
      required: false

"""


def generate(body: str, given: dict[str, Any] | None = None, header: str = HEADER) -> str:
    text = header + textwrap.dedent(body)
    bp = parse_blueprint(text, "bp.yaml", "bp", "test")
    return generate_flow(bp, given or {}, filename="out.yaml").text


def test_values_loops_and_filters() -> None:
    text = generate(
        """\
        id: ingest
        namespace: company.team
        tasks:
        <% for team in arg.teams %>
          - id: log_<< team | slugify >>
            type: io.kestra.plugin.core.log.Log
            message: '<< team | upper >> / << team | lower >> / << arg.teams | json >>'
        <% endfor %>
        """
    )
    assert text == (
        "id: ingest\nnamespace: company.team\ntasks:\n"
        "  - id: log_hr\n    type: io.kestra.plugin.core.log.Log\n"
        """    message: 'HR / hr / ["HR", "Online Shop"]'\n"""
        "  - id: log_online-shop\n    type: io.kestra.plugin.core.log.Log\n"
        """    message: 'ONLINE SHOP / online shop / ["HR", "Online Shop"]'\n"""
    )


def test_loop_output_is_valid_yaml_with_the_expected_tasks() -> None:
    bp_text = HEADER + textwrap.dedent(
        """\
        id: ingest
        namespace: company.team
        tasks:
          <% for team in arg.teams %>
          - id: log_<< team | slugify >>
            type: io.kestra.plugin.core.log.Log
            message: Hello << team >>
          <% endfor %>
        """
    )
    bp = parse_blueprint(bp_text, "bp.yaml", "bp", "test")
    flow = generate_flow(bp, {"teams": ["Finance", "HR"]}).flow
    assert [task.id for task in flow.tasks] == ["log_finance", "log_hr"]
    assert [task.properties["message"] for task in flow.tasks] == ["Hello Finance", "Hello HR"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [("Oracle", "oracle"), ("Postgres", "postgres"), ("DuckDB", "other")],
)
def test_conditions_with_pebble_elseif(target: str, expected: str) -> None:
    text = generate(
        """\
        id: f
        namespace: company.team
        tasks:
          - id: t
            type: io.kestra.plugin.core.log.Log
        <% if arg.target == 'Oracle' %>
            message: oracle
        <% elseif arg.target == 'Postgres' %>
            message: postgres
        <% else %>
            message: other
        <% endif %>
        """,
        {"target": target},
    )
    assert text.endswith(f"    type: io.kestra.plugin.core.log.Log\n    message: {expected}\n")


def test_run_time_expressions_are_left_untouched() -> None:
    text = generate(
        """\
        id: f
        namespace: company.team
        tasks:
          - id: t
            type: io.kestra.plugin.core.log.Log
            message: "{{ taskrun.value | slugify }}-{% if 1 %}y{% endif %}<< arg.target >>"
        """
    )
    assert 'message: "{{ taskrun.value | slugify }}-{% if 1 %}y{% endif %}Oracle"' in text


def test_booleans_null_and_lists_render_as_yaml_friendly_text() -> None:
    text = generate(
        """\
        id: f
        namespace: company.team
        labels:
          loud: "<< arg.loud >>"
          note: "<< arg.note >>"
          teams: '<< arg.teams >>'
        tasks:
          - id: t
            type: io.kestra.plugin.core.log.Log
            message: x
        """
    )
    assert '  loud: "false"\n  note: ""\n  teams: \'["HR", "Online Shop"]\'\n' in text


def test_the_extend_block_is_removed_wherever_it_is() -> None:
    text = (
        "id: f\nnamespace: company.team\n\n"
        + HEADER.replace("\n\n", "\n")
        + ("\ntasks:\n  - id: t\n    type: log\n    message: << arg.target >>\n")
    )
    bp = parse_blueprint(text, "bp.yaml", "bp", "test")
    out = generate_flow(bp, {}).text
    assert (
        out == "id: f\nnamespace: company.team\n\n\ntasks:\n"
        "  - id: t\n    type: log\n    message: Oracle\n"
    )
    assert "extend" not in out


def test_a_leftover_fragment_is_an_error_at_both_lines() -> None:
    with pytest.raises(GeneratedFlowError) as caught:
        generate(
            """\
            id: f
            namespace: company.team
            tasks:
              - id: t
                type: io.kestra.plugin.core.log.Log
                message: public.< arg.target | lower >>
            """
        )
    assert str(caught.value) == (
        "out.yaml:6:42: leftover template fragment '>>' in the generated flow (template "
        "bp.yaml:24); a tag is misspelt or not closed: write `<< arg.name >>` for values and "
        "`<% ... %>` for blocks"
    )


@pytest.mark.parametrize("fragment", ["<%", "%>", "<<"])
def test_every_leftover_fragment_is_caught(fragment: str) -> None:
    with pytest.raises(GeneratedFlowError) as caught:
        generate(
            "id: f\nnamespace: company.team\ntasks:\n  - id: t\n    type: log\n"
            f"    message: << '{fragment}' >>\n"
        )
    assert caught.value.issues[0].message.startswith(
        f"leftover template fragment '{fragment}' in the generated flow (template bp.yaml:24)"
    )


def test_an_invalid_generated_flow_names_the_generated_and_the_template_line() -> None:
    with pytest.raises(GeneratedFlowError) as caught:
        generate(
            """\
            id: f
            namespace: company.team
            tasks:
            <% for team in arg.teams %>
              - id: log_<< team | slugify >>
                type: io.kestra.plugin.core.log.Log
                mesage: hello
            <% endfor %>
            """
        )
    messages = [str(issue) for issue in caught.value.issues]
    assert messages[0] == (
        "out.yaml:4:5: task 'log_hr': missing required property 'message'; add it "
        "(template bp.yaml:23)"
    )
    unknown = [message for message in messages if "unknown property 'mesage'" in message]
    assert [message.split(":")[1] for message in unknown] == ["6", "9"]
    assert all(message.endswith("(template bp.yaml:25)") for message in unknown)


def test_a_jinja_syntax_error_points_at_the_template_line() -> None:
    with pytest.raises(BlueprintFileError) as caught:
        generate("id: f\nnamespace: company.team\ntasks:\n<% for team in %>\n<% endfor %>\n")
    assert str(caught.value) == (
        "bp.yaml:22:1: template syntax: Expected an expression, got 'end of statement block'; "
        "fix the `<< >>` / `<% %>` tags on this line"
    )


def test_an_unknown_argument_in_the_template_points_at_its_line() -> None:
    with pytest.raises(BlueprintFileError) as caught:
        generate("id: f\nnamespace: company.team\ntasks:\n  - id: << arg.nope >>\n")
    assert str(caught.value) == (
        "bp.yaml:22:1: template: 'dict object' has no attribute 'nope'; the arguments are "
        "arg.<id> (declared: teams, target, loud, note)"
    )


def test_the_sandbox_refuses_internals() -> None:
    with pytest.raises(BlueprintFileError) as caught:
        generate("id: f\nnamespace: << ''.__class__.__mro__ >>\ntasks: []\n")
    assert caught.value.issues[0].message.startswith("template: access to attribute '__class__'")
    assert caught.value.issues[0].message.endswith("; the sandbox does not allow it")
