"""The asset tasks' contract without a store: names, driver-side only, property checks and
the errors a flow's author sees. Their work on a real store is in tests/integration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from workers.registry import resolve
from workers.runner import execute
from workers.spec import TaskResult, TaskRunSpec
from workers.tasks.asset_tasks import FieldQuery, PurgeParams

RunFn = Callable[..., TaskResult]
SpecFn = Callable[..., TaskRunSpec]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("io.kestra.plugin.ee.assets.Set", "io.kestra.plugin.ee.assets.Set"),
        ("io.kestra.plugin.kestra.ee.assets.Set", "io.kestra.plugin.ee.assets.Set"),
        ("assets.list", "io.kestra.plugin.ee.assets.List"),
        ("io.kestra.plugin.kestra.ee.assets.Delete", "io.kestra.plugin.ee.assets.Delete"),
        ("assets.purge", "io.kestra.plugin.ee.assets.PurgeAssets"),
    ],
)
def test_names_resolve_to_driver_side_types(name: str, kind: str) -> None:
    task_type = resolve(name)
    assert task_type is not None
    assert (task_type.kind, task_type.runs_on) == (kind, "driver")


def test_on_a_ray_worker_an_asset_task_refuses_to_run(run: RunFn) -> None:
    result = run("assets.delete", {"assetId": "trips"})
    assert result.state == "FAILED"
    assert result.error == (
        "task 'step': io.kestra.plugin.ee.assets.Delete runs in the driving process (it needs "
        "the asset store) and cannot run on a Ray worker"
    )


def _driver(spec: TaskRunSpec, **services: Any) -> TaskResult:
    return execute(spec, services=services or {"home": "/nonexistent"})


def test_without_the_store_service_the_task_says_what_it_needs(spec_factory: SpecFn) -> None:
    result = _driver(spec_factory("assets.list", {}))
    assert result.state == "FAILED"
    assert result.error == (
        "task 'step': asset tasks need the asset store and its writer, which `assetline run` "
        "lends to driver-side tasks; none were given"
    )


@pytest.mark.parametrize(
    ("type_", "properties", "error"),
    [
        ("assets.set", {"assetType": "TABLE"}, "task 'step': property 'assetId': Field required"),
        (
            "assets.set",
            {"assetId": "bad id", "assetType": "TABLE"},
            "task 'step': property 'assetId': String should match pattern "
            "'^[a-zA-Z0-9][a-zA-Z0-9._:-]*$'",
        ),
        ("assets.set", {"assetId": "t"}, "task 'step': property 'assetType': Field required"),
        (
            "assets.list",
            {"fetchType": "ALL"},
            "task 'step': property 'fetchType': Input should be 'FETCH', 'FETCH_ONE', 'STORE' "
            "or 'NONE'",
        ),
        (
            "assets.list",
            {"page": 0},
            "task 'step': property 'page': Input should be greater than or equal to 1",
        ),
        (
            "assets.list",
            {"metadataQuery": [{"field": "layer", "type": "LIKE", "value": "x"}]},
            "task 'step': property 'metadataQuery[0].type': Input should be 'EQUAL_TO' or "
            "'NOT_EQUAL_TO'",
        ),
        ("assets.delete", {}, "task 'step': property 'assetId': Field required"),
        ("assets.purge", {}, "task 'step': property 'endDate': Field required"),
        (
            "assets.purge",
            {"endDate": "last tuesday"},
            "task 'step': property 'endDate': Input should be a valid datetime or date, invalid "
            "character in year",
        ),
    ],
)
def test_invalid_properties_are_refused_with_the_property_named(
    spec_factory: SpecFn, type_: str, properties: dict[str, Any], error: str
) -> None:
    result = _driver(spec_factory(type_, properties))
    assert result.state == "FAILED"
    assert result.error == error


def test_purge_end_date_without_a_zone_is_utc_and_metadata_is_a_shorthand() -> None:
    naive = PurgeParams.model_validate(
        {
            "endDate": "2024-05-01T12:00:00",
            "metadata": {"layer": "staging"},
            "metadataQuery": [{"field": "owner", "type": "NOT_EQUAL_TO", "value": "ops"}],
        }
    )
    assert naive.end() == datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp()
    assert naive.conditions() == [
        FieldQuery(field="owner", type="NOT_EQUAL_TO", value="ops"),
        FieldQuery(field="layer", type="EQUAL_TO", value="staging"),
    ]
    zoned = PurgeParams.model_validate({"endDate": "2024-05-01T12:00:00+02:00"})
    assert zoned.end() == datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp()
