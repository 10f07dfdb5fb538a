"""Deployed flows in a real LMDB store: revisions, deletes, the change counter, pending runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import Store
from store.flows import DeployedFlows, FlowAssetUse, FlowNotDeployed

pytestmark = pytest.mark.integration

SOURCE = "id: a\nnamespace: team\ntasks: []\n"


def test_revisions_grow_only_when_the_source_changes(home: Path) -> None:
    with Store.open(home) as store:
        flows = DeployedFlows(store)
        assert flows.version() == 0
        first, created = flows.deploy(
            "team",
            "a",
            SOURCE,
            triggers=[{"id": "t", "type": "x"}],
            assets=[FlowAssetUse("load", "OUTPUT", "trips")],
        )
        assert (first.revision, created) == (1, True)
        same, created = flows.deploy("team", "a", SOURCE)
        assert (same.revision, created) == (1, False)
        assert flows.version() == 1
        second, created = flows.deploy("team", "a", SOURCE + "# changed\n")
        assert (second.revision, created) == (2, True)
        assert flows.version() == 2
        assert [r.revision for r in flows.revisions("team", "a")] == [1, 2]
        old = flows.get("team", "a", revision=1)
        assert old is not None and old.source == SOURCE
        assert old.assets == [FlowAssetUse("load", "OUTPUT", "trips")]
        assert old.triggers == [{"id": "t", "type": "x"}]


def test_list_filters_by_namespace_and_hides_deleted_flows(home: Path) -> None:
    with Store.open(home) as store:
        flows = DeployedFlows(store)
        flows.deploy("team", "a", SOURCE)
        flows.deploy("team", "b", SOURCE)
        flows.deploy("team.sub", "c", SOURCE)
        flows.deploy("other", "d", SOURCE)
        assert [f.key for f in flows.list()] == ["other.d", "team.a", "team.b", "team.sub.c"]
        assert [f.key for f in flows.list(namespace="team")] == ["team.a", "team.b"]
        deleted = flows.delete("team", "a")
        assert (deleted.revision, deleted.deleted) == (2, True)
        assert [f.key for f in flows.list(namespace="team")] == ["team.b"]
        assert [f.key for f in flows.list(namespace="team", deleted=True)] == ["team.a", "team.b"]
        again, created = flows.deploy("team", "a", SOURCE)
        assert (again.revision, again.deleted, created) == (3, False, True)


def test_missing_and_deleted_flows_raise_with_a_hint(home: Path) -> None:
    with Store.open(home) as store:
        flows = DeployedFlows(store)
        with pytest.raises(FlowNotDeployed, match=r"no deployed flow team\.a to delete"):
            flows.delete("team", "a")
        with pytest.raises(
            FlowNotDeployed,
            match=r"no deployed flow team\.a; deploy it with `assetline deploy FLOW\.yaml`",
        ):
            flows.require("team", "a")
        flows.deploy("team", "a", SOURCE)
        with pytest.raises(FlowNotDeployed, match=r"no deployed flow team\.a revision 7;"):
            flows.require("team", "a", revision=7)
        flows.delete("team", "a")
        with pytest.raises(FlowNotDeployed, match=r"team\.a; deploy it"):
            flows.require("team", "a")
        assert flows.require("team", "a", revision=1).source == SOURCE


def test_pending_runs_are_kept_until_dropped(home: Path) -> None:
    with Store.open(home) as store:
        flows = DeployedFlows(store)
        flows.put_pending("e2", b"two")
        flows.put_pending("e1", b"one")
        assert flows.pending() == [("e1", b"one"), ("e2", b"two")]
        flows.drop_pending("e1")
    with Store.open(home, readonly=True) as store:
        assert DeployedFlows(store).pending() == [("e2", b"two")]


def test_deploy_flow_takes_a_home_and_refuses_a_flow_without_source(home: Path) -> None:
    from scheduler.deploy import deploy_flow
    from scheduler.errors import FlowError
    from scheduler.loader import load_flow_text

    flow = load_flow_text(
        "id: a\nnamespace: team\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n",
        "a.yaml",
    )
    result = deploy_flow(home, flow)
    assert str(result) == "team.a revision 1 deployed"
    assert str(deploy_flow(home, flow)) == "team.a revision 1 unchanged"
    with pytest.raises(FlowError, match=r"a\.yaml:1:1: the flow has no source text to deploy"):
        deploy_flow(home, flow.model_copy(update={"source": ""}))
