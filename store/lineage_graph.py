"""The lineage graph a query returns, and its renderings (JSON, Graphviz DOT, Mermaid, text).

A graph alternates kinds: asset -> task run -> asset. Task-run nodes are keyed by the task run
id. Pure data and string building: no LMDB, no I/O here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["LineageEdge", "LineageGraph", "LineageNode"]


@dataclass(frozen=True)
class LineageNode:
    """An asset (`kind="asset"`) or the task run between assets (`kind="task"`)."""

    id: str
    kind: str  # "asset" | "task"
    label: str | None = None
    # assets
    namespace: str | None = None
    type: str | None = None
    # task runs
    flow_namespace: str | None = None
    flow_id: str | None = None
    task_id: str | None = None
    execution_id: str | None = None
    state: str | None = None

    def to_json(self) -> dict[str, Any]:
        """`id`, `kind` and every attribute that is set."""
        return {
            field.name: value
            for field in dataclasses.fields(self)
            if (value := getattr(self, field.name)) is not None
        }

    @property
    def text(self) -> str:
        """How the node reads in text renderings."""
        if self.kind == "task":
            state = f" [{self.state}]" if self.state else ""
            return f"task {self.label or self.id}{state} ({self.id})"
        kind = f" ({self.type})" if self.type else ""
        name = self.label if self.label and self.label != self.id else None
        return f"{self.id}{kind}" + (f" - {name}" if name else "")


@dataclass(frozen=True)
class LineageEdge:
    """Data flows from `source` to `target` (asset -> task run, or task run -> asset)."""

    source: str
    target: str


@dataclass(frozen=True)
class LineageGraph:
    root: str
    nodes: list[LineageNode]
    edges: list[LineageEdge]

    def node(self, node_id: str) -> LineageNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": [node.to_json() for node in self.nodes],
            "edges": [{"from": edge.source, "to": edge.target} for edge in self.edges],
        }

    def _aliases(self) -> dict[str, str]:
        # Ids may hold any character; renderers use n0, n1, ... and put the id in the label.
        return {node.id: f"n{i}" for i, node in enumerate(self.nodes)}

    def to_dot(self) -> str:
        """Graphviz DOT: assets as boxes, task runs as ellipses, the root in bold."""
        alias = self._aliases()
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for node in self.nodes:
            label = node.label or node.id
            if node.kind == "asset" and node.type:
                label = f"{label}\n{node.type}"
            attrs = [
                f"label={json.dumps(label)}",
                "shape=box" if node.kind == "asset" else "shape=ellipse",
            ]
            if node.id == self.root:
                attrs.append("style=bold")
            lines.append(f"  {alias[node.id]} [{', '.join(attrs)}];")
        for edge in self.edges:
            lines.append(f"  {alias[edge.source]} -> {alias[edge.target]};")
        lines.append("}")
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        """A Mermaid flowchart: assets as rectangles, task runs as rounded boxes."""
        alias = self._aliases()
        lines = ["flowchart LR"]
        for node in self.nodes:
            label = (node.label or node.id).replace('"', "#quot;")
            shape = f'["{label}"]' if node.kind == "asset" else f'("{label}")'
            lines.append(f"  {alias[node.id]}{shape}")
        for edge in self.edges:
            lines.append(f"  {alias[edge.source]} --> {alias[edge.target]}")
        return "\n".join(lines)

    def to_text(self) -> str:
        """An indented tree from the root: upstream (`<-`) then downstream (`->`)."""
        by_id = {node.id: node for node in self.nodes}
        parents: dict[str, list[str]] = {}
        children: dict[str, list[str]] = {}
        for edge in self.edges:
            parents.setdefault(edge.target, []).append(edge.source)
            children.setdefault(edge.source, []).append(edge.target)
        root = by_id.get(self.root)
        lines = [root.text if root is not None else self.root]
        for arrow, links in (("<-", parents), ("->", children)):
            self._tree(self.root, arrow, links, by_id, 1, {self.root}, set(), lines)
        return "\n".join(lines)

    def _tree(
        self,
        node_id: str,
        arrow: str,
        links: dict[str, list[str]],
        by_id: dict[str, LineageNode],
        level: int,
        path: set[str],
        shown: set[str],
        lines: list[str],
    ) -> None:
        # `path` catches cycles; `shown` prints a shared ancestor's subtree only once.
        for other in links.get(node_id, []):
            node = by_id[other]
            indent = "  " * level
            if other in path:
                lines.append(f"{indent}{arrow} {node.text} (cycle)")
            elif other in shown:
                lines.append(f"{indent}{arrow} {node.text} (see above)")
            else:
                shown.add(other)
                lines.append(f"{indent}{arrow} {node.text}")
                self._tree(other, arrow, links, by_id, level + 1, path | {other}, shown, lines)
