"""The `assetline` command. Thin: it parses arguments, calls the library, and prints.

Exit codes: 0 success (an execution in SUCCESS or WARNING), 1 a FAILED or KILLED execution or an
operational error, 2 an invalid flow, input or option. Errors go to stderr as
`path:line:col: message`; `--json` output goes to stdout and nothing else does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from scheduler.cli_options import HomeOption, JsonOption
from scheduler.errors import FlowError, InputError, SchedulerError
from scheduler.runner import default_home
from store.errors import StoreError

app = typer.Typer(
    name="assetline",
    help="Asset-aware flows on Ray: run Kestra-dialect YAML, record every asset and its lineage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
assets_app = typer.Typer(help="The asset inventory.", no_args_is_help=True)
executions_app = typer.Typer(help="Executions and their task runs.", no_args_is_help=True)
app.add_typer(assets_app, name="assets")
app.add_typer(executions_app, name="executions")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _home(home: Path | None) -> Path:
    return home if home is not None else default_home()


def _fail(message: str, code: int) -> typer.Exit:
    err.print(message, markup=False, highlight=False)
    return typer.Exit(code)


def _print_rows(headers: list[str], rows: list[list[str]]) -> None:
    """A table on a terminal; aligned plain columns otherwise (pipes, files, grep)."""
    if sys.stdout.isatty():
        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        out.print(table)
        return
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _open_store(home: Path | None) -> Any:
    from store import Store

    path = _home(home)
    if not (path / "store").exists():
        raise _fail(f"no assetline store at {path}; run a flow first or pass --home", 1)
    try:
        return Store.open(path, readonly=True)
    except StoreError as exc:
        raise _fail(f"{path}: {exc}", 1) from exc


# -- validate / run -------------------------------------------------------------------------


@app.command()
def validate(
    flows: Annotated[list[Path] | None, typer.Argument(help="Flow files to check.")] = None,
    types: Annotated[
        bool, typer.Option("--types", help="List the task types flows may use, and exit.")
    ] = False,
) -> None:
    """Check flows without running anything: every problem as path:line:col: message."""
    from scheduler.loader import validate_files

    if types:
        _print_types()
        return
    if not flows:
        raise _fail("validate: give one or more flow files (or --types)", 2)
    from scheduler.triggers import trigger_file_issues

    issues = validate_files(flows) + trigger_file_issues(flows)
    for issue in issues:
        err.print(str(issue), markup=False, highlight=False)
    if issues:
        raise typer.Exit(2)
    err.print(f"{len(flows)} flow(s) valid", markup=False)


def _print_types() -> None:
    from scheduler.flowables import FLOWABLE_KINDS
    from workers.registry import known_types, resolve

    lines = [f"{kind}  [flowable: the scheduler drives it]" for kind in sorted(FLOWABLE_KINDS)]
    for kind in known_types():
        task_type = resolve(kind)
        aliases = (
            f"  (also: {', '.join(task_type.aliases)})" if task_type and task_type.aliases else ""
        )
        where = "driver" if task_type and task_type.runs_on == "driver" else "Ray worker"
        lines.append(f"{kind}{aliases}  [runs on: {where}]")
    sys.stdout.write("\n".join(lines) + "\n")


@app.command()
def run(
    flow: Annotated[Path, typer.Argument(help="The flow file.")],
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="An input as key=value (repeatable).")
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Join this Ray cluster (ray://host:10001 or auto)."),
    ] = None,
    home: HomeOption = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            envvar="ASSETLINE_STORAGE",
            help="Internal storage for task files: a folder every node reads, or "
            "s3://bucket/prefix (endpoint and AWS_* credentials from this environment are sent "
            "with each task). Default: <home>/storage.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a flow on Ray and record what it touched."""
    from scheduler.inputs import parse_cli_inputs
    from scheduler.loader import load_flow
    from scheduler.progress import ConsoleProgress, LineProgress
    from scheduler.runner import run_flow

    try:
        loaded = load_flow(flow)
        given = parse_cli_inputs(inputs or [])
    except (FlowError, InputError) as exc:
        raise _fail(str(exc), 2) from exc
    progress: Any
    if as_json:
        progress = None
    elif sys.stderr.isatty():
        progress = ConsoleProgress(err)
    else:
        progress = LineProgress()
    try:
        if progress is None:
            summary = run_flow(
                loaded, given, home=_home(home), ray_address=address, storage=storage
            )
        else:
            with progress:
                summary = run_flow(
                    loaded,
                    given,
                    home=_home(home),
                    ray_address=address,
                    progress=progress,
                    storage=storage,
                )
    except InputError as exc:
        raise _fail(str(exc), 2) from exc
    except (SchedulerError, StoreError) as exc:
        raise _fail(f"error: {exc}", 1) from exc
    from scheduler.reports import execution_json

    if as_json:
        store = _open_store(home)
        try:
            _print_json(execution_json(store, summary.execution_id, summary=summary))
        finally:
            store.close()
    else:
        for message in summary.errors:
            err.print(message, markup=False, highlight=False)
        runs = sum(count for state, count in summary.counts.items() if state != "RETRIED")
        out.print(
            f"execution {summary.execution_id} {summary.state} in "
            f"{summary.end - summary.start:.2f}s: {runs} task run(s); read "
            f"{len(summary.assets_read)}, wrote {len(summary.assets_written)} asset(s)",
            markup=False,
            highlight=False,
        )
    raise typer.Exit(0 if summary.state in ("SUCCESS", "WARNING") else 1)


# -- assets ---------------------------------------------------------------------------------


def _parse_meta(pairs: list[str] | None) -> dict[str, Any] | None:
    if not pairs:
        return None
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _fail(f"--meta {pair!r}: expected key=value", 2)
        found[key] = value
    return found


@assets_app.command("list")
def assets_list(
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only this asset type.")] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata key=value (repeatable).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List assets, filtered by namespace, type and metadata."""
    store = _open_store(home)
    try:
        found = store.find_assets(
            type=type_, namespace=namespace, metadata=_parse_meta(meta), limit=limit
        )
    finally:
        store.close()
    rows = [asset.to_json() for asset in found]
    if as_json:
        _print_json(rows)
        return
    _print_rows(
        ["id", "type", "namespace", "displayName", "updated"],
        [
            [row["id"], row["type"], row["namespace"], row["displayName"] or "", row["updated"]]
            for row in rows
        ],
    )


@assets_app.command("show")
def assets_show(
    asset_id: Annotated[str, typer.Argument(help="The asset id.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """One asset with its attributes and metadata."""
    store = _open_store(home)
    try:
        asset = store.get_asset(asset_id)
        usages = store.usages(asset_id, limit=None) if asset is not None else []
    finally:
        store.close()
    if asset is None:
        raise _fail(f"asset '{asset_id}' not found; `assetline assets list` shows the ids", 1)
    data = asset.to_json()
    data["usages"] = len(usages)
    if as_json:
        _print_json(data)
        return
    for key in ("id", "type", "namespace", "displayName", "description", "created", "updated"):
        out.print(
            f"{key:12} {data[key] if data[key] is not None else ''}", markup=False, highlight=False
        )
    for key, value in sorted(data["metadata"].items()):
        out.print(f"  {key} = {json.dumps(value)}", markup=False, highlight=False)
    out.print(f"{'usages':12} {len(usages)}", markup=False, highlight=False)


# -- lineage --------------------------------------------------------------------------------


@app.command()
def lineage(
    asset_id: Annotated[str, typer.Argument(help="The asset to start from.")],
    direction: Annotated[str, typer.Option(help="up, down or both.")] = "both",
    depth: Annotated[int | None, typer.Option(help="Asset hops (default: all).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json, dot or mermaid.")] = "text",
    home: HomeOption = None,
) -> None:
    """The lineage graph around an asset: assets and the task runs between them."""
    if direction not in ("up", "down", "both"):
        raise _fail(f"--direction {direction!r}: use up, down or both", 2)
    if fmt not in ("text", "json", "dot", "mermaid"):
        raise _fail(f"--format {fmt!r}: use text, json, dot or mermaid", 2)
    store = _open_store(home)
    try:
        graph = store.lineage(asset_id, direction=direction, depth=depth)
    except StoreError as exc:
        raise _fail(f"{exc}", 1) from exc
    finally:
        store.close()
    if fmt == "json":
        _print_json(graph.to_json())
    elif fmt == "dot":
        sys.stdout.write(graph.to_dot() + "\n")
    elif fmt == "mermaid":
        sys.stdout.write(graph.to_mermaid() + "\n")
    else:
        sys.stdout.write(graph.to_text() + "\n")


# -- executions -----------------------------------------------------------------------------


@executions_app.command("list")
def executions_list(
    flow: Annotated[str | None, typer.Option("--flow", help="Only this flow id.")] = None,
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = 50,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Executions, newest first."""
    from scheduler.reports import execution_row

    store = _open_store(home)
    try:
        rows = [
            execution_row(e)
            for e in store.list_executions(flow_id=flow, namespace=namespace, limit=limit)
        ]
    finally:
        store.close()
    if as_json:
        _print_json(rows)
        return
    keys = ["id", "namespace", "flowId", "state", "startDate", "endDate"]
    _print_rows(keys, [[row[key] or "" for key in keys] for row in rows])


@executions_app.command("resume")
def executions_resume(
    execution_id: Annotated[str, typer.Argument(help="The execution id.")],
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="An onResume input as key=value (repeatable)."),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Resume an execution waiting at a Pause task (its `onResume` inputs with -i)."""
    from scheduler.errors import InputError
    from scheduler.inputs import parse_cli_inputs
    from scheduler.resume import request_resume, wait_outcome
    from store import Store

    try:
        given = parse_cli_inputs(inputs or [])
    except InputError as exc:
        raise _fail(str(exc), 2) from exc
    path = _home(home)
    if not (path / "store").exists():
        raise _fail(f"no assetline store at {path}; run a flow first or pass --home", 1)
    try:
        with Store.open(path) as store:
            execution = store.get_execution(execution_id)
            if execution is None:
                raise _fail(
                    f"execution '{execution_id}' not found; see `assetline executions list`", 1
                )
            if execution.state != "RUNNING":
                raise _fail(
                    f"execution '{execution_id}' is {execution.state}; only a running execution "
                    "waiting at a Pause can be resumed",
                    1,
                )
            request_resume(store, execution_id, given)
            outcome = wait_outcome(store, execution_id, timeout=5.0)
    except StoreError as exc:
        raise _fail(f"{path}: {exc}", 1) from exc
    if outcome == "pending":
        message = "it resumes when it reaches its Pause"
        err.print(f"resume requested for execution {execution_id}; {message}", markup=False)
    elif outcome is not None:
        raise _fail(f"execution '{execution_id}' refused the resume: {outcome}", 2)
    else:
        err.print(f"execution {execution_id} resumed", markup=False, highlight=False)


@executions_app.command("show")
def executions_show(
    execution_id: Annotated[str, typer.Argument(help="The execution id.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """One execution with its task runs and the assets it read and wrote."""
    from scheduler.reports import execution_json

    store = _open_store(home)
    try:
        if store.get_execution(execution_id) is None:
            raise _fail(f"execution '{execution_id}' not found; see `assetline executions list`", 1)
        data = execution_json(store, execution_id)
    finally:
        store.close()
    if as_json:
        _print_json(data)
        return
    out.print(
        f"{data['id']}  {data['namespace']}.{data['flowId']}  {data['state']}  "
        f"{data['startDate']} -> {data['endDate'] or ''}",
        markup=False,
        highlight=False,
    )
    if data["paused"]:
        asked = " ".join(f"-i {decl['id']}=..." for decl in data["paused"]["inputs"])
        out.print(
            f"paused at task '{data['paused']['task']}': resume it with `assetline executions "
            f"resume {data['id']}{' ' + asked if asked else ''}`",
            markup=False,
            highlight=False,
        )
    _print_rows(
        ["task", "value", "attempt", "state", "duration"],
        [
            [
                taskrun["taskId"],
                taskrun["value"] or "",
                str(taskrun["attempt"]),
                taskrun["state"],
                f"{taskrun['duration']:.3f}s",
            ]
            for taskrun in data["taskRuns"]
        ],
    )
    out.print(f"read:  {', '.join(data['assetsRead']) or '-'}", markup=False, highlight=False)
    out.print(f"wrote: {', '.join(data['assetsWritten']) or '-'}", markup=False, highlight=False)


def _mount_optional() -> None:
    """Sub-commands that live in their own modules."""
    import importlib

    for name in (
        "scheduler.cli_ship",
        "scheduler.cli_blueprint",
        "scheduler.cli_flows",
        "scheduler.cli_server",
        "scheduler.cli_impact",
        "scheduler.cli_submit",
        "scheduler.cli_ui",
    ):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)


_mount_optional()


def main() -> None:
    app()
