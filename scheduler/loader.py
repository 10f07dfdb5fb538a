"""Load a flow written in Kestra's YAML dialect into a validated `Flow`, or say all that is wrong.

Accepts Kestra's full set of flow properties (id, namespace, revision, description, labels,
inputs, variables, tasks, errors, finally, pluginDefaults/taskDefaults, triggers, disabled,
deleted, concurrency, outputs, retry, sla, afterExecution, listeners, workerGroup, checks,
tenantId); anything else is an unknown key with a did-you-mean. Flow ids and namespaces follow
Kestra's rules (`AbstractFlow`). Every issue of a file is collected and reported at once, ordered
by position, as `path:line:col: what is wrong; how to fix it`.

Task types come from the workers' registry unless `resolve_task` (and `known_types`, for the
did-you-mean) are given. This module reads the flow file and nothing else: no Ray, no store.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scheduler.errors import FlowError, FlowIssue
from scheduler.field_checks import Issues, check_keys, check_kind, check_templates, describe
from scheduler.flow_model import Flow, Pos
from scheduler.input_decls import parse_input_decls
from scheduler.plugin_defaults import parse_plugin_defaults, report_defaults
from scheduler.retry_decl import parse_retry
from scheduler.task_nodes import LoadContext, build_task_list
from scheduler.task_types import ResolveTask, TaskTypes
from scheduler.yaml_positions import PMap, PSeq, parse_yaml, plain

__all__ = [
    "FLOW_ID_PATTERN",
    "FLOW_KEYS",
    "NAMESPACE_PATTERN",
    "load_flow",
    "load_flow_text",
    "validate_files",
]

#: Kestra's rules (AbstractFlow): id 1-100 characters, namespace 1-150, tenantId.
FLOW_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
NAMESPACE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
FLOW_ID_MAX = 100
NAMESPACE_MAX = 150

FLOW_KEYS = (
    "id",
    "namespace",
    "revision",
    "description",
    "labels",
    "inputs",
    "variables",
    "tasks",
    "errors",
    "finally",
    "pluginDefaults",
    "taskDefaults",
    "triggers",
    "disabled",
    "deleted",
    "concurrency",
    "outputs",
    "retry",
    "sla",
    "afterExecution",
    "listeners",
    "workerGroup",
    "checks",
    "tenantId",
)
_EXTRAS = ("sla", "afterExecution", "listeners", "workerGroup", "checks", "tenantId")
_CONCURRENCY_BEHAVIORS = ("QUEUE", "CANCEL", "FAIL")


def load_flow(
    path: str | os.PathLike[str],
    *,
    resolve_task: ResolveTask | None = None,
    known_types: Callable[[], Iterable[str]] | None = None,
) -> Flow:
    """The flow in the file at `path`; raises `FlowError` listing every issue of the file."""
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FlowError(
            [FlowIssue(Pos(name, 1, 1), f"cannot read the flow file: {reason}; check the path")]
        ) from exc
    return load_flow_text(text, name, resolve_task=resolve_task, known_types=known_types)


def load_flow_text(
    text: str,
    filename: str = "<flow>",
    *,
    resolve_task: ResolveTask | None = None,
    known_types: Callable[[], Iterable[str]] | None = None,
) -> Flow:
    """The flow written in `text` (`filename` only names it in messages); raises `FlowError`."""
    issues = Issues()
    root, duplicates = parse_yaml(text, filename)
    issues.extend(duplicates)
    top = Pos(filename, 1, 1)
    if root is None:
        issues.add(top, "the file is empty; a flow needs at least id, namespace and tasks")
        raise FlowError(issues.sorted())
    if not isinstance(root, PMap):
        issues.add(
            root.pos if isinstance(root, PSeq) else top,
            f"a flow must be a mapping of properties (id, namespace, tasks, ...); got "
            f"{describe(root)}",
        )
        raise FlowError(issues.sorted())
    flow = _build_flow(root, text, TaskTypes(resolve_task, known_types), issues)
    if issues.items or flow is None:
        raise FlowError(issues.sorted())
    return flow


def validate_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    resolve_task: ResolveTask | None = None,
    known_types: Callable[[], Iterable[str]] | None = None,
) -> list[FlowIssue]:
    """Every issue of every file in `paths`, file by file in the given order; [] when all load."""
    found: list[FlowIssue] = []
    for path in paths:
        try:
            load_flow(path, resolve_task=resolve_task, known_types=known_types)
        except FlowError as exc:
            found.extend(exc.issues)
    return found


def _check_identity(root: PMap, issues: Issues) -> None:
    for key in ("id", "namespace"):
        if key not in root:
            hint = "my_flow" if key == "id" else "company.team"
            issues.add(root.pos, f"flow: missing '{key}'; add `{key}: {hint}`")
    flow_id = check_kind(root, "id", str, "flow", issues)
    if isinstance(flow_id, str) and (
        not FLOW_ID_PATTERN.match(flow_id) or len(flow_id) > FLOW_ID_MAX
    ):
        issues.add(
            root.vpos("id"),
            f"flow id {flow_id!r} is invalid; use 1 to {FLOW_ID_MAX} letters, digits, '.', '_' "
            "and '-', starting with a letter or digit",
        )
    namespace = check_kind(root, "namespace", str, "flow", issues)
    if isinstance(namespace, str) and (
        not NAMESPACE_PATTERN.match(namespace) or len(namespace) > NAMESPACE_MAX
    ):
        issues.add(
            root.vpos("namespace"),
            f"namespace {namespace!r} is invalid; use 1 to {NAMESPACE_MAX} lowercase letters, "
            "digits, '.', '_' and '-', starting with a letter or digit",
        )
    tenant = check_kind(root, "tenantId", str, "flow", issues)
    if isinstance(tenant, str) and not TENANT_PATTERN.match(tenant):
        issues.add(
            root.vpos("tenantId"),
            f"tenantId {tenant!r} is invalid; use lowercase letters, digits, '_' and '-'",
        )


def _labels(root: PMap, issues: Issues) -> dict[str, str]:
    labels = root.get("labels")
    found: dict[str, str] = {}
    if labels is None:
        return found
    if isinstance(labels, PMap):
        for key, value in labels.items():
            if isinstance(value, dict | list) or value is None:
                issues.add(
                    labels.vpos(key), f"flow: label '{key}' must be a text; got {describe(value)}"
                )
            else:
                found[key] = describe(value) if isinstance(value, bool) else str(value)
        return found
    if isinstance(labels, PSeq):
        for index, item in enumerate(labels):
            where = f"flow: labels[{index}]"
            if not isinstance(item, PMap) or "key" not in item or "value" not in item:
                issues.add(labels.ipos(index), f"{where}: must be a mapping with 'key' and 'value'")
                continue
            check_keys(item, ("key", "value"), where, issues)
            found[str(item["key"])] = str(item["value"])
        return found
    issues.add(
        root.vpos("labels"),
        f"flow: 'labels' must be a mapping (or a list of key/value); got {describe(labels)}",
    )
    return found


def _concurrency(root: PMap, issues: Issues) -> dict[str, Any] | None:
    block = check_kind(root, "concurrency", dict, "flow", issues)
    if not isinstance(block, PMap):
        return None
    where = "flow: concurrency"
    check_keys(block, ("limit", "behavior"), where, issues)
    limit = check_kind(block, "limit", int, where, issues)
    if "limit" not in block:
        issues.add(block.pos, f"{where}: missing 'limit'; add e.g. `limit: 1`")
    elif isinstance(limit, int) and limit < 1:
        issues.add(block.vpos("limit"), f"{where}: 'limit' must be 1 or more")
    behavior = block.get("behavior")
    if behavior is not None and behavior not in _CONCURRENCY_BEHAVIORS:
        issues.add(
            block.vpos("behavior"),
            f"{where}: unknown behavior {describe(behavior)}; use one of "
            + ", ".join(_CONCURRENCY_BEHAVIORS),
        )
    result: dict[str, Any] = plain(block)
    return result


def _raw_list(root: PMap, key: str, issues: Issues) -> tuple[dict[str, Any], ...]:
    """A list of mappings kept as written (triggers, outputs): shape and templates checked."""
    items = check_kind(root, key, list, "flow", issues)
    if not isinstance(items, PSeq):
        return ()
    found = []
    for index, item in enumerate(items):
        where = f"flow: {key}[{index}]"
        if not isinstance(item, PMap):
            issues.add(items.ipos(index), f"{where}: must be a mapping; got {describe(item)}")
            continue
        for required in ("id", "type") if key == "triggers" else ("id",):
            if required not in item:
                issues.add(item.pos, f"{where}: missing '{required}'; add it")
        for name in item:
            check_templates(item[name], item.vpos(name), f"{where}: ", name, issues)
        found.append(plain(item))
    return tuple(found)


def _build_flow(root: PMap, text: str, types: TaskTypes, issues: Issues) -> Flow | None:
    check_keys(root, FLOW_KEYS, "flow", issues, noun="key")
    _check_identity(root, issues)
    for key in ("description",):
        check_kind(root, key, str, "flow", issues)
    disabled = check_kind(root, "disabled", bool, "flow", issues)
    deleted = check_kind(root, "deleted", bool, "flow", issues)
    revision = check_kind(root, "revision", int, "flow", issues)
    if isinstance(revision, int) and revision < 1:
        issues.add(root.vpos("revision"), "flow: 'revision' must be 1 or more")
    variables = check_kind(root, "variables", dict, "flow", issues)
    if isinstance(variables, PMap):
        for key, value in variables.items():
            check_templates(value, variables.vpos(key), "flow: variable ", key, issues)
    for key in ("inputs", "errors", "finally", "pluginDefaults", "taskDefaults"):
        check_kind(root, key, list, "flow", issues)
    for key in ("sla", "afterExecution", "listeners", "checks"):
        check_kind(root, key, list, "flow", issues)
    check_kind(root, "workerGroup", dict, "flow", issues)
    labels = _labels(root, issues)
    inputs = parse_input_decls(root.get("inputs"), issues)
    defaults_key = "pluginDefaults" if "pluginDefaults" in root else "taskDefaults"
    defaults = parse_plugin_defaults(root.get(defaults_key), defaults_key, issues)
    if "pluginDefaults" in root and "taskDefaults" in root:
        issues.add(
            root.kpos("taskDefaults"),
            "flow: 'taskDefaults' is the deprecated name of 'pluginDefaults'; merge it into "
            "'pluginDefaults'",
        )
    ctx = LoadContext(types=types, issues=issues, defaults=defaults)
    if "tasks" not in root:
        issues.add(root.pos, "flow: missing 'tasks'; add a list with at least one task")
    tasks = build_task_list(
        root.get("tasks"), root.vpos("tasks"), "flow: 'tasks'", ctx, required="tasks" in root
    )
    errors = build_task_list(root.get("errors"), root.vpos("errors"), "flow: 'errors'", ctx)
    finally_ = build_task_list(root.get("finally"), root.vpos("finally"), "flow: 'finally'", ctx)
    triggers = _raw_list(root, "triggers", issues)
    outputs = _raw_list(root, "outputs", issues)
    report_defaults(
        defaults,
        types.names(),
        types.lookup,
        [str(trigger.get("type")) for trigger in triggers],
        issues,
    )
    retry = parse_retry(root.get("retry"), "flow", issues) if "retry" in root else None
    if "retry" in root and not isinstance(root["retry"], PMap):
        check_kind(root, "retry", dict, "flow", issues)
    concurrency = _concurrency(root, issues)
    if issues.items:
        return None
    try:
        return Flow(
            id=root["id"],
            namespace=root["namespace"],
            revision=revision,
            description=root.get("description"),
            labels=labels,
            inputs=inputs,
            variables=plain(variables) if variables is not None else {},
            tasks=tasks,
            errors=errors,
            finally_=finally_,
            triggers=triggers,
            disabled=bool(disabled),
            deleted=bool(deleted),
            retry=retry,
            concurrency=concurrency,
            outputs=outputs,
            pluginDefaults=tuple(plain(root.get(defaults_key) or [])),
            extras={key: plain(root[key]) for key in _EXTRAS if key in root},
            source=text,
            pos=root.pos,
        )
    except ValidationError as exc:  # a bug in the checks above, reported rather than raised
        issues.add(root.pos, f"flow: internal validation error: {exc}; please report it")
        return None
