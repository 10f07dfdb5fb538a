"""Every built-in blueprint, rendered with its defaults, runs end to end on the session's Ray
and registers the assets it declares (the bucket one against a moto S3 server on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scheduler.blueprints import generate_flow, load_catalog
from scheduler.runner import run_flow
from tests.integration.flows import open_store, run_text
from tests.support.moto_server import MotoServer, aws_sandbox, moto_s3  # noqa: F401 - fixtures
from tests.support.openlineage_receiver import OpenLineageReceiver

pytestmark = pytest.mark.integration


def generated(blueprint_id: str, given: dict[str, Any] | None = None) -> Any:
    return generate_flow(load_catalog(environ={}).get(blueprint_id), given or {}).flow


def test_duckdb_layers_with_defaults(ray_session: Any, tmp_path: Path, home: Path) -> None:
    (tmp_path / "data").mkdir()
    summary = run_flow(generated("duckdb-layers"), {}, home=home, workdir=str(tmp_path))
    assert summary.state == "SUCCESS", summary.errors
    assert summary.assets_written == ["orders_mart", "orders_staging"]
    with open_store(home) as store:
        for table, layer in (("orders_staging", "staging"), ("orders_mart", "mart")):
            asset = store.get_asset(table)
            assert asset is not None and asset.type == "io.kestra.plugin.ee.assets.Table"
            assert asset.metadata["model_layer"] == layer
        source = store.get_asset("raw.orders")
        assert source is not None and source.type == "External"
        graph = store.lineage("orders_mart", direction="up").to_json()
        assert {n["id"] for n in graph["nodes"] if n["kind"] == "asset"} == {
            "orders_mart",
            "orders_staging",
            "raw.orders",
        }


@pytest.mark.usefixtures("aws_sandbox")
def test_team_buckets_against_moto(
    ray_session: Any,
    tmp_path: Path,
    home: Path,
    moto_s3: MotoServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASSETLINE_SECRET_AWS_ACCESS_KEY_ID", moto_s3.access_key)
    monkeypatch.setenv("ASSETLINE_SECRET_AWS_SECRET_ACCESS_KEY", moto_s3.secret_key)
    flow = generated("team-buckets", {"endpoint": moto_s3.endpoint, "region": "us-east-1"})
    summary = run_flow(flow, {}, home=home, workdir=str(tmp_path))
    assert summary.state == "SUCCESS", summary.errors
    assert {"acme-data-analytics", "acme-data-finance"} <= moto_s3.buckets()
    tags = moto_s3.client().get_bucket_tagging(Bucket="acme-data-finance")["TagSet"]
    assert tags == [{"Key": "team", "Value": "finance"}]
    with open_store(home) as store:
        for team in ("analytics", "finance"):
            asset = store.get_asset(f"acme-data-{team}")
            assert asset is not None and asset.type == "AWS_BUCKET"
            assert asset.metadata["team"] == team and asset.metadata["region"] == "us-east-1"
    rerun = run_flow(flow, {}, home=home, workdir=str(tmp_path))
    assert rerun.state == "SUCCESS", rerun.errors


SEED_MACHINES = """
    id: seed_machines
    namespace: company.operations
    tasks:
      - id: inventory
        type: io.kestra.plugin.core.log.Log
        message: registering machines
        assets:
          outputs:
            - {id: web-1, type: VM, metadata: {role: web}}
            - {id: web-2, type: VM, metadata: {role: web}}
            - {id: db-1, type: VM, metadata: {role: db}}
"""


def test_fleet_upgrade_selects_machines_by_metadata(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    assert run_text(tmp_path, home, SEED_MACHINES).state == "SUCCESS"
    summary = run_flow(generated("fleet-upgrade"), {}, home=home, workdir=str(tmp_path))
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        for machine in ("web-1", "web-2"):
            asset = store.get_asset(machine)
            assert asset is not None and asset.metadata["openssl_version"] == "3.0.13"
            assert asset.metadata["role"] == "web"
        db = store.get_asset("db-1")
        assert db is not None and "openssl_version" not in db.metadata


def test_lineage_export_ships_to_an_openlineage_endpoint(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    assert run_text(tmp_path, home, SEED_MACHINES).state == "SUCCESS"
    receiver = OpenLineageReceiver().start()
    try:
        flow = generated("lineage-export", {"uri": receiver.url})
        summary = run_flow(flow, {}, home=home, workdir=str(tmp_path))
        assert summary.state == "SUCCESS", summary.errors
        counts = receiver.counts()
    finally:
        receiver.stop()
    assert sum(counts.values()) > 0
    assert receiver.invalid == []
