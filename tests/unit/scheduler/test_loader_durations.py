"""ISO-8601 durations (Java's Duration.parse dialect) and YAML scalars with positions."""

from __future__ import annotations

import pytest

from scheduler.durations import parse_duration
from scheduler.errors import DurationError, SchedulerError
from scheduler.flow_model import Pos
from scheduler.yaml_positions import PMap, PSeq, parse_yaml, plain


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT5M", 300.0),
        ("P1D", 86400.0),
        ("PT0.5S", 0.5),
        ("pt1h30m", 5400.0),
        ("P1DT2H", 93600.0),
        ("PT1,5S", 1.5),
        (30, 30.0),
        (1.5, 1.5),
    ],
)
def test_parse_duration(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P", "'P' is not an ISO-8601 duration; write it like PT5M, PT1H30M, P1D or PT0.5S"),
        ("PT", "'PT' is not an ISO-8601 duration; write it like PT5M, PT1H30M, P1D or PT0.5S"),
        ("P1DT", "'P1DT' is not an ISO-8601 duration; write it like PT5M, PT1H30M, P1D or PT0.5S"),
        ("P1W", "'P1W' is not an ISO-8601 duration; write it like PT5M, PT1H30M, P1D or PT0.5S"),
        ("5m", "'5m' is not an ISO-8601 duration; write it like PT5M, PT1H30M, P1D or PT0.5S"),
        (-1, "-1 is not a duration of zero or more seconds"),
        (True, "True is not a duration; write it like PT5M, PT1H30M, P1D or PT0.5S"),
    ],
)
def test_bad_durations(text: str | int, message: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, SchedulerError) and isinstance(caught.value, ValueError)


def test_yaml_values_keep_their_positions() -> None:
    text = "a: 1\nb:\n  - x\n  - {c: 0x1F, d: .inf, e: 2024-01-01, f: null, g: yes}\n"
    root, issues = parse_yaml(text, "t.yaml")
    assert issues == []
    assert isinstance(root, PMap)
    assert (root.kpos("b"), root.vpos("a")) == (Pos("t.yaml", 2, 1), Pos("t.yaml", 1, 4))
    items = root["b"]
    assert isinstance(items, PSeq)
    assert items.ipos(1) == Pos("t.yaml", 4, 5)
    assert plain(root) == {
        "a": 1,
        "b": ["x", {"c": 31, "d": float("inf"), "e": "2024-01-01", "f": None, "g": "yes"}],
    }


def test_yaml_anchors_and_merge_keys() -> None:
    text = "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n"
    root, issues = parse_yaml(text, "t.yaml")
    assert issues == []
    assert plain(root)["use"] == {"x": 1, "y": 3}


def test_yaml_non_scalar_keys_are_issues() -> None:
    _root, issues = parse_yaml("? [a]\n: 1\n", "t.yaml")
    assert [str(issue) for issue in issues] == [
        "t.yaml:1:3: a mapping key must be a plain text; quote it or rewrite it"
    ]
