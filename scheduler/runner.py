"""Running a flow end to end: the library's entry point behind `assetline run`.

`run_flow` resolves the inputs (an invalid input stops here, before anything runs), opens the
store and its single writer, joins or starts Ray, drives one `Executor`, and waits until every
record of the execution is committed. It owns the lifetimes of what it opened: a Ray instance it
started is shut down, one it found running is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scheduler.backends import Backend, RayBackend
from scheduler.deploy import SubflowLauncher
from scheduler.errors import TemplateError
from scheduler.executor import ExecutionSummary, Executor, Progress
from scheduler.flow_model import Flow
from scheduler.inputs import resolve_inputs
from scheduler.packing import PackingBackend
from scheduler.resume import StoreResumeChannel
from scheduler.templating import Renderer
from store import BatchingWriter, Store, StoreError
from workers.storage import storage_settings

DEFAULT_HOME = ".assetline"
#: The internal storage's root when `run_flow` is given none (else `<home>/storage`).
STORAGE_ENV = "ASSETLINE_STORAGE"


def default_home() -> Path:
    """The store's home: `ASSETLINE_HOME`, else `./.assetline`."""
    return Path(os.environ.get("ASSETLINE_HOME") or DEFAULT_HOME)


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[bool]:
    """Join the Ray cluster at `address` (or `auto`), or start an embedded one. Yields whether
    this call started Ray (and so will shut it down)."""
    import ray

    if ray.is_initialized():
        yield False
        return
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
        "configure_logging": True,
    }
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **options)
    try:
        yield True
    finally:
        ray.shutdown()


def _secret_inputs(flow: Flow, inputs: Mapping[str, Any]) -> list[str]:
    return [
        str(inputs[item.id])
        for item in flow.inputs
        if item.type.upper() == "SECRET" and inputs.get(item.id) not in (None, "")
    ]


def _ray_backend() -> Backend:
    """Ray, with short task runs packed several to a Ray task once they prove short."""
    import ray

    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    cpus = int(resources.get("CPU", 1))
    return PackingBackend(RayBackend(), parallelism=cpus)


def run_flow(
    flow: Flow,
    inputs: Mapping[str, Any],
    *,
    home: str | os.PathLike[str] | None = None,
    ray_address: str | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
    execution_id: str | None = None,
    workdir: str | None = None,
    trigger: Mapping[str, Any] | None = None,
    storage: str | None = None,
) -> ExecutionSummary:
    """Run one execution of `flow` to its end and return its summary.

    Raises InputError (nothing ran) when the inputs don't fit the flow."""
    resolved = resolve_inputs(flow, inputs)
    home_path = Path(home) if home is not None else default_home()
    store = Store.open(home_path)
    try:
        writer = BatchingWriter(store)
        try:

            def query_assets(**filters: Any) -> list[dict[str, Any]]:
                writer.flush()  # a template sees every asset written before it renders
                found = store.find_assets(
                    id=filters.get("id"),
                    type=filters.get("type"),
                    namespace=filters.get("namespace"),
                    metadata=filters.get("metadata"),
                )
                return [asset.to_json() for asset in found]

            def lookup_kv(namespace: str, key: str) -> tuple[bool, Any]:
                try:
                    entry = store.kv_get(namespace, key)
                except StoreError as exc:
                    raise TemplateError(f"kv(): {exc}", None) from exc
                return (entry is not None, entry.value if entry is not None else None)

            storage_root = (
                storage or os.environ.get(STORAGE_ENV) or str((store.home / "storage").resolve())
            )
            # workers on other nodes never see this process's environment: each spec carries it
            storage_env = storage_settings(storage_root, os.environ)
            with ray_session(ray_address if backend is None else None):
                executor = Executor(
                    flow,
                    resolved,
                    backend=backend or _ray_backend(),
                    sink=writer,
                    renderer=Renderer(assets=query_assets, kv=lookup_kv),
                    resume=StoreResumeChannel(store),
                    storage=storage_root,
                    workdir=workdir or os.getcwd(),
                    execution_id=execution_id,
                    progress=progress,
                    trigger=trigger,
                    secrets=_secret_inputs(flow, resolved),
                    task_env=(lambda _node: storage_env) if storage_env else None,
                    services={
                        "store": store,
                        "writer": writer,
                        "home": store.home,
                        "run_subflow": SubflowLauncher(
                            store.home, storage=storage_root, workdir=workdir
                        ),
                    },
                )
                summary = asyncio.run(executor.run())
            writer.flush()
        finally:
            writer.close()
    finally:
        store.close()
    return summary
