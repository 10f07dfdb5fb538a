"""The JSON API under /api/v1 over a real LMDB store, through FastAPI's test client (httpx).

The store is filled with events written straight through `Store.write` (store/codec.py), so
every answer can be compared with what the store's own queries return.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scheduler.deploy import deploy_flow
from scheduler.loader import load_flow_text
from scheduler.web import create_app
from store import Store
from store.codec import AssetDecl, AssetRef, AssetSetEvent, ExecutionEvent, TaskRunEvent

pytestmark = pytest.mark.integration

NOW = 1_750_000_000.0
FLOW = """\
id: nightly
namespace: company.data
tasks:
  - id: build
    type: io.kestra.plugin.core.log.Log
    message: hi
    assets:
      inputs:
        - id: raw.orders
      outputs:
        - id: mart.orders
          type: Table
triggers:
  - id: on_raw
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
"""


def _asset(asset_id: str, kind: str, namespace: str, **metadata: Any) -> AssetSetEvent:
    return AssetSetEvent(
        asset=AssetDecl(
            id=asset_id,
            namespace=namespace,
            type=kind,
            displayName=f"name of {asset_id}",
            metadata=metadata,
        ),
        time=NOW,
    )


def _run(
    execution: str, task: str, run: str, state: str, *, value: str | None = None, **kw: Any
) -> TaskRunEvent:
    return TaskRunEvent(
        execution_id=execution,
        flow_namespace="company.data",
        flow_id="nightly",
        task_id=task,
        taskrun_id=run,
        attempt=kw.pop("attempt", 1),
        state=state,
        start=NOW,
        end=NOW + 2,
        value=value,
        iteration=kw.pop("iteration", None),
        **kw,
    )


def _seed(home: Path) -> None:
    with Store.open(home) as store:
        store.write(
            [
                _asset("raw.orders", "External", "company.raw"),
                _asset("stage.orders", "Table", "company.data", layer="staging", rows=3),
                _asset("mart.orders", "Table", "company.data", layer="mart", owner="sales"),
                _asset("mart.customers", "Table", "company.data", layer="mart", rows="3"),
                _asset("bucket/a b?c#d", "AWS_BUCKET", "company.platform", team="sales"),
                _asset("bucket-finance", "AWS_BUCKET", "company.platform", team="finance"),
                _asset("report.pdf", "File", "company.data", layer="mart"),
            ]
        )
        store.write(
            [
                ExecutionEvent(
                    id="ex1",
                    namespace="company.data",
                    flow_id="nightly",
                    state="SUCCESS",
                    start=NOW,
                    end=NOW + 5,
                ),
                ExecutionEvent(
                    id="ex2",
                    namespace="company.data",
                    flow_id="other",
                    state="FAILED",
                    start=NOW + 10,
                    end=NOW + 12,
                    error="boom",
                ),
            ]
        )
        store.write(
            [
                _run(
                    "ex1",
                    "stage",
                    "r1",
                    "SUCCESS",
                    inputs=[AssetRef(id="raw.orders")],
                    outputs=[AssetDecl(id="stage.orders", type="Table")],
                ),
                _run(
                    "ex1",
                    "mart",
                    "r2",
                    "SUCCESS",
                    inputs=[AssetRef(id="stage.orders")],
                    outputs=[AssetDecl(id="mart.orders", type="Table")],
                ),
                _run("ex1", "each_item", "r3", "FAILED", value="a", iteration=0),
                _run("ex1", "each_item", "r3", "SUCCESS", value="a", iteration=0, attempt=2),
                _run("ex1", "each_item", "r4", "SUCCESS", value="b", iteration=1),
                _run("ex1", "each_item", "r5", "FAILED", value="c", iteration=2),
            ]
        )


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    _seed(home)
    with TestClient(create_app(home, token=None)) as test_client:
        yield test_client


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def test_assets_page_through_the_inventory_with_a_cursor(client: TestClient, home: Path) -> None:
    with Store.open(home, readonly=True) as store:
        expected = [asset.id for asset in store.find_assets()]
        total = store.count_assets()
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if after:
            params["after"] = after
        body = client.get("/api/v1/assets", params=params).json()
        assert body["total"] == total
        seen.extend(_ids(body))
        pages += 1
        after = body["next"]
        if after is None:
            break
    assert seen == expected
    assert pages == -(-total // 3)


def test_assets_filters(client: TestClient) -> None:
    def ids(**params: Any) -> list[str]:
        response = client.get("/api/v1/assets", params=params)
        assert response.status_code == 200, response.text
        assert response.json()["total"] is None  # a filtered page is not counted
        return _ids(response.json())

    assert ids(type="AWS_BUCKET") == ["bucket-finance", "bucket/a b?c#d"]
    assert ids(namespace="company.raw") == ["raw.orders"]
    assert ids(q="ORDERS") == ["mart.orders", "raw.orders", "stage.orders"]
    assert ids(q="name of report") == ["report.pdf"]
    assert ids(meta="layer:mart") == ["mart.customers", "mart.orders", "report.pdf"]
    assert ids(meta=["layer:mart", "owner:sales"]) == ["mart.orders"]
    assert ids(meta="layer:mart", type="Table") == ["mart.customers", "mart.orders"]
    # A value that reads as JSON is matched as JSON; quote it to match text.
    assert ids(meta="rows:3") == ["stage.orders"]
    assert ids(meta='rows:"3"') == ["mart.customers"]


def test_bad_meta_and_limit_are_400_with_a_message(client: TestClient) -> None:
    response = client.get("/api/v1/assets", params={"meta": "layer"})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "meta='layer': write it as key:value (e.g. meta=team:sales)"
    )
    response = client.get("/api/v1/assets", params={"limit": 0})
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid request: query.limit:")


def test_one_asset_and_a_missing_one(client: TestClient) -> None:
    body = client.get("/api/v1/assets/bucket/a%20b%3Fc%23d").json()
    assert body["id"] == "bucket/a b?c#d"
    assert body["metadata"] == {"team": "sales"}
    assert body["type"] == "AWS_BUCKET"
    response = client.get("/api/v1/assets/no.such")
    assert response.status_code == 404
    assert response.json() == {"error": "no asset 'no.such' in the store", "status": 404}


def test_usages(client: TestClient) -> None:
    body = client.get("/api/v1/assets/stage.orders/usages").json()
    assert [
        (u["direction"], u["taskId"], u["executionId"], u["state"]) for u in body["usages"]
    ] == [
        ("OUTPUT", "stage", "ex1", "SUCCESS"),
        ("INPUT", "mart", "ex1", "SUCCESS"),
    ]
    response = client.get("/api/v1/assets/no.such/usages")
    assert response.status_code == 404
    assert response.json()["error"] == "no asset 'no.such' in the store"


def test_lineage_is_the_cli_json_shape(client: TestClient, home: Path) -> None:
    body = client.get("/api/v1/assets/mart.orders/lineage", params={"direction": "up"}).json()
    with Store.open(home, readonly=True) as store:
        assert body == store.lineage("mart.orders", direction="up").to_json()
    assets = {node["id"] for node in body["nodes"] if node["kind"] == "asset"}
    assert assets == {"mart.orders", "stage.orders", "raw.orders"}
    shallow = client.get("/api/v1/assets/mart.orders/lineage?direction=up&depth=1").json()
    assert {n["id"] for n in shallow["nodes"] if n["kind"] == "asset"} == {
        "mart.orders",
        "stage.orders",
    }
    bad = client.get("/api/v1/assets/mart.orders/lineage", params={"direction": "sideways"})
    assert bad.status_code == 400
    assert "query.direction" in bad.json()["error"]
    missing = client.get("/api/v1/assets/no.such/lineage")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no asset 'no.such' in the store"


def test_impact_matches_the_impact_command(client: TestClient, home: Path) -> None:
    from scheduler.impact import impact

    body = client.get("/api/v1/assets/raw.orders/impact").json()
    with Store.open(home, readonly=True) as store:
        assert body == impact(store, "raw.orders").to_json()
    assert {a["id"] for a in body["assets"]} == {"raw.orders", "stage.orders", "mart.orders"}
    up = client.get("/api/v1/assets/mart.orders/impact", params={"upstream": "true"}).json()
    assert up["direction"] == "up"
    missing = client.get("/api/v1/assets/no.such/impact")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no asset, lineage or deployed flow mentions 'no.such'"


def test_executions_list_and_filters(client: TestClient) -> None:
    assert _ids(client.get("/api/v1/executions").json()) == ["ex2", "ex1"]
    assert _ids(client.get("/api/v1/executions?state=FAILED").json()) == ["ex2"]
    assert _ids(client.get("/api/v1/executions?flowId=nightly").json()) == ["ex1"]
    assert _ids(client.get("/api/v1/executions?namespace=nope").json()) == []


def test_one_execution_counts_foreach_iterations(client: TestClient, home: Path) -> None:
    from scheduler.reports import execution_json

    body = client.get("/api/v1/executions/ex1").json()
    with Store.open(home, readonly=True) as store:
        expected = execution_json(store, "ex1")
    for key, value in expected.items():
        if key != "taskRuns":
            assert body[key] == value
    assert [row["id"] for row in body["taskRuns"]] == [row["id"] for row in expected["taskRuns"]]
    # The retried iteration counts once, by its latest attempt.
    assert body["iterations"] == {"each_item": {"FAILED": 1, "SUCCESS": 2}}
    assert body["assetsRead"] == ["raw.orders", "stage.orders"]
    assert body["assetsWritten"] == ["mart.orders", "stage.orders"]
    assert body["done"] is True
    missing = client.get("/api/v1/executions/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no execution 'nope' in the store"


def test_deployed_flows_with_triggers_and_graph(client: TestClient, home: Path) -> None:
    assert client.get("/api/v1/flows").json() == {"items": []}
    flow = load_flow_text(FLOW, "nightly.yaml")
    deploy_flow(home, flow)
    items = client.get("/api/v1/flows").json()["items"]
    assert [(f["namespace"], f["id"], f["revision"]) for f in items] == [
        ("company.data", "nightly", 1)
    ]
    assert [t["id"] for t in items[0]["triggers"]] == ["on_raw"]
    body = client.get("/api/v1/flows/company.data/nightly").json()
    assert body["source"] == FLOW
    edges = {(e["from"], e["to"]) for e in body["graph"]["edges"]}
    assert edges == {("raw.orders", "task:build"), ("task:build", "mart.orders")}
    missing = client.get("/api/v1/flows/company.data/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no deployed flow company.data.nope"


def test_blueprints_list_render_and_deploy(client: TestClient) -> None:
    listing = client.get("/api/v1/blueprints").json()
    assert "team-buckets" in {b["id"] for b in listing["items"]}
    one = client.get("/api/v1/blueprints/team-buckets").json()
    assert "teams" in [arg["id"] for arg in one["arguments"]]
    rendered = client.post(
        "/api/v1/blueprints/team-buckets/render",
        json={"arguments": {"teams": ["sales"], "region": "us-east-1"}},
    )
    assert rendered.status_code == 200, rendered.text
    assert "sales" in rendered.json()["text"]
    assert "us-east-1" in rendered.json()["text"]
    deployed = client.post(
        "/api/v1/blueprints/team-buckets/deploy", json={"arguments": {"teams": ["sales"]}}
    ).json()
    assert deployed["created"] is True and deployed["revision"] == 1
    flows = client.get("/api/v1/flows").json()["items"]
    assert [(f["namespace"], f["id"]) for f in flows] == [
        (deployed["namespace"], deployed["flowId"])
    ]
    again = client.post(
        "/api/v1/blueprints/team-buckets/deploy", json={"arguments": {"teams": ["sales"]}}
    ).json()
    assert again["created"] is False


def test_blueprint_errors(client: TestClient) -> None:
    missing = client.get("/api/v1/blueprints/nope")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("no blueprint 'nope'; ")
    bad = client.post(
        "/api/v1/blueprints/team-buckets/render", json={"arguments": {"teams": ["pirates"]}}
    )
    assert bad.status_code == 400
    body = bad.json()
    assert body["error"] == ("blueprint 'team-buckets' cannot generate a flow with these arguments")
    assert any("pirates" in detail for detail in body["details"])
    no_body = client.post("/api/v1/blueprints/team-buckets/render")
    assert no_body.status_code == 400
    assert no_body.json()["error"].startswith("invalid request: body")


def test_openapi_and_no_cdn_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/assets",
        "/api/v1/assets/{asset_id}",
        "/api/v1/assets/{asset_id}/lineage",
        "/api/v1/executions/{execution_id}",
        "/api/v1/flows",
        "/api/v1/blueprints/{blueprint_id}/render",
    ):
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/api/v1/assets"]["get"]["parameters"]}
    assert params == {"namespace", "type", "q", "meta", "after", "limit"}
    # Swagger UI and ReDoc load from a CDN: they are off.
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/api/v1/nowhere").json() == {"error": "Not Found", "status": 404}


def test_pages_and_static_files_ship_in_the_package(client: TestClient) -> None:
    from scheduler.web.pages import PAGES

    for path, shell in PAGES.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert f'data-page="{shell.removesuffix(".html")}"' in response.text
        assert "http://" not in response.text and "https://" not in response.text
    for name in ("common.js", "graph.js", "pages.js", "style.css", "dagre.min.js"):
        assert client.get(f"/static/{name}").status_code == 200
    assert "Chris Pettitt" in client.get("/static/dagre.LICENSE").text


def test_every_response_has_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/api/v1/assets", "/static/pages.js", "/api/v1/assets/no.such"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_author_text_is_returned_as_data_not_markup(client: TestClient, home: Path) -> None:
    with Store.open(home) as store:
        store.write([_asset("evil", "Table", "x", note="<script>alert(1)</script>")])
    response = client.get("/api/v1/assets/evil")
    assert response.headers["content-type"] == "application/json"
    assert response.json()["metadata"]["note"] == "<script>alert(1)</script>"


def test_the_store_is_read_live(client: TestClient, home: Path) -> None:
    """A page asked after a write sees it: the app keeps no stale snapshot."""
    before = client.get("/api/v1/executions").json()["items"]
    with Store.open(home) as store:
        store.write(
            [
                ExecutionEvent(
                    id="ex3", namespace="n", flow_id="f", state="RUNNING", start=time.time()
                )
            ]
        )
    after = client.get("/api/v1/executions").json()["items"]
    assert len(after) == len(before) + 1
    assert client.get("/api/v1/executions/ex3").json()["done"] is False
