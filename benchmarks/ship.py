"""Benchmark the shippers (issue #4): one run prints every figure and ratio.

1. 1,000,000 assets from the store to Parquet and to NDJSON with `shippers.ship`, next to a
   direct pyarrow baseline measured in the same run: the same store pages turned into Arrow
   arrays by hand and written with `pyarrow.parquet.ParquetWriter` (reading the store is in
   both, so the ratio is what the shippers' layers cost). Target: Parquet <= 1.5x direct.
2. Peak memory of each export, measured in its own child process: VmHWM (all resident
   pages, including the LMDB file pages the store maps: page cache, the same for the
   baseline) and the peak of RssAnon sampled every 20 ms (the process's own heap, what the
   batch size bounds). Target: under 500 MiB, judged on the heap.
3. 100,000 OpenLineage events (50,000 task runs) to a loopback receiver in another process
   (batch contract, no validation). Target: >= 5,000 events/s. Also one-event-per-request
   mode (Marquez style) on 10,000 events, for reference.

Medians of several runs. Usage: `python benchmarks/ship.py [--assets N] [--runs R]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLE = "io.kestra.plugin.ee.assets.Table"


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


class AnonPeak:
    """Samples this process's anonymous resident memory (RssAnon: its heap, not the LMDB
    file pages it maps) every 20 ms and keeps the peak."""

    def __init__(self) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


def _peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM): unlike ru_maxrss, it is not inherited from
    the parent across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_direct(home: Path, out: Path) -> dict[str, Any]:
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
    return {"seconds": time.perf_counter() - start, "rows": rows, "rss_mib": _peak_rss_mib()}


def phase_ship(home: Path, fmt: str, out: Path) -> dict[str, Any]:
    from shippers import ship
    from shippers.registry import resolve
    from store.lmdb_store import Store

    resolve("file")  # module imports are start-up cost, outside the timing as for pyarrow's
    start = time.perf_counter()
    with Store.open(home) as store:
        report = ship(store, {"type": "file", "format": fmt, "path": str(out), "source": "ASSETS"})
    return {
        "seconds": time.perf_counter() - start,
        "rows": report.shipped,
        "rss_mib": _peak_rss_mib(),
    }


def phase_openlineage(home: Path, url: str, mode: str, limit: int | None) -> dict[str, Any]:
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
        store.set_offset(key, _first_task_seq(store) - 1)
        if limit is not None:
            # Ship only `limit` task runs: start that far from the end.
            store.set_offset(key, store.last_seq() - limit)
        start = time.perf_counter()
        report = ship(store, config, offset_key=key)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "events": report.shipped, "rss_mib": _peak_rss_mib()}


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


def child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"phase {args} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1_000_000)
    parser.add_argument("--task-runs", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--phase", nargs="*")
    ns = parser.parse_args()
    if ns.phase:
        name, home, *rest = ns.phase
        sampler = AnonPeak()
        if name == "direct":
            result = phase_direct(Path(home), Path(rest[0]))
        elif name == "ship":
            result = phase_ship(Path(home), rest[0], Path(rest[1]))
        else:
            limit = int(rest[2]) if len(rest) > 2 else None
            result = phase_openlineage(Path(home), rest[0], rest[1], limit)
        result["anon_mib"] = sampler.stop()
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="assetline-bench-") as tmp:
        home = Path(tmp) / "home"
        t0 = time.perf_counter()
        build_store(home, ns.assets, ns.task_runs)
        built = time.perf_counter() - t0
        print(f"store: {ns.assets:,} assets + {ns.task_runs:,} task runs written in {built:.1f}s")
        results: dict[str, list[dict[str, Any]]] = {"direct": [], "PARQUET": [], "NDJSON": []}
        for _ in range(ns.runs):
            results["direct"].append(child(["direct", str(home), f"{tmp}/direct.parquet"]))
            results["PARQUET"].append(child(["ship", str(home), "PARQUET", f"{tmp}/ship.parquet"]))
            results["NDJSON"].append(child(["ship", str(home), "NDJSON", f"{tmp}/ship.ndjson"]))
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
        rss = {k: max(r["rss_mib"] for r in v) for k, v in results.items()}
        anon = {k: max(r["anon_mib"] for r in v) for k, v in results.items()}
        rows = results["PARQUET"][0]["rows"]
        print(f"assets -> files ({rows:,} rows, median of {ns.runs}):")
        for k in ("direct", "PARQUET", "NDJSON"):
            label = "direct pyarrow Parquet" if k == "direct" else f"shippers {k}"
            ratio = med[k] / med["direct"]
            print(
                f"  {label:24s} {med[k]:7.2f}s {rows / med[k]:>10,.0f} rows/s"
                f"  ratio {ratio:.2f}x  peak RSS {rss[k]:.0f} MiB (heap {anon[k]:.0f} MiB)"
            )
        ok_parquet = med["PARQUET"] / med["direct"] <= 1.5
        # The heap is what the exporter holds; VmHWM adds the store's memory-mapped LMDB
        # pages (page cache, shared and reclaimable), the same for the direct baseline.
        ok_rss = max(anon["PARQUET"], anon["NDJSON"]) < 500

        receiver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.openlineage_receiver",
                "--batch",
                "--no-validate",
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert receiver.stdout is not None and receiver.stdin is not None
            url = receiver.stdout.readline().strip()
            batch = [child(["openlineage", str(home), url, "batch"]) for _ in range(ns.runs)]
            single = [
                child(["openlineage", str(home), url, "single", "5000"]) for _ in range(ns.runs)
            ]
            receiver.stdin.write("\n")
            receiver.stdin.flush()
            received = json.loads(receiver.stdout.readline())["events"]
        finally:
            receiver.terminate()
            receiver.wait(10)
        eps = statistics.median(r["events"] / r["seconds"] for r in batch)
        eps_single = statistics.median(r["events"] / r["seconds"] for r in single)
        batch_rss = max(r["rss_mib"] for r in batch)
        batch_anon = max(r["anon_mib"] for r in batch)
        print(f"openlineage -> loopback receiver, median of {ns.runs}:")
        print(
            f"  batched, 500/request     {batch[0]['events']:>8,} events {eps:>8,.0f} events/s"
            f"  peak RSS {batch_rss:.0f} MiB (heap {batch_anon:.0f} MiB)"
        )
        print(
            f"  one event per request    {single[0]['events']:>8,} events"
            f" {eps_single:>8,.0f} events/s"
        )
        print(f"  receiver counted {received:,} events over all runs")
        verdict = {True: "PASS", False: "FAIL"}
        print(
            f"targets: parquet <= 1.5x {verdict[ok_parquet]}, heap < 500 MiB {verdict[ok_rss]},"
            f" >= 5000 events/s {verdict[eps >= 5000]}"
        )


if __name__ == "__main__":
    main()
