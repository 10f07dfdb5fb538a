"""A real OpenLineage HTTP receiver for tests and benchmarks, on 127.0.0.1 (free port).

Answers like Marquez (`POST /api/v1/lineage` -> 201) and, when `batch=True`, implements the
spec's batch contract (`POST /api/v1/lineage/batch` -> 200 with `status`, `summary`,
`failed_events`); without it the batch path answers 404 like released backends. Each event is
validated against the official schemas (`validate=True`, default); an invalid one gets 400.

Faults, for the delivery tests:
- `fail_first`: answer 500 to the first N requests;
- `delay_first` / `delay`: sleep `delay` seconds before answering the first N requests
  (longer than the client's timeout: the client gives up, the answer is lost);
- `drop_first`: close the connection without answering the first N requests;
- `reject_run_ids`: answer 400 for events of these run ids (in a batch: a non-retriable
  `failed_events` entry);
- `stall_on`: the Nth request (1-based) blocks until `release()`; `stalled` is set while it
  waits.

An event counts as received only once its success answer was written and flushed: a
delivery whose answer was lost did not happen. `received` keeps (runId or dataset, eventType)
keys in arrival order; `events` the bodies; `count` how many. With `keep=False` (benchmarks)
only `count` moves: nothing is kept, so the receiver stays light however many events arrive;
and without validation or rejected run ids too, each body is still parsed whole by msgspec but
into the events' types only (`_EventHead`), not into dicts (20x cheaper: a benchmark's receiver
then takes little of the CPU the sender is measured on).
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

from tests.support.openlineage_schemas import OpenLineageValidator

_validator: OpenLineageValidator | None = None
_validator_lock = threading.Lock()


class _EventHead(msgspec.Struct):
    """What a light receiver keeps of an event: its type; the rest is parsed and skipped."""

    eventType: str | None = None  # noqa: N815 - OpenLineage's name


_light_single = msgspec.json.Decoder(_EventHead)
_light_batch = msgspec.json.Decoder(list[_EventHead])


def shared_validator() -> OpenLineageValidator:
    global _validator  # noqa: PLW0603 - built once per process, it loads 40 schemas
    with _validator_lock:
        if _validator is None:
            _validator = OpenLineageValidator()
        return _validator


def event_key(event: dict[str, Any]) -> str:
    if "run" in event:
        return f"{event['run']['runId']}/{event.get('eventType')}"
    if "dataset" in event:
        return f"{event['dataset']['namespace']}/{event['dataset']['name']}/DATASET"
    return f"{event.get('job', {}).get('name')}/JOB"


class OpenLineageReceiver:
    def __init__(
        self,
        *,
        batch: bool = False,
        validate: bool = True,
        fail_first: int = 0,
        delay_first: int = 0,
        delay: float = 0.0,
        drop_first: int = 0,
        reject_run_ids: frozenset[str] = frozenset(),
        stall_on: int | None = None,
        path: str = "/api/v1/lineage",
        keep: bool = True,
    ) -> None:
        self.batch = batch
        self.validate = validate
        self.fail_first = fail_first
        self.delay_first = delay_first
        self.delay = delay
        self.drop_first = drop_first
        self.reject_run_ids = reject_run_ids
        self.stall_on = stall_on
        self.path = path.rstrip("/")
        self.keep = keep
        self.count = 0
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.received: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.invalid: list[str] = []
        self.headers_seen: list[dict[str, str]] = []
        self.stalled = threading.Event()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host!s}:{port}"

    def start(self) -> OpenLineageReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def release(self) -> None:
        self._release.set()

    def counts(self) -> Counter[str]:
        """Received events by key, once no request is being answered any more (a client may
        have read its answer before the handler recorded it)."""
        deadline = time.monotonic() + 10
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)
        with self.lock:
            return Counter(self.received)

    # -- request handling ------------------------------------------------------------------

    @property
    def light(self) -> bool:
        return not (self.keep or self.validate or self.reject_run_ids)

    def _check(self, event: dict[str, Any]) -> str | None:
        if self.light:
            return None
        if event.get("run", {}).get("runId") in self.reject_run_ids:
            return "rejected by the test: this run id is refused"
        if self.validate:
            errors = shared_validator().errors(event)
            if errors:
                with self.lock:
                    self.invalid.extend(errors)
                return "; ".join(errors[:5])
        return None

    def _record(self, accepted: list[dict[str, Any]]) -> None:
        with self.lock:
            self.count += len(accepted)
            if self.keep:
                self.received.extend(event_key(e) for e in accepted)
                self.events.extend(accepted)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: Any | None) -> bool:
                data = b"" if body is None else msgspec.json.encode(body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:
                    return False
                return True

            def _peer_gone(self) -> bool:
                try:
                    data: bytes = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return False
                except OSError:
                    return True
                return data == b""

            def do_POST(self) -> None:
                with receiver.lock:
                    receiver.in_flight += 1
                try:
                    self._post()
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests += 1
                    number = receiver.requests
                    receiver.headers_seen.append(dict(self.headers.items()))
                if receiver.stall_on == number:
                    receiver.stalled.set()
                    receiver._release.wait()
                    if self._peer_gone():
                        return  # the client died while waiting: no answer reaches it
                if number <= receiver.drop_first:
                    self.close_connection = True
                    self.connection.close()
                    return
                if number <= receiver.delay_first:
                    time.sleep(receiver.delay)
                    if self._peer_gone():
                        return  # the client gave up: this delivery did not happen
                if number <= receiver.fail_first:
                    self._answer(500, {"error": "failing on purpose"})
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                path = self.path.rstrip("/")
                body: Any
                if not receiver.light:
                    body = msgspec.json.decode(raw)
                elif path == receiver.path:
                    body = _light_single.decode(raw)
                else:
                    body = _light_batch.decode(raw)
                if path == receiver.path:
                    self._single(body)
                elif path == receiver.path + "/batch" and receiver.batch:
                    self._batch(body)
                else:
                    self._answer(404, {"error": f"no such endpoint {self.path}"})

            def _single(self, event: dict[str, Any]) -> None:
                problem = receiver._check(event)
                if problem is not None:
                    self._answer(400, {"error": problem})
                    return
                if self._answer(201, None):
                    receiver._record([event])

            def _batch(self, events: list[dict[str, Any]]) -> None:
                failed = []
                accepted = []
                for index, event in enumerate(events):
                    problem = receiver._check(event)
                    if problem is None:
                        accepted.append(event)
                    else:
                        failed.append({"index": index, "reason": problem, "retriable": False})
                body = {
                    "status": "partial_success" if failed else "success",
                    "summary": {
                        "received": len(events),
                        "successful": len(accepted),
                        "failed": len(failed),
                        "retriable": 0,
                        "non_retriable": len(failed),
                    },
                    "failed_events": failed,
                }
                if self._answer(200, body):
                    receiver._record(accepted)

        return Handler


def main() -> None:
    """Run a receiver in its own process: print its URL, then serve until killed.

    `python -m tests.support.openlineage_receiver [--batch] [--no-validate] [--count-only]`;
    the counts go to stdout as JSON each time a line is read on stdin.
    """
    import sys

    receiver = OpenLineageReceiver(
        batch="--batch" in sys.argv,
        validate="--no-validate" not in sys.argv,
        keep="--count-only" not in sys.argv,
    ).start()
    print(receiver.url, flush=True)
    for _ in sys.stdin:
        with receiver.lock:
            print(
                json.dumps({"events": receiver.count, "invalid": len(receiver.invalid)}),
                flush=True,
            )
    receiver.stop()


if __name__ == "__main__":
    main()
