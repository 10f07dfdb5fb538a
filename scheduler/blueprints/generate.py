"""From a blueprint and its arguments to a validated flow: the one path the CLI and web UI use.

`generate_flow` checks the arguments, renders the template, refuses leftover template fragments,
and loads the generated YAML with the same loader as `assetline validate`. Every issue of the
generated flow points at the generated file's line and names the template line it came from.
Nothing is written or deployed here: the caller does that with a valid result only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scheduler.blueprints.arguments import resolve_arguments
from scheduler.blueprints.errors import GeneratedFlowError
from scheduler.blueprints.render import Rendered, find_leftovers, render_blueprint
from scheduler.blueprints.template import Blueprint
from scheduler.errors import FlowError, FlowIssue
from scheduler.flow_model import Flow
from scheduler.loader import load_flow_text
from scheduler.task_types import ResolveTask

__all__ = ["GeneratedFlow", "generate_flow"]


@dataclass(frozen=True)
class GeneratedFlow:
    """A flow generated from a blueprint: its text, the loaded flow and the arguments used."""

    blueprint: Blueprint
    arguments: dict[str, Any]
    rendered: Rendered
    flow: Flow

    @property
    def text(self) -> str:
        return self.rendered.text


def generate_flow(
    blueprint: Blueprint,
    given: Mapping[str, Any],
    *,
    filename: str | None = None,
    resolve_task: ResolveTask | None = None,
    known_types: Callable[[], Iterable[str]] | None = None,
) -> GeneratedFlow:
    """The flow `blueprint` generates with the arguments `given` (texts or typed values).

    `filename` names the generated file in messages (default `<id>.generated.yaml`).
    Raises `ArgumentError` (bad arguments), `BlueprintFileError` (the template itself fails) or
    `GeneratedFlowError` (leftover fragments, or a generated flow that does not validate).
    """
    arguments = resolve_arguments(blueprint, given)
    name = filename or f"{blueprint.id}.generated.yaml"
    rendered = render_blueprint(blueprint, arguments, name)
    leftovers = find_leftovers(rendered)
    if leftovers:
        raise GeneratedFlowError(leftovers)
    try:
        flow = load_flow_text(
            rendered.text, name, resolve_task=resolve_task, known_types=known_types
        )
    except FlowError as exc:
        raise GeneratedFlowError(
            [
                FlowIssue(
                    issue.pos,
                    f"{issue.message} (template {blueprint.path}:"
                    f"{rendered.template_line(issue.pos.line)})",
                )
                for issue in exc.issues
            ]
        ) from exc
    return GeneratedFlow(blueprint=blueprint, arguments=arguments, rendered=rendered, flow=flow)
