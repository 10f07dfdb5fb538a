"""Values for a blueprint's `templateArguments`: parsed, asked for, and checked.

Checking is the flow-input code's (`scheduler.inputs.resolve_inputs` / `coerce_input`): the
arguments are handed to it as the inputs of a small stand-in flow, and its issues are reworded
for arguments, each completed with the declaration the value must fit (type, choices, pattern,
bounds). Nothing here re-implements a rule.

`ask_arguments` fills in, on a terminal, the arguments not given (numbered choices for SELECT and
MULTISELECT); it reads and writes only through the console and stream it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from rich.console import Console

from scheduler.blueprints.errors import ArgumentError
from scheduler.blueprints.template import Blueprint
from scheduler.errors import FlowIssue, InputError
from scheduler.flow_model import Flow, InputDef, Pos
from scheduler.inputs import BadInput, coerce_input, parse_cli_inputs, resolve_inputs

__all__ = [
    "ask_arguments",
    "declared_as",
    "missing_arguments",
    "parse_argument_pairs",
    "resolve_arguments",
]

_CHOICE_TYPES = ("SELECT", "ENUM", "MULTISELECT")


def parse_argument_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """`["key=value", ...]` (the `-a` options) to a mapping; raises `ArgumentError`."""
    try:
        return parse_cli_inputs(pairs)
    except InputError as exc:
        raise ArgumentError(
            [FlowIssue(issue.pos, _reword(issue.message, "NAME")) for issue in exc.issues]
        ) from exc


def resolve_arguments(blueprint: Blueprint, given: Mapping[str, Any]) -> dict[str, Any]:
    """One checked value per declared argument (None for an optional one left out).

    Raises `ArgumentError` with every problem: undeclared names, missing required arguments and
    values that break a rule; each issue names the argument, what is wrong, and what is allowed.
    """
    declared = {decl.id: decl for decl in blueprint.arguments}
    issues: list[FlowIssue] = []
    top = Pos(blueprint.path, 1, 1)
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            issues.append(
                FlowIssue(
                    top,
                    f"argument '{name}': not declared by blueprint '{blueprint.id}'; its "
                    f"arguments: {known}",
                )
            )
    known_given = {name: value for name, value in given.items() if name in declared}
    try:
        values = resolve_inputs(_stand_in(blueprint), known_given)
    except InputError as exc:
        for issue in exc.issues:
            decl = _decl_of(issue.message, declared)
            message = _reword(issue.message, decl.id if decl is not None else "NAME")
            if decl is not None:
                message = f"{message}; {declared_as(decl)}"
            issues.append(FlowIssue(issue.pos, message))
        values = {}
    if issues:
        raise ArgumentError(issues)
    return values


def declared_as(decl: InputDef) -> str:
    """What `decl` allows, in words: `declared as SELECT with values a, b`."""
    rules: list[str] = []
    if decl.values is not None:
        rules.append("values " + ", ".join(str(value) for value in decl.values))
        if decl.allowCustomValue:
            rules.append("custom values allowed")
    if decl.type == "ARRAY" and decl.itemType:
        rules.append(f"items of type {decl.itemType}")
    if decl.validator is not None:
        rules.append(f"validator '{decl.validator}'")
    for key in ("min", "max", "after", "before"):
        bound = getattr(decl, key)
        if bound is not None:
            rules.append(f"{key} {bound}")
    if decl.type == "BOOLEAN":
        rules.append("values true, false")
    if decl.type == "MULTISELECT":
        rules.append("several separated by commas")
    text = f"declared as {decl.type}"
    return f"{text} with {', '.join(rules)}" if rules else text


def missing_arguments(blueprint: Blueprint, given: Mapping[str, Any]) -> list[InputDef]:
    """The declarations of the arguments `given` leaves out, in declaration order."""
    return [decl for decl in blueprint.arguments if given.get(decl.id) is None]


def ask_arguments(
    blueprint: Blueprint,
    given: Mapping[str, Any],
    console: Console,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """`given` plus an answer for each argument it leaves out, asked on `console`.

    An empty answer takes the declared default (or leaves an optional argument out). An answer
    that breaks a rule is explained and asked again. Raises `ArgumentError` when the input
    ends before every required argument has an answer.
    """
    answers = dict(given)
    for decl in missing_arguments(blueprint, given):
        answer = _ask_one(decl, console, lambda prompt: _read(console, prompt, stream))
        if answer is not None:
            answers[decl.id] = answer
    return answers


def _ask_one(decl: InputDef, console: Console, read: Callable[[str], str | None]) -> Any:
    label = decl.displayName or decl.id
    if decl.description:
        console.print(f"[bold]{label}[/bold]: {decl.description}", highlight=False)
    choices = list(decl.values or ()) if decl.type in _CHOICE_TYPES else []
    for number, choice in enumerate(choices, start=1):
        console.print(f"  {number}. {choice}", markup=False, highlight=False)
    default = _default_text(decl)
    hint = " (numbers or values, comma-separated)" if decl.type == "MULTISELECT" else ""
    if decl.type == "SELECT" and choices:
        hint = " (number or value)"
    prompt = f"{label} [{decl.type}]{hint}" + (f" [{default}]" if default else "")
    while True:
        text = read(prompt)
        if text is None:
            if decl.required and decl.defaults is None:
                raise ArgumentError(
                    [
                        FlowIssue(
                            decl.pos,
                            f"argument '{decl.id}': no answer before the input "
                            f"ended; pass it with -a {decl.id}=VALUE",
                        )
                    ]
                )
            return None
        text = text.strip()
        if not text:
            if decl.defaults is not None or not decl.required:
                return None
            console.print(f"'{decl.id}' is required; {declared_as(decl)}", markup=False)
            continue
        value: Any = _pick(text, choices, many=decl.type == "MULTISELECT")
        try:
            coerce_input(decl, value)
        except BadInput as exc:
            console.print(f"{exc}; {declared_as(decl)}", markup=False, highlight=False)
            continue
        return value


def _read(console: Console, prompt: str, stream: TextIO | None) -> str | None:
    """One answer, or None when the input has ended."""
    if stream is None:
        try:
            return console.input(f"{prompt}: ", markup=False)
        except EOFError:
            return None
    console.print(f"{prompt}: ", end="", markup=False, highlight=False)
    line = stream.readline()
    return line.rstrip("\n") if line else None


def _pick(text: str, choices: list[Any], *, many: bool) -> Any:
    """Numbers in `text` replaced by the choices they number."""

    def one(item: str) -> str:
        item = item.strip()
        if item.isdigit() and 1 <= int(item) <= len(choices):
            return str(choices[int(item) - 1])
        return item

    if many:
        return [one(item) for item in text.split(",") if item.strip()]
    return one(text) if choices else text


def _default_text(decl: InputDef) -> str:
    if decl.defaults is None:
        return ""
    if isinstance(decl.defaults, list | tuple):
        return ",".join(str(item) for item in decl.defaults)
    return str(decl.defaults)


def _stand_in(blueprint: Blueprint) -> Flow:
    """A flow with the blueprint's arguments as inputs, for the inputs code to check against."""
    return Flow(
        id=blueprint.id,
        namespace="blueprint",
        inputs=blueprint.arguments,
        tasks=(),
        pos=Pos(blueprint.path, 1, 1),
    )


def _decl_of(message: str, declared: Mapping[str, InputDef]) -> InputDef | None:
    if message.startswith("input '"):
        name = message[len("input '") :].split("'", 1)[0]
        return declared.get(name)
    return None


def _reword(message: str, name: str) -> str:
    message = message.replace("pass a value or declare defaults", f"pass it with -a {name}=VALUE")
    if message.startswith("input "):
        return "argument " + message[len("input ") :]
    return message
