from __future__ import annotations

from pathlib import Path

import pytest

from workers.errors import StorageError
from workers.storage import InternalStorage, LocalStorage, key_of

IDS = {
    "namespace": "company.team",
    "flow_id": "demo",
    "execution_id": "e1",
    "task_id": "t1",
    "taskrun_id": "r1",
}


def test_local_put_get_open(tmp_path: Path) -> None:
    storage = InternalStorage.from_root(str(tmp_path / "root"))
    assert isinstance(storage, LocalStorage)
    source = tmp_path / "data file.csv"
    source.write_text("a,b\n")
    uri = storage.put(source, **IDS)
    assert uri == "kestra:///company/team/demo/executions/e1/tasks/t1/r1/data%20file.csv"
    local = storage.get(uri, tmp_path / "dest")
    assert local == tmp_path / "root/company/team/demo/executions/e1/tasks/t1/r1/data file.csv"
    with storage.open_read(uri) as stream:
        assert stream.read() == b"a,b\n"


def test_put_with_nested_name(tmp_path: Path) -> None:
    storage = InternalStorage.from_root(str(tmp_path))
    source = tmp_path / "x.txt"
    source.write_text("x")
    uri = storage.put(source, name="out/x.txt", **IDS)
    assert uri.endswith("/r1/out/x.txt")
    assert key_of(uri) == "company/team/demo/executions/e1/tasks/t1/r1/out/x.txt"


def test_errors(tmp_path: Path) -> None:
    storage = InternalStorage.from_root(str(tmp_path))
    source = tmp_path / "x.txt"
    source.write_text("x")
    with pytest.raises(StorageError) as info:
        storage.put(source, name="../escape", **IDS)
    assert str(info.value) == (
        "invalid file name '../escape' for the internal storage: use a relative path without '..'"
    )
    with pytest.raises(StorageError) as info:
        storage.put(tmp_path / "missing", **IDS)
    assert str(info.value) == f"cannot store {str(tmp_path / 'missing')!r}: no such file"
    with pytest.raises(StorageError) as info:
        storage.open_read("kestra:///company/team/nothing")
    assert str(info.value) == "no file in the internal storage at kestra:///company/team/nothing"
    with pytest.raises(StorageError) as info:
        storage.get("http://x/y", tmp_path)
    assert str(info.value) == "not an internal-storage URI: 'http://x/y' (expected kestra:///...)"
    with pytest.raises(StorageError) as info:
        storage.open_read("kestra:///a/../../etc/passwd")
    assert str(info.value) == "invalid internal-storage URI: 'kestra:///a/../../etc/passwd'"
    with pytest.raises(StorageError) as info:
        storage.put(source, **{**IDS, "task_id": "a/b"})
    assert str(info.value) == "invalid task id 'a/b' for an internal-storage path"


def test_bad_roots() -> None:
    with pytest.raises(StorageError) as info:
        InternalStorage.from_root("")
    assert (
        str(info.value) == "no internal storage configured for this task run (empty storage root)"
    )
    with pytest.raises(StorageError) as info:
        InternalStorage.from_root("gs://bucket")
    assert str(info.value) == (
        "unsupported internal-storage root 'gs://bucket': use a local folder or s3://bucket"
    )
    with pytest.raises(StorageError) as info:
        InternalStorage.from_root("s3://")
    assert str(info.value) == "invalid S3 storage root 's3://': expected s3://bucket/prefix"
