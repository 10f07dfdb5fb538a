"""The file exporter: every format, splitting, naming, the internal storage and offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from amazon.ion import simpleion

from shippers import ShipFilters, ship
from shippers.batches import ASSET_SCHEMA, EVENT_SCHEMA
from shippers.errors import ExportError, ShipperConfigError
from tests.support.lineage_data import asset, task_run
from tests.support.memory_store import MemoryStore


def _store(runs: int = 7, assets: int = 0) -> MemoryStore:
    store = MemoryStore()
    for i in range(runs):
        store.append(task_run(i, task_id="load" if i % 3 else "extract"))
    for i in range(assets):
        store.put_asset(asset(i))
    return store


def test_json_is_one_array_with_metadata_as_objects(tmp_path: Path) -> None:
    out = tmp_path / "events.json"
    report = ship(_store(), {"type": "file", "format": "JSON", "path": str(out)})
    rows = json.loads(out.read_text())
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0]["outputs"][0]["metadata"] == {"owner": "team:data", "rows": 0, "database": "dwh"}
    assert rows[0]["start"] == "2023-11-14T22:13:20Z"
    assert report.shipped == 7 and report.files == [str(out)] and report.committed_seq == 7


def test_ndjson_one_object_per_line(tmp_path: Path) -> None:
    out = tmp_path / "events.ndjson"
    ship(_store(), {"type": "file", "format": "ndjson", "path": str(out)})
    lines = out.read_text().splitlines()
    assert [json.loads(line)["taskrun_id"] for line in lines] == [f"tr{i}" for i in range(7)]


@pytest.mark.parametrize("fmt", ["ION", "ION_BINARY"])
def test_ion_text_and_binary_read_back(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "events.ion"
    ship(_store(), {"type": "file", "format": fmt, "path": str(out), "batchSize": 3})
    values = simpleion.loads(out.read_bytes(), single_value=False)
    assert [v["taskrun_id"] for v in values] == [f"tr{i}" for i in range(7)]
    assert values[0]["outputs"][0]["metadata"]["rows"] == 0
    assert values[0]["start"].year == 2023


def test_parquet_and_arrow_keep_the_schema(tmp_path: Path) -> None:
    ship(
        _store(),
        {"type": "file", "format": "PARQUET", "path": str(tmp_path / "e.parquet")},
        offset_key="p",
    )
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.schema.remove_metadata() == EVENT_SCHEMA.remove_metadata()
    assert table.column("seq").to_pylist() == list(range(1, 8))
    ship(
        _store(),
        {"type": "file", "format": "ARROW", "path": str(tmp_path / "e.arrow")},
        offset_key="a",
    )
    with pa.ipc.open_file(tmp_path / "e.arrow") as reader:
        assert reader.read_all().num_rows == 7


def test_inventory_to_parquet_ignores_offsets(tmp_path: Path) -> None:
    store = _store(runs=0, assets=12)
    out = tmp_path / "assets.parquet"
    report = ship(
        store,
        {"type": "file", "format": "PARQUET", "path": str(out), "source": "assets", "batchSize": 5},
    )
    table = pq.read_table(out)
    assert table.schema.equals(ASSET_SCHEMA) and table.num_rows == 12
    assert report.offset_key is None and store.offsets == {}


def test_max_lines_per_file_splits_into_numbered_parts(tmp_path: Path) -> None:
    out = tmp_path / "ev.ndjson"
    report = ship(
        _store(),
        {
            "type": "file",
            "format": "NDJSON",
            "path": str(out),
            "maxLinesPerFile": 3,
            "batchSize": 2,
        },
    )
    parts = sorted(tmp_path.glob("ev-*.ndjson"))
    assert [p.name for p in parts] == ["ev-00001.ndjson", "ev-00002.ndjson", "ev-00003.ndjson"]
    assert [len(p.read_text().splitlines()) for p in parts] == [3, 3, 1]
    # The offset moved file by file, each time to the last entry of a finished file.
    assert report.files == [str(p) for p in parts]


def test_offsets_commit_after_each_file_and_the_next_run_resumes(tmp_path: Path) -> None:
    store = _store()
    folder = tmp_path / "out"
    config = {"type": "file", "format": "NDJSON", "path": f"{folder}/", "maxLinesPerFile": 3}
    first = ship(store, config)
    assert store.offset_writes == [("file.default", 3), ("file.default", 6), ("file.default", 7)]
    assert sorted(p.name for p in folder.iterdir()) == [
        "kestra-log-file-000000000001-000000000003.ndjson",
        "kestra-log-file-000000000004-000000000006.ndjson",
        "kestra-log-file-000000000007-000000000007.ndjson",
    ]
    assert first.first_seq == 1 and first.last_seq == 7
    store.append(task_run(100))
    second = ship(store, config)
    assert second.shipped == 1 and second.first_seq == 8
    assert (folder / "kestra-log-file-000000000008-000000000008.ndjson").exists()
    third = ship(store, config)
    assert third.shipped == 0 and third.files == []


def test_filters_skip_entries_and_the_offset_moves_past_them(tmp_path: Path) -> None:
    store = _store()
    out = tmp_path / "x.ndjson"
    report = ship(
        store,
        {"type": "file", "format": "NDJSON", "path": str(out)},
        filters=ShipFilters(taskId="extract"),
    )
    assert report.shipped == 3 and report.skipped_by_filter == 4
    assert store.offsets["file.default"] == 7


class _Sink:
    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    def put(self, local: Path, name: str) -> str:
        self.stored[name] = local.read_bytes()
        return f"kestra:///company/team/flow/{name}"


def test_internal_storage_gets_prefixed_files(tmp_path: Path) -> None:
    sink = _Sink()
    report = ship(
        _store(), {"type": "file", "format": "JSON", "logFilePrefix": "lineage"}, sink=sink
    )
    assert list(sink.stored) == ["lineage-000000000001-000000000007.json"]
    assert report.files == ["kestra:///company/team/flow/lineage-000000000001-000000000007.json"]
    assert len(json.loads(sink.stored["lineage-000000000001-000000000007.json"])) == 7


def test_no_path_and_no_storage_is_a_config_error() -> None:
    with pytest.raises(ShipperConfigError, match="no `path` given and no internal storage"):
        ship(_store(), {"type": "file"})


def test_unwritable_folder_is_an_export_error_and_commits_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = _store()
    with pytest.raises(ExportError, match="cannot create the folder"):
        ship(store, {"type": "file", "format": "NDJSON", "path": str(blocker / "sub" / "x.ndjson")})
    assert store.offsets == {}
