"""`assetline blueprint list | show | use`: the blueprint catalog on the command line. Thin.

It parses options, calls `scheduler.blueprints`, and prints. Exit codes follow `assetline`'s:
2 for an unknown blueprint, bad arguments or a generated flow that does not validate (every
issue on stderr as `file:line:col: message`), 1 for an operational error (a file that cannot
be written, deploying without a flow store). On a terminal, `use` asks for the arguments not
given; with `--json` or without a terminal, a missing required argument is an error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from scheduler.blueprints import (
    ArgumentError,
    BlueprintError,
    Catalog,
    CatalogError,
    ask_arguments,
    generate_flow,
    load_catalog,
    parse_argument_pairs,
)
from scheduler.blueprints.template import Blueprint
from scheduler.errors import SchedulerError

__all__ = ["blueprint_app", "register"]

blueprint_app = typer.Typer(
    help="Templated blueprints: list them, show their arguments, generate flows from them.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CatalogOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog",
        help="A folder of more blueprints (repeatable; also $ASSETLINE_BLUEPRINTS).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def register(app: typer.Typer) -> None:
    """Mount the `blueprint` sub-command group on `app`."""
    app.add_typer(blueprint_app, name="blueprint")


def _fail(message: str, code: int) -> typer.Exit:
    err.print(message, markup=False, highlight=False)
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _catalog(folders: list[Path] | None) -> Catalog:
    try:
        return load_catalog(folders or [])
    except CatalogError as exc:
        raise _fail(str(exc), 2) from exc


def _get(catalog: Catalog, blueprint_id: str) -> Blueprint:
    try:
        return catalog.get(blueprint_id)
    except BlueprintError as exc:
        raise _fail(str(exc), 2) from exc


@blueprint_app.command("list")
def list_blueprints(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """The blueprints of the catalog: built-in ones and those of your folders."""
    found = _catalog(catalog)
    for issue in found.problems:
        err.print(f"warning: {issue}", markup=False, highlight=False)
    if as_json:
        _print_json([blueprint.to_json() for blueprint in found.all()])
        return
    table = Table("id", "title", "tags", "arguments", "origin")
    for blueprint in found.all():
        table.add_row(
            blueprint.id,
            blueprint.title or "",
            ", ".join(blueprint.tags),
            ", ".join(decl.id for decl in blueprint.arguments),
            blueprint.origin,
        )
    out.print(table)


def _default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@blueprint_app.command("show")
def show(
    blueprint_id: Annotated[str, typer.Argument(metavar="ID", help="The blueprint id.")],
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """One blueprint: what it does and its arguments, with types, choices and defaults."""
    blueprint = _get(_catalog(catalog), blueprint_id)
    if as_json:
        _print_json(blueprint.to_json())
        return
    out.print(f"{blueprint.id}: {blueprint.title or ''}", markup=False, highlight=False)
    if blueprint.description:
        out.print(blueprint.description.rstrip(), markup=False, highlight=False)
    if blueprint.tags:
        out.print("tags: " + ", ".join(blueprint.tags), markup=False, highlight=False)
    out.print(f"source: {blueprint.path}", markup=False, highlight=False)
    table = Table("argument", "type", "required", "choices", "default", "rules", "description")
    for decl in blueprint.arguments:
        rules = [
            f"{key} {getattr(decl, key)}"
            for key in ("min", "max", "after", "before")
            if getattr(decl, key) is not None
        ]
        if decl.validator:
            rules.append(f"validator {decl.validator}")
        if decl.allowCustomValue:
            rules.append("custom values allowed")
        table.add_row(
            decl.id,
            decl.type + (f" of {decl.itemType}" if decl.itemType else ""),
            "yes" if decl.required and decl.defaults is None else "no",
            ", ".join(str(value) for value in decl.values or ()),
            _default(decl.defaults),
            ", ".join(rules),
            decl.displayName or decl.description or "",
        )
    out.print(table)


@blueprint_app.command("use")
def use(
    blueprint_id: Annotated[str, typer.Argument(metavar="ID", help="The blueprint id.")],
    args: Annotated[
        list[str] | None,
        typer.Option(
            "--arg", "-a", help="An argument as key=value (repeatable).", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the flow here (default: print it).", show_default=False
        ),
    ] = None,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Deploy the flow into the store.")
    ] = False,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Store directory for --deploy.", show_default=False),
    ] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate a flow from a blueprint, validate it, then print, write or deploy it."""
    blueprint = _get(_catalog(catalog), blueprint_id)
    try:
        given: dict[str, Any] = dict(parse_argument_pairs(args or []))
        if not as_json and sys.stdin.isatty():
            given = ask_arguments(blueprint, given, err)
        generated = generate_flow(
            blueprint, given, filename=str(output) if output is not None else None
        )
    except (ArgumentError, BlueprintError) as exc:
        raise _fail(str(exc), 2) from exc
    except SchedulerError as exc:
        raise _fail(f"error: {exc}", 1) from exc
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(generated.text, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"{output}: cannot write the flow: {exc.strerror or exc}", 1) from exc
    deployed = _deploy(generated.flow, home) if deploy else None
    if as_json:
        _print_json(
            {
                "blueprint": blueprint.id,
                "arguments": generated.arguments,
                "flow": {"id": generated.flow.id, "namespace": generated.flow.namespace},
                "path": str(output) if output is not None else None,
                "deployed": deployed,
                "yaml": generated.text,
            }
        )
    elif output is None and not deploy:
        sys.stdout.write(generated.text)
    else:
        where = f" to {output}" if output is not None else ""
        err.print(
            f"flow {generated.flow.namespace}.{generated.flow.id} generated from "
            f"'{blueprint.id}'{where}" + (" and deployed" if deployed is not None else ""),
            markup=False,
            highlight=False,
        )


def _deploy(flow: Any, home: Path | None) -> dict[str, Any]:
    """Deploy the generated flow into the store (a new revision when it changed)."""
    from scheduler.deploy import deploy_flow
    from scheduler.runner import default_home
    from store.errors import StoreError

    try:
        result = deploy_flow(home if home is not None else default_home(), flow)
    except (SchedulerError, StoreError) as exc:
        raise _fail(f"error: {exc}", 1) from exc
    return {
        "namespace": result.flow.namespace,
        "id": result.flow.id,
        "revision": result.flow.revision,
        "created": result.created,
    }
