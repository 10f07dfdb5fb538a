"""The DuckDB Query task against temporary database files and the local internal storage."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from amazon.ion import simpleion

from workers.runner import run_task
from workers.spec import TaskResult, TaskRunSpec, decode_result, encode_spec
from workers.storage import InternalStorage

pytestmark = pytest.mark.integration


def run(tmp_path: Path, properties: dict[str, Any], **fields: Any) -> TaskResult:
    fields.setdefault("workdir", str(tmp_path))
    spec = TaskRunSpec(
        execution_id="exec1",
        flow_namespace="company.team",
        flow_id="demo",
        task_id="query",
        taskrun_id="run1",
        type="io.kestra.plugin.jdbc.duckdb.Query",
        properties=properties,
        storage=str(tmp_path / "storage"),
        **fields,
    )
    return decode_result(run_task(encode_spec(spec)))


def storage(tmp_path: Path) -> InternalStorage:
    return InternalStorage.from_root(str(tmp_path / "storage"))


def test_relative_database_file_resolves_against_workdir(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "url": "jdbc:duckdb:data/shop.duckdb",
            "sql": "CREATE TABLE orders AS SELECT range AS id, range * 10 AS amount FROM range(4);"
            "SELECT sum(amount) AS total, count(*) AS n FROM orders",
            "fetchType": "FETCH_ONE",
        },
    )
    assert result.state == "SUCCESS", result.error  # the missing folder is created
    assert (tmp_path / "data" / "shop.duckdb").is_file()
    (tmp_path / "data" / "shop.duckdb").unlink()
    result = run(
        tmp_path,
        {
            "url": "jdbc:duckdb:data/shop.duckdb",
            "sql": "CREATE TABLE orders AS SELECT range AS id, range * 10 AS amount FROM range(4);"
            "SELECT sum(amount) AS total, count(*) AS n FROM orders",
            "fetchType": "FETCH_ONE",
        },
    )
    assert result.state == "SUCCESS", result.error
    assert result.outputs == {"row": {"total": 60, "n": 4}, "size": 1}
    with duckdb.connect(str(tmp_path / "data/shop.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchone() == (4,)


def test_fetch_rows_with_parameters_and_types(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE t AS SELECT * FROM (VALUES "
            "(1, 'a', DATE '2024-01-02', 1.50::DECIMAL(6,2)), "
            "(2, 'b', DATE '2024-02-03', 2.25::DECIMAL(6,2))) v(id, name, day, price)"
        )
    result = run(
        tmp_path,
        {
            "url": f"jdbc:duckdb:{db}",
            "sql": "SELECT * FROM t WHERE id >= $min ORDER BY id",
            "parameters": {"min": 1},
            "fetchType": "FETCH",
        },
    )
    assert result.state == "SUCCESS", result.error
    assert result.outputs == {
        "rows": [
            {"id": 1, "name": "a", "day": "2024-01-02", "price": 1.5},
            {"id": 2, "name": "b", "day": "2024-02-03", "price": 2.25},
        ],
        "size": 2,
    }


def test_missing_parameter(tmp_path: Path) -> None:
    result = run(tmp_path, {"sql": "SELECT $a + $b", "parameters": {"a": 1}})
    assert result.error == "task 'query': property 'parameters': no value for $b"


def test_store_writes_a_readable_ion_file(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "sql": "SELECT range AS i, 'n' || range AS label, DATE '2024-03-04' AS day, "
            "1.25::DECIMAL(5,2) AS price FROM range(3)",
            "fetchType": "STORE",
        },
    )
    assert result.state == "SUCCESS", result.error
    assert result.outputs["size"] == 3
    uri = result.outputs["uri"]
    assert uri == "kestra:///company/team/demo/executions/exec1/tasks/query/run1/query.ion"
    with storage(tmp_path).open_read(uri) as stream:
        rows = list(simpleion.load(stream, single_value=False))
    assert [row["i"] for row in rows] == [0, 1, 2]
    assert [row["label"] for row in rows] == ["n0", "n1", "n2"]
    assert rows[0]["price"] == Decimal("1.25")
    assert rows[0]["day"].date() == dt.date(2024, 3, 4)


def test_fetch_none_and_store_with_no_result_set(tmp_path: Path) -> None:
    assert run(tmp_path, {"sql": "SELECT 1"}).outputs == {}
    empty = run(tmp_path, {"sql": "SELECT 1 WHERE false", "fetchType": "FETCH_ONE"})
    assert empty.outputs == {"row": None, "size": 0}


def test_input_and_output_files(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text("id,amount\n1,5\n2,7\n")
    uri = storage(tmp_path).put(
        source, namespace="x", flow_id="f", execution_id="e", task_id="t", taskrun_id="r"
    )
    result = run(
        tmp_path,
        {
            "sql": "CREATE TABLE o AS SELECT * FROM read_csv_auto('in.csv', header=true);"
            "COPY (SELECT sum(amount) AS total FROM o) TO '{{ outputFiles.out }}' (HEADER);"
            "SELECT count(*) AS n FROM o",
            "inputFiles": {"in.csv": uri},
            "outputFiles": ["out"],
            "fetchType": "FETCH_ONE",
        },
    )
    assert result.state == "SUCCESS", result.error
    assert result.outputs["row"] == {"n": 2}
    with storage(tmp_path).open_read(result.outputs["outputFiles"]["out"]) as stream:
        assert stream.read() == b"total\n12\n"


def test_reads_relative_to_workdir(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("a\n1\n2\n3\n")
    result = run(tmp_path, {"sql": "SELECT sum(a) AS s FROM 'raw.csv'", "fetchType": "FETCH_ONE"})
    assert result.outputs["row"] == {"s": 6}


def test_output_db_file_and_database_uri(tmp_path: Path) -> None:
    first = run(
        tmp_path,
        {"sql": "CREATE TABLE k AS SELECT 42 AS v", "outputDbFile": True},
    )
    assert first.state == "SUCCESS", first.error
    db_uri = first.outputs["databaseUri"]
    second = run(
        tmp_path,
        {"databaseUri": db_uri, "sql": "SELECT v FROM k", "fetchType": "FETCH_ONE"},
    )
    assert second.outputs["row"] == {"v": 42}


def test_after_sql_in_a_transaction(tmp_path: Path) -> None:
    db = tmp_path / "tx.duckdb"
    result = run(
        tmp_path,
        {
            "url": f"jdbc:duckdb:{db}",
            "sql": "CREATE TABLE q(v INT); INSERT INTO q VALUES (1), (2); SELECT * FROM q",
            "afterSQL": "DELETE FROM q WHERE v = 1",
            "autoCommit": False,
            "fetchType": "FETCH",
        },
    )
    assert result.outputs["rows"] == [{"v": 1}, {"v": 2}]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT v FROM q").fetchall() == [(2,)]


def test_sql_error_fails(tmp_path: Path) -> None:
    result = run(tmp_path, {"sql": "SELECT * FROM nowhere"})
    assert result.state == "FAILED"
    assert result.error is not None
    assert result.error.startswith(
        "DuckDB: CatalogException: Catalog Error: Table with name nowhere does not exist!"
    )


@pytest.mark.parametrize("url", ["jdbc:duckdb:md:my_db?motherduck_token=abc", "md:my_db"])
def test_motherduck_is_refused(tmp_path: Path, url: str) -> None:
    result = run(tmp_path, {"url": url, "sql": "SELECT 1"})
    assert result.error == (
        "MotherDuck needs network access and a MotherDuck token, which assetline workers do not "
        "use; use a local file path (url: jdbc:duckdb:/path/to/file.duckdb) or jdbc:duckdb: for "
        "an in-memory database"
    )


def test_url_must_be_duckdb_jdbc(tmp_path: Path) -> None:
    result = run(tmp_path, {"url": "jdbc:postgresql://h/db", "sql": "SELECT 1"})
    assert result.error == (
        "task 'query': property 'url': 'jdbc:postgresql://h/db' is not a DuckDB JDBC URL; use "
        "jdbc:duckdb: (in memory) or jdbc:duckdb:PATH"
    )


def test_empty_sql(tmp_path: Path) -> None:
    result = run(tmp_path, {"sql": "  "})
    assert result.error == "task 'query': property 'sql': empty; write at least one SQL statement"


def test_time_zone(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "sql": "SELECT current_setting('TimeZone') AS tz",
            "timeZoneId": "Europe/Paris",
            "fetchType": "FETCH_ONE",
        },
    )
    assert result.outputs["row"] == {"tz": "Europe/Paris"}


def test_timeout_interrupts_a_query(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {"sql": "SELECT count(*) FROM range(100000000000) a", "fetchType": "FETCH_ONE"},
        timeout=0.5,
    )
    assert result.state == "FAILED"
    assert result.error == "timed out after 0.5 s"
