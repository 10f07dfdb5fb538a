"""A small fake of the workers' task registry, with the same interface (`resolve`,
`known_types`), so loader tests do not depend on the real task types.

Holds no tests; the loader test modules import it.
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

_FORBID = ConfigDict(extra="forbid")


class FakeLog:
    kind: ClassVar[str] = "io.kestra.plugin.core.log.Log"
    aliases: ClassVar[tuple[str, ...]] = ("log", "io.kestra.core.tasks.log.Log")

    class Params(BaseModel):
        model_config = _FORBID
        message: str | list[str]
        level: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] = "INFO"


class FakeReturn:
    kind: ClassVar[str] = "io.kestra.plugin.core.debug.Return"
    aliases: ClassVar[tuple[str, ...]] = ("return", "io.kestra.core.tasks.debugs.Return")

    class Params(BaseModel):
        model_config = _FORBID
        format: str | None = None


class FakeQuery:
    kind: ClassVar[str] = "io.kestra.plugin.jdbc.duckdb.Query"
    aliases: ClassVar[tuple[str, ...]] = ("duckdb",)

    class Params(BaseModel):
        model_config = _FORBID
        sql: str
        url: str = "jdbc:duckdb:"
        fetchType: Literal["NONE", "FETCH_ONE", "FETCH", "STORE"] = "NONE"  # noqa: N815
        parameters: dict[str, Any] = Field(default_factory=dict)


class FakeCommands:
    kind: ClassVar[str] = "io.kestra.plugin.scripts.shell.Commands"
    aliases: ClassVar[tuple[str, ...]] = ("shell",)

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)
        commands: list[str]
        env: dict[str, str] = Field(default_factory=dict)
        warningOnStdErr: bool = True  # noqa: N815
        retries: int = Field(default=0, ge=0, alias="maxRetries")


TYPES: tuple[Any, ...] = (FakeLog, FakeReturn, FakeQuery, FakeCommands)
_BY_NAME = {name: cls for cls in TYPES for name in (cls.kind, *cls.aliases)}


def resolve(type_name: str) -> Any:
    """The fake type `type_name` names, or None."""
    return _BY_NAME.get(type_name)


def known_types() -> list[str]:
    """Canonical names of the fake types, sorted."""
    return sorted(cls.kind for cls in TYPES)


REGISTRY: dict[str, Any] = {"resolve_task": resolve, "known_types": known_types}


def load(text: str, filename: str = "f.yaml") -> Any:
    """The flow in `text`, loaded against the fake registry."""
    from scheduler.loader import load_flow_text

    return load_flow_text(dedent(text), filename, **REGISTRY)


def issues_of(text: str, filename: str = "f.yaml") -> list[str]:
    """Every issue (as `path:line:col: message`) of the flow in `text`; [] when it loads."""
    from scheduler.errors import FlowError

    try:
        load(text, filename)
    except FlowError as exc:
        return [str(issue) for issue in exc.issues]
    return []


HEADER = "id: f\nnamespace: team\n"
