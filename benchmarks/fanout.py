"""Fan-out benchmark (issue #3): a ForEach over N trivial iterations, each with one output asset,
next to a raw Ray loop doing the same work, bounded the same way, in the same run.

Each measurement runs in a fresh process (so the driving process's peak RSS is its own) on an
embedded Ray of this machine. Prints wall times, iterations/s, the ratio to raw Ray, the store's
events/s, the driver's peak RSS, and checks every iteration's asset is in the store exactly once.

    .venv/bin/python benchmarks/fanout.py            # N = 1,000 / 10,000 / 100,000
    .venv/bin/python benchmarks/fanout.py --quick    # N = 1,000 / 5,000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 256  # in-flight bound, the same for both (the executor's default global cap)

FLOW = """
id: fanout_bench
namespace: bench
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{{{ range({n}) | list }}}}"
    concurrencyLimit: 0
    tasks:
      - id: item
        type: io.kestra.plugin.core.debug.Return
        format: "item {{{{ taskrun.value }}}}"
        assets:
          outputs:
            - id: "item-{{{{ taskrun.value }}}}"
              type: BENCH_ITEM
"""


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_raw(n: int) -> dict[str, float]:
    import ray

    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")

    @ray.remote
    def iteration(value: int) -> str:
        return f"item {value}"

    ray.get([iteration.remote(i) for i in range(50)])  # warm the worker pool
    start = time.perf_counter()
    inflight: list[object] = []
    done = 0
    for value in range(n):
        if len(inflight) >= WINDOW:
            ready, inflight = ray.wait(inflight, num_returns=1)
            ray.get(ready)
            done += len(ready)
        inflight.append(iteration.remote(value))
    ray.get(inflight)
    wall = time.perf_counter() - start
    ray.shutdown()
    return {"wall": wall, "rss": _peak_rss_mib()}


def child_assetline(n: int) -> dict[str, float]:
    import ray

    from scheduler.loader import load_flow_text
    from scheduler.runner import run_flow
    from store import Store

    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")

    @ray.remote
    def warm(value: int) -> int:
        return value

    ray.get([warm.remote(i) for i in range(50)])
    work = Path(tempfile.mkdtemp(prefix="assetline-bench-"))
    flow = load_flow_text(FLOW.format(n=n), "fanout_bench.yaml")
    start = time.perf_counter()
    summary = run_flow(flow, {}, home=work / "home", workdir=str(work))
    wall = time.perf_counter() - start
    rss = _peak_rss_mib()
    ray.shutdown()
    with Store.open(work / "home", readonly=True) as store:
        ids = [asset.id for asset in store.find_assets(type="BENCH_ITEM")]
        usages = sum(len(store.usages(f"item-{i}")) for i in range(0, n, max(1, n // 100)))
    exactly_once = len(ids) == n == len(set(ids)) and usages == len(range(0, n, max(1, n // 100)))
    store_rate = _store_rate(work / "home")
    shutil.rmtree(work, ignore_errors=True)
    return {
        "store_rate": store_rate,
        "wall": wall,
        "rss": rss,
        "state_ok": float(summary.state == "SUCCESS"),
        "assets": float(len(ids)),
        "exactly_once": float(exactly_once),
    }


def _store_rate(home: Path) -> float:
    """Events/s the store ingests when it replays this run's events into a fresh store: the
    capacity the fan-out had at its disposal (it must stay above the fan-out's it/s)."""
    from store import Store
    from store.codec import encode

    events: list[bytes] = []
    with Store.open(home, readonly=True) as store:
        after = 0
        while entries := store.read_log(after, 5000):
            events.extend(encode(entry.event) for entry in entries)
            after = entries[-1].seq
    replay = Path(tempfile.mkdtemp(prefix="assetline-replay-"))
    try:
        start = time.perf_counter()
        with Store.open(replay) as fresh:
            for first in range(0, len(events), 5000):
                fresh.write(events[first : first + 5000])
        return len(events) / (time.perf_counter() - start)
    finally:
        shutil.rmtree(replay, ignore_errors=True)


def run_child(kind: str, n: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(n)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} N={n} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per N (median is quoted)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, n = args.child[0], int(args.child[1])
        result = child_raw(n) if kind == "raw" else child_assetline(n)
        print(json.dumps(result))
        return

    sizes = [1_000, 5_000] if args.quick else [1_000, 10_000, 100_000]
    print(f"fan-out benchmark on {os.cpu_count()} cores, in-flight window {WINDOW}")
    header = (
        f"{'N':>8} {'raw Ray s':>10} {'assetline s':>12} {'ratio':>6} {'raw it/s':>9} "
        f"{'assetline it/s':>15} {'store ev/s':>11} {'driver RSS MiB':>15} {'assets once':>12}"
    )
    print(header)
    for n in sizes:
        repeat = 1 if n >= 100_000 else args.repeat
        raw = [run_child("raw", n) for _ in range(repeat)]
        ours = [run_child("assetline", n) for _ in range(repeat)]
        raw_wall = statistics.median(r["wall"] for r in raw)
        our_wall = statistics.median(r["wall"] for r in ours)
        rss = max(r["rss"] for r in ours)
        once = all(r["exactly_once"] == 1.0 and r["state_ok"] == 1.0 for r in ours)
        store_rate = statistics.median(r["store_rate"] for r in ours)
        once_text = "yes" if once else "NO"
        print(
            f"{n:>8,} {raw_wall:>10.2f} {our_wall:>12.2f} {our_wall / raw_wall:>6.2f} "
            f"{n / raw_wall:>9,.0f} {n / our_wall:>15,.0f} {store_rate:>11,.0f} {rss:>15.0f} "
            f"{once_text:>12}"
        )
    print(
        "ratio = assetline wall / raw Ray wall (lower is better; target <= 1.3 at 10,000); "
        "each iteration also renders its templates, records a task run, a usage and an asset. "
        "store ev/s = the run's events replayed into a fresh store: the store's capacity, "
        "which must stay above assetline it/s."
    )


if __name__ == "__main__":
    main()
