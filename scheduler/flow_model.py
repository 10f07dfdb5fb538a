"""The validated, position-carrying model of a flow: what the loader produces and the planner reads.

These are immutable pydantic models. Task-specific properties stay raw (unrendered templates)
in `TaskNode.properties`; they are rendered per task run by the planner and validated in full by
the task type's `Params` model on the worker. Every node keeps the `Pos` (file, line, column) it
came from so later errors (a template failing at run time, a cycle in a DAG) can point at it.

No I/O here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field


class Pos(NamedTuple):
    """Where a node starts in its source: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


_FROZEN = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class RetryPolicy(BaseModel):
    """Kestra's `retry`: constant, exponential or random; durations in seconds."""

    model_config = _FROZEN

    type: str = "constant"  # constant | exponential | random
    maxAttempts: int | None = None  # noqa: N815 - Kestra's field names
    interval: float = 0.0
    maxInterval: float | None = None  # noqa: N815
    delayFactor: float | None = None  # noqa: N815
    minInterval: float | None = None  # noqa: N815
    maxDuration: float | None = None  # noqa: N815
    warningOnRetry: bool = False  # noqa: N815
    behavior: str = "RETRY_FAILED_TASK"

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        if self.type == "exponential":
            factor = self.delayFactor or 2.0
            wait = self.interval * factor ** (attempt - 1)
            return min(wait, self.maxInterval) if self.maxInterval else wait
        if self.type == "random":
            import random

            low = self.minInterval or 0.0
            high = self.maxInterval or max(low, self.interval)
            return random.uniform(low, high)
        return self.interval

    def allows(self, attempt: int, elapsed: float) -> bool:
        """Whether another attempt may follow attempt number `attempt`."""
        if self.maxAttempts is not None and attempt >= self.maxAttempts:
            return False
        if self.maxDuration is not None and elapsed >= self.maxDuration:
            return False
        return self.maxAttempts is not None or self.maxDuration is not None


class AssetsDecl(BaseModel):
    """A task's `assets:` block, raw: ids and attributes may hold templates."""

    model_config = _FROZEN

    inputs: tuple[dict[str, Any], ...] = ()
    outputs: tuple[dict[str, Any], ...] = ()
    enableAuto: bool | None = None  # noqa: N815 - Kestra's field name


class TaskNode(BaseModel):
    """One task of a flow, runnable or flowable, after pluginDefaults were applied."""

    model_config = _FROZEN

    id: str
    #: The type as written in the flow.
    type: str
    #: The canonical (Kestra) type name the registry resolved it to.
    kind: str
    #: True for tasks the scheduler drives itself (ForEach, Sequential, Parallel, Dag, ...).
    flowable: bool = False
    description: str | None = None
    disabled: bool = False
    allowFailure: bool = False  # noqa: N815 - Kestra's field names
    allowWarning: bool = False  # noqa: N815
    #: Seconds, from Kestra's ISO-8601 duration (`PT5M`).
    timeout: float | None = None
    retry: RetryPolicy | None = None
    #: A template; the task is SKIPPED (recorded as SUCCESS without running) when it renders false.
    runIf: str | None = None  # noqa: N815
    assets: AssetsDecl | None = None
    #: Type-specific properties, raw. For flowables, without their child task lists.
    properties: dict[str, Any] = Field(default_factory=dict)
    #: Children of a flowable (ForEach/Sequential/Parallel `tasks`, Dag's wrapped tasks).
    tasks: tuple[TaskNode, ...] = ()
    #: For a Dag: task id -> ids it waits for: its written `dependsOn`, else derived from the
    #: assets it reads that other tasks of the Dag output (see scheduler.dag).
    depends_on: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: Named child lists of branching flowables: If's `then`/`else`, Switch's cases and
    #: `defaults` (keyed `case:<value>` and `defaults`).
    branches: dict[str, tuple[TaskNode, ...]] = Field(default_factory=dict)
    errors: tuple[TaskNode, ...] = ()
    finally_: tuple[TaskNode, ...] = ()
    pos: Pos
    #: `timeout` as written when it is a template (then `timeout` is None): render it, then
    #: parse it with `scheduler.durations.parse_duration`.
    timeout_template: str | None = None
    #: Kestra's task log level threshold: TRACE, DEBUG, INFO, WARN or ERROR.
    logLevel: str | None = None  # noqa: N815 - Kestra's field names
    logToFile: bool = False  # noqa: N815
    #: Kestra's `workerGroup: {key, fallback}`, as written.
    workerGroup: dict[str, Any] | None = None  # noqa: N815
    #: Kestra's `taskCache: {enabled, ttl}`; `ttl` in seconds.
    taskCache: dict[str, Any] | None = None  # noqa: N815
    version: str | None = None

    def walk(self) -> list[TaskNode]:
        """This node and every node below it, depth first."""
        found = [self]
        branch_nodes = [node for nodes in self.branches.values() for node in nodes]
        for child in (*self.tasks, *branch_nodes, *self.errors, *self.finally_):
            found.extend(child.walk())
        return found


class InputDef(BaseModel):
    """One flow input (Kestra's `inputs:` entry)."""

    model_config = _FROZEN

    id: str
    type: str
    required: bool = True
    defaults: Any = None
    description: str | None = None
    displayName: str | None = None  # noqa: N815 - Kestra's field names
    #: Choices of SELECT / MULTISELECT (and Kestra's older ENUM).
    values: tuple[Any, ...] | None = None
    allowCustomValue: bool = False  # noqa: N815
    validator: str | None = None
    min: Any = None
    max: Any = None
    itemType: str | None = None  # noqa: N815
    pos: Pos
    #: DATE / TIME / DATETIME bounds (ISO texts, checked as written).
    after: str | None = None
    before: str | None = None
    #: FILE: the extension the uploaded file gets (Kestra's default `.upl`).
    extension: str | None = None
    #: SELECT / MULTISELECT: a template rendering the choices (instead of `values`).
    expression: str | None = None
    isRadio: bool = False  # noqa: N815
    #: Kestra's `dependsOn: {inputs, condition}`, as written.
    dependsOn: dict[str, Any] | None = None  # noqa: N815


class Flow(BaseModel):
    """A whole validated flow."""

    model_config = _FROZEN

    id: str
    namespace: str
    revision: int | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    inputs: tuple[InputDef, ...] = ()
    variables: dict[str, Any] = Field(default_factory=dict)
    tasks: tuple[TaskNode, ...]
    errors: tuple[TaskNode, ...] = ()
    finally_: tuple[TaskNode, ...] = ()
    #: Raw trigger declarations (validated by the scheduling code that uses them).
    triggers: tuple[dict[str, Any], ...] = ()
    disabled: bool = False
    deleted: bool = False
    #: The flow-level `retry` (Kestra: applies to the whole execution).
    retry: RetryPolicy | None = None
    #: Kestra's `concurrency: {limit, behavior}`, as written.
    concurrency: dict[str, Any] | None = None
    #: Kestra's flow `outputs: [{id, type, value}]`, raw (values are templates).
    outputs: tuple[dict[str, Any], ...] = ()
    #: The pluginDefaults as written (already applied to the tasks).
    pluginDefaults: tuple[dict[str, Any], ...] = ()  # noqa: N815
    #: Other Kestra flow properties accepted and kept as written: sla, afterExecution,
    #: listeners, checks, workerGroup, tenantId (assetline does not act on them yet).
    extras: dict[str, Any] = Field(default_factory=dict)
    #: The text the flow was loaded from, kept so it can be deployed or shown as written.
    source: str = ""
    pos: Pos

    def all_tasks(self) -> list[TaskNode]:
        found: list[TaskNode] = []
        for node in (*self.tasks, *self.errors, *self.finally_):
            found.extend(node.walk())
        return found
