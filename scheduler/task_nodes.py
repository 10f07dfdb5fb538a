"""One task of a flow, as YAML, to a validated `TaskNode` (recursively for flowables).

For each task: the common properties of Kestra's `Task` (id, type, retry, timeout, runIf, ...),
its `assets:`, the pluginDefaults that match it, then its own properties checked against its
kind's `Params` (unknown key -> did-you-mean, missing required -> issue, literal of the wrong
type -> issue at the value, template syntax). Flowables get their children built the same way
(`tasks`, If's `then`/`else`, Switch's `cases`/`defaults`, Dag's `{task, dependsOn}`, and their
own `errors`/`finally`). Task ids follow Kestra's rule and are unique across the flow. A Dag's
order comes from `scheduler.dag` (written `dependsOn`, else derived from assets); a cycle is an
issue at the Dag task. Dag's `concurrencyLimit` is folded into Kestra's `concurrent`.

Pure: no I/O here. Issues are collected in the `LoadContext`, never raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from scheduler.assets_decl import parse_assets
from scheduler.dag import dependency_map, derive_edges, describe_cycle, find_cycle
from scheduler.durations import parse_duration
from scheduler.errors import DurationError
from scheduler.field_checks import (
    Issues,
    check_keys,
    check_kind,
    check_literal,
    check_templates,
    describe,
    did_you_mean,
    is_templated,
)
from scheduler.flow_model import Pos, TaskNode
from scheduler.input_decls import parse_input_decls
from scheduler.plugin_defaults import DefaultEntry, apply_defaults
from scheduler.retry_decl import parse_retry
from scheduler.task_types import COMMON_PROPERTIES, FLOWABLE_ONLY, KindInfo, TaskTypes
from scheduler.yaml_positions import PMap, PSeq, plain

__all__ = ["KNOWN_TYPES_HINT", "TASK_ID_PATTERN", "LoadContext", "build_task_list"]

#: Kestra's task id rule (TaskInterface).
TASK_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
#: How a user sees the known task types.
KNOWN_TYPES_HINT = "`assetline validate --types` lists the known types"
_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
_FALLBACKS = ("FAIL", "WAIT", "CANCEL")


@dataclass
class LoadContext:
    """What building the tasks of one flow shares."""

    types: TaskTypes
    issues: Issues
    defaults: list[DefaultEntry] = field(default_factory=list)
    #: Task id -> where it was first declared.
    seen_ids: dict[str, Pos] = field(default_factory=dict)


def build_task_list(
    value: Any, pos: Pos, where: str, ctx: LoadContext, *, required: bool = False
) -> tuple[TaskNode, ...]:
    """The tasks of the list `value` (written at `pos`); `where` names the list in messages."""
    if value is None:
        if required:
            ctx.issues.add(pos, f"{where} needs at least one task; add a task under it")
        return ()
    if not isinstance(value, PSeq):
        ctx.issues.add(pos, f"{where} must be a list of tasks; got {describe(value)}")
        return ()
    if required and not value:
        ctx.issues.add(pos, f"{where} needs at least one task; add a task under it")
    nodes = []
    for index, raw in enumerate(value):
        node = _build_task(raw, value.ipos(index), ctx)
        if node is not None:
            nodes.append(node)
    return tuple(nodes)


def _check_id(raw: PMap, ctx: LoadContext) -> str | None:
    task_id = raw.get("id")
    if task_id is None:
        ctx.issues.add(raw.pos, "task: missing 'id'; give the task an id such as `id: load`")
        return None
    if not isinstance(task_id, str):
        task_id = str(task_id)
    if not TASK_ID_PATTERN.match(task_id):
        ctx.issues.add(
            raw.vpos("id"),
            f"task id {task_id!r} is invalid; use letters, digits, '_' and '-' only, starting "
            "with a letter or digit",
        )
    first = ctx.seen_ids.get(task_id)
    if first is not None:
        ctx.issues.add(
            raw.vpos("id"),
            f"task id '{task_id}' is already used at {first}; task ids must be unique in a flow",
        )
    else:
        ctx.seen_ids[task_id] = raw.vpos("id")
    return task_id


def _resolve_type(raw: PMap, subject: str, ctx: LoadContext) -> tuple[str, KindInfo] | None:
    written = raw.get("type")
    if written is None:
        ctx.issues.add(raw.pos, f"{subject}: missing 'type'; name the task type it runs")
        return None
    if not isinstance(written, str):
        ctx.issues.add(
            raw.vpos("type"), f"{subject}: 'type' must be a text; got {describe(written)}"
        )
        return None
    info = ctx.types.lookup(written)
    if info is None:
        guess = did_you_mean(written, ctx.types.names())
        hint = f"did you mean '{guess}'? " if guess else ""
        ctx.issues.add(
            raw.vpos("type"),
            f"{subject}: unknown type '{written}'; {hint}({KNOWN_TYPES_HINT})",
        )
        return None
    return written, info


def _build_task(raw: Any, pos: Pos, ctx: LoadContext) -> TaskNode | None:
    if not isinstance(raw, PMap):
        ctx.issues.add(pos, f"a task must be a mapping with 'id' and 'type'; got {describe(raw)}")
        return None
    task_id = _check_id(raw, ctx)
    subject = f"task '{task_id}'" if task_id is not None else "task"
    resolved = _resolve_type(raw, subject, ctx)
    if resolved is None:
        _common(raw, subject, ctx)
        return None
    written, info = resolved
    task = apply_defaults(ctx.defaults, raw, written, info)
    if info.flowable is None:
        for key in FLOWABLE_ONLY:
            if key in task:
                ctx.issues.add(
                    task.kpos(key),
                    f"{subject}: '{key}' only applies to flowable tasks; wrap the task in a "
                    f"Sequential, or move these tasks to the flow's '{key}'",
                )
    check_keys(task, info.accepted, subject, ctx.issues, ignore=FLOWABLE_ONLY)
    common = _common(task, subject, ctx)
    properties = _properties(task, info, subject, ctx)
    if properties is not None and info.flowable is not None and info.flowable.dag:
        _dag_limit(properties, task, subject, ctx)
    children = _children(task, info, subject, ctx) if info.flowable is not None else {}
    if task_id is None or common is None or properties is None:
        return None
    return TaskNode(
        id=task_id,
        type=written,
        kind=info.kind,
        flowable=info.flowable is not None,
        properties=properties,
        pos=raw.pos,
        **common,
        **children,
    )


def _common(task: PMap, subject: str, ctx: LoadContext) -> dict[str, Any] | None:
    """The TaskNode fields of Kestra's common task properties, or None if one is invalid."""
    issues = ctx.issues
    before = len(issues.items)
    fields: dict[str, Any] = {}
    for key in ("description", "version"):
        fields[key] = check_kind(task, key, str, subject, issues)
    for key in ("disabled", "allowFailure", "allowWarning", "logToFile"):
        flag = check_kind(task, key, bool, subject, issues)
        if flag is not None:
            fields[key] = flag
    level = task.get("logLevel")
    if level is not None:
        if level in _LOG_LEVELS:
            fields["logLevel"] = level
        else:
            issues.add(
                task.vpos("logLevel"),
                f"{subject}: unknown logLevel {describe(level)}; use one of "
                + ", ".join(_LOG_LEVELS),
            )
    run_if = task.get("runIf")
    if isinstance(run_if, bool):
        fields["runIf"] = "true" if run_if else "false"
    elif run_if is not None:
        fields["runIf"] = check_kind(task, "runIf", str, subject, issues)
        check_templates(run_if, task.vpos("runIf"), f"{subject}: property ", "runIf", issues)
    _timeout(task, subject, fields, issues)
    if "retry" in task:
        if isinstance(task["retry"], PMap):
            fields["retry"] = parse_retry(task["retry"], subject, issues)
        else:
            check_kind(task, "retry", dict, subject, issues)
    if "assets" in task:
        if isinstance(task["assets"], PMap):
            fields["assets"] = parse_assets(task["assets"], subject, issues)
        else:
            check_kind(task, "assets", dict, subject, issues)
    fields["workerGroup"] = _worker_group(task, subject, issues)
    fields["taskCache"] = _task_cache(task, subject, issues)
    if len(issues.items) > before:
        return None
    return {key: value for key, value in fields.items() if value is not None}


def _timeout(task: PMap, subject: str, fields: dict[str, Any], issues: Issues) -> None:
    timeout = task.get("timeout")
    if timeout is None:
        return
    if is_templated(timeout):
        fields["timeout_template"] = timeout
        check_templates(timeout, task.vpos("timeout"), f"{subject}: property ", "timeout", issues)
        return
    try:
        fields["timeout"] = parse_duration(timeout)
    except (DurationError, TypeError, AttributeError):
        issues.add(
            task.vpos("timeout"),
            f"{subject}: 'timeout': {describe(timeout)} is not an ISO-8601 duration; write it "
            "like PT5M, PT1H30M, P1D or PT0.5S",
        )


def _worker_group(task: PMap, subject: str, issues: Issues) -> dict[str, Any] | None:
    group = check_kind(task, "workerGroup", dict, subject, issues)
    if not isinstance(group, PMap):
        return None
    where = f"{subject}: workerGroup"
    check_keys(group, ("key", "fallback"), where, issues)
    check_kind(group, "key", str, where, issues)
    fallback = group.get("fallback")
    if fallback is not None and fallback not in _FALLBACKS:
        issues.add(
            group.vpos("fallback"),
            f"{where}: unknown fallback {describe(fallback)}; use one of " + ", ".join(_FALLBACKS),
        )
    result: dict[str, Any] = plain(group)
    return result


def _task_cache(task: PMap, subject: str, issues: Issues) -> dict[str, Any] | None:
    cache = check_kind(task, "taskCache", dict, subject, issues)
    if not isinstance(cache, PMap):
        return None
    where = f"{subject}: taskCache"
    check_keys(cache, ("enabled", "ttl"), where, issues)
    result: dict[str, Any] = {"enabled": bool(check_kind(cache, "enabled", bool, where, issues))}
    if "ttl" in cache:
        try:
            result["ttl"] = parse_duration(cache["ttl"])
        except (DurationError, TypeError, AttributeError) as exc:
            issues.add(cache.vpos("ttl"), f"{where}: 'ttl': {exc}")
    return result


def _properties(
    task: PMap, info: KindInfo, subject: str, ctx: LoadContext
) -> dict[str, Any] | None:
    """The type-specific properties, raw; flowables get their Params defaults filled in."""
    before = len(ctx.issues.items)
    child_keys = set(info.flowable.child_keys()) if info.flowable else set()
    skip = set(COMMON_PROPERTIES) | set(FLOWABLE_ONLY) | child_keys
    properties: dict[str, Any] = {}
    prefix = f"{subject}: property "
    for name, spec in info.props.items():
        if name in task or not spec.required or name in child_keys:
            continue
        ctx.issues.add(task.pos, f"{subject}: missing required property '{name}'; add it")
    for name, value in task.items():
        if name in skip or name not in info.accepted:
            continue
        prop = info.props.get(name)
        if prop is not None:
            check_literal(value, prop.annotation, task.vpos(name), prefix, name, issues=ctx.issues)
        check_templates(value, task.vpos(name), prefix, name, ctx.issues)
        properties[name] = plain(value)
    if info.flowable is not None:
        for name, spec in info.props.items():
            if name not in properties and not spec.required:
                properties[name] = spec.default
        if "onResume" in task and info.flowable.kind.endswith(".Pause"):
            properties["onResume"] = parse_input_decls(task["onResume"], ctx.issues)
        if info.flowable.check is not None and len(ctx.issues.items) == before:
            view = {
                **properties,
                **({"timeout": plain(task["timeout"])} if "timeout" in task else {}),
            }
            problem = info.flowable.check(view)
            if problem is not None:
                ctx.issues.add(task.pos, f"{subject}: {problem}")
    if len(ctx.issues.items) > before:
        return None
    return properties


def _children(task: PMap, info: KindInfo, subject: str, ctx: LoadContext) -> dict[str, Any]:
    """TaskNode fields holding a flowable's children."""
    spec = info.flowable
    assert spec is not None
    found: dict[str, Any] = {}
    if spec.tasks_key is not None:
        required = spec.tasks_key in spec.required_lists
        if spec.dag:
            found.update(_dag(task, subject, ctx))
        else:
            found["tasks"] = build_task_list(
                task.get(spec.tasks_key),
                task.vpos(spec.tasks_key) if spec.tasks_key in task else task.pos,
                f"{subject}: '{spec.tasks_key}'",
                ctx,
                required=required,
            )
    branches: dict[str, tuple[TaskNode, ...]] = {}
    if spec.cases_key is not None:
        cases = check_kind(task, spec.cases_key, dict, subject, ctx.issues)
        if isinstance(cases, PMap):
            for case, tasks in cases.items():
                branches[f"case:{case}"] = build_task_list(
                    tasks, cases.vpos(case), f"{subject}: case '{case}'", ctx, required=True
                )
    for key in spec.branch_keys:
        if key in task or key in spec.required_lists:
            branches[key] = build_task_list(
                task.get(key),
                task.vpos(key),
                f"{subject}: '{key}'",
                ctx,
                required=key in spec.required_lists,
            )
    found["branches"] = branches
    found["errors"] = build_task_list(
        task.get("errors"), task.vpos("errors"), f"{subject}: 'errors'", ctx
    )
    found["finally_"] = build_task_list(
        task.get("finally"), task.vpos("finally"), f"{subject}: 'finally'", ctx
    )
    return found


def _dag(task: PMap, subject: str, ctx: LoadContext) -> dict[str, Any]:
    """A Dag's wrapped tasks (in written order) and what each waits for: its `dependsOn` when
    written, else the tasks that output an asset it reads (`scheduler.dag`)."""
    wrappers = task.get("tasks")
    pos = task.vpos("tasks")
    if not isinstance(wrappers, PSeq) or not wrappers:
        ctx.issues.add(
            pos if "tasks" in task else task.pos,
            f"{subject}: 'tasks' needs at least one `- task: {{...}}` entry; add one",
        )
        return {}
    nodes: list[TaskNode] = []
    written: dict[str, tuple[str, ...] | None] = {}
    wanted: list[tuple[str, str, Pos]] = []
    for index, wrapper in enumerate(wrappers):
        where = f"{subject}: tasks[{index}]"
        if not isinstance(wrapper, PMap):
            ctx.issues.add(
                wrappers.ipos(index),
                f"{where}: must be a mapping with 'task' and 'dependsOn'; got {describe(wrapper)}",
            )
            continue
        check_keys(wrapper, ("task", "dependsOn"), where, ctx.issues)
        if "task" not in wrapper:
            ctx.issues.add(
                wrapper.pos, f"{where}: missing 'task'; wrap the task as `task: {{...}}`"
            )
            continue
        node = _build_task(wrapper["task"], wrapper.vpos("task"), ctx)
        deps = check_kind(wrapper, "dependsOn", list, where, ctx.issues)
        names: list[str] | None = None
        if isinstance(deps, PSeq):
            names = []
            for dep_index, dep in enumerate(deps):
                names.append(str(dep))
                owner = node.id if node is not None else str(wrapper["task"].get("id"))
                wanted.append((owner, str(dep), deps.ipos(dep_index)))
        if node is not None:
            nodes.append(node)
            written[node.id] = tuple(names) if names is not None else None
    ids = [node.id for node in nodes]
    for owner, dep, dep_pos in wanted:
        if dep not in ids:
            ctx.issues.add(
                dep_pos,
                f"{subject}: task '{owner}' depends on '{dep}', which is not a task of this Dag;"
                f" use one of: {', '.join(ids)}",
            )
    edges = derive_edges(nodes, written)
    cycle = find_cycle(nodes, edges)
    if cycle:
        first = next(node for node in nodes if node.id == cycle[0].before)
        derived = any(edge.assets for edge in cycle)
        fix = (
            "write `dependsOn` on one of these tasks, or remove one of these asset inputs"
            if derived
            else "remove one of these dependencies"
        )
        ctx.issues.add(
            task.pos,
            f"{subject}: its tasks wait for each other in a cycle starting at task "
            f"'{first.id}' ({first.pos}): {describe_cycle(cycle)}; {fix}",
        )
    return {"tasks": tuple(nodes), "depends_on": dependency_map(nodes, edges)}


def _dag_limit(properties: dict[str, Any], task: PMap, subject: str, ctx: LoadContext) -> None:
    """Fold Dag's `concurrencyLimit` (the issue's name) into Kestra's `concurrent`, in place."""
    limit = properties.pop("concurrencyLimit", None)
    if "concurrencyLimit" not in task:
        return
    if "concurrent" in task:
        ctx.issues.add(
            task.kpos("concurrencyLimit"),
            f"{subject}: 'concurrent' and 'concurrencyLimit' both set how many tasks run at "
            "once; keep one of them",
        )
        return
    properties["concurrent"] = limit
