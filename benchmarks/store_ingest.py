"""Store ingest and query benchmark: prints events/s against a raw LMDB baseline of the same run.

Ingest: `TaskRunEvent`s shaped like a fan-out (one shared input, one output with three metadata
keys, state SUCCESS, distinct task run ids), written

  (a) raw:       one lmdb put per event of its encoded bytes, keyed by its idempotency key,
                 committed every `--batch` events, in an environment opened like the store's;
  (b) store:     `Store.write` in batches of `--batch` (assets, index, usages, lineage, log,
                 idempotency);
  (c) writer:    `BatchingWriter.submit` for every event, then `flush()`;
  (d) reference: `Store.write` with the compiled path off (`Store.native_ingest = False`):
                 every event through `store.apply`, to show what the compiled path gains.

Each rate is the median of `--runs` runs of `--events` events into a fresh directory. The runs
are interleaved (a, b, c, a, b, c, ...) and each ratio to raw is the median of the ratios within
a round, so that a machine that slows down for a while weighs on both sides of a ratio alike;
the load average is printed before and after (on 2 cores, other work skews every figure), and
the same comparison in CPU time per event, which such work disturbs least. Then
it builds
`--assets` assets (1% with metadata nodes=python) and prints the median latency of a selective
`find_assets` and of `get_asset`.

    .venv/bin/python benchmarks/store_ingest.py            # the full run (about 2 minutes)
    .venv/bin/python benchmarks/store_ingest.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lmdb

from store import BatchingWriter, Store
from store.codec import AssetDecl, AssetRef, TaskRunEvent, encode


def fan_out_events(count: int, *, run: str = "x") -> list[bytes]:
    """`count` encoded task-run events of one ForEach: a shared input, one output each."""
    shared = [AssetRef(id=f"warehouse.raw.source_{i}", namespace="company.data") for i in range(4)]
    events = []
    for i in range(count):
        event = TaskRunEvent(
            execution_id=f"exec-{run}",
            flow_namespace="company.data",
            flow_id="fan_out",
            task_id="process",
            taskrun_id=f"{run}-tr-{i:08d}-{random.getrandbits(32):08x}",
            attempt=0,
            state="SUCCESS",
            start=1_700_000_000.0 + i,
            end=1_700_000_000.5 + i,
            inputs=[shared[i % len(shared)]],
            outputs=[
                AssetDecl(
                    id=f"warehouse.items.item_{run}_{i:08d}",
                    type="io.kestra.plugin.ee.assets.Table",
                    metadata={"owner": "analytics", "layer": "staging", "partition": i % 97},
                )
            ],
            task_type="io.kestra.plugin.core.log.Log",
            value=str(i),
            iteration=i,
        )
        events.append(encode(event))
    return events


def _keys(events: list[bytes]) -> list[bytes]:
    from store.codec import decode_event

    keys = []
    for data in events:
        event = decode_event(data)
        assert isinstance(event, TaskRunEvent)
        keys.append(event.idempotency_key.encode())
    return keys


def run_raw(root: Path, events: list[bytes], keys: list[bytes], batch: int) -> tuple[float, float]:
    env = lmdb.open(str(root / "raw"), map_size=1 << 36, max_dbs=4, writemap=True)
    db = env.open_db(b"events")
    start, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(events), batch):
        with env.begin(write=True, db=db) as txn:
            for i in range(first, min(first + batch, len(events))):
                txn.put(keys[i], events[i])
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    env.close()
    return elapsed


def run_store(
    root: Path, events: list[bytes], batch: int, *, native: bool = True
) -> tuple[float, float]:
    store = Store.open(root / "store")
    store.native_ingest = native
    start, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(events), batch):
        store.write(events[first : first + batch])
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    assert store.count_assets() == len(events) + 4, store.count_assets()
    store.close()
    return elapsed


def run_writer(root: Path, events: list[bytes], batch: int) -> tuple[float, float]:
    store = Store.open(root / "writer")
    writer = BatchingWriter(store, max_batch=batch)
    start, cpu = time.perf_counter(), time.process_time()
    for data in events:
        writer.submit(data)
    writer.flush()
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    writer.close()
    assert store.count_assets() == len(events) + 4
    store.close()
    return elapsed


def _rate(count: int, once: Callable[[Path], tuple[float, float]]) -> tuple[float, float]:
    """Events per second of wall time, and CPU microseconds per event (all threads)."""
    root = Path(tempfile.mkdtemp(prefix="assetline-bench-"))
    try:
        wall, cpu = once(root)
        return count / wall, cpu / count * 1e6
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_ingest(count: int, runs: int, batch: int) -> None:
    print(f"ingest: {count:,} TaskRunEvents, batches of {batch}, median of {runs} runs")
    print(f"  load average before: {_load()}")
    events = fan_out_events(count)
    keys = _keys(events)
    paths: dict[str, Callable[[Path], tuple[float, float]]] = {
        "(a) raw lmdb puts        ": lambda root: run_raw(root, events, keys, batch),
        "(b) Store.write          ": lambda root: run_store(root, events, batch),
        "(c) BatchingWriter       ": lambda root: run_writer(root, events, batch),
        "(d) store.apply only     ": lambda root: run_store(root, events, batch, native=False),
    }
    rates: dict[str, list[float]] = {label: [] for label in paths}
    cpus: dict[str, list[float]] = {label: [] for label in paths}
    for _ in range(runs):
        for label, once in paths.items():
            rate, cpu = _rate(count, once)
            rates[label].append(rate)
            cpus[label].append(cpu)
    # A ratio compares runs of one round (seconds apart), so a machine that slows down for a
    # while (other work on its 2 cores) does not skew it; the median of the rounds is shown.
    raw_label = next(iter(rates))
    for label, found in rates.items():
        rate = statistics.median(found)
        ratios = [mine / raw for mine, raw in zip(found, rates[raw_label], strict=True)]
        ratio = "" if label == raw_label else f"{statistics.median(ratios):6.1%} of raw"
        print(f"  {label}{rate:12,.0f} events/s   {ratio:12} (runs: {_fmt(found)})")
    # CPU time is what other work on the machine disturbs least: the same comparison in it.
    print("  CPU per event (process time, all threads; median), and raw's share of it:")
    for label, found in cpus.items():
        ratios = [raw / mine for mine, raw in zip(found, cpus[raw_label], strict=True)]
        ratio = "" if label == raw_label else f"{statistics.median(ratios):6.1%} of raw"
        print(f"  {label}{statistics.median(found):9.2f} µs/event  {ratio}")
    print(f"  load average after: {_load()}")


def _load() -> str:
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def _fmt(rates: list[float]) -> str:
    return ", ".join(f"{r:,.0f}" for r in rates)


def bench_queries(total: int, samples: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="assetline-bench-q-"))
    try:
        store = Store.open(root)
        start = time.perf_counter()
        per_event = 100
        for first in range(0, total, 50 * per_event):
            batch = []
            for e in range(first, min(first + 50 * per_event, total), per_event):
                outputs = [
                    AssetDecl(
                        id=f"asset-{i:08d}",
                        type="Table" if i % 2 else "File",
                        metadata={"nodes": "python" if i % 100 == 0 else "other", "n": i % 7},
                    )
                    for i in range(e, min(e + per_event, total))
                ]
                batch.append(
                    TaskRunEvent(
                        execution_id="build",
                        flow_namespace=f"company.team{e % 10}",
                        flow_id="build",
                        task_id="t",
                        taskrun_id=f"tr-{e}",
                        attempt=0,
                        state="SUCCESS",
                        start=1.0,
                        end=2.0,
                        outputs=outputs,
                    )
                )
            store.write(batch)
        built = time.perf_counter() - start
        print(
            f"query: {store.count_assets():,} assets built in {built:.1f}s "
            f"({store.count_assets() / built:,.0f} assets/s)"
        )
        for limit in (100, 1000):
            timings = []
            for _ in range(samples):
                t0 = time.perf_counter()
                found = store.find_assets(metadata={"nodes": "python"}, limit=limit)
                timings.append(time.perf_counter() - t0)
            assert len(found) == min(limit, total // 100), len(found)
            print(
                f"  find_assets(metadata={{'nodes': 'python'}}, limit={limit}): "
                f"median {statistics.median(timings) * 1000:.2f} ms ({len(found)} rows)"
            )
        timings = []
        found_after = None
        for _ in range(samples):
            t0 = time.perf_counter()
            page = store.find_assets(metadata={"nodes": "python"}, after=found_after, limit=100)
            timings.append(time.perf_counter() - t0)
            found_after = page[-1].id if page else None
        print(f"  same, paging with after=: median {statistics.median(timings) * 1000:.2f} ms")
        ids = [f"asset-{random.randrange(total):08d}" for _ in range(samples)]
        timings = []
        for asset_id in ids:
            t0 = time.perf_counter()
            asset = store.get_asset(asset_id)
            timings.append(time.perf_counter() - t0)
            assert asset is not None
        print(f"  get_asset(id): median {statistics.median(timings) * 1e6:.1f} µs")
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small, fast smoke run")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--assets", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    if args.quick:
        args.events, args.runs, args.assets, args.samples = 5_000, 3, 20_000, 50
    random.seed(7)
    bench_ingest(args.events, args.runs, args.batch)
    bench_queries(args.assets, args.samples)


if __name__ == "__main__":
    main()
