"""The dependency graph of a Dag task: written `dependsOn`, else derived from assets; cycles.

A Dag child that writes `dependsOn` waits for exactly those tasks. A child that does not write
it waits for every other child of the same Dag that outputs an asset it declares as input.
Derivation is static: it compares asset ids as written (a templated id matches only the same
template text) and takes in the assets of every task nested inside a child (a Sequential
child's tasks, their `errors` and `finally`). Tasks outside the Dag need no edge: the flow runs
them before or after the whole Dag.

An edge `a -> b` reads "a runs before b" (b waits for a). `find_cycle` returns one cycle as its
edges, starting at the earliest written task on it, so messages are stable.

Pure: no I/O here, and nothing that runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scheduler.flow_model import TaskNode

__all__ = ["DagEdge", "asset_ids", "dependency_map", "derive_edges", "describe_cycle", "find_cycle"]


@dataclass(frozen=True)
class DagEdge:
    """`waiter` waits for `before`: written in `dependsOn`, or derived from `assets`."""

    before: str
    waiter: str
    #: The asset ids `waiter` reads and `before` outputs; empty for a written `dependsOn`.
    assets: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """Why the edge exists, for messages."""
        if not self.assets:
            return f"'{self.waiter}' depends on '{self.before}' (dependsOn)"
        names = ", ".join(f"'{asset}'" for asset in self.assets)
        noun = "asset" if len(self.assets) == 1 else "assets"
        return f"'{self.waiter}' reads {noun} {names}, which '{self.before}' outputs"


def asset_ids(node: TaskNode, direction: Literal["inputs", "outputs"]) -> tuple[str, ...]:
    """The asset ids, as written, that `node` and every task nested in it declare under
    `assets.<direction>`, in written order without repeats."""
    found: dict[str, None] = {}
    for task in node.walk():
        if task.assets is None:
            continue
        for entry in getattr(task.assets, direction):
            asset_id = entry.get("id")
            if isinstance(asset_id, str):
                found[asset_id] = None
    return tuple(found)


def derive_edges(
    nodes: Sequence[TaskNode], written: Mapping[str, Sequence[str] | None]
) -> list[DagEdge]:
    """Every edge of a Dag whose children are `nodes` (in written order).

    `written[task_id]` is the task's `dependsOn` as written (names of no child are skipped:
    the loader reports them), or None (or no entry) when the task did not write one."""
    ids = {node.id for node in nodes}
    outputs = {node.id: asset_ids(node, "outputs") for node in nodes}
    edges: list[DagEdge] = []
    for node in nodes:
        deps = written.get(node.id)
        if deps is not None:
            seen: set[str] = set()
            for dep in deps:
                if dep in ids and dep not in seen:
                    seen.add(dep)
                    edges.append(DagEdge(before=dep, waiter=node.id))
            continue
        reads = asset_ids(node, "inputs")
        if not reads:
            continue
        for other in nodes:
            if other.id == node.id:
                continue
            shared = tuple(asset for asset in reads if asset in outputs[other.id])
            if shared:
                edges.append(DagEdge(before=other.id, waiter=node.id, assets=shared))
    return edges


def dependency_map(
    nodes: Sequence[TaskNode], edges: Sequence[DagEdge]
) -> dict[str, tuple[str, ...]]:
    """Task id -> the ids it waits for (every child gets an entry), in the edges' order."""
    waits: dict[str, list[str]] = {node.id: [] for node in nodes}
    for edge in edges:
        waits.setdefault(edge.waiter, []).append(edge.before)
    return {task_id: tuple(befores) for task_id, befores in waits.items()}


def find_cycle(nodes: Sequence[TaskNode], edges: Sequence[DagEdge]) -> list[DagEdge]:
    """One cycle of the graph as its edges in run order (the first edge leaves the earliest
    written task on the cycle), or [] when the graph has none."""
    order = {node.id: index for index, node in enumerate(nodes)}
    after: dict[str, list[DagEdge]] = {node.id: [] for node in nodes}
    for edge in edges:
        if edge.before in after and edge.waiter in after:
            after[edge.before].append(edge)
    state: dict[str, int] = {}
    path: list[DagEdge] = []

    def visit(task_id: str) -> list[DagEdge]:
        state[task_id] = 1
        for edge in after[task_id]:
            nxt = edge.waiter
            if state.get(nxt) == 1:
                start = next((i for i, step in enumerate(path) if step.before == nxt), len(path))
                return [*path[start:], edge]
            if nxt not in state:
                path.append(edge)
                found = visit(nxt)
                if found:
                    return found
                path.pop()
        state[task_id] = 2
        return []

    for node in nodes:
        if node.id not in state:
            cycle = visit(node.id)
            if cycle:
                first = min(range(len(cycle)), key=lambda i: order[cycle[i].before])
                return cycle[first:] + cycle[:first]
    return []


def describe_cycle(cycle: Sequence[DagEdge]) -> str:
    """`a -> b -> a: 'b' depends on 'a' (dependsOn), 'a' reads asset 'x', which 'b' outputs`."""
    names = [edge.before for edge in cycle] + [cycle[-1].waiter]
    return f"{' -> '.join(names)}: " + ", ".join(edge.reason for edge in cycle)
