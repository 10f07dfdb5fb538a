"""`/api/v1/assets`: the inventory (filters, cursor pages), one asset, its usages, its lineage
and its impact. Reads through the store's query API only; no HTML here.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from scheduler.impact import impact
from scheduler.planner import iso
from scheduler.web.context import WebContext, context_of
from scheduler.web.errors import BadRequest, NotFound
from store.codec import Asset, Usage
from store.errors import AssetNotFound

__all__ = ["MAX_PAGE", "parse_meta", "router"]

router = APIRouter(prefix="/api/v1", tags=["assets"])
Context = Annotated[WebContext, Depends(context_of)]
MAX_PAGE = 500


class AssetOut(BaseModel):
    id: str
    namespace: str
    type: str
    displayName: str | None  # noqa: N815 - Kestra's field name
    description: str | None
    metadata: dict[str, Any]
    created: str
    updated: str


class AssetPage(BaseModel):
    items: list[AssetOut]
    #: Pass as `after` to get the next page; null on the last page.
    next: str | None
    #: Assets in the store (only when no filter is given: counting a filter would scan).
    total: int | None


def parse_meta(items: list[str]) -> dict[str, Any]:
    """`key:value` pairs; a value that reads as JSON (`3`, `true`, `"3"`) is taken as such,
    anything else as text."""
    found: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition(":")
        if not sep or not key:
            raise BadRequest(f"meta={item!r}: write it as key:value (e.g. meta=team:sales)")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        if isinstance(value, (dict, list)):
            value = text
        found[key] = value
    return found


def asset_out(asset: Asset) -> dict[str, Any]:
    return asset.to_json()


@router.get("/assets", response_model=AssetPage, summary="List and filter the inventory")
def list_assets(
    context: Context,
    namespace: str | None = None,
    type: str | None = None,
    q: Annotated[str | None, Query(description="Substring of the id or display name")] = None,
    meta: Annotated[list[str] | None, Query(description="key:value, repeatable")] = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Assets matching every filter, in id order, `limit` at a time."""
    metadata = parse_meta(meta or [])
    store = context.store()
    found = store.find_assets(
        namespace=namespace or None,
        type=type or None,
        q=q or None,
        metadata=metadata or None,
        after=after or None,
        limit=limit + 1,
    )
    more = len(found) > limit
    page = found[:limit]
    filtered = bool(namespace or type or q or metadata)
    return {
        "items": [asset_out(asset) for asset in page],
        "next": page[-1].id if more and page else None,
        "total": None if filtered else store.count_assets(),
    }


def _usage_out(usage: Usage) -> dict[str, Any]:
    return {
        "direction": usage.direction,
        "executionId": usage.execution_id,
        "namespace": usage.flow_namespace,
        "flowId": usage.flow_id,
        "taskId": usage.task_id,
        "taskRunId": usage.taskrun_id,
        "attempt": usage.attempt,
        "value": usage.value,
        "state": usage.state,
        "startDate": iso(usage.start),
        "endDate": iso(usage.end),
    }


@router.get("/assets/{asset_id:path}/usages", summary="Task runs that read or wrote an asset")
def asset_usages(
    context: Context, asset_id: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 500
) -> dict[str, Any]:
    store = context.store()
    usages = store.usages(asset_id, limit=limit)
    if not usages and store.get_asset(asset_id) is None:
        raise NotFound(f"no asset {asset_id!r} in the store")
    return {"assetId": asset_id, "usages": [_usage_out(usage) for usage in usages]}


@router.get("/assets/{asset_id:path}/lineage", summary="Upstream and downstream lineage")
def asset_lineage(
    context: Context,
    asset_id: str,
    direction: Annotated[str, Query(pattern="^(up|down|both)$")] = "both",
    depth: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> dict[str, Any]:
    """Nodes and edges in the shape of `assetline lineage --format json`."""
    try:
        graph = context.store().lineage(asset_id, direction=direction, depth=depth)
    except AssetNotFound as exc:
        raise NotFound(str(exc)) from exc
    return graph.to_json()


@router.get("/assets/{asset_id:path}/impact", summary="What depends on an asset")
def asset_impact(context: Context, asset_id: str, upstream: bool = False) -> dict[str, Any]:
    """The same answer as `assetline impact` (`--upstream` with `upstream=true`)."""
    report = impact(context.store(), asset_id, upstream=upstream)
    if len(report.assets) == 1 and not report.tasks:
        raise NotFound(f"no asset, lineage or deployed flow mentions {asset_id!r}")
    return report.to_json()


@router.get("/assets/{asset_id:path}", response_model=AssetOut, summary="One asset")
def get_asset(context: Context, asset_id: str) -> dict[str, Any]:
    asset = context.store().get_asset(asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id!r} in the store")
    return asset_out(asset)
