"""A Dag ordered by assets alone, on the session's two-node Ray cluster: two independent
branches run at the same time (their spans overlap) and a join waits for both; the spans are
read back from the store's task runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.flows import open_store, run_text

pytestmark = pytest.mark.integration

FLOW = """
id: branches
namespace: company.team
tasks:
  - id: graph
    type: io.kestra.plugin.core.flow.Dag
    concurrencyLimit: {limit}
    tasks:
      - task:
          id: join
          type: io.kestra.plugin.scripts.shell.Commands
          commands: ["echo joined"]
          assets:
            inputs: [{{id: A}}, {{id: B}}]
            outputs: [{{id: AB, type: TABLE}}]
      - task:
          id: branch_a
          type: io.kestra.plugin.scripts.shell.Commands
          commands: ["sleep 1"]
          assets:
            outputs: [{{id: A, type: TABLE}}]
      - task:
          id: branch_b
          type: io.kestra.plugin.scripts.shell.Commands
          commands: ["sleep 1"]
          assets:
            outputs: [{{id: B, type: TABLE}}]
"""


def _spans(tmp_path: Path, home: Path, limit: int) -> dict[str, tuple[float, float]]:
    summary = run_text(tmp_path, home, FLOW.format(limit=limit))
    assert summary.state == "SUCCESS", summary.errors
    assert summary.assets_written == ["A", "AB", "B"]
    with open_store(home) as store:
        runs = [r for r in store.task_runs(summary.execution_id) if r.task_id != "graph"]
        assert sorted(r.task_id for r in runs) == ["branch_a", "branch_b", "join"]
        assert {r.state for r in runs} == {"SUCCESS"}
        assert [u.task_id for u in store.usages("A")] == ["branch_a", "join"]
        return {r.task_id: (r.start, r.end) for r in runs}


def test_independent_branches_overlap_and_the_join_waits_for_both(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    spans = _spans(tmp_path, home, limit=0)
    (a_start, a_end), (b_start, b_end) = spans["branch_a"], spans["branch_b"]
    assert a_end - a_start >= 1.0 and b_end - b_start >= 1.0
    # the branches ran at the same time: each started before the other ended
    assert a_start < b_end and b_start < a_end
    join_start = spans["join"][0]
    assert join_start >= max(a_end, b_end)


def test_concurrency_limit_one_runs_the_branches_one_after_the_other(
    ray_session: Any, tmp_path: Path, home: Path
) -> None:
    spans = _spans(tmp_path, home, limit=1)
    first, second = sorted((spans["branch_a"], spans["branch_b"]))
    assert second[0] >= first[1]
    assert spans["join"][0] >= second[1]
