"""Builders of realistic event-log content for shipper tests and benchmarks (no I/O)."""

from __future__ import annotations

from store import codec

TABLE = "io.kestra.plugin.ee.assets.Table"
FILE = "io.kestra.plugin.ee.assets.File"


def task_run(
    n: int,
    *,
    state: str = "SUCCESS",
    namespace: str = "company.team",
    flow_id: str = "etl",
    task_id: str = "load",
    execution_id: str | None = None,
    start: float = 1_700_000_000.0,
) -> codec.TaskRunEvent:
    """Task run number `n`: reads table `raw_<n>` and a file, writes table `clean_<n>`."""
    return codec.TaskRunEvent(
        execution_id=execution_id or f"exec{n // 10}",
        flow_namespace=namespace,
        flow_id=flow_id,
        task_id=task_id,
        taskrun_id=f"tr{n}",
        attempt=1,
        state=state,
        start=start + n,
        end=start + n + 0.5,
        inputs=[
            codec.AssetRef(id=f"raw_{n}", namespace=namespace, type=TABLE),
            codec.AssetRef(id=f"file_{n}", namespace=namespace, type=FILE),
        ],
        outputs=[
            codec.AssetDecl(
                id=f"clean_{n}",
                namespace=namespace,
                type=TABLE,
                description=f"cleaned rows of raw_{n}",
                metadata={"owner": "team:data", "rows": n, "database": "dwh"},
            )
        ],
        error="boom" if state == "FAILED" else None,
    )


def asset(n: int, *, namespace: str = "company.team", type_: str = TABLE) -> codec.Asset:
    return codec.Asset(
        id=f"asset_{n:07d}",
        namespace=namespace,
        type=type_,
        created=1_700_000_000.0 + n,
        updated=1_700_000_100.0 + n,
        displayName=f"Asset {n}",
        description="a table" if n % 2 else None,
        metadata={"owner": "team:data", "rows": n, "tags": ["a", "b"]},
    )
