"""`io.kestra.plugin.ee.assets.AssetShipper`: ship the store's lineage from inside a flow.

A driver-side task type (`runs_on = "driver"`): it reads the asset store and keeps its offsets
there, so it runs in the process that owns the store and never on a Ray worker. Before it
reads, it waits until everything the execution wrote so far is committed, so a shipper placed
after the tasks it reports on sees them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from shippers.asset_shipper import ShipperTaskContext, run_asset_shipper
from shippers.config import AssetShipperParams
from shippers.errors import ShipperError
from workers.context import TaskContext
from workers.errors import TaskFailed
from workers.registry import TaskType, register_task


class _TaskSink:
    """The running task's internal storage, as the file exporter's FileSink."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx

    def put(self, local: Path, name: str) -> str:
        return self.ctx.put_file(local, name)


@register_task
class AssetShipper(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.ee.assets.AssetShipper"
    aliases: ClassVar[tuple[str, ...]] = ("assets.shipper", "asset_shipper")
    Params = AssetShipperParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        writer = ctx.services.get("writer")
        if writer is not None:
            writer.flush()
        spec = ctx.spec
        context = ShipperTaskContext(
            flow_namespace=spec.flow_namespace,
            flow_id=spec.flow_id,
            task_id=spec.task_id,
            home=ctx.services.get("home"),
            sink=_TaskSink(ctx),
            log=ctx.logger.info,
        )
        try:
            return run_asset_shipper(ctx.services["store"], params, context)
        except ShipperError as exc:
            raise TaskFailed(str(exc)) from exc
