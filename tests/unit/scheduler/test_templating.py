"""The template sandbox: Kestra's helpers, JSON rendering, secrets, and refusals."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from scheduler.errors import TemplateError
from scheduler.flow_model import Pos
from scheduler.templating import Renderer, is_template, secret_value, syntax_error

POS = Pos("flows/x.yaml", 7, 5)


def render(text: str, context: dict[str, Any] | None = None, **kwargs: Any) -> str:
    return Renderer(**kwargs).render_str(
        text, context or {}, where="task 't': property 'm'", pos=POS
    )


def test_plain_strings_are_left_alone() -> None:
    assert not is_template("no braces here")
    assert render("no braces here") == "no braces here"


def test_context_variables_and_kestra_filters() -> None:
    context = {"inputs": {"team": "Sales Ops"}, "taskrun": {"value": "a b"}}
    assert render("kestra-{{ inputs.team | slugify }}-bucket", context) == (
        "kestra-sales-ops-bucket"
    )
    assert render("{{ [3, 1] | first }}") == "3"
    assert render("{{ {'a': [1, 2]} | json }}") == '{"a":[1,2]}'
    assert render("{{ {'a': 1} | toJson }}") == '{"a":1}'


def test_jq_is_the_real_jq_and_always_returns_a_list() -> None:
    context = {"rows": [{"id": "a", "n": 1}, {"id": "b", "n": 2}]}
    assert render("{{ rows | jq('.[].id') }}", context) == '["a","b"]'
    assert render("{{ rows | jq('map(.n) | add') }}", context) == "[3]"
    assert render("{{ '{\"x\": 5}' | jq('.x') | first }}") == "5"


def test_lists_maps_booleans_and_null_render_like_kestra() -> None:
    context = {"v": [1, "a"], "m": {"k": True}, "t": True, "n": None}
    assert render("{{ v }}|{{ m }}|{{ t }}|{{ n }}", context) == '[1,"a"]|{"k":true}|true|'


def test_unknown_variable_is_an_error_with_position() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ inputs.missing }}", {"inputs": {}})
    assert str(info.value) == (
        "flows/x.yaml:7:5: task 't': property 'm': template error: 'dict object' has no "
        "attribute 'missing'; check the variable name"
    )


def test_sandbox_refuses_dunder_access() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ ''.__class__.__mro__ }}")
    assert str(info.value) == (
        "flows/x.yaml:7:5: task 't': property 'm': template error: access to attribute "
        "'__class__' of 'str' object is unsafe.; templates run in a sandbox"
    )


def test_sandbox_is_immutable() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ items.append(3) }}", {"items": [1]})
    assert "unsafe" in str(info.value)


def test_syntax_error_is_reported() -> None:
    assert syntax_error("{{ broken ") is not None
    assert syntax_error("{{ fine }}") is None
    assert syntax_error("no template") is None
    with pytest.raises(TemplateError) as info:
        render("{{ broken ")
    assert str(info.value).startswith(
        "flows/x.yaml:7:5: task 't': property 'm': template syntax error:"
    )


def test_secret_reads_kestra_base64_and_plain_and_is_collected() -> None:
    environ = {
        "SECRET_DB_PASSWORD": base64.b64encode(b"s3cr3t!").decode(),
        "ASSETLINE_SECRET_TOKEN": "plain-token",
    }
    renderer = Renderer(environ=environ)
    with renderer.collecting_secrets() as seen:
        text = renderer.render_str("{{ secret('DB_PASSWORD') }}/{{ secret('TOKEN') }}", {})
    assert text == "s3cr3t!/plain-token"
    assert seen == {"s3cr3t!", "plain-token"}


def test_missing_or_bad_secret_says_how_to_fix() -> None:
    with pytest.raises(TemplateError) as info:
        secret_value("NOPE", {})
    assert str(info.value) == (
        "secret 'NOPE' is not set; export SECRET_NOPE (base64-encoded, Kestra's convention) "
        "or ASSETLINE_SECRET_NOPE (plain) in the environment of the run"
    )
    with pytest.raises(TemplateError) as info:
        secret_value("BAD", {"SECRET_BAD": "%%%"})
    assert "not valid base64" in str(info.value)


def test_assets_function_calls_the_query_with_kestra_arguments() -> None:
    calls: list[dict[str, Any]] = []

    def query(**filters: Any) -> list[dict[str, Any]]:
        calls.append(filters)
        return [{"id": "vm-1"}, {"id": "vm-2"}]

    text = render("{{ assets(metadata={'nodes': 'python'}) | jq('.[].id') }}", assets=query)
    assert text == '["vm-1","vm-2"]'
    assert calls == [{"id": None, "type": None, "namespace": None, "metadata": {"nodes": "python"}}]


def test_assets_without_a_store_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match="assets\\(\\) needs the asset store"):
        render("{{ assets() }}")


def test_render_value_walks_structures() -> None:
    renderer = Renderer()
    value = renderer.render_value({"a": ["{{ x }}", 2], "b": "{{ x }}-y"}, {"x": "1"})
    assert value == {"a": ["1", 2], "b": "1-y"}


def test_from_json_and_render_functions() -> None:
    assert render("{{ fromJson('[1, 2]') | length }}") == "2"
    assert render("{{ render(vars.msg) }}", {"vars": {"msg": "hi {{ who }}"}, "who": "you"}) == (
        "hi you"
    )


def test_pebble_null_coalescing_and_equals() -> None:
    context = {"inputs": {"a": None, "b": "bee"}, "outputs": {}}
    assert render("{{ inputs.a ?? 'fallback' }}", context) == "fallback"
    assert render("{{ inputs.b ?? 'fallback' }}", context) == "bee"
    assert render("{{ outputs.missing.value ?? inputs.missing ?? 'last' }}", context) == "last"
    assert render("{{ 'a ?? b' }}", context) == "a ?? b"
    assert render("{% if inputs.b equals 'bee' %}yes{% endif %}", context) == "yes"
    assert render("{{ 'x equals y' }}", context) == "x equals y"


def test_chained_undefined_still_fails_when_printed() -> None:
    with pytest.raises(TemplateError, match="has no attribute 'missing'"):
        render("{{ outputs.missing.value }}", {"outputs": {}})
    assert render("{{ outputs.missing.value is defined }}", {"outputs": {}}) == "false"


def test_pebble_ternary_and_nested_coalescing() -> None:
    context = {"inputs": {"failed": None, "mode": "FIRST"}}
    assert render("{{ (inputs.failed ?? 'NONE') == 'FIRST' ? 'ko' : '0' }}", context) == "0"
    assert render("{{ inputs.mode == 'FIRST' ? 'ko' : '0' }}", context) == "ko"
    assert render("{{ {'a': 1}['a'] }}", context) == "1"
    assert render("{{ [1, 2, 3][1:] }}", context) == "[2,3]"


def test_pebbles_null_literal_and_kv_without_a_store() -> None:
    assert render("{{ inputs.a ?? null }}|{{ null is none }}", {"inputs": {}}) == "|true"
    with pytest.raises(TemplateError, match="kv\\(\\) needs the store"):
        render("{{ kv('key') }}", {"flow": {"namespace": "company.team"}})


def test_kv_reads_the_flows_namespace_unless_told() -> None:
    seen: list[tuple[str, str]] = []

    def lookup(namespace: str, key: str) -> tuple[bool, Any]:
        seen.append((namespace, key))
        return (key == "known", {"field": 1} if key == "known" else None)

    context = {"flow": {"namespace": "company.team"}}
    assert render("{{ kv('known').field }}", context, kv=lookup) == "1"
    assert render("{{ kv('missing') ?? 'none' }}", context, kv=lookup) == "none"
    assert render("{{ kv('known', 'other.ns').field }}", context, kv=lookup) == "1"
    assert seen == [
        ("company.team", "known"),
        ("company.team", "missing"),
        ("other.ns", "known"),
    ]
    with pytest.raises(TemplateError, match="the key 'missing' does not exist"):
        render("{{ kv('missing', errorOnMissing=true) }}", context, kv=lookup)


def test_map_keys_come_before_dict_methods_as_in_pebble() -> None:
    context = {"outputs": {"t": {"values": {"count": "4"}, "keys": [1, 2]}}}
    assert render("{{ outputs.t.values.count }} {{ outputs.t.keys | length }}", context) == "4 2"
    assert render("{{ {'a': 1}.items() | list | length }}") == "1"  # no such key: the method
