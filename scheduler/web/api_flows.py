"""`/api/v1/flows` and `/api/v1/blueprints`: deployed flows with their triggers and the graph of
what they touch; blueprints, their arguments, rendering one and deploying what it generates.

Deploying goes through `scheduler.deploy.deploy_flow` (the scheduler's own path); nothing else
here writes. No HTML here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from scheduler.blueprints import BlueprintError, generate_flow, load_catalog
from scheduler.blueprints.generate import GeneratedFlow
from scheduler.deploy import deploy_flow, is_static
from scheduler.errors import FlowError
from scheduler.planner import iso
from scheduler.web.context import WebContext, context_of
from scheduler.web.errors import BadRequest, NotFound
from store.flows import DeployedFlow, DeployedFlows

__all__ = ["flow_graph", "router"]

router = APIRouter(prefix="/api/v1", tags=["flows", "blueprints"])
Context = Annotated[WebContext, Depends(context_of)]


def _flow_row(flow: DeployedFlow) -> dict[str, Any]:
    return {
        "namespace": flow.namespace,
        "id": flow.id,
        "revision": flow.revision,
        "deployed": iso(flow.deployed),
        "disabled": flow.disabled,
        "deleted": flow.deleted,
        "triggers": flow.triggers,
        "assets": [
            {
                "taskId": use.task_id,
                "direction": use.direction,
                "assetId": use.asset_id,
                "namespace": use.namespace,
                "type": use.type,
                "static": is_static(use.asset_id),
            }
            for use in flow.assets
        ],
    }


def flow_graph(flow: DeployedFlow) -> dict[str, Any]:
    """What the flow touches, in the lineage JSON shape: asset -> task -> asset.
    Task nodes are keyed `task:<task id>`; templated asset ids are shown as written."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], None] = {}
    for use in flow.assets:
        task_key = f"task:{use.task_id}"
        nodes.setdefault(
            task_key,
            {"id": task_key, "kind": "task", "label": use.task_id, "flow_id": flow.id},
        )
        node = nodes.setdefault(
            use.asset_id, {"id": use.asset_id, "kind": "asset", "label": use.asset_id}
        )
        if use.type:
            node["type"] = use.type
        if use.namespace:
            node["namespace"] = use.namespace
        pair = (use.asset_id, task_key) if use.direction == "INPUT" else (task_key, use.asset_id)
        edges[pair] = None
    return {
        "root": None,
        "nodes": list(nodes.values()),
        "edges": [{"from": source, "to": target} for source, target in edges],
    }


@router.get("/flows", summary="Deployed flows with their triggers")
def list_flows(context: Context, namespace: str | None = None) -> dict[str, Any]:
    flows = DeployedFlows(context.store()).list(namespace=namespace or None)
    return {"items": [_flow_row(flow) for flow in flows]}


@router.get("/flows/{namespace}/{flow_id}", summary="One deployed flow, its source and graph")
def get_flow(context: Context, namespace: str, flow_id: str) -> dict[str, Any]:
    flow = DeployedFlows(context.store()).get(namespace, flow_id)
    if flow is None or flow.deleted:
        raise NotFound(f"no deployed flow {namespace}.{flow_id}")
    data = _flow_row(flow)
    data["source"] = flow.source
    data["graph"] = flow_graph(flow)
    return data


def _catalog_get(blueprint_id: str) -> Any:
    try:
        return load_catalog().get(blueprint_id)
    except BlueprintError as exc:
        message = "; ".join(issue.message for issue in exc.issues) or str(exc)
        raise NotFound(message) from exc


@router.get("/blueprints", summary="Blueprints and their arguments")
def list_blueprints() -> dict[str, Any]:
    try:
        catalog = load_catalog()
    except BlueprintError as exc:
        raise BadRequest(str(exc), details=[str(issue) for issue in exc.issues]) from exc
    return {
        "items": [blueprint.to_json() for blueprint in catalog.all()],
        "problems": [str(issue) for issue in catalog.problems],
    }


@router.get("/blueprints/{blueprint_id}", summary="One blueprint and its arguments")
def get_blueprint(blueprint_id: str) -> dict[str, Any]:
    result: dict[str, Any] = _catalog_get(blueprint_id).to_json()
    return result


def _generate(blueprint_id: str, arguments: dict[str, Any]) -> GeneratedFlow:
    blueprint = _catalog_get(blueprint_id)
    try:
        return generate_flow(blueprint, arguments)
    except BlueprintError as exc:
        raise BadRequest(
            f"blueprint {blueprint_id!r} cannot generate a flow with these arguments",
            details=[str(issue) for issue in exc.issues],
        ) from exc


ArgumentsBody = Annotated[
    dict[str, Any], Body(embed=True, description="Argument id -> value (text or typed)")
]


@router.post("/blueprints/{blueprint_id}/render", summary="Generate a flow from a blueprint")
def render_blueprint(blueprint_id: str, arguments: ArgumentsBody) -> dict[str, Any]:
    generated = _generate(blueprint_id, arguments)
    return {
        "blueprint": blueprint_id,
        "arguments": generated.arguments,
        "namespace": generated.flow.namespace,
        "flowId": generated.flow.id,
        "text": generated.text,
    }


@router.post("/blueprints/{blueprint_id}/deploy", summary="Generate a flow and deploy it")
def deploy_blueprint(
    context: Context, blueprint_id: str, arguments: ArgumentsBody
) -> dict[str, Any]:
    generated = _generate(blueprint_id, arguments)
    try:
        result = deploy_flow(context.store(), generated.flow)
    except FlowError as exc:
        raise BadRequest(
            "the generated flow cannot be deployed", details=[str(i) for i in exc.issues]
        ) from exc
    return {
        "namespace": result.flow.namespace,
        "flowId": result.flow.id,
        "revision": result.flow.revision,
        "created": result.created,
        "message": str(result),
    }
