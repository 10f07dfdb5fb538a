"""A Dag's order: written `dependsOn`, else derived from assets; cycles spelled out with
positions; `concurrencyLimit` accepted for Kestra's `concurrent`."""

from __future__ import annotations

from test_loader_fakes import HEADER, issues_of, load

from scheduler.dag import DagEdge, asset_ids, dependency_map, derive_edges, find_cycle
from scheduler.flow_model import Pos, TaskNode

DAG = "  - id: d\n    type: dag\n    tasks:\n"


def dag(*children: str, props: str = "") -> str:
    """A flow whose only task is a Dag (line 4) wrapping `children` (YAML, indented by 6)."""
    return (
        HEADER
        + "tasks:\n"
        + DAG.replace("    tasks:\n", props + "    tasks:\n")
        + "".join(children)
    )


def child(task_id: str, reads: str = "", writes: str = "", depends: str | None = None) -> str:
    """One `- task:` entry; `reads`/`writes` are comma-separated asset ids."""
    assets = ""
    if reads or writes:
        ins = ", ".join(f"{{id: '{a}'}}" for a in reads.split(",") if a)
        outs = ", ".join(f"{{id: '{a}'}}" for a in writes.split(",") if a)
        assets = f", assets: {{inputs: [{ins}], outputs: [{outs}]}}"
    text = f"      - task: {{id: {task_id}, type: return{assets}}}\n"
    if depends is not None:
        text += f"        dependsOn: [{depends}]\n"
    return text


def test_order_is_derived_from_assets_alone() -> None:
    node = load(
        dag(
            child("join", reads="A,B"),
            child("left", writes="A"),
            child("right", writes="B"),
            child("report", reads="C"),
        )
    ).tasks[0]
    assert node.depends_on == {
        "join": ("left", "right"),
        "left": (),
        "right": (),
        "report": (),
    }


def test_written_depends_on_wins_and_an_empty_list_means_no_wait() -> None:
    node = load(
        dag(
            child("a", writes="X"),
            child("b", reads="X", depends=""),
            child("c", reads="X", depends="b"),
            child("e", reads="X", depends="b, b"),
        )
    ).tasks[0]
    assert node.depends_on == {"a": (), "b": (), "c": ("b",), "e": ("b",)}


def test_assets_of_tasks_nested_in_a_child_count() -> None:
    nested = (
        "      - task:\n"
        "          id: stage\n          type: sequential\n          tasks:\n"
        "            - {id: s1, type: return, assets: {outputs: [{id: raw}]}}\n"
        "            - id: s2\n              type: return\n"
        "              assets: {inputs: [{id: raw}], outputs: [{id: clean}]}\n"
    )
    reader = (
        "      - task:\n"
        "          id: mart\n          type: sequential\n          tasks:\n"
        "            - {id: m1, type: return, assets: {inputs: [{id: clean}]}}\n"
    )
    node = load(dag(reader, nested)).tasks[0]
    assert node.depends_on == {"mart": ("stage",), "stage": ()}
    assert asset_ids(node.tasks[1], "outputs") == ("raw", "clean")
    assert asset_ids(node.tasks[1], "inputs") == ("raw",)


def test_a_templated_id_matches_only_the_same_template_text() -> None:
    node = load(
        dag(
            child("w", writes="t_{{ inputs.day }}"),
            child("same", reads="t_{{ inputs.day }}"),
            child("spaced", reads="t_{{inputs.day}}"),
        )
    ).tasks[0]
    assert node.depends_on == {"w": (), "same": ("w",), "spaced": ()}


def test_a_task_that_reads_what_it_writes_does_not_wait_for_itself() -> None:
    node = load(dag(child("upsert", reads="T", writes="T"))).tasks[0]
    assert node.depends_on == {"upsert": ()}


def test_a_cycle_of_depends_on_is_spelled_out_at_the_dag_and_its_first_task() -> None:
    text = dag(
        child("a", depends="c"),
        child("b", depends="a"),
        child("c", depends="b"),
    )
    assert issues_of(text) == [
        "f.yaml:4:5: task 'd': its tasks wait for each other in a cycle starting at task 'a' "
        "(f.yaml:7:15): a -> b -> c -> a: 'b' depends on 'a' (dependsOn), 'c' depends on 'b' "
        "(dependsOn), 'a' depends on 'c' (dependsOn); remove one of these dependencies"
    ]


def test_a_cycle_derived_from_assets_names_the_assets() -> None:
    text = dag(
        child("first", reads="Y", writes="X"),
        child("second", reads="X", writes="Y"),
    )
    assert issues_of(text) == [
        "f.yaml:4:5: task 'd': its tasks wait for each other in a cycle starting at task "
        "'first' (f.yaml:7:15): first -> second -> first: 'second' reads asset 'X', which "
        "'first' outputs, 'first' reads asset 'Y', which 'second' outputs; write `dependsOn` on "
        "one of these tasks, or remove one of these asset inputs"
    ]


def test_the_cycle_starts_at_the_earliest_written_task_on_it() -> None:
    text = dag(
        child("free"),
        child("late", reads="P", writes="Q"),
        child("early", reads="Q,R", writes="P"),
    )
    assert issues_of(text) == [
        "f.yaml:4:5: task 'd': its tasks wait for each other in a cycle starting at task "
        "'late' (f.yaml:8:15): late -> early -> late: 'early' reads asset 'Q', which 'late' "
        "outputs, 'late' reads asset 'P', which 'early' outputs; write `dependsOn` on one of "
        "these tasks, or remove one of these asset inputs"
    ]


def test_a_task_depending_on_itself_is_a_cycle() -> None:
    assert issues_of(dag(child("solo", depends="solo"))) == [
        "f.yaml:4:5: task 'd': its tasks wait for each other in a cycle starting at task "
        "'solo' (f.yaml:7:15): solo -> solo: 'solo' depends on 'solo' (dependsOn); remove one "
        "of these dependencies"
    ]


def test_depends_on_naming_no_task_is_reported_without_a_cycle() -> None:
    assert issues_of(dag(child("a", reads="X"), child("b", writes="X", depends="ghost"))) == [
        "f.yaml:9:21: task 'd': task 'b' depends on 'ghost', which is not a task of this Dag; "
        "use one of: a, b"
    ]


def test_concurrency_limit_is_kestras_concurrent() -> None:
    limited = load(dag(child("a"), props="    concurrencyLimit: 3\n")).tasks[0]
    assert limited.properties == {"concurrent": 3}
    kestra = load(dag(child("a"), props="    concurrent: 2\n")).tasks[0]
    assert kestra.properties == {"concurrent": 2}
    default = load(dag(child("a"))).tasks[0]
    assert default.properties == {"concurrent": 0}


def test_concurrent_and_concurrency_limit_together_are_refused() -> None:
    text = dag(child("a"), props="    concurrent: 2\n    concurrencyLimit: 3\n")
    assert issues_of(text) == [
        "f.yaml:7:5: task 'd': 'concurrent' and 'concurrencyLimit' both set how many tasks run "
        "at once; keep one of them"
    ]


def test_a_negative_concurrency_limit_is_refused() -> None:
    issues = issues_of(dag(child("a"), props="    concurrencyLimit: -1\n"))
    assert len(issues) == 1
    assert issues[0].startswith("f.yaml:6:23: task 'd': property 'concurrencyLimit': ")
    assert "greater than or equal to 0" in issues[0]


def _node(task_id: str, reads: tuple[str, ...] = (), writes: tuple[str, ...] = ()) -> TaskNode:
    from scheduler.flow_model import AssetsDecl

    assets = AssetsDecl(
        inputs=tuple({"id": a} for a in reads), outputs=tuple({"id": a} for a in writes)
    )
    return TaskNode(id=task_id, type="return", kind="k", assets=assets, pos=Pos("x", 1, 1))


def test_derive_edges_on_nodes_directly() -> None:
    nodes = [_node("a", writes=("X", "Y")), _node("b", reads=("Y", "X", "Z")), _node("c")]
    edges = derive_edges(nodes, {"c": ("a", "missing")})
    assert edges == [
        DagEdge(before="a", waiter="b", assets=("Y", "X")),
        DagEdge(before="a", waiter="c"),
    ]
    assert edges[0].reason == "'b' reads assets 'Y', 'X', which 'a' outputs"
    assert dependency_map(nodes, edges) == {"a": (), "b": ("a",), "c": ("a",)}
    assert find_cycle(nodes, edges) == []
