"""Deploying flows into the store, loading them back, and starting them as subflows.

`deploy_flow(store, flow)` validates the flow's triggers (`scheduler.triggers`), extracts the
assets its tasks declare and stores a new revision when the source changed. `load_deployed`
turns a stored revision back into a validated `Flow`. `SubflowLauncher` is the `run_subflow`
service the runner lends to driver-side tasks (the Subflow task): it runs a deployed flow's
execution in the calling process, on the Ray session already joined.

No Ray calls of its own and no CLI here; `run_flow` is imported only when a subflow starts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scheduler.errors import FlowError, FlowIssue
from scheduler.field_checks import is_templated
from scheduler.flow_model import Flow, Pos
from scheduler.loader import load_flow_text
from scheduler.triggers import flow_triggers
from store import Store
from store.flows import DeployedFlow, DeployedFlows, FlowAssetUse

__all__ = ["DeployResult", "SubflowLauncher", "deploy_flow", "flow_asset_uses", "load_deployed"]


@dataclass(frozen=True)
class DeployResult:
    flow: DeployedFlow
    #: False when the source was already the current revision (nothing written).
    created: bool

    def __str__(self) -> str:
        what = "deployed" if self.created else "unchanged"
        return f"{self.flow.namespace}.{self.flow.id} revision {self.flow.revision} {what}"


def flow_asset_uses(flow: Flow) -> list[FlowAssetUse]:
    """Every asset a task of `flow` declares, as written (ids may be templates)."""
    found: list[FlowAssetUse] = []
    for node in flow.all_tasks():
        if node.assets is None:
            continue
        for direction, items in (("INPUT", node.assets.inputs), ("OUTPUT", node.assets.outputs)):
            for item in items:
                asset_id = item.get("id")
                if not isinstance(asset_id, str):
                    continue
                namespace, kind = item.get("namespace"), item.get("type")
                found.append(
                    FlowAssetUse(
                        task_id=node.id,
                        direction=direction,
                        asset_id=asset_id,
                        namespace=namespace if isinstance(namespace, str) else None,
                        type=kind if isinstance(kind, str) else None,
                    )
                )
    return found


def is_static(asset_id: str) -> bool:
    """Whether an asset id as written names one asset (no template in it)."""
    return not is_templated(asset_id)


def deploy_flow(store: Store | str | os.PathLike[str], flow: Flow) -> DeployResult:
    """Deploy `flow` (its source text) into `store` (an open store, or a store home to open);
    FlowError when a trigger is invalid."""
    if not flow.source:
        raise FlowError(
            [FlowIssue(flow.pos, "the flow has no source text to deploy; load it from a file")]
        )
    flow_triggers(flow)
    if not isinstance(store, Store):
        with Store.open(store) as opened:
            return deploy_flow(opened, flow)
    record, created = DeployedFlows(store).deploy(
        flow.namespace,
        flow.id,
        flow.source,
        triggers=[dict(trigger) for trigger in flow.triggers],
        assets=flow_asset_uses(flow),
        disabled=flow.disabled,
    )
    return DeployResult(record, created)


def load_deployed(record: DeployedFlow) -> Flow:
    """The validated flow of a stored revision (its `revision` set)."""
    name = f"<deployed {record.namespace}.{record.id} rev {record.revision}>"
    flow = load_flow_text(record.source, name)
    return flow.model_copy(update={"revision": record.revision})


def deployed_pos(record: DeployedFlow) -> Pos:
    return Pos(f"<deployed {record.namespace}.{record.id} rev {record.revision}>", 1, 1)


class SubflowLauncher:
    """The `run_subflow` service: start a deployed flow's execution from a running one.

    `__call__` returns `{"executionId", "state", "outputs"}`. With `wait`, it runs the child to
    its end in the calling thread; without, it starts it in a background thread (not a daemon:
    the process waits for it before exiting) and returns the state `CREATED`.
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        storage: str | None = None,
        workdir: str | None = None,
    ) -> None:
        self.home = Path(home)
        self.storage = storage
        self.workdir = workdir
        self.started: list[threading.Thread] = []

    def __call__(
        self,
        *,
        namespace: str,
        flow_id: str,
        inputs: Mapping[str, Any] | None = None,
        wait: bool = True,
        revision: int | None = None,
        parent: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        from scheduler.planner import new_id
        from scheduler.runner import run_flow

        store = Store.open(self.home, readonly=True)
        try:
            record = DeployedFlows(store).require(namespace, flow_id, revision)
        finally:
            store.close()
        flow = load_deployed(record)
        if labels:
            flow = flow.model_copy(update={"labels": {**flow.labels, **labels}})
        execution_id = new_id()
        trigger = {"type": "io.kestra.plugin.core.flow.Subflow", **dict(parent or {})}

        def run() -> dict[str, Any]:
            summary = run_flow(
                flow,
                dict(inputs or {}),
                home=self.home,
                execution_id=execution_id,
                trigger=trigger,
                storage=self.storage,
                workdir=self.workdir,
            )
            return {
                "executionId": summary.execution_id,
                "state": summary.state,
                "outputs": summary.outputs,
                "errors": summary.errors,
            }

        if wait:
            return run()
        thread = threading.Thread(target=run, name=f"subflow-{execution_id}", daemon=False)
        thread.start()
        self.started.append(thread)
        return {"executionId": execution_id, "state": "CREATED", "outputs": {}, "errors": []}
