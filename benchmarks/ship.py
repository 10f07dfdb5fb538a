"""Benchmark the shippers (issue #4): one run prints every figure, ratio and verdict.

The store is built once, in this process, before anything is measured. Then each leg runs in
its own child process (so no leg inherits another's memory), `--runs` times, the legs of one
round one after the other (so a burst of load on the machine hits every leg alike):

1. `direct`: the raw baseline. The same store pages turned into Arrow arrays by hand and
   written with `pyarrow.parquet.ParquetWriter` (reading the store is in both, so the ratio
   is what the shippers' layers cost).
2. `PARQUET` and `NDJSON`: the inventory (1,000,000 assets plus those the task runs made)
   exported with `shippers.ship`. Target: Parquet <= 1.5x direct (medians).
3. `openlineage`: the event log's 50,000 task runs = 100,000 OpenLineage events sent to a
   loopback receiver in another process: real HTTP/1.1 with keep-alive, the batch contract,
   every body parsed by msgspec, no schema validation (the tests validate every event).
   Target: >= 5,000 events/s (median). Plus one-event-per-request (Marquez style) on 5,000
   events, for reference.

Memory, per leg, read in the child: peak RSS = VmHWM from /proc/self/status at the end (all
resident pages: heap, libraries, and the pages of the store's memory-mapped LMDB file), and,
sampled every 20 ms, the peaks of RssAnon (the heap) and RssFile (file-backed: libraries and
the store's map). Target: VmHWM < 500 MiB for every shippers leg (the largest of the runs).
The shippers give the store's mapped pages back between pages of a read
(`shippers.mapped_pages`); the raw baseline does not, which its RssFile shows.

Usage: `python benchmarks/ship.py [--quick] [--runs R] [--assets N] [--task-runs N]`.
`--quick` is 100,000 assets and 10,000 task runs (a smoke test of the whole benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLE = "io.kestra.plugin.ee.assets.Table"
SHIP_LEGS = ("PARQUET", "NDJSON", "openlineage")


def build_store(home: Path, assets: int, task_runs: int) -> None:
    from store import codec
    from store.lmdb_store import Store
    from tests.support.lineage_data import task_run

    with Store.open(home) as store:
        chunk = 20_000
        for start in range(0, assets, chunk):
            store.write(
                [
                    codec.AssetSetEvent(
                        asset=codec.AssetDecl(
                            id=f"asset_{n:07d}",
                            namespace="company.team",
                            type=TABLE,
                            displayName=f"Asset {n}",
                            description="a table" if n % 2 else None,
                            metadata={"owner": "team:data", "rows": n, "database": "dwh"},
                        ),
                        time=1_700_000_000.0 + n,
                    )
                    for n in range(start, min(assets, start + chunk))
                ]
            )
        for start in range(0, task_runs, chunk):
            store.write([task_run(n) for n in range(start, min(task_runs, start + chunk))])


# -- in the child: memory figures ---------------------------------------------------------


def _status_mib(*keys: str) -> dict[str, float]:
    found = dict.fromkeys(keys, 0.0)
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in found:
            found[key] = int(value.split()[0]) / 1024
    return found


class MemorySampler:
    """Samples this process's RssAnon and RssFile every 20 ms and keeps their peaks."""

    def __init__(self) -> None:
        self.peaks = {"RssAnon": 0.0, "RssFile": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for key, value in _status_mib("RssAnon", "RssFile").items():
            self.peaks[key] = max(self.peaks[key], value)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample()
        return {
            "anon_mib": self.peaks["RssAnon"],
            "file_mib": self.peaks["RssFile"],
            # Read last: the peak of the whole child, from the kernel.
            "hwm_mib": _status_mib("VmHWM")["VmHWM"],
        }


# -- in the child: the legs --------------------------------------------------------------


def leg_direct(home: Path, out: Path) -> dict[str, Any]:
    import msgspec
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from shippers.batches import ASSET_SCHEMA
    from store.lmdb_store import Store

    enc = msgspec.json.Encoder()

    def ts(values: list[float]) -> pa.Array:
        micros = pc.round(pc.multiply(pa.array(values, pa.float64()), 1e6))
        return micros.cast(pa.int64()).cast(ASSET_SCHEMA.field("created").type)

    start = time.perf_counter()
    rows = 0
    with Store.open(home) as store:
        writer = pq.ParquetWriter(str(out), ASSET_SCHEMA)
        for page in store.iter_assets(batch_size=10_000):
            writer.write_batch(
                pa.RecordBatch.from_arrays(
                    [
                        pa.array([a.id for a in page]),
                        pa.array([a.namespace for a in page]),
                        pa.array([a.type for a in page]),
                        pa.array([a.displayName for a in page], pa.utf8()),
                        pa.array([a.description for a in page], pa.utf8()),
                        pa.array([enc.encode(a.metadata) for a in page], pa.utf8()),
                        ts([a.created for a in page]),
                        ts([a.updated for a in page]),
                    ],
                    schema=ASSET_SCHEMA,
                )
            )
            rows += len(page)
        writer.close()
    return {"seconds": time.perf_counter() - start, "count": rows}


def leg_file(home: Path, fmt: str, out: Path) -> dict[str, Any]:
    from shippers import ship
    from shippers.registry import resolve
    from store.lmdb_store import Store

    resolve("file")  # module imports are start-up cost, outside the timing as for pyarrow's
    start = time.perf_counter()
    with Store.open(home) as store:
        report = ship(store, {"type": "file", "format": fmt, "path": str(out), "source": "ASSETS"})
    return {"seconds": time.perf_counter() - start, "count": report.shipped}


def leg_openlineage(home: Path, url: str, mode: str, limit: int | None) -> dict[str, Any]:
    from shippers import ship
    from shippers.registry import resolve
    from store.lmdb_store import Store

    resolve("openlineage")
    config: dict[str, Any] = {
        "type": "openlineage",
        "uri": url,
        "deadLetterPath": str(home / "dead.ndjson"),
        "emitExecutionEvents": False,
    }
    if mode == "batch":
        config.update(batchSize=500, batchEndpoint="always", maxConcurrency=2, readBatchSize=5000)
    else:
        config.update(batchEndpoint="never", maxConcurrency=4)
    with Store.open(home) as store:
        key = f"bench.{mode}.{time.time_ns()}"
        first = _first_task_seq(store) - 1
        # `limit` task runs: start that far from the end.
        store.set_offset(key, first if limit is None else max(first, store.last_seq() - limit))
        cpu = time.process_time()
        start = time.perf_counter()
        report = ship(store, config, offset_key=key)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "count": report.shipped, "cpu": time.process_time() - cpu}


def _first_task_seq(store: Any) -> int:
    from store import codec

    lo, hi = 0, store.last_seq()
    while lo < hi:  # the log holds asset entries first, then task runs
        mid = (lo + hi) // 2
        entry = store.read_log(after=mid, limit=1)[0]
        if isinstance(entry.event, codec.TaskRunEvent):
            hi = mid
        else:
            lo = mid + 1
    return lo + 1


def run_leg(args: list[str]) -> None:
    name, home, *rest = args
    sampler = MemorySampler()
    if name == "direct":
        result = leg_direct(Path(home), Path(rest[0]))
    elif name == "file":
        result = leg_file(Path(home), rest[0], Path(rest[1]))
    else:
        limit = int(rest[2]) if len(rest) > 2 else None
        result = leg_openlineage(Path(home), rest[0], rest[1], limit)
    result.update(sampler.stop())
    print(json.dumps(result))


# -- in the parent -------------------------------------------------------------------------


def child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--leg", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"leg {args} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


class Receiver:
    """The loopback OpenLineage receiver, in its own process, counting what it accepts."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.openlineage_receiver",
                "--batch",
                "--no-validate",
                "--count-only",
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def received(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return int(json.loads(self.process.stdout.readline())["events"])

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100k assets, 10k task runs")
    parser.add_argument("--assets", type=int)
    parser.add_argument("--task-runs", type=int)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--leg", nargs="*", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.leg:
        run_leg(ns.leg)
        return
    assets = ns.assets or (100_000 if ns.quick else 1_000_000)
    task_runs = ns.task_runs or (10_000 if ns.quick else 50_000)
    single_runs = min(5_000, task_runs) // 2  # one-event-per-request: 2 events per task run

    began = time.perf_counter()
    print(f"load average at start: {_load()}  ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="assetline-bench-") as tmp:
        home = Path(tmp) / "home"
        build_store(home, assets, task_runs)
        size = (home / "store" / "data.mdb").stat().st_blocks * 512 / 2**20
        print(
            f"store: {assets:,} assets + {task_runs:,} task runs written in "
            f"{time.perf_counter() - began:.1f}s ({size:,.0f} MiB on disk)"
        )
        results: dict[str, list[dict[str, Any]]] = {k: [] for k in ("direct", *SHIP_LEGS, "single")}
        receiver = Receiver()
        try:
            for _ in range(ns.runs):
                results["direct"].append(child(["direct", str(home), f"{tmp}/direct.parquet"]))
                for fmt in ("PARQUET", "NDJSON"):
                    out = f"{tmp}/ship.{fmt.lower()}"
                    results[fmt].append(child(["file", str(home), fmt, out]))
                results["openlineage"].append(
                    child(["openlineage", str(home), receiver.url, "batch"])
                )
                results["single"].append(
                    child(["openlineage", str(home), receiver.url, "single", str(single_runs)])
                )
            received = receiver.received()
        finally:
            receiver.close()

    def median(leg: str, key: str) -> float:
        return float(statistics.median(r[key] for r in results[leg]))

    def peak(leg: str, key: str) -> float:
        return float(max(r[key] for r in results[leg]))

    runs = ns.runs
    rows = results["PARQUET"][0]["count"]
    direct = median("direct", "seconds")
    print(f"\nassets -> files: {rows:,} rows, median of {runs} runs, each leg in its own process")
    print(
        f"  {'':24s} {'seconds':>8s} {'rows/s':>10s} {'ratio':>6s}  "
        f"{'peak RSS':>9s} {'heap':>6s} {'file':>6s}  (MiB; RSS = VmHWM, max of runs)"
    )
    for leg, label in (
        ("direct", "direct pyarrow Parquet"),
        ("PARQUET", "shippers PARQUET"),
        ("NDJSON", "shippers NDJSON"),
    ):
        seconds = median(leg, "seconds")
        print(
            f"  {label:24s} {seconds:8.2f} {rows / seconds:10,.0f} {seconds / direct:5.2f}x  "
            f"{peak(leg, 'hwm_mib'):9.0f} {peak(leg, 'anon_mib'):6.0f} "
            f"{peak(leg, 'file_mib'):6.0f}"
        )

    events = results["openlineage"][0]["count"]
    eps = statistics.median(r["count"] / r["seconds"] for r in results["openlineage"])
    cpu_eps = statistics.median(r["count"] / r["cpu"] for r in results["openlineage"])
    eps_single = statistics.median(r["count"] / r["seconds"] for r in results["single"])
    print(f"\nopenlineage -> loopback receiver (another process), median of {runs} runs")
    print(
        f"  batched, 500/request     {events:>8,} events {eps:>8,.0f} events/s "
        f"({cpu_eps:,.0f} per CPU-second of the sender)  peak RSS "
        f"{peak('openlineage', 'hwm_mib'):.0f} MiB (heap {peak('openlineage', 'anon_mib'):.0f},"
        f" file {peak('openlineage', 'file_mib'):.0f})"
    )
    print(
        f"  one event per request    {results['single'][0]['count']:>8,} events "
        f"{eps_single:>8,.0f} events/s"
    )
    sent = sum(r["count"] for leg in ("openlineage", "single") for r in results[leg])
    print(f"  receiver counted {received:,} events over all runs (sender: {sent:,})")

    ok_parquet = median("PARQUET", "seconds") / direct <= 1.5
    worst = max(peak(leg, "hwm_mib") for leg in SHIP_LEGS)
    ok_rss = worst < 500
    ok_eps = eps >= 5000 and received == sent
    verdict = {True: "PASS", False: "FAIL"}
    print(
        f"\ntargets: Parquet <= 1.5x direct {verdict[ok_parquet]}"
        f" ({median('PARQUET', 'seconds') / direct:.2f}x);"
        f" peak RSS (VmHWM) < 500 MiB {verdict[ok_rss]} ({worst:.0f} MiB);"
        f" >= 5,000 events/s {verdict[ok_eps]} ({eps:,.0f})"
    )
    print(f"load average at end: {_load()}; {time.perf_counter() - began:.0f}s in all")


if __name__ == "__main__":
    main()
