"""S3 task types without a server: registration, property checks and `from` handling.

Every case here fails before any request is sent (tests with moto live in
tests/integration/test_aws_s3.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from workers.errors import ParamsError
from workers.registry import resolve
from workers.spec import TaskResult
from workers.tasks.aws_s3 import CreateBucket, Download, Upload, source_list

RunFn = Callable[..., TaskResult]
CONN = {
    "accessKeyId": "testing",
    "secretKeyId": "testing",
    "region": "us-east-1",
    "endpointOverride": "http://127.0.0.1:9",
}


def test_registered_under_kestra_names_and_aliases() -> None:
    assert resolve("io.kestra.plugin.aws.s3.Upload") is Upload
    assert resolve("s3.upload") is Upload
    assert resolve("io.kestra.plugin.aws.s3.Download") is Download
    assert resolve("io.kestra.plugin.aws.s3.CreateBucket") is CreateBucket


def test_from_forms() -> None:
    assert source_list("kestra:///a/b.csv") == ["kestra:///a/b.csv"]
    assert source_list(["a.csv", " b.csv "]) == ["a.csv", "b.csv"]
    assert source_list('[\n  "kestra:///x/1.csv",\n  "kestra:///y/2.csv"\n]') == [
        "kestra:///x/1.csv",
        "kestra:///y/2.csv",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[not json]", "property 'from': not a valid JSON array (Expecting value)"),
        ("[1, 2]", "property 'from': the JSON array must hold file URIs or paths"),
        ([], "property 'from': no file to upload (empty list)"),
        ("[]", "property 'from': no file to upload (empty list)"),
    ],
)
def test_bad_from(value: str | list[str], message: str) -> None:
    with pytest.raises(ParamsError) as info:
        source_list(value)
    assert str(info.value) == message


def test_missing_from_file(run: RunFn, tmp_path: Path) -> None:
    result = run(
        "s3.upload",
        {**CONN, "bucket": "b-one", "key": "k.csv", "from": "data/missing.csv"},
        workdir=str(tmp_path),
    )
    assert result.state == "FAILED"
    assert result.error == (
        f"property 'from': no file at '{tmp_path}/data/missing.csv' (a relative path resolves "
        f"against '{tmp_path}'; use a kestra:/// URI for a file another task produced)"
    )


def test_missing_from_uri(run: RunFn, tmp_path: Path) -> None:
    result = run(
        "s3.upload",
        {**CONN, "bucket": "b-one", "key": "k.csv", "from": "kestra:///company/team/none.csv"},
    )
    assert result.state == "FAILED"
    assert result.error == (
        "property 'from': no file in the internal storage at kestra:///company/team/none.csv"
    )


def test_two_files_for_one_key(run: RunFn, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.csv").write_text("1")
    (tmp_path / "x.csv").write_text("2")
    result = run(
        "s3.upload",
        {**CONN, "bucket": "b-one", "key": "dir/", "from": ["a/x.csv", "x.csv"]},
        workdir=str(tmp_path),
    )
    assert result.error == (
        "task 'step': property 'from': 'a/x.csv' and 'x.csv' would both be uploaded to "
        "s3://b-one/dir/x.csv; give files distinct names"
    )


def test_required_properties(run: RunFn) -> None:
    result = run("s3.upload", {**CONN, "bucket": "b-one"})
    assert result.error == (
        "task 'step': property 'from': Field required; property 'key': Field required"
    )


def test_multi_file_download_is_refused(run: RunFn) -> None:
    result = run("s3.download", {**CONN, "bucket": "b-one", "prefix": "data/"})
    assert result.error == (
        "task 'step': property 'key': Field required; unknown property 'prefix'"
    )
