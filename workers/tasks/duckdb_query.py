"""Kestra's DuckDB Query task (`io.kestra.plugin.jdbc.duckdb.Query`) on the real duckdb package.

`url` is `jdbc:duckdb:` (in memory, Kestra's default) or `jdbc:duckdb:PATH`; a relative PATH
resolves against the flow's directory (`spec.workdir`). `databaseUri` opens a copy of a database
file from the internal storage instead; `outputDbFile` stores the database file afterwards
(output `databaseUri`). `sql` may hold several statements; the last one's result is what
`fetchType` keeps: NONE (default), FETCH_ONE (`row`, `size`), FETCH (`rows`, `size`) or STORE
(an ION file in the internal storage: `uri`, `size`). `parameters` are bound by name (`$name`).
`afterSQL` runs after the fetch, in the same transaction when `autoCommit` is false.

Relative paths read by the SQL are looked up in the task run's working directory (where
`inputFiles` land) and then in the flow's directory (DuckDB's `file_search_path`); files it
writes should use `{{ outputFiles.<name> }}` or `{{ workingDir }}`, which the worker resolves.
MotherDuck (`md:` URLs) needs network access and a token, so it is refused with a hint.
Deprecated `store`/`fetch`/`fetchOne` booleans map to fetchType; `username`/`password`,
meaningless for DuckDB, are accepted and ignored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Final, Literal
from urllib.parse import parse_qsl

import pydantic

from workers.context import TaskContext
from workers.errors import ParamsError, TaskFailed
from workers.output_values import iso_duration, to_msgpack_value
from workers.registry import TaskType, register_task
from workers.task_files import (
    collect_output_files,
    copy_from_storage,
    late_bound,
    write_input_files,
)

URL_PREFIX: Final = "jdbc:duckdb:"
FetchType = Literal["NONE", "FETCH_ONE", "FETCH", "STORE"]


class DuckDBQueryParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    url: str = URL_PREFIX
    sql: str
    fetchType: FetchType = "NONE"  # noqa: N815 - Kestra's property names
    fetchSize: int = pydantic.Field(default=10000, ge=0)  # noqa: N815
    autoCommit: bool = True  # noqa: N815
    timeZoneId: str | None = None  # noqa: N815
    parameters: dict[str, Any] | None = None
    afterSQL: str | None = None  # noqa: N815
    inputFiles: dict[str, Any] | str | None = None  # noqa: N815
    outputFiles: list[str] | None = None  # noqa: N815
    databaseUri: str | None = None  # noqa: N815
    databaseFile: str | None = None  # noqa: N815
    outputDbFile: bool = False  # noqa: N815
    username: str | None = None
    password: str | None = None
    store: bool | None = None
    fetch: bool | None = None
    fetchOne: bool | None = None  # noqa: N815

    def fetch_type(self) -> FetchType:
        if self.fetchOne:
            return "FETCH_ONE"
        if self.store:
            return "STORE"
        if self.fetch:
            return "FETCH"
        return self.fetchType


def database_target(
    p: DuckDBQueryParams, ctx: TaskContext
) -> tuple[str, dict[str, str | bool | int | float | list[str]]]:
    """The database path (or `:memory:`) and the config options the URL carries."""
    url = p.url.strip()
    if url.startswith("md:") or url.startswith(URL_PREFIX + "md:"):
        raise TaskFailed(
            "MotherDuck needs network access and a MotherDuck token, which assetline workers "
            "do not use; use a local file path (url: jdbc:duckdb:/path/to/file.duckdb) or "
            "jdbc:duckdb: for an in-memory database"
        )
    if not url.startswith(URL_PREFIX):
        raise ParamsError(
            f"property 'url': {p.url!r} is not a DuckDB JDBC URL; use jdbc:duckdb: (in memory) "
            "or jdbc:duckdb:PATH"
        )
    rest, _, query = url[len(URL_PREFIX) :].partition("?")
    config: dict[str, str | bool | int | float | list[str]] = {
        key: value for key, value in parse_qsl(query) if key != "motherduck_token"
    }
    if p.databaseUri:
        name = PurePosixPath(p.databaseUri).name or "database.duckdb"
        local = ctx.working_dir / name
        copy_from_storage(ctx, p.databaseUri, local)
        return str(local), config
    if p.databaseFile:
        return str(ctx.resolve_path(p.databaseFile)), config
    if rest in {"", ":memory:", "memory:"}:
        if p.outputDbFile:
            return str(ctx.working_dir / "database.duckdb"), config
        return ":memory:", config
    return str(ctx.resolve_path(rest)), config


@register_task
class DuckDBQuery(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.jdbc.duckdb.Query"
    aliases: ClassVar[tuple[str, ...]] = ("duckdb",)
    Params: ClassVar[type[pydantic.BaseModel]] = DuckDBQueryParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        import duckdb

        p: DuckDBQueryParams = params
        target, config = database_target(p, ctx)
        write_input_files(ctx, p.inputFiles)
        sql = late_bound(p.sql, ctx.working_dir)
        if not sql.strip():
            raise ParamsError("property 'sql': empty; write at least one SQL statement")
        outputs: dict[str, Any] = {}
        if target != ":memory:" and "://" not in target:
            # DuckDB creates the database file but not its folder; a flow should not have to.
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(target, config=config)
        except duckdb.Error as exc:
            raise TaskFailed(f"cannot open DuckDB database {target!r}: {exc}") from exc
        try:
            ctx.on_cancel(con.interrupt)
            search = [str(ctx.working_dir)] + ([ctx.spec.workdir] if ctx.spec.workdir else [])
            con.execute("SET file_search_path = ?", [",".join(search)])
            if p.timeZoneId:
                con.execute("SET TimeZone = ?", [p.timeZoneId])
            if not p.autoCommit:
                con.begin()
            self._execute_all(con, sql, p.parameters or {})
            outputs.update(self._fetch(con, p, ctx))
            if p.afterSQL:
                self._execute_all(con, late_bound(p.afterSQL, ctx.working_dir), {})
            if not p.autoCommit:
                con.commit()
        except duckdb.Error as exc:
            ctx.check_cancelled()
            raise TaskFailed(f"DuckDB: {type(exc).__name__}: {exc}") from exc
        finally:
            con.close()
        if p.outputDbFile and target != ":memory:":
            outputs["databaseUri"] = ctx.put_file(Path(target))
        if p.outputFiles:
            outputs["outputFiles"] = collect_output_files(ctx, p.outputFiles)
        return outputs

    @staticmethod
    def _execute_all(con: Any, sql: str, parameters: dict[str, Any]) -> None:
        statements = con.extract_statements(sql)
        for statement in statements:
            names = set(statement.named_parameters)
            missing = names - set(parameters)
            if missing:
                raise ParamsError(
                    f"property 'parameters': no value for ${', $'.join(sorted(missing))}"
                )
            if names:
                con.execute(statement, {name: parameters[name] for name in names})
            else:
                con.execute(statement)

    def _fetch(self, con: Any, p: DuckDBQueryParams, ctx: TaskContext) -> dict[str, Any]:
        fetch_type = p.fetch_type()
        if fetch_type == "NONE":
            return {}
        if con.description is None:
            return {"size": 0} if fetch_type != "FETCH_ONE" else {"row": None, "size": 0}
        columns = [str(column[0]) for column in con.description]
        if fetch_type == "FETCH_ONE":
            first = con.fetchone()
            row = to_msgpack_value(dict(zip(columns, first, strict=True))) if first else None
            return {"row": row, "size": 0 if row is None else 1}
        if fetch_type == "FETCH":
            rows = [to_msgpack_value(row) for row in _rows(con, columns, p.fetchSize)]
            return {"rows": rows, "size": len(rows)}
        return self._store(con, columns, p, ctx)

    @staticmethod
    def _store(
        con: Any, columns: list[str], p: DuckDBQueryParams, ctx: TaskContext
    ) -> dict[str, Any]:
        from amazon.ion import simpleion

        path = ctx.working_dir / f"{ctx.spec.task_id}.ion"
        size = 0
        with path.open("wb") as sink:
            for row in _rows(con, columns, p.fetchSize):
                simpleion.dump(ion_value(row), sink, binary=False)
                sink.write(b"\n")
                size += 1
        return {"uri": ctx.put_file(path), "size": size}


def _rows(con: Any, columns: list[str], batch: int) -> Iterator[dict[str, Any]]:
    while True:
        chunk = con.fetchmany(batch or 10000)
        if not chunk:
            return
        for row in chunk:
            yield dict(zip(columns, row, strict=True))


def ion_value(value: Any) -> Any:
    """A DuckDB value as amazon-ion's simpleion writes it (dates as day-precision timestamps)."""
    from amazon.ion.core import Timestamp, TimestampPrecision

    if value is None or isinstance(value, bool | int | float | str | bytes | Decimal):
        return value
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return Timestamp(value.year, value.month, value.day, precision=TimestampPrecision.DAY)
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(key): ion_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [ion_value(item) for item in value]
    return str(value)
