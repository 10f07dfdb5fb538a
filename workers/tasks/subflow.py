"""`io.kestra.plugin.core.flow.Subflow`: start a deployed flow's execution from a running one.

A driver-side task type (`runs_on = "driver"`): it starts the child through the `run_subflow`
service the driving process lends (`scheduler.deploy.SubflowLauncher`), never on a Ray worker.
With `wait` (the default) it returns when the child ends, and with `transmitFailed` (the
default) a FAILED or KILLED child fails this task. Outputs: `executionId`, `state` and the
child's `outputs`.

This module only validates properties and calls the service: it does not know how flows run.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic

from workers.context import TaskContext
from workers.errors import TaskFailed
from workers.registry import TaskType, register_task

_FAILED_STATES = frozenset({"FAILED", "KILLED"})


class SubflowParams(pydantic.BaseModel):
    """Kestra's Subflow properties."""

    model_config = pydantic.ConfigDict(extra="forbid")

    namespace: str
    flowId: str  # noqa: N815 - Kestra's names
    inputs: dict[str, Any] = pydantic.Field(default_factory=dict)
    wait: bool = True
    transmitFailed: bool = True  # noqa: N815
    revision: int | None = pydantic.Field(default=None, ge=1)
    #: A map, or Kestra's list of `{key, value}`.
    labels: dict[str, str] | list[dict[str, str]] = pydantic.Field(default_factory=dict)
    inheritLabels: bool = False  # noqa: N815
    scheduleDate: str | None = None  # noqa: N815 - accepted; the child starts at once
    #: Kestra's deprecated extracted outputs: accepted, not evaluated in the child (its task
    #: outputs are returned whole as `outputs`).
    outputs: dict[str, Any] | None = None

    def label_map(self) -> dict[str, str]:
        if isinstance(self.labels, dict):
            return dict(self.labels)
        return {str(item.get("key")): str(item.get("value")) for item in self.labels}


@register_task
class Subflow(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.core.flow.Subflow"
    aliases: ClassVar[tuple[str, ...]] = ("subflow", "io.kestra.core.tasks.flows.Subflow")
    Params = SubflowParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        launch = ctx.services.get("run_subflow")
        if launch is None:
            raise TaskFailed(
                f"task '{ctx.spec.task_id}': this process lends no 'run_subflow' service, so "
                "it cannot start subflows; run the flow with `assetline run` or the server"
            )
        spec = ctx.spec
        child_ref = f"{params.namespace}.{params.flowId}"
        ctx.logger.info(f"starting subflow {child_ref}")
        try:
            result: dict[str, Any] = launch(
                namespace=params.namespace,
                flow_id=params.flowId,
                inputs=params.inputs,
                wait=params.wait,
                revision=params.revision,
                labels=params.label_map(),
                parent={
                    "executionId": spec.execution_id,
                    "namespace": spec.flow_namespace,
                    "flowId": spec.flow_id,
                    "taskId": spec.task_id,
                    "taskRunId": spec.taskrun_id,
                },
            )
        except Exception as exc:  # the service's own errors (not deployed, bad inputs...)
            raise TaskFailed(f"subflow {child_ref} could not start: {exc}") from exc
        outputs = {
            "executionId": result["executionId"],
            "state": result["state"],
            "outputs": result.get("outputs", {}),
        }
        ctx.logger.info(f"subflow {child_ref} execution {result['executionId']}: {result['state']}")
        if params.wait and params.transmitFailed and result["state"] in _FAILED_STATES:
            errors = "; ".join(result.get("errors") or []) or "no error recorded"
            raise TaskFailed(
                f"subflow {child_ref} execution {result['executionId']} ended "
                f"{result['state']}: {errors}"
            )
        return outputs
