"""Renderings of a lineage graph (pure: no LMDB)."""

from __future__ import annotations

from store.lineage_graph import LineageEdge, LineageGraph, LineageNode


def graph() -> LineageGraph:
    nodes = [
        LineageNode(id="mart", kind="asset", label='Mart "v2"', namespace="n", type="Table"),
        LineageNode(
            id="tr-1",
            kind="task",
            label="flow.build",
            flow_namespace="n",
            flow_id="flow",
            task_id="build",
            execution_id="e1",
            state="SUCCESS",
        ),
        LineageNode(id="raw", kind="asset", label="raw", namespace="n", type="External"),
        LineageNode(id="tr-2", kind="task", label="flow.loop", state="SUCCESS"),
    ]
    edges = [
        LineageEdge("raw", "tr-1"),
        LineageEdge("tr-1", "mart"),
        LineageEdge("mart", "tr-2"),
        LineageEdge("tr-2", "raw"),
    ]
    return LineageGraph(root="mart", nodes=nodes, edges=edges)


def test_to_json_drops_unset_attributes() -> None:
    data = graph().to_json()
    assert data["root"] == "mart"
    assert data["nodes"][2] == {
        "id": "raw",
        "kind": "asset",
        "label": "raw",
        "namespace": "n",
        "type": "External",
    }
    assert data["nodes"][3] == {
        "id": "tr-2",
        "kind": "task",
        "label": "flow.loop",
        "state": "SUCCESS",
    }
    assert data["edges"][0] == {"from": "raw", "to": "tr-1"}


def test_to_dot() -> None:
    dot = graph().to_dot()
    assert dot.splitlines()[0] == "digraph lineage {"
    assert '  n0 [label="Mart \\"v2\\"\\nTable", shape=box, style=bold];' in dot
    assert '  n1 [label="flow.build", shape=ellipse];' in dot
    assert "  n2 -> n1;" in dot and dot.endswith("}")


def test_to_mermaid() -> None:
    mermaid = graph().to_mermaid().splitlines()
    assert mermaid[0] == "flowchart LR"
    assert '  n0["Mart #quot;v2#quot;"]' in mermaid
    assert '  n1("flow.build")' in mermaid
    assert "  n2 --> n1" in mermaid


def test_to_text_is_a_tree_that_stops_at_cycles() -> None:
    assert graph().to_text().splitlines() == [
        'mart (Table) - Mart "v2"',
        "  <- task flow.build [SUCCESS] (tr-1)",
        "    <- raw (External)",
        "      <- task flow.loop [SUCCESS] (tr-2)",
        '        <- mart (Table) - Mart "v2" (cycle)',
        "  -> task flow.loop [SUCCESS] (tr-2)",
        "    -> raw (External)",
        "      -> task flow.build [SUCCESS] (tr-1)",
        '        -> mart (Table) - Mart "v2" (cycle)',
    ]


def test_node_lookup() -> None:
    assert graph().node("raw") is not None
    assert graph().node("nope") is None
