"""Trigger declarations: validation with positions, matching, deterministic ids, cron times,
and the planning of runs from event-log entries (pure: no store, no Ray)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scheduler.errors import FlowError
from scheduler.loader import load_flow_text
from scheduler.server import _load, plan_event_runs
from scheduler.triggers import (
    EventTrigger,
    FreshnessTrigger,
    MetadataCondition,
    ScheduleTrigger,
    execution_id_for,
    flow_triggers,
    metadata_matches,
    trigger_file_issues,
    trigger_issues,
)
from store.codec import AssetChange, AssetDecl, AssetSetEvent, LogEntry, TaskRunEvent
from store.flows import DeployedFlow


def _flow(triggers: str) -> object:
    text = textwrap.dedent(
        """
        id: mart
        namespace: company.team
        triggers:
        {triggers}
        tasks:
          - id: build
            type: io.kestra.plugin.core.log.Log
            message: hi
        """
    ).lstrip()
    body = textwrap.indent(textwrap.dedent(triggers).strip(), "  ")
    return load_flow_text(text.replace("{triggers}\n", body.lstrip() and body + "\n"), "m.yaml")


def test_the_three_kinds_validate_with_kestra_names() -> None:
    flow = _flow(
        """
        - id: on_trips
          type: io.kestra.plugin.ee.assets.EventTrigger
          assetId: trips
          events: [UPDATED, DELETED]
          metadataQuery:
            - field: model_layer
              type: EQUAL_TO
              value: staging
        - id: stale
          type: io.kestra.plugin.kestra.ee.assets.FreshnessTrigger
          assetType: io.kestra.plugin.ee.assets.Table
          maxStaleness: PT26H
        - id: nightly
          type: io.kestra.plugin.core.trigger.Schedule
          cron: "0 2 * * *"
        """
    )
    event, fresh, schedule = flow_triggers(flow)  # type: ignore[arg-type]
    assert isinstance(event, EventTrigger) and event.events == ["UPDATED", "DELETED"]
    assert event.metadataQuery == [MetadataCondition(field="model_layer", value="staging")]
    assert isinstance(fresh, FreshnessTrigger) and fresh.staleness == 26 * 3600.0
    assert fresh.interval == 3600.0
    assert isinstance(schedule, ScheduleTrigger) and schedule.timezone == "UTC"


def test_every_problem_is_reported_at_its_position() -> None:
    flow = _flow(
        """
        - id: a
          type: io.kestra.plugin.ee.assets.EventTriger
        - id: b
          type: io.kestra.plugin.ee.assets.EventTrigger
          events: [TOUCHED]
          assetid: trips
        - id: c
          type: io.kestra.plugin.kestra.ee.assets.FreshnessTrigger
          maxStaleness: soon
        - id: d
          type: io.kestra.plugin.core.trigger.Schedule
          cron: "every day"
          timezone: Mars/Olympus
        - id: d
          type: io.kestra.plugin.core.trigger.Schedule
          cron: "@daily"
        """
    )
    with pytest.raises(FlowError) as caught:
        flow_triggers(flow)  # type: ignore[arg-type]
    lines = str(caught.value).splitlines()
    assert lines[0] == (
        "m.yaml:5:11: trigger 'a': unknown trigger type "
        "'io.kestra.plugin.ee.assets.EventTriger'; did you mean "
        "'io.kestra.plugin.ee.assets.EventTrigger'?"
    )
    assert lines[1].startswith("m.yaml:8:14: trigger 'b': 'events.0': Input should be 'CREATED'")
    assert lines[2].startswith("m.yaml:9:14: trigger 'b': 'assetid': unknown property; ")
    assert "assetId" in lines[2]
    assert lines[3] == (
        "m.yaml:12:19: trigger 'c': 'maxStaleness': 'soon' is not an ISO-8601 duration; "
        "write it like PT5M, PT1H30M, P1D or PT0.5S"
    )
    assert lines[4] == (
        "m.yaml:15:11: trigger 'd': 'cron': 'every day' is not a cron expression; write it "
        "like '0 * * * *'"
    )
    assert lines[5] == (
        "m.yaml:16:15: trigger 'd': 'timezone': unknown time zone 'Mars/Olympus'; use an IANA "
        "name like UTC"
    )
    assert lines[6] == "m.yaml:17:5: trigger 'd': the id is used twice; give each its own"


def test_unknown_types_without_a_close_name_list_the_known_ones() -> None:
    flow = _flow("- id: a\n  type: com.example.Webhook\n")
    _, issues = trigger_issues(flow)  # type: ignore[arg-type]
    assert [issue.message for issue in issues] == [
        "trigger 'a': unknown trigger type 'com.example.Webhook'; use one of "
        "io.kestra.plugin.ee.assets.EventTrigger, "
        "io.kestra.plugin.kestra.ee.assets.FreshnessTrigger, "
        "io.kestra.plugin.core.trigger.Schedule"
    ]


def test_a_zero_staleness_is_refused() -> None:
    flow = _flow(
        "- id: a\n  type: io.kestra.plugin.kestra.ee.assets.FreshnessTrigger\n"
        "  maxStaleness: PT0S\n"
    )
    _, issues = trigger_issues(flow)  # type: ignore[arg-type]
    assert [issue.message for issue in issues] == [
        "trigger 'a': 'maxStaleness': 'PT0S' must be longer than zero"
    ]


def test_metadata_conditions() -> None:
    metadata = {"model_layer": "staging", "config": {"region": "eu-west-1"}, "n": 1}
    equal = MetadataCondition(field="model_layer", value="staging")
    other = MetadataCondition(field="model_layer", type="NOT_EQUAL_TO", value="mart")
    nested = MetadataCondition(field="config.region", type="IS_ONE_OF", value=["eu-west-1"])
    absent = MetadataCondition(field="owner", type="IS_NOT_ONE_OF", value=["x"])
    assert metadata_matches([equal, other, nested, absent], metadata)
    assert not metadata_matches([MetadataCondition(field="n", value="1")], metadata)
    assert not metadata_matches([MetadataCondition(field="missing", value=None)], metadata)
    assert metadata_matches([], {})


def test_execution_ids_are_deterministic_and_distinct() -> None:
    one = execution_id_for("ns", "flow", "t", "seq:1")
    assert one == execution_id_for("ns", "flow", "t", "seq:1")
    assert (
        len(
            {
                one,
                execution_id_for("ns", "flow", "t", "seq:2"),
                execution_id_for("ns", "flow2", "t", "seq:1"),
            }
        )
        == 3
    )


def test_cron_times_between_two_moments() -> None:
    schedule = ScheduleTrigger(
        id="s", type="io.kestra.plugin.core.trigger.Schedule", cron="*/15 * * * *"
    )
    start = 1_800_000_000.0  # a whole hour
    assert schedule.times_between(start, start + 1800) == [start + 900, start + 1800]
    assert schedule.times_between(start, start + 10) == []


MART = """
id: mart
namespace: company.team
triggers:
  - id: on_staging
    type: io.kestra.plugin.ee.assets.EventTrigger
    events: [CREATED, UPDATED]
    metadataQuery:
      - field: model_layer
        value: staging
    inputs:
      table: "{{ trigger.assets[0].id }}"
tasks:
  - id: build
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def _entry(seq: int, changes: list[AssetChange], flow_id: str = "staging") -> LogEntry:
    event = TaskRunEvent(
        execution_id="e",
        flow_namespace="company.team",
        flow_id=flow_id,
        task_id="t",
        taskrun_id=f"r{seq}",
        attempt=1,
        state="SUCCESS",
        start=10.0,
        end=11.0,
    )
    return LogEntry(seq=seq, time=100.0 + seq, event=event, changes=changes)


def test_event_runs_are_planned_per_entry_with_matching_changes_only() -> None:
    deployed = _load(DeployedFlow("company.team", "mart", 1, MART, deployed=50.0))
    assert deployed is not None
    metadata = {"trips": {"model_layer": "staging"}, "raw": {"model_layer": "raw"}}
    entries = [
        _entry(
            1,
            [
                AssetChange("trips", "company.team", "Table", "CREATED"),
                AssetChange("raw", "company.team", "Table", "UPDATED"),
            ],
        ),
        _entry(2, [AssetChange("trips", "company.team", "Table", "USED")]),
        _entry(3, [AssetChange("trips", "company.team", "Table", "UPDATED")], flow_id="mart"),
        LogEntry(seq=4, time=104.0, event=AssetSetEvent(AssetDecl(id="x"), 104.0), changes=[]),
    ]
    runs = plan_event_runs(entries, [deployed], metadata.get)
    assert len(runs) == 1
    run = runs[0]
    assert run.execution_id == execution_id_for("company.team", "mart", "on_staging", "seq:1")
    assert run.inputs == {"table": "trips"}
    assert [a["id"] for a in run.trigger["assets"]] == ["trips"]
    assert run.trigger["assets"][0]["eventTime"] == "1970-01-01T00:01:41+00:00"


def test_events_older_than_the_deploy_do_not_trigger() -> None:
    deployed = _load(DeployedFlow("company.team", "mart", 1, MART, deployed=500.0))
    assert deployed is not None
    entry = _entry(1, [AssetChange("trips", "company.team", "Table", "CREATED")])
    assert plan_event_runs([entry], [deployed], lambda _id: {"model_layer": "staging"}) == []


def test_the_validate_hook_reports_trigger_issues_of_files_that_load(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MART)
    bad = tmp_path / "bad.yaml"
    bad.write_text(MART.replace("events: [CREATED, UPDATED]", "events: [NOPE]"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\n")
    issues = trigger_file_issues([good, bad, broken])
    assert [str(issue).split(": '")[0] for issue in issues] == [f"{bad}:7:14: trigger 'on_staging'"]
    assert "'events.0': Input should be 'CREATED', 'UPDATED', 'DELETED' or 'USED'" in str(issues[0])
