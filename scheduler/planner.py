"""Pure planning: from a validated flow, a render context and a task node to a `TaskRunSpec`.

Everything here is a function of its arguments: no I/O, no Ray, no store (the `assets()`
template function reaches the store only through the callable the Renderer was given). The
executor calls these as it walks the flow; ForEach values are expanded one at a time, so a fan-out
over 100,000 values never holds 100,000 planned specs.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from scheduler.durations import parse_duration
from scheduler.errors import DurationError, TemplateError
from scheduler.flow_model import Flow, TaskNode
from scheduler.templating import Renderer, is_template
from store.codec import AssetDecl, AssetRef
from workers.masking import Masker
from workers.spec import TaskRunSpec

ASSET_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._:-]*$")
ASSET_ID_MAX = 150

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    """A Kestra-like id: 128 random bits in base 62 (22 characters)."""
    # The module's generator is seeded from os.urandom and reseeded in forked children; ids
    # need uniqueness, not secrecy, and uuid4's urandom call costs ~30 us here.
    number = random.getrandbits(128)
    chars = []
    while number:
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars)).rjust(22, "0")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Frame:
    """One enclosing ForEach iteration: what `parent.taskrun` means to the tasks inside it."""

    task_id: str
    taskrun_id: str
    value: str
    iteration: int


@dataclass(frozen=True)
class ExecutionInfo:
    """What every task run of one execution shares."""

    execution_id: str
    flow: Flow
    inputs: Mapping[str, Any]
    start: float
    storage: str = ""
    workdir: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    trigger: Mapping[str, Any] | None = None


class OutputsTree:
    """`outputs.<taskId>` for templates; tasks inside ForEach are keyed by value, nested by the
    enclosing values (`outputs.child[parentValue][value].field`), as Kestra does."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def set(self, task_id: str, values: tuple[str, ...], outputs: Mapping[str, Any]) -> None:
        if not values:
            self.data[task_id] = dict(outputs)
            return
        node = self.data.setdefault(task_id, {})
        for value in values[:-1]:
            node = node.setdefault(value, {})
        node[values[-1]] = dict(outputs)


class _WorkerSide(dict[str, str]):
    """A mapping whose every key renders back to itself, for the worker to fill in."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __missing__(self, key: str) -> str:
        return f"{{{{ {self.name}['{key}'] }}}}"


def base_context(info: ExecutionInfo, environ: Mapping[str, str]) -> dict[str, Any]:
    flow = info.flow
    context: dict[str, Any] = {
        "flow": {
            "id": flow.id,
            "namespace": flow.namespace,
            "revision": flow.revision or 1,
            "tenantId": None,
        },
        "execution": {
            "id": info.execution_id,
            "startDate": iso(info.start),
            "originalId": info.execution_id,
            "state": "RUNNING",
        },
        "inputs": dict(info.inputs),
        "vars": dict(flow.variables),
        "labels": label_context(info.labels, info.execution_id),
        "envs": {
            key[4:].lower(): value for key, value in environ.items() if key.startswith("ENV_")
        },
    }
    # Filled in by the worker, which alone knows the task's working directory: kept as written.
    context["workingDir"] = "{{ workingDir }}"
    context["outputFiles"] = _WorkerSide("outputFiles")
    if info.trigger is not None:
        context["trigger"] = dict(info.trigger)
    return context


def label_context(labels: Mapping[str, str], execution_id: str) -> dict[str, Any]:
    """`labels` as templates see them, as in Kestra: Kestra's system label
    `system.correlationId` (this execution's id unless the labels carry one), and a dotted key
    also as nested maps (`labels.system.correlationId`), besides its flat form."""
    flat = {"system.correlationId": execution_id, **labels}
    context: dict[str, Any] = dict(flat)
    for key, value in flat.items():
        *path, last = key.split(".")
        if not path:
            continue
        node = context
        for part in path:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                break  # a flat label of that name wins
            node = child
        else:
            node.setdefault(last, value)
    return context


def task_context(
    base: Mapping[str, Any],
    outputs: OutputsTree,
    node: TaskNode,
    taskrun_id: str,
    parents: tuple[Frame, ...],
    *,
    value: str | None = None,
    iteration: int | None = None,
    attempt: int = 1,
    start: float = 0.0,
) -> dict[str, Any]:
    """The context one task run renders with."""
    context = dict(base)
    context["outputs"] = outputs.data
    context["task"] = {"id": node.id, "type": node.type}
    if value is None and parents:
        value, iteration = parents[-1].value, parents[-1].iteration
    context["taskrun"] = {
        "id": taskrun_id,
        "value": value,
        "iteration": iteration,
        "attemptsCount": attempt - 1,
        "startDate": iso(start) if start else None,
    }
    if parents:
        # Kestra's `parents[i]` is the i-th enclosing ForEach task run, innermost first; its
        # value is that of the iteration around *it* (None for the outermost). `parent` is
        # parents[0].
        inner_first = list(reversed(parents))
        frames = [
            {
                "taskrun": {
                    "id": frame.taskrun_id,
                    "value": inner_first[i + 1].value if i + 1 < len(inner_first) else None,
                    "iteration": (
                        inner_first[i + 1].iteration if i + 1 < len(inner_first) else None
                    ),
                }
            }
            for i, frame in enumerate(inner_first)
        ]
        context["parent"] = frames[0]
        context["parents"] = frames
        context["_each_values"] = [frame.value for frame in parents]
    return context


def foreach_values(rendered: Any, *, where: str) -> list[str]:
    """ForEach `values` after rendering: a list, or a JSON array in a string. Each value becomes
    the string `taskrun.value` (objects and numbers as JSON, like Kestra)."""
    items = rendered
    if isinstance(rendered, str):
        text = rendered.strip()
        if not text:
            return []
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise TemplateError(
                f"{where}: values rendered to {text[:80]!r}, which is not a JSON array; give a "
                "list, or a template that renders one (e.g. `{{ x | jq('.[]') }}`)",
                None,
            ) from exc
    if items is None:
        return []
    if not isinstance(items, list | tuple):
        raise TemplateError(f"{where}: values must be a list, got {type(items).__name__}", None)
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


def _check_asset_id(asset_id: Any, node: TaskNode, where: str) -> str:
    if not isinstance(asset_id, str) or not asset_id:
        raise TemplateError(f"task '{node.id}': {where}: asset id is missing", node.pos)
    if len(asset_id) > ASSET_ID_MAX or not ASSET_ID.match(asset_id):
        raise TemplateError(
            f"task '{node.id}': {where}: asset id {asset_id!r} is invalid; ids start with a "
            f"letter or digit, use only letters, digits and . _ : - and have at most "
            f"{ASSET_ID_MAX} characters",
            node.pos,
        )
    return asset_id


def render_assets(
    renderer: Renderer, node: TaskNode, context: Mapping[str, Any]
) -> tuple[list[AssetRef], list[AssetDecl]]:
    """Render a task's asset declarations for one task run and check the resulting ids."""
    if node.assets is None:
        return [], []
    inputs: list[AssetRef] = []
    for index, raw in enumerate(node.assets.inputs):
        where = f"assets.inputs[{index}]"
        item = renderer.render_value(
            dict(raw), context, where=f"task '{node.id}': {where}", pos=node.pos
        )
        inputs.append(
            AssetRef(
                id=_check_asset_id(item.get("id"), node, where),
                namespace=_opt_str(item.get("namespace")),
                type=_opt_str(item.get("type")),
            )
        )
    outputs: list[AssetDecl] = []
    for index, raw in enumerate(node.assets.outputs):
        where = f"assets.outputs[{index}]"
        item = renderer.render_value(
            dict(raw), context, where=f"task '{node.id}': {where}", pos=node.pos
        )
        metadata = item.get("metadata")
        outputs.append(
            AssetDecl(
                id=_check_asset_id(item.get("id"), node, where),
                namespace=_opt_str(item.get("namespace")),
                type=_opt_str(item.get("type")),
                displayName=_opt_str(item.get("displayName")),
                description=_opt_str(item.get("description")),
                metadata=dict(metadata) if isinstance(metadata, Mapping) else None,
            )
        )
    return inputs, outputs


def _mask_assets(masker: Masker, outputs: list[AssetDecl]) -> list[AssetDecl]:
    return [
        msgspec.structs.replace(
            decl,
            id=masker.mask_text(decl.id),
            displayName=masker.mask(decl.displayName),
            description=masker.mask(decl.description),
            metadata=masker.mask(decl.metadata),
        )
        for decl in outputs
    ]


def _opt_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def plan_task_run(
    renderer: Renderer,
    info: ExecutionInfo,
    node: TaskNode,
    context: Mapping[str, Any],
    *,
    taskrun_id: str,
    parents: tuple[Frame, ...],
    attempt: int = 1,
    env: Mapping[str, str] | None = None,
) -> TaskRunSpec:
    """Render one runnable task for one attempt. Raises TemplateError (with the task's position)."""
    with renderer.collecting_secrets() as secrets:
        properties = {
            key: renderer.render_value(
                value, context, where=f"task '{node.id}': property '{key}'", pos=node.pos
            )
            for key, value in node.properties.items()
        }
        inputs, outputs = render_assets(renderer, node, context)
    if secrets:  # asset records are kept in the store: never with a secret in them
        outputs = _mask_assets(Masker(secrets), outputs)
    timeout = node.timeout
    if node.timeout_template is not None:
        timeout = render_duration(
            renderer, node.timeout_template, context, node=node, name="timeout"
        )
    frame = parents[-1] if parents else None
    return TaskRunSpec(
        execution_id=info.execution_id,
        flow_namespace=info.flow.namespace,
        flow_id=info.flow.id,
        task_id=node.id,
        taskrun_id=taskrun_id,
        type=node.kind,
        properties=properties,
        attempt=attempt,
        value=frame.value if frame else None,
        iteration=frame.iteration if frame else None,
        parent_taskrun_id=frame.taskrun_id if frame else None,
        inputs=inputs,
        outputs=outputs,
        timeout=timeout,
        secrets=sorted(secrets),
        storage=info.storage,
        env=dict(env or {}),
        workdir=info.workdir,
        log_level=(node.logLevel or "INFO").upper(),
    )


def render_duration(
    renderer: Renderer, raw: Any, context: Mapping[str, Any], *, node: TaskNode, name: str
) -> float:
    """A duration property (ISO-8601 text, seconds, or a template rendering to either) as
    seconds; a TemplateError naming the task and property when it is not one."""
    value = raw
    if isinstance(raw, str) and is_template(raw):
        value = renderer.render_str(raw, context, where=f"task '{node.id}': {name}", pos=node.pos)
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise TemplateError(f"task '{node.id}': {name}: {exc}", node.pos) from exc


def render_condition(
    renderer: Renderer, text: Any, context: Mapping[str, Any], *, where: str, node: TaskNode
) -> bool:
    """Kestra's truthiness of a rendered condition (`runIf`, If's `condition`)."""
    if isinstance(text, bool):
        return text
    rendered = (
        renderer.render_str(str(text), context, where=where, pos=node.pos)
        if is_template(text)
        else str(text)
    )
    return rendered.strip().lower() not in {"", "false", "0", "null", "none"}
