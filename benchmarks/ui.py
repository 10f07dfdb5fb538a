"""Web UI benchmark: the inventory API over 1,000,000 assets, the inventory page's first rows
in Chromium, and a 1,000-node lineage graph laid out and drawn. Each figure is the median of
`--runs` runs, printed with its ratio to a raw baseline measured in the same run:

  inventory API   GET /api/v1/assets?type=RareTable&meta=team:team-7 over HTTP (uvicorn on
                  127.0.0.1, one keep-alive client)   vs  `Store.find_assets` of the same
                  filter in this process (no HTTP, no JSON)            target: < 50 ms
  first rows      Chromium: navigation to `/?type=...` until the first table row shows
                  vs  Chromium fetching the same API URL as a raw JSON document
                                                                       target: < 1 s
  lineage graph   Chromium: /asset page of the root of a 1,001-node graph (500 assets, 500
                  task runs, 10 layers) until it is drawn; the page's own layout+draw time is
                  printed too  vs  Chromium fetching the lineage JSON  target: < 3 s

The store is built once (events written with `Store.write`) under benchmarks/.work/ and reused.

    .venv/bin/python benchmarks/ui.py                 # 1,000,000 assets (first build: minutes)
    .venv/bin/python benchmarks/ui.py --assets 50000  # a quicker run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scheduler.web import create_app  # noqa: E402
from store import Store  # noqa: E402
from store.codec import (  # noqa: E402
    AssetDecl,
    AssetRef,
    AssetSetEvent,
    ExecutionEvent,
    TaskRunEvent,
)
from tests.support.browser import open_browser, serve_app  # noqa: E402

TYPES = ("Table", "View", "File", "AWS_BUCKET", "Dashboard")
RARE = "RareTable"  # one asset in 1,000
FILTER = {"type": RARE, "meta": "team:team-7"}
LAYERS, WIDTH = 10, 50


def build_inventory(home: Path, count: int, batch: int = 20_000) -> None:
    now = time.time()
    with Store.open(home) as store:
        have = store.count_assets()
        if have >= count:
            return
        started = time.perf_counter()
        for first in range(have, count, batch):
            events = []
            for i in range(first, min(first + batch, count)):
                events.append(
                    AssetSetEvent(
                        asset=AssetDecl(
                            id=f"asset-{i:08d}",
                            namespace=f"company.ns{i % 20}",
                            type=RARE if i % 1000 == 7 else TYPES[i % len(TYPES)],
                            displayName=f"Asset number {i}",
                            metadata={"team": f"team-{i % 100}", "tier": i % 3},
                        ),
                        time=now,
                    )
                )
            store.write(events)
        print(f"built {count:,} assets in {time.perf_counter() - started:.0f} s", flush=True)


def build_lineage(home: Path) -> str:
    """A layered graph below `lin.root`: each layer's assets are made by one task run each,
    reading two assets of the layer above. Returns the root id."""
    root = "lin.root"
    with Store.open(home) as store:
        if store.get_asset(root) is not None:
            return root
        now = time.time()
        events: list[AssetSetEvent | ExecutionEvent | TaskRunEvent] = [
            AssetSetEvent(asset=AssetDecl(id=root, namespace="lin", type="External"), time=now),
            ExecutionEvent(
                id="lin-exec",
                namespace="lin",
                flow_id="layers",
                state="SUCCESS",
                start=now,
                end=now + 1,
            ),
        ]
        above = [root]
        for layer in range(1, LAYERS + 1):
            here = []
            for k in range(WIDTH):
                asset_id = f"lin.l{layer:02d}.a{k:03d}"
                reads = {above[k % len(above)], above[(k + 1) % len(above)]}
                events.append(
                    TaskRunEvent(
                        execution_id="lin-exec",
                        flow_namespace="lin",
                        flow_id="layers",
                        task_id=f"layer{layer}",
                        taskrun_id=f"lin-tr-{layer}-{k}",
                        attempt=1,
                        state="SUCCESS",
                        start=now,
                        end=now + 0.1,
                        inputs=[AssetRef(id=item) for item in sorted(reads)],
                        outputs=[
                            AssetDecl(id=asset_id, namespace="lin", type=TYPES[layer % len(TYPES)])
                        ],
                    )
                )
                here.append(asset_id)
            above = here
        store.write(events)
    return root


def median_ms(work: Callable[[], object], runs: int) -> float:
    work()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def line(name: str, value: float, raw: float, target: float) -> None:
    verdict = "ok" if value < target else "OVER TARGET"
    print(
        f"{name:<16} {value:9.2f} ms   raw {raw:8.2f} ms   ratio {value / raw:7.1f}   "
        f"target < {target:.0f} ms  {verdict}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--browser-runs", type=int, default=5)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    home = args.home or ROOT / "benchmarks" / ".work" / f"ui-{args.assets}"
    build_inventory(home, args.assets)
    root = build_lineage(home)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)

    with Store.open(home, readonly=True) as store:
        total = store.count_assets()
        raw_api = median_ms(
            lambda: store.find_assets(type=RARE, metadata={"team": "team-7"}, limit=51),
            args.runs,
        )
        matches = len(store.find_assets(type=RARE, metadata={"team": "team-7"}, limit=51))
    print(f"store: {total:,} assets; the filter {FILTER} matches {matches} on its first page")

    with serve_app(create_app(home, token=None)) as url:
        query = "type=RareTable&meta=team%3Ateam-7"
        with httpx.Client(base_url=url) as client:
            assert client.get(f"/api/v1/assets?{query}").json()["items"]
            api = median_ms(
                lambda: client.get(f"/api/v1/assets?{query}").raise_for_status(), args.runs
            )
        line("inventory API", api, raw_api, 50)

        with open_browser() as browser:
            page = browser.new_page()

            def first_rows() -> None:
                page.goto(url + "/?" + query)
                page.wait_for_selector("#assets tbody tr")

            def raw_json(path: str) -> Callable[[], None]:
                return lambda: page.goto(url + path)

            raw_rows = median_ms(raw_json(f"/api/v1/assets?{query}"), args.browser_runs)
            rows = median_ms(first_rows, args.browser_runs)
            line("first rows", rows, raw_rows, 1000)

            depth = LAYERS + 1
            drawn: list[float] = []

            def graph() -> None:
                page.goto(url + f"/asset?id={root}&direction=down&depth={depth}")
                page.wait_for_selector(".graph[data-ready]", timeout=60_000)
                drawn.append(float(page.get_attribute(".graph", "data-render-ms") or "nan"))

            raw_graph = median_ms(
                raw_json(f"/api/v1/assets/{root}/lineage?direction=down&depth={depth}"),
                args.browser_runs,
            )
            whole = median_ms(graph, args.browser_runs)
            nodes = page.locator("[data-node-id]").count()
            line("lineage graph", whole, raw_graph, 3000)
            print(f"  {nodes} nodes drawn; layout + draw alone: {statistics.median(drawn):.0f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
