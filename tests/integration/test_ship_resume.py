"""Exactly once across a crash: the shipper process is SIGKILLed while a request is pending,
then started again; every event reaches the receiver exactly once. Real LMDB store, real
HTTP receiver, real child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from store.lmdb_store import Store
from tests.support.lineage_data import task_run
from tests.support.openlineage_receiver import OpenLineageReceiver

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RUNS = 20

SHIP = """
import sys
from shippers import ship
from store.lmdb_store import Store
home, url, dead = sys.argv[1:4]
with Store.open(home) as store:
    report = ship(store, {"type": "openlineage", "uri": url, "batchEndpoint": "never",
                          "deadLetterPath": dead, "timeout": 30})
print(report.shipped, report.committed_seq)
"""


def _ship_process(home: Path, url: str, dead: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SHIP, str(home), url, str(dead)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_mid_export_resumes_after_the_last_acknowledged_event(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store.open(home) as store:
        store.write([task_run(i) for i in range(RUNS)])
        assert store.last_seq() == RUNS
    # Request 9 is the START of the 5th task run: entries 1-4 are acknowledged by then.
    receiver = OpenLineageReceiver(stall_on=9).start()
    try:
        first = _ship_process(home, receiver.url, tmp_path / "dead.ndjson")
        assert receiver.stalled.wait(60), "the shipper never reached the stalled request"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
        assert first.returncode == -signal.SIGKILL
        receiver.release()
        with Store.open(home) as store:
            assert store.get_offset("openlineage.default") == 4
        assert sum(receiver.counts().values()) == 8

        second = _ship_process(home, receiver.url, tmp_path / "dead.ndjson")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert out.split() == [str(2 * (RUNS - 4)), str(RUNS)]
        counts = receiver.counts()
        assert len(counts) == 2 * RUNS
        assert set(counts.values()) == {1}
        assert receiver.invalid == []
    finally:
        receiver.stop()
