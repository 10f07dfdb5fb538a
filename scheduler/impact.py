"""Impact analysis: what depends on an asset (or what it depends on), and which flows touch it.

`impact(store, asset_id)` walks lineage downstream (or upstream) breadth first, from two
sources: the edges the store recorded from task runs (`Store.lineage`) and the edges deployed
flows declare (each task's static `assets.inputs` -> `assets.outputs`). Every asset reached
gets the shortest path of asset ids that links it to the root. Then every task that reads or
writes a reached asset is listed, from the deployed flows' declarations and from the store's
usages, with the path of its asset.

Reads the store only; no Ray, no printing here (`scheduler.cli_impact` renders).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from scheduler.field_checks import is_templated
from store import Store
from store.errors import AssetNotFound
from store.flows import DeployedFlow, DeployedFlows

__all__ = ["ImpactReport", "ImpactedAsset", "ImpactedTask", "impact"]


@dataclass(frozen=True)
class ImpactedAsset:
    id: str
    path: tuple[str, ...]
    namespace: str | None = None
    type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "namespace": self.namespace,
            "type": self.type,
            "path": list(self.path),
        }


@dataclass
class ImpactedTask:
    """A task of a flow that reads (`INPUT`) or writes (`OUTPUT`) a reached asset."""

    namespace: str
    flow_id: str
    task_id: str
    direction: str
    asset: str
    path: tuple[str, ...]
    deployed: bool
    #: "declared" (the deployed flow's assets block) and/or "observed" (the store's usages).
    seen_in: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "flowId": self.flow_id,
            "taskId": self.task_id,
            "direction": self.direction,
            "asset": self.asset,
            "path": list(self.path),
            "deployed": self.deployed,
            "seenIn": sorted(self.seen_in),
        }


@dataclass(frozen=True)
class ImpactReport:
    root: str
    direction: str
    assets: list[ImpactedAsset]
    tasks: list[ImpactedTask]

    def flows(self) -> list[tuple[str, str]]:
        """(namespace, flow id) of every flow listed, sorted."""
        return sorted({(task.namespace, task.flow_id) for task in self.tasks})

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "direction": self.direction,
            "assets": [asset.to_json() for asset in self.assets],
            "flows": [
                {
                    "namespace": namespace,
                    "flowId": flow_id,
                    "tasks": [
                        task.to_json()
                        for task in self.tasks
                        if (task.namespace, task.flow_id) == (namespace, flow_id)
                    ],
                }
                for namespace, flow_id in self.flows()
            ],
        }

    def to_text(self) -> str:
        way = "upstream" if self.direction == "up" else "downstream"
        arrow = " <- " if self.direction == "up" else " -> "
        lines = [
            f"{way} of {self.root}: {len(self.assets) - 1} asset(s), {len(self.flows())} flow(s)",
            "assets:",
        ]
        for asset in self.assets[1:]:
            lines.append(f"  {asset.id}  via {arrow.join(asset.path)}")
        if len(self.assets) == 1:
            lines.append("  (none)")
        lines.append("flows:")
        for namespace, flow_id in self.flows():
            lines.append(f"  {namespace}.{flow_id}")
            for task in self.tasks:
                if (task.namespace, task.flow_id) != (namespace, flow_id):
                    continue
                verb = "reads" if task.direction == "INPUT" else "writes"
                where = ", ".join(sorted(task.seen_in))
                lines.append(
                    f"    task {task.task_id} {verb} {task.asset}  via "
                    f"{arrow.join(task.path)}  [{where}]"
                )
        if not self.tasks:
            lines.append("  (none)")
        return "\n".join(lines)


def _declared_edges(flows: list[DeployedFlow], way: str) -> dict[str, set[str]]:
    """asset id -> the asset ids one declared task hop away (downstream or upstream)."""
    edges: dict[str, set[str]] = {}
    for flow in flows:
        by_task: dict[str, tuple[list[str], list[str]]] = {}
        for use in flow.assets:
            if is_templated(use.asset_id):
                continue
            ins, outs = by_task.setdefault(use.task_id, ([], []))
            (ins if use.direction == "INPUT" else outs).append(use.asset_id)
        for ins, outs in by_task.values():
            sources, targets = (ins, outs) if way == "down" else (outs, ins)
            for source in sources:
                edges.setdefault(source, set()).update(targets)
    return edges


def _recorded_neighbours(store: Store, asset_id: str, way: str) -> list[str]:
    try:
        graph = store.lineage(asset_id, direction=way, depth=1)
    except AssetNotFound:
        return []
    assets = {node.id for node in graph.nodes if node.kind == "asset"}
    found: list[str] = []
    for edge in graph.edges:
        # asset -> task -> asset, or asset -> asset when the run is unknown
        other = edge.target if way == "down" else edge.source
        here = edge.source if way == "down" else edge.target
        if other in assets and other != asset_id and (here == asset_id or here not in assets):
            found.append(other)
    return sorted(set(found))


def impact(store: Store, asset_id: str, *, upstream: bool = False) -> ImpactReport:
    """Every asset downstream (or upstream) of `asset_id` and every flow task touching one."""
    way = "up" if upstream else "down"
    deployed = DeployedFlows(store).list()
    declared = _declared_edges(deployed, way)
    paths: dict[str, tuple[str, ...]] = {asset_id: (asset_id,)}
    queue = deque([asset_id])
    while queue:
        here = queue.popleft()
        following = set(_recorded_neighbours(store, here, way)) | declared.get(here, set())
        for other in sorted(following):
            if other not in paths:
                paths[other] = (*paths[here], other)
                queue.append(other)
    assets = []
    for reached, path in paths.items():
        record = store.get_asset(reached)
        assets.append(
            ImpactedAsset(
                reached,
                path,
                record.namespace if record else None,
                record.type if record else None,
            )
        )
    tasks: dict[tuple[str, str, str, str, str], ImpactedTask] = {}
    deployed_keys = {(flow.namespace, flow.id) for flow in deployed}

    def note(ns: str, flow_id: str, task_id: str, direction: str, asset: str, how: str) -> None:
        key = (ns, flow_id, task_id, direction, asset)
        found = tasks.get(key)
        if found is None:
            found = tasks[key] = ImpactedTask(
                ns,
                flow_id,
                task_id,
                direction,
                asset,
                paths[asset],
                deployed=(ns, flow_id) in deployed_keys,
            )
        found.seen_in.add(how)

    for flow in deployed:
        for use in flow.assets:
            if use.asset_id in paths:
                note(flow.namespace, flow.id, use.task_id, use.direction, use.asset_id, "declared")
    for reached in paths:
        for usage in store.usages(reached):
            note(
                usage.flow_namespace,
                usage.flow_id,
                usage.task_id,
                usage.direction,
                reached,
                "observed",
            )
    ordered = sorted(
        tasks.values(),
        key=lambda t: (len(t.path), t.namespace, t.flow_id, t.task_id, t.direction, t.asset),
    )
    return ImpactReport(asset_id, way, assets, ordered)
