"""The blueprint library's exceptions: a branch of the scheduler's one tree.

    SchedulerError                      (scheduler.errors)
    └── BlueprintError                  a blueprint cannot be read, found, filled or rendered
        ├── CatalogError                unknown blueprint id, unreadable catalog folder
        ├── BlueprintFileError          the blueprint file is wrong (extend block, Jinja syntax)
        ├── ArgumentError               arguments given do not fit the `templateArguments`
        └── GeneratedFlowError          the rendered flow does not validate (or has leftovers)

Every error holds `issues` (`FlowIssue`s): `str(issue)` reads `file:line:col: message`. Issues of
a `GeneratedFlowError` point at the generated file and name the template line they came from.

No I/O here.
"""

from __future__ import annotations

from scheduler.errors import FlowIssue, SchedulerError

__all__ = [
    "ArgumentError",
    "BlueprintError",
    "BlueprintFileError",
    "CatalogError",
    "GeneratedFlowError",
]


class BlueprintError(SchedulerError):
    """Base of the blueprint errors; `issues` holds every problem found, one per line."""

    def __init__(self, issues: list[FlowIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class CatalogError(BlueprintError):
    """A blueprint id is unknown, or a catalog folder cannot be read."""


class BlueprintFileError(BlueprintError):
    """A blueprint file is malformed: its `extend` block, its declarations or its Jinja syntax."""


class ArgumentError(BlueprintError):
    """Arguments are unknown, missing or invalid; each issue names the argument, the rule it
    broke and the values allowed."""


class GeneratedFlowError(BlueprintError):
    """The generated flow is not a valid flow, or still holds template fragments."""
