"""`assetline deploy FLOW...` and `assetline flows list|show|delete`: flows kept in the store.

Thin: loads and validates flow files (triggers included), calls `scheduler.deploy`, prints.
Exit codes follow `scheduler.cli`: 2 for an invalid flow or option, 1 for a store problem or a
flow that is not deployed.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from scheduler.cli_options import HomeOption, JsonOption
from scheduler.errors import FlowError
from store.errors import StoreError
from store.flows import DeployedFlow

__all__ = ["register"]

flows_app = typer.Typer(help="Flows deployed into the store.", no_args_is_help=True)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _home(home: Path | None) -> Path:
    from scheduler.runner import default_home

    return home if home is not None else default_home()


def _open(home: Path | None, *, readonly: bool) -> Any:
    from store import Store

    path = _home(home)
    if readonly and not (path / "store").exists():
        raise _fail(f"no assetline store at {path}; deploy a flow first or pass --home", 1)
    try:
        return Store.open(path, readonly=readonly)
    except StoreError as exc:
        raise _fail(f"{path}: {exc}", 1) from exc


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _summary(flow: DeployedFlow) -> dict[str, Any]:
    return {
        "namespace": flow.namespace,
        "id": flow.id,
        "revision": flow.revision,
        "deployed": _when(flow.deployed),
        "deleted": flow.deleted,
        "disabled": flow.disabled,
        "triggers": [
            {"id": trigger.get("id"), "type": trigger.get("type")} for trigger in flow.triggers
        ],
    }


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def deploy(
    flows: Annotated[list[Path], typer.Argument(help="Flow files to deploy.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy flows into the store: a new revision for each one whose text changed."""
    from scheduler.deploy import deploy_flow
    from scheduler.loader import load_flow
    from scheduler.triggers import flow_triggers

    loaded = []
    problems: list[str] = []
    for path in flows:
        try:
            flow = load_flow(path)
            flow_triggers(flow)
        except FlowError as exc:
            problems.append(str(exc))
            continue
        loaded.append(flow)
    if problems:
        raise _fail("\n".join(problems), 2)
    store = _open(home, readonly=False)
    results = []
    try:
        for flow in loaded:
            result = deploy_flow(store, flow)
            results.append({**_summary(result.flow), "created": result.created})
    except StoreError as exc:
        raise _fail(f"error: {exc}", 1) from exc
    finally:
        store.close()
    if as_json:
        _print_json(results)
        return
    for item in results:
        what = "deployed" if item["created"] else "unchanged"
        typer.echo(f"{item['namespace']}.{item['id']} revision {item['revision']} {what}")


@flows_app.command("list")
def flows_list(
    namespace: Annotated[str | None, typer.Option("--namespace", help="Only this one.")] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted flows.")] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deployed flows, their current revision and triggers."""
    from store.flows import DeployedFlows

    store = _open(home, readonly=True)
    try:
        found = DeployedFlows(store).list(namespace=namespace, deleted=deleted)
    finally:
        store.close()
    if as_json:
        _print_json([_summary(flow) for flow in found])
        return
    for flow in found:
        triggers = ", ".join(str(t.get("id")) for t in flow.triggers) or "-"
        state = " (deleted)" if flow.deleted else ""
        typer.echo(
            f"{flow.namespace}.{flow.id}  revision {flow.revision}{state}  "
            f"deployed {_when(flow.deployed)}  triggers: {triggers}"
        )


@flows_app.command("show")
def flows_show(
    namespace: Annotated[str, typer.Argument(help="The flow's namespace.")],
    flow_id: Annotated[str, typer.Argument(help="The flow's id.")],
    revision: Annotated[int | None, typer.Option("--revision", help="An older one.")] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """A deployed flow's source (its current revision, or --revision)."""
    from store.flows import DeployedFlows, FlowNotDeployed

    store = _open(home, readonly=True)
    try:
        registry = DeployedFlows(store)
        flow = registry.require(namespace, flow_id, revision)
        history = [item.revision for item in registry.revisions(namespace, flow_id)]
    except FlowNotDeployed as exc:
        raise _fail(str(exc), 1) from exc
    finally:
        store.close()
    if as_json:
        _print_json({**_summary(flow), "revisions": history, "source": flow.source})
        return
    sys.stdout.write(flow.source if flow.source.endswith("\n") else flow.source + "\n")


@flows_app.command("delete")
def flows_delete(
    namespace: Annotated[str, typer.Argument(help="The flow's namespace.")],
    flow_id: Annotated[str, typer.Argument(help="The flow's id.")],
    home: HomeOption = None,
) -> None:
    """Delete a deployed flow (its revisions stay readable; its triggers stop)."""
    from store.flows import DeployedFlows, FlowNotDeployed

    store = _open(home, readonly=False)
    try:
        record = DeployedFlows(store).delete(namespace, flow_id)
    except FlowNotDeployed as exc:
        raise _fail(str(exc), 1) from exc
    finally:
        store.close()
    typer.echo(f"{namespace}.{flow_id} deleted (revision {record.revision})")


def register(app: typer.Typer) -> None:
    """Add `deploy` and `flows` to `app`."""
    app.command("deploy")(deploy)
    app.add_typer(flows_app, name="flows")
