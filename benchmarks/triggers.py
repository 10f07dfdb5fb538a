"""Benchmark the trigger server (issue #5): from an asset event committed to the triggered
execution starting, median and p99 over N events (default 1,000). Target: median < 200 ms.

Setup: an embedded Ray (2 CPUs), a fresh store, a deployed flow with an EventTrigger on
UPDATED of `trips` and one Log task. A `TriggerServer` follows the store in a thread of this
process (as `assetline server` does in its own). For each event the benchmark commits one
asset update, notes the time `store.write` returned, and reads the start time the triggered
execution recorded (its deterministic id is known in advance); it waits for that execution to
end before the next event, so each figure is the trigger path alone, not a queue.

Raw baseline, measured in the same run: the same update committed, then `run_flow` called
straight away in a thread (no log following, no trigger evaluation, no recording): what
starting an execution costs by itself. The ratio is the trigger path over that baseline.

Usage: `python benchmarks/triggers.py [--events N] [--baseline M] [--poll S]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MART = textwrap.dedent(
    """\
    id: mart
    namespace: bench
    triggers:
      - id: on_trips
        type: io.kestra.plugin.ee.assets.EventTrigger
        assetId: trips
        events: [UPDATED]
    tasks:
      - id: build
        type: io.kestra.plugin.core.log.Log
        message: "{{ trigger.assets[0].id }}"
    """
)
PLAIN = textwrap.dedent(
    """\
    id: plain
    namespace: bench
    tasks:
      - id: build
        type: io.kestra.plugin.core.log.Log
        message: trips
    """
)


def _update(store: object, n: int) -> float:
    from store import Store
    from store.codec import AssetDecl, AssetSetEvent

    assert isinstance(store, Store)
    store.write([AssetSetEvent(asset=AssetDecl(id="trips", metadata={"n": n}), time=time.time())])
    return time.time()


def _wait_end(store: object, execution_id: str, timeout: float = 60.0) -> float:
    """The recorded start of the execution, once it has ended."""
    from store import Store

    assert isinstance(store, Store)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.get_execution(execution_id)
        if record is not None and record.end is not None and record.state != "CREATED":
            return record.start
        time.sleep(0.002)
    raise TimeoutError(f"execution {execution_id} did not end within {timeout}s")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure_triggers(home: Path, events: int, poll: float) -> list[float]:
    from scheduler.deploy import deploy_flow
    from scheduler.loader import load_flow_text
    from scheduler.server import TriggerServer
    from scheduler.triggers import execution_id_for
    from store import Store

    store = Store.open(home)
    deploy_flow(store, load_flow_text(MART, "mart.yaml"))
    _update(store, -1)  # CREATED: not a trigger
    server = TriggerServer(home, poll_interval=poll, report=lambda _m: None)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    latencies = []
    try:
        for n in range(events):
            committed = _update(store, n)
            seq = store.last_seq()
            execution_id = execution_id_for("bench", "mart", "on_trips", f"seq:{seq}")
            started = _wait_end(store, execution_id)
            latencies.append(started - committed)
    finally:
        server.stop()
        thread.join(60)
        server.close()
        store.close()
    return latencies


def measure_baseline(home: Path, events: int) -> list[float]:
    from scheduler.loader import load_flow_text
    from scheduler.runner import run_flow
    from store import Store

    flow = load_flow_text(PLAIN, "plain.yaml")
    store = Store.open(home)
    latencies = []
    try:
        for n in range(events):
            result: dict[str, str] = {}

            def run(result: dict[str, str] = result) -> None:
                summary = run_flow(flow, {}, home=home, workdir=str(home))
                result["id"] = summary.execution_id

            committed = _update(store, n)
            worker = threading.Thread(target=run)
            worker.start()
            worker.join(60)
            latencies.append(_wait_end(store, result["id"]) - committed)
    finally:
        store.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=200)
    parser.add_argument("--poll", type=float, default=0.01)
    args = parser.parse_args()

    from scheduler.runner import ray_session

    with tempfile.TemporaryDirectory() as tmp, ray_session(num_cpus=2):
        base = measure_baseline(Path(tmp) / "baseline", args.baseline)
        lat = measure_triggers(Path(tmp) / "triggers", args.events, args.poll)
    ms = 1000.0
    med, p99 = statistics.median(lat) * ms, _percentile(lat, 0.99) * ms
    bmed, bp99 = statistics.median(base) * ms, _percentile(base, 0.99) * ms
    print(f"trigger latency over {len(lat)} events: median {med:.1f} ms, p99 {p99:.1f} ms")
    print(
        f"raw baseline (run_flow right after the commit) over {len(base)}: "
        f"median {bmed:.1f} ms, p99 {bp99:.1f} ms"
    )
    print(f"ratio trigger/raw: median {med / bmed:.2f}x, p99 {p99 / bp99:.2f}x")
    print(f"target: median < 200 ms -> {'met' if med < 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
