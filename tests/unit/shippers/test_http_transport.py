"""The HTTP transport against httpx.MockTransport: retries, dead letters, batching, auth."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shippers.config import OpenLineageExporterConfig
from shippers.errors import DeliveryError
from shippers.http_transport import DeadLetterFile, HttpTransport
from shippers.openlineage_events import OutgoingEvent

Handler = Callable[[httpx.Request], httpx.Response]


def _events(n: int) -> list[OutgoingEvent]:
    return [
        OutgoingEvent.of(i, {"run": {"runId": f"r{i}"}, "eventType": "START"}, f"r{i}/START")
        for i in range(n)
    ]


class Recorder:
    """A MockTransport handler answering from a list of (status, body) per request."""

    def __init__(self, answers: Callable[[int, httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self._answers = answers

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._answers(len(self.requests), request)

    def bodies(self) -> list[Any]:
        out = []
        for r in self.requests:
            raw = r.content
            if r.headers.get("content-encoding") == "gzip":
                raw = gzip.decompress(raw)
            out.append(json.loads(raw))
        return out


def _transport(
    tmp_path: Path, handler: Recorder, sleeps: list[float] | None = None, **config: Any
) -> HttpTransport:
    cfg = OpenLineageExporterConfig(uri="http://backend", **config)
    return HttpTransport(
        cfg,
        DeadLetterFile(tmp_path / "dead.ndjson"),
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
    )


def test_single_events_to_the_marquez_endpoint(tmp_path: Path) -> None:
    rec = Recorder(lambda _n, _r: httpx.Response(201))
    t = _transport(tmp_path, rec, batchEndpoint="never")
    t.send(_events(3))
    assert [str(r.url) for r in rec.requests] == ["http://backend/api/v1/lineage"] * 3
    assert t.stats.delivered == 3


def test_retries_5xx_and_429_with_backoff_then_succeeds(tmp_path: Path) -> None:
    statuses = [500, 503, 429, 201]
    rec = Recorder(
        lambda n, _r: httpx.Response(
            statuses[n - 1], headers={"Retry-After": "2"} if n == 3 else {}
        )
    )
    sleeps: list[float] = []
    t = _transport(tmp_path, rec, sleeps, batchEndpoint="never")
    t.send(_events(1))
    assert len(rec.requests) == 4 and t.stats.retried == 3 and t.stats.delivered == 1
    assert sleeps[2] == 2.0  # Retry-After honoured


def test_connection_errors_and_timeouts_are_retried(tmp_path: Path) -> None:
    def answers(n: int, request: httpx.Request) -> httpx.Response:
        if n == 1:
            raise httpx.ConnectError("refused", request=request)
        if n == 2:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(201)

    rec = Recorder(answers)
    t = _transport(tmp_path, rec, batchEndpoint="never")
    t.send(_events(1))
    assert t.stats.retried == 2 and t.stats.delivered == 1


def test_gives_up_after_max_attempts_with_a_clear_message(tmp_path: Path) -> None:
    rec = Recorder(lambda _n, _r: httpx.Response(502, text="bad gateway"))
    t = _transport(tmp_path, rec, batchEndpoint="never", retry={"maxAttempts": 3})
    with pytest.raises(
        DeliveryError, match=r"failed 3 times for event r0/START; last error: HTTP 502: bad gateway"
    ):
        t.send(_events(1))


def test_4xx_goes_to_the_dead_letter_file_with_the_reason(tmp_path: Path) -> None:
    rec = Recorder(
        lambda n, _r: httpx.Response(400, text="bad facet") if n == 2 else httpx.Response(201)
    )
    t = _transport(tmp_path, rec, batchEndpoint="never")
    t.send(_events(3))
    assert (t.stats.delivered, t.stats.dead_lettered) == (2, 1)
    (line,) = (tmp_path / "dead.ndjson").read_text().splitlines()
    dead = json.loads(line)
    assert dead["status"] == 400 and dead["reason"] == "HTTP 400: bad facet"
    assert dead["key"] == "r1/START" and dead["event"]["run"]["runId"] == "r1"


def test_auto_batch_falls_back_to_single_events_on_404(tmp_path: Path) -> None:
    rec = Recorder(
        lambda _n, r: httpx.Response(404) if r.url.path.endswith("/batch") else httpx.Response(201)
    )
    t = _transport(tmp_path, rec, batchSize=10)
    t.send(_events(3))
    t.send(_events(2))
    paths = [r.url.path for r in rec.requests]
    assert paths == ["/api/v1/lineage/batch"] + ["/api/v1/lineage"] * 5


def test_batch_contract_partial_success(tmp_path: Path) -> None:
    def answers(n: int, _r: httpx.Request) -> httpx.Response:
        if n == 1:
            return httpx.Response(
                200,
                json={
                    "status": "partial_success",
                    "summary": {"received": 3, "successful": 1, "failed": 2},
                    "failed_events": [
                        {"index": 0, "reason": "Unsupported facets", "retriable": False},
                        {"index": 2, "reason": "Timeout", "retriable": True},
                    ],
                },
            )
        return httpx.Response(204)

    rec = Recorder(answers)
    t = _transport(tmp_path, rec, batchSize=10, endpoint="openapi/openlineage/api/v1/lineage")
    t.send(_events(3))
    bodies = rec.bodies()
    assert [len(b) for b in bodies] == [3, 1] and bodies[1][0]["run"]["runId"] == "r2"
    assert rec.requests[0].url.path == "/openapi/openlineage/api/v1/lineage/batch"
    assert (t.stats.delivered, t.stats.dead_lettered, t.stats.retried) == (2, 1, 1)
    assert "Unsupported facets" in (tmp_path / "dead.ndjson").read_text()


def test_a_batch_refused_whole_is_resent_one_by_one(tmp_path: Path) -> None:
    def answers(_n: int, r: httpx.Request) -> httpx.Response:
        if r.url.path.endswith("/batch"):
            return httpx.Response(400, text="one bad event")
        body = json.loads(r.content)
        return httpx.Response(400 if body["run"]["runId"] == "r1" else 201)

    rec = Recorder(answers)
    t = _transport(tmp_path, rec, batchSize=10, batchEndpoint="always")
    t.send(_events(3))
    assert (t.stats.delivered, t.stats.dead_lettered) == (2, 1)


def test_auth_headers_and_gzip(tmp_path: Path) -> None:
    rec = Recorder(lambda _n, _r: httpx.Response(201))
    t = _transport(
        tmp_path,
        rec,
        batchEndpoint="never",
        apiKey="s3cret",
        headers={"X-Team": "data"},
        compression="gzip",
    )
    t.send(_events(1))
    request = rec.requests[0]
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["x-team"] == "data"
    assert request.headers["content-encoding"] == "gzip"
    assert rec.bodies()[0]["run"]["runId"] == "r0"
    rec2 = Recorder(lambda _n, _r: httpx.Response(201))
    _transport(tmp_path, rec2, batchEndpoint="never", apiKey="k", apiKeyHeader="X-API-Key").send(
        _events(1)
    )
    assert rec2.requests[0].headers["x-api-key"] == "k"
    assert "authorization" not in rec2.requests[0].headers


def test_batch_events_failing_retriably_every_time_raise(tmp_path: Path) -> None:
    body = {
        "status": "partial_success",
        "summary": {"received": 1, "successful": 0, "failed": 1},
        "failed_events": [{"index": 0, "reason": "Timeout", "retriable": True}],
    }
    rec = Recorder(lambda _n, _r: httpx.Response(200, json=body))
    t = _transport(tmp_path, rec, batchEndpoint="always", retry={"maxAttempts": 2})
    with pytest.raises(
        DeliveryError, match="kept answering that 1 events failed \\(retriable\\) after 2"
    ):
        t.send(_events(2))


def test_an_unwritable_dead_letter_file_is_an_export_error(tmp_path: Path) -> None:
    from shippers.errors import ExportError

    blocker = tmp_path / "blocker"
    blocker.write_text("")
    rec = Recorder(lambda _n, _r: httpx.Response(422))
    cfg = OpenLineageExporterConfig(uri="http://backend", batchEndpoint="never")
    t = HttpTransport(
        cfg,
        DeadLetterFile(blocker / "dead.ndjson"),
        client=httpx.Client(transport=httpx.MockTransport(rec)),
    )
    with pytest.raises(ExportError, match="cannot write the dead-letter file"):
        t.send(_events(1))


def test_a_batch_body_is_the_events_bytes_as_one_json_array(tmp_path: Path) -> None:
    rec = Recorder(lambda _n, _r: httpx.Response(204))
    t = _transport(tmp_path, rec, batchSize=10, batchEndpoint="always")
    events = _events(3)
    t.send(events)
    (request,) = rec.requests
    assert request.content == b"[" + b",".join(e.body for e in events) + b"]"
    assert rec.bodies() == [[e.payload for e in events]]


@pytest.mark.parametrize("level", [1, 9])
def test_gzip_at_the_configured_level(tmp_path: Path, level: int) -> None:
    rec = Recorder(lambda _n, _r: httpx.Response(204))
    t = _transport(
        tmp_path, rec, batchEndpoint="always", compression="gzip", compressionLevel=level
    )
    events = _events(50)
    t.send(events)
    content = rec.requests[0].content
    assert gzip.decompress(content) == b"[" + b",".join(e.body for e in events) + b"]"
    # The gzip header's XFL byte says how it was compressed: 4 = fastest, 2 = best.
    assert content[8] == {1: 4, 9: 2}[level]


@pytest.mark.parametrize("level", [0, 10])
def test_a_gzip_level_out_of_range_is_refused(level: int) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"compressionLevel\n  Input should be"):
        OpenLineageExporterConfig(uri="http://backend", compressionLevel=level)
