"""The web UI in a real Chromium (Playwright), over a store filled by the seed's DuckDB pipeline
and the provisioning example run on the session's Ray cluster (S3 is moto on 127.0.0.1).

Chromium is installed by `tests.support.browser` when missing; these tests never skip.
Every test saves a screenshot under tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from scheduler.executor import ExecutionSummary
from scheduler.loader import load_flow
from scheduler.runner import run_flow
from scheduler.web import create_app
from store import Store
from store.codec import AssetDecl, AssetSetEvent
from tests.integration.flows import run_text
from tests.support.browser import open_browser, serve_app
from tests.support.moto_server import MotoServer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "screenshots"
XSS = "<img src=x onerror=alert(1)>"
TOKEN = "browser-test-token"


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def seeded(ray_session: Any, moto_s3: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the taxi pipeline, two provisioned buckets and an asset named XSS."""
    work = tmp_path_factory.mktemp("web")
    home = work / "home"
    (work / "examples" / "data").mkdir(parents=True)
    taxi = run_flow(
        load_flow(ROOT / "examples" / "taxi_pipeline.yaml"), {}, home=home, workdir=str(work)
    )
    assert taxi.state == "SUCCESS", taxi.errors
    secrets = {
        "SECRET_AWS_ACCESS_KEY_ID": base64.b64encode(b"AKIAWEBTEST").decode(),
        "SECRET_AWS_SECRET_KEY_ID": base64.b64encode(b"web-secret").decode(),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in secrets.items():
            patch.setenv(key, value)
        patch.setenv("AWS_CONFIG_FILE", str(work / "no-aws-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(work / "no-aws-credentials"))
        buckets = run_flow(
            load_flow(ROOT / "examples" / "provision_team_buckets.yaml"),
            {"teams": ["sales", "finance"], "region": "us-east-1", "endpoint": moto_s3.endpoint},
            home=home,
            workdir=str(work),
        )
    assert buckets.state == "SUCCESS", buckets.errors
    with Store.open(home) as store:
        store.write(
            [
                AssetSetEvent(
                    asset=AssetDecl(
                        id="xss.asset",
                        namespace="company.evil",
                        type="Table",
                        displayName=XSS,
                        description="<script>window.__owned = 1</script>",
                        metadata={"note": "<b onmouseover=alert(2)>hi</b>"},
                    ),
                    time=time.time(),
                )
            ]
        )
    return home


@pytest.fixture(scope="module")
def browser(seeded: Path) -> Iterator[Any]:
    """Chromium, started after the seed: Playwright's sync API holds an event loop in this
    thread, and `run_flow` runs its own (flows run in threads from here on)."""
    with open_browser() as context:
        yield context


@pytest.fixture(scope="module")
def site(seeded: Path) -> Iterator[str]:
    with serve_app(create_app(seeded, token=None)) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.errors = errors
    yield tab
    tab.close()
    assert errors == [], errors


def _rows(page: Any) -> list[str]:
    page.wait_for_selector("#results[data-ready]")
    return [
        cell.inner_text() for cell in page.query_selector_all("#assets tbody tr td:first-child")
    ]


def test_inventory_lists_and_filters(page: Any, site: str) -> None:
    page.goto(site + "/")
    listed = _rows(page)
    for asset_id in ("avg_trip_distance", "trips", "sample_data.nyc.taxi", "kestra-sales-bucket"):
        assert asset_id in listed
    page.fill("input[name=type]", "AWS_BUCKET")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"type=AWS_BUCKET"))
    assert sorted(_rows(page)) == ["kestra-finance-bucket", "kestra-sales-bucket"]
    _shot(page, "inventory_type_filter")
    page.goto(site + "/")
    page.fill("input[name=meta]", "team:sales")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"meta=team%3Asales"))
    assert _rows(page) == ["kestra-sales-bucket"]
    page.goto(site + "/?meta=model_layer:mart")
    assert _rows(page) == ["avg_trip_distance"]
    _shot(page, "inventory_meta_filter")


def test_inventory_pages_server_side(page: Any, site: str) -> None:
    page.goto(site + "/?limit=2")
    first = _rows(page)
    assert len(first) == 2
    page.click("#next-page")
    page.wait_for_url(re.compile(r"after="))
    second = _rows(page)
    assert len(second) == 2 and not set(first) & set(second)
    assert sorted(first + second) == first + second  # id order across pages
    _shot(page, "inventory_page_2")


def test_asset_page_draws_upstream_lineage(page: Any, site: str) -> None:
    page.goto(site + "/asset?id=avg_trip_distance")
    page.wait_for_selector(".graph[data-ready]")
    nodes = {n.get_attribute("data-node-id"): n for n in page.query_selector_all("[data-node-id]")}
    for asset_id in ("avg_trip_distance", "trips", "sample_data.nyc.taxi"):
        assert asset_id in nodes
    tasks = [n for n in nodes.values() if n.get_attribute("data-kind") == "task"]
    assert len(tasks) == 2  # staging_trips and mart_avg_trip_distance between the assets
    fill = {
        asset_id: nodes[asset_id].query_selector("rect").get_attribute("fill")
        for asset_id in ("trips", "sample_data.nyc.taxi")
    }
    assert fill["trips"] != fill["sample_data.nyc.taxi"]  # Table vs External
    assert page.inner_text("#usages").count("OUTPUT") == 1
    _shot(page, "asset_lineage")
    page.fill("#depth", "1")
    page.dispatch_event("#depth", "change")
    expect(page.locator("[data-node-id]")).to_have_count(3)
    ids = {n.get_attribute("data-node-id") for n in page.query_selector_all("[data-node-id]")}
    assert "sample_data.nyc.taxi" not in ids and "trips" in ids


def test_clicking_a_node_navigates(page: Any, site: str) -> None:
    page.goto(site + "/asset?id=avg_trip_distance")
    page.wait_for_selector(".graph[data-ready]")
    page.click('[data-node-id="trips"]')
    page.wait_for_url(re.compile(r"/asset\?id=trips$"))
    page.wait_for_selector(".graph[data-ready]")
    assert page.inner_text("h1") == "NYC taxi trips (staging)"
    task = page.query_selector('[data-kind="task"]')
    assert task is not None
    task.click()
    page.wait_for_url(re.compile(r"/execution\?id="))
    page.wait_for_selector("#taskruns")
    assert "taxi_pipeline" in page.inner_text("main")
    _shot(page, "node_click_execution")


def test_pan_and_zoom_change_the_view(page: Any, site: str) -> None:
    page.goto(site + "/asset?id=avg_trip_distance")
    page.wait_for_selector(".graph[data-ready]")
    view = page.query_selector("g.viewport")
    before = view.get_attribute("transform")
    box = page.query_selector(".graph svg").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.wheel(0, -300)
    zoomed = view.get_attribute("transform")
    assert zoomed != before
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 80, steps=5)
    page.mouse.up()
    assert view.get_attribute("transform") != zoomed
    assert "/asset?id=avg_trip_distance" in page.url  # a drag is not a click


FOREACH = """
id: slow_items
namespace: company.web
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c", "d", "e"]
    concurrencyLimit: 1
    tasks:
      - id: work
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - sleep 1
        assets:
          outputs:
            - id: "web-item-{{ taskrun.value }}"
              type: ITEM
"""


def test_execution_page_updates_while_a_foreach_runs(
    page: Any, site: str, seeded: Path, tmp_path: Path
) -> None:
    execution_id = "web-live-foreach"
    result: list[ExecutionSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(
            run_text(tmp_path, seeded, FOREACH, execution_id=execution_id)
        ),
        daemon=True,
    )
    runner.start()
    page.goto(site + f"/execution?id={execution_id}")
    # The execution may not be recorded yet: reload until it is.
    deadline = time.monotonic() + 60
    while page.query_selector("#execution-state") is None:
        assert time.monotonic() < deadline, page.inner_text("main")
        time.sleep(0.3)
        page.reload()
    page.wait_for_selector("#execution-state")
    assert page.inner_text("#execution-state") == "RUNNING"
    seen = {page.inner_text("#iterations")}
    page.wait_for_selector("body[data-state=SUCCESS]", timeout=90_000)
    seen.add(page.inner_text("#iterations"))
    _shot(page, "execution_live_done")
    runner.join(60)
    assert result and result[0].state == "SUCCESS"
    # Without a reload the page showed the running state and then all five iterations.
    assert page.inner_text("#live") == "finished"
    assert re.search(r"SUCCESS\s+5", page.inner_text("#iterations"))
    assert len(seen) == 2


def test_author_markup_shows_as_text_and_runs_nothing(page: Any, site: str) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(site + "/?q=xss")
    assert _rows(page) == ["xss.asset"]
    assert XSS in page.inner_text("#assets")
    page.goto(site + "/asset?id=xss.asset")
    page.wait_for_selector(".graph[data-ready]")
    assert page.inner_text("h1") == XSS
    assert "<b onmouseover=alert(2)>hi</b>" in page.inner_text("#metadata")
    page.hover("#metadata")
    assert page.query_selector("main img") is None
    assert page.query_selector("main b") is None
    assert page.query_selector("main script") is None
    assert page.evaluate("window.__owned") is None
    _shot(page, "xss_asset")
    assert dialogs == []


def test_blueprint_form_generates_a_flow(page: Any, site: str) -> None:
    page.goto(site + "/blueprint?id=team-buckets")
    page.wait_for_selector("#blueprint-form")
    page.select_option('[data-arg="region"]', "eu-central-1")
    page.click("text=Generate flow")
    page.wait_for_selector("#flow-yaml")
    assert "eu-central-1" in page.inner_text("#flow-yaml")
    _shot(page, "blueprint_form")


def test_token_protected_server(browser: Any, seeded: Path) -> None:
    with serve_app(create_app(seeded, token=TOKEN)) as url:
        tab = browser.new_page()
        try:
            response = tab.goto(url + "/asset?id=trips")
            assert response.status == 401
            api = tab.request.get(url + "/api/v1/assets")
            assert api.status == 401
            _shot(tab, "token_login")
            tab.fill("input[name=token]", "wrong")
            tab.click("button[type=submit]")
            tab.wait_for_selector(".error")
            assert "That token is not right." in tab.inner_text("main")
            tab.fill("input[name=token]", TOKEN)
            tab.click("button[type=submit]")
            tab.wait_for_url(re.compile(r"/asset\?id=trips$"))
            tab.wait_for_selector(".graph[data-ready]")
            assert tab.request.get(url + "/api/v1/assets").status == 200
            _shot(tab, "token_after_login")
        finally:
            tab.close()


def test_flow_page_and_impact_view(page: Any, site: str, seeded: Path) -> None:
    from scheduler.deploy import deploy_flow
    from scheduler.impact import impact

    deploy_flow(seeded, load_flow(ROOT / "examples" / "taxi_pipeline.yaml"))
    page.goto(site + "/flows")
    page.click("text=company.analytics.taxi_pipeline")
    page.wait_for_url(re.compile(r"/flow\?namespace=company.analytics&id=taxi_pipeline$"))
    page.wait_for_selector(".graph[data-ready]")
    ids = {n.get_attribute("data-node-id") for n in page.query_selector_all("[data-node-id]")}
    assert {"trips", "avg_trip_distance", "task:staging_trips"} <= ids
    _shot(page, "flow_touches")
    page.goto(site + "/impact?id=trips")
    page.wait_for_selector("#impact-tasks")
    shown = [c.inner_text() for c in page.query_selector_all("#impact-assets tbody td:first-child")]
    with Store.open(seeded, readonly=True) as store:
        assert shown == [asset.id for asset in impact(store, "trips").assets]
    assert "mart_avg_trip_distance" in page.inner_text("#impact-tasks")
    _shot(page, "impact_view")


def test_the_execution_page_resumes_a_pause(
    page: Any, site: str, seeded: Path, tmp_path: Path
) -> None:
    from tests.integration.test_pause_resume import ON_RESUME

    execution_id = "web-pause"
    result: list[ExecutionSummary] = []
    runner = threading.Thread(
        target=lambda: result.append(
            run_text(tmp_path, seeded, ON_RESUME, execution_id=execution_id)
        ),
        daemon=True,
    )
    runner.start()
    page.goto(site + f"/execution?id={execution_id}")
    deadline = time.monotonic() + 60
    while page.query_selector("#resume-form") is None:
        assert time.monotonic() < deadline, page.inner_text("main")
        time.sleep(0.3)
        page.reload()
    assert page.inner_text("#resume h2") == "Paused at task approve"
    assert page.input_value("#resume-form [name=reason]") == "none given"
    page.click("#resume-form button")  # `approved` left empty: refused, still paused
    expect(page.locator("#resume-message")).to_contain_text("the execution refused the resume")
    expect(page.locator("#resume-message")).to_contain_text("input 'approved': required")
    _shot(page, "execution_resume_refused")
    page.select_option("#resume-form [name=approved]", "true")
    page.fill("#resume-form [name=reason]", "looks good")
    page.click("#resume-form button")
    page.wait_for_selector("body[data-state=SUCCESS]", timeout=60_000)
    runner.join(60)
    assert result and result[0].state == "SUCCESS"
    with Store.open(seeded, readonly=True) as store:
        runs = {run.task_id: run for run in store.task_runs(execution_id)}
    assert runs["after"].result == {"value": "true looks good"}
    assert page.query_selector("#resume-form") is None
