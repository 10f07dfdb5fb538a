"""Render a blueprint template into flow YAML, remembering the template line of each line.

One Jinja2 `ImmutableSandboxedEnvironment`, configured once with Kestra's blueprint delimiters:
`<< arg.x >>` for values, `<% for %>`/`<% if %>` for blocks (Pebble's `elseif` is read as
`elif`), `<# #>` for comments; `{{ ... }}` is plain text here and stays for run time. Blocks trim
their own line like Pebble does (`trim_blocks`, `lstrip_blocks`). Filters: Jinja's own (`lower`,
`upper`, `join`, `default`, ...) plus `slugify` and `json`. Lists and mappings render as JSON,
booleans as `true`/`false`, null as nothing.

Line mapping: before rendering, a marker naming the template line is put in front of every
newline of literal text (never inside a tag); after rendering, the markers say which template
line each generated line came from, and are removed.

No I/O and no validation here (`generate` validates what this renders).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from slugify import slugify as _slugify

from scheduler.blueprints.errors import BlueprintFileError
from scheduler.blueprints.template import Blueprint
from scheduler.errors import FlowIssue
from scheduler.flow_model import Pos

__all__ = ["LEFTOVER_FRAGMENTS", "Rendered", "find_leftovers", "render_blueprint"]

#: Template delimiters that must not survive rendering.
LEFTOVER_FRAGMENTS = ("<<", ">>", "<%", "%>")
_TAGS = {"<%": "%>", "<<": ">>", "<#": "#>"}
_NEXT = re.compile(r"<%|<<|<#|\n")
_ELSEIF = re.compile(r"^(<%-?\s*)elseif\b")
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")
_LEFTOVER = re.compile("|".join(re.escape(fragment) for fragment in LEFTOVER_FRAGMENTS))
_TEMPLATE_NAME = "<template>"  # the file name Jinja gives templates made from strings


@dataclass(frozen=True)
class Rendered:
    """Generated flow text and, for each of its lines, the blueprint line it came from."""

    text: str
    filename: str
    template_path: str
    #: 0-based generated line -> 1-based blueprint file line.
    template_lines: tuple[int, ...]

    def template_line(self, line: int) -> int:
        """The blueprint line the 1-based generated `line` came from."""
        if not self.template_lines:
            return 1
        return self.template_lines[min(max(line, 1), len(self.template_lines)) - 1]


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return value


def _to_json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _make_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=_finalize,
    )
    env.filters.update(slugify=lambda value: _slugify(str(value)), json=_to_json)
    return env


_ENV = _make_environment()


def render_blueprint(blueprint: Blueprint, arguments: Mapping[str, Any], filename: str) -> Rendered:
    """The flow text `blueprint` renders to with `arguments` (already resolved), unvalidated.

    Raises `BlueprintFileError` at the template line when the template does not parse or fails
    while rendering (an unknown argument name, a filter on the wrong kind of value...).
    """
    source = _instrument(blueprint.body, blueprint.body_lines)
    try:
        template = _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        line = blueprint.template_line(exc.lineno)
        raise BlueprintFileError(
            [
                FlowIssue(
                    Pos(blueprint.path, line, 1),
                    f"template syntax: {exc.message}; fix the `<< >>` / `<% %>` tags on this line",
                )
            ]
        ) from exc
    try:
        output = template.render(arg=dict(arguments))
    except Exception as exc:
        line = blueprint.template_line(_failing_line(exc.__traceback__))
        raise BlueprintFileError(
            [FlowIssue(Pos(blueprint.path, line, 1), _render_message(exc, arguments))]
        ) from exc
    text, lines = _strip_markers(output, blueprint.body_lines[-1] if blueprint.body_lines else 1)
    return Rendered(
        text=text, filename=filename, template_path=blueprint.path, template_lines=tuple(lines)
    )


def find_leftovers(rendered: Rendered) -> list[FlowIssue]:
    """An issue at each template delimiter left in the generated text."""
    issues: list[FlowIssue] = []
    for number, line in enumerate(rendered.text.split("\n"), start=1):
        for match in _LEFTOVER.finditer(line):
            fragment = match.group(0)
            issues.append(
                FlowIssue(
                    Pos(rendered.filename, number, match.start() + 1),
                    f"leftover template fragment '{fragment}' in the generated flow (template "
                    f"{rendered.template_path}:{rendered.template_line(number)}); a tag is "
                    "misspelt or not closed: write `<< arg.name >>` for values and `<% ... %>` "
                    "for blocks",
                )
            )
    return issues


def _instrument(body: str, body_lines: Sequence[int]) -> str:
    """`body` with a line marker before each literal newline, and Pebble's `elseif` as `elif`.

    No marker goes right after a block or comment tag: `trim_blocks` must still see (and eat)
    the newline there, as Pebble does.
    """
    out: list[str] = []
    index = 0
    line = 0
    after_tag = False
    while True:
        match = _NEXT.search(body, index)
        if match is None:
            out.append(body[index:])
            break
        start = match.start()
        if start > index:
            out.append(body[index:start])
            after_tag = False
        token = match.group(0)
        if token == "\n":
            if not after_tag:
                number = body_lines[min(line, len(body_lines) - 1)] if body_lines else 1
                out.append(f"{_MARK_OPEN}{number}{_MARK_CLOSE}")
            out.append("\n")
            line += 1
            index = start + 1
            after_tag = False
            continue
        end = _tag_end(body, start + 2, _TAGS[token])
        tag = body[start:end]
        if token == "<%":
            tag = _ELSEIF.sub(r"\1elif", tag)
        out.append(tag)
        line += tag.count("\n")
        index = end
        after_tag = token != "<<"
    return "".join(out)


def _tag_end(text: str, index: int, closing: str) -> int:
    """The index just after `closing`, skipping quoted strings; the text's end if unclosed."""
    quote: str | None = None
    while index < len(text):
        char = text[index]
        if quote is not None:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif text.startswith(closing, index):
            return index + len(closing)
        index += 1
    return len(text)


def _strip_markers(output: str, last_line: int) -> tuple[str, list[int]]:
    texts: list[str] = []
    found: list[int | None] = []
    for raw in output.split("\n"):
        marks = _MARK.findall(raw)
        found.append(int(marks[-1]) if marks else None)
        texts.append(_MARK.sub("", raw))
    following: int | None = None
    for index in range(len(found) - 1, -1, -1):  # a line whose newline came from a value
        if found[index] is None:
            found[index] = following
        else:
            following = found[index]
    previous = last_line
    lines: list[int] = []
    for number in found:
        previous = number if number is not None else previous
        lines.append(previous)
    return "\n".join(texts), lines


def _failing_line(tb: TracebackType | None) -> int:
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_message(exc: Exception, arguments: Mapping[str, Any]) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, jinja2.UndefinedError):
        declared = ", ".join(arguments) or "none"
        return f"template: {text}; the arguments are arg.<id> (declared: {declared})"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"template: {text}; the sandbox does not allow it"
    return f"template: {text}"
