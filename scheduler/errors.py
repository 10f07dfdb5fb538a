"""The scheduler's exceptions, one tree; errors from YAML, pydantic and Jinja2 are converted.

    SchedulerError
    ├── FlowError        a flow file does not load: every issue found, ordered by position
    ├── InputError       inputs given to a run do not fit the flow's declarations
    ├── TemplateError    a template does not parse or does not render
    ├── DurationError    a text is not an ISO-8601 duration (also a ValueError)
    ├── ExecutionError   an execution could not be driven to its end
    ├── BackendError     a task run could not be executed or its result was lost
    │                    (scheduler/backends.py)
    ├── SubmitError      a flow could not be handed to a cluster's Ray Jobs API
    │                    (scheduler/submit.py)
    ├── WebError         an API call cannot be answered: NotFound, BadRequest, NotAvailable,
    │                    BindRefused (scheduler/web/errors.py)
    └── BlueprintError   a blueprint cannot be turned into a flow (scheduler/blueprints/errors.py)
        ├── CatalogError, BlueprintFileError
        ├── ArgumentError       a form answer breaks its declaration
        └── GeneratedFlowError  the generated YAML does not validate (lines mapped to the template)

A `FlowIssue` is one problem at one position; `str(issue)` reads
`path:line:col: what is wrong; how to fix it`.

No I/O here.
"""

from __future__ import annotations

from typing import NamedTuple

from scheduler.flow_model import Pos

__all__ = [
    "DurationError",
    "ExecutionError",
    "FlowError",
    "FlowIssue",
    "InputError",
    "SchedulerError",
    "TemplateError",
]


class FlowIssue(NamedTuple):
    """One problem found in a flow (or in the inputs given to it), at the position it concerns."""

    pos: Pos
    message: str

    def __str__(self) -> str:
        return f"{self.pos}: {self.message}"


class SchedulerError(Exception):
    """Base of every error the scheduler raises."""


class _IssuesError(SchedulerError):
    """An error made of several issues, one per line."""

    def __init__(self, issues: list[FlowIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class FlowError(_IssuesError):
    """A flow file failed to load; `issues` holds all of its problems, ordered by position."""


class InputError(_IssuesError):
    """Inputs given to a run are missing, unknown or invalid; positions are the declarations."""


class TemplateError(SchedulerError):
    """A template failed to parse or to render; `pos` is where it was written, when known."""

    def __init__(self, message: str, pos: Pos | None = None) -> None:
        self.pos = pos
        self.message = message
        super().__init__(f"{pos}: {message}" if pos is not None else message)


class DurationError(SchedulerError, ValueError):
    """A text (or number) is not a valid ISO-8601 duration."""


class ExecutionError(SchedulerError):
    """An execution could not be driven to its end (not a task's own failure)."""
