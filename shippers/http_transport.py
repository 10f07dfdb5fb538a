"""Deliver serialised OpenLineage events over HTTP, with retries, batching and dead letters.

- One event per request: `POST <uri>/<endpoint>` (Marquez `api/v1/lineage` answers 201).
- Batches: `POST <uri>/<endpoint>/batch` with a JSON array (the spec's batch contract: 204,
  or 200 with `status`, `summary` and `failed_events[{index, reason, retriable}]`). With
  `batchEndpoint: auto` the first batch probes it; 404, 405 or 501 mean the backend has no
  batch endpoint (no released backend has one yet) and every later request sends one event.
- Retries, with exponential backoff and full jitter (and `Retry-After` when given), on 5xx,
  408, 429, timeouts and connection errors; `DeliveryError` after the last attempt.
- Any other 4xx is final for that event: it goes to the dead-letter file with the reason and
  counts as delivered for the offset. A batch refused as a whole with a 4xx is resent one
  event at a time, so only the bad events are dead-lettered.
- Auth: `apiKey` as `Authorization: Bearer ...` (or raw in `apiKeyHeader`); custom headers;
  gzip request bodies (`compression: gzip`, at `compressionLevel`, 1 by default).
- Events arrive serialised (`OutgoingEvent.body`): a batch body is their bytes joined into a
  JSON array, nothing is encoded twice.

Thread-safe: one `HttpTransport` is shared by the exporter's sending threads. Knows nothing of
the store or of offsets.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
import msgspec

from shippers.config import OpenLineageExporterConfig
from shippers.errors import DeliveryError, ExportError
from shippers.openlineage_events import OutgoingEvent

__all__ = ["DeadLetterFile", "HttpTransport", "SendStats"]

RETRIABLE_STATUS: Final = frozenset({408, 425, 429})
NO_BATCH_STATUS: Final = frozenset({404, 405, 501})
_encoder = msgspec.json.Encoder()


class DeadLetterFile:
    """Append-only NDJSON of refused events: time, status, reason, url, key, seq, event."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.count = 0

    def write(self, event: OutgoingEvent, *, status: int | None, reason: str, url: str) -> None:
        line = _encoder.encode(
            {
                "time": datetime.now(UTC).isoformat(),
                "status": status,
                "reason": reason,
                "url": url,
                "key": event.key,
                "seq": event.seq,
                "event": msgspec.Raw(event.body),
            }
        )
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as fh:
                    fh.write(line + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise ExportError(f"cannot write the dead-letter file {self.path}: {exc}") from exc
            self.count += 1


class SendStats:
    """Counters shared by the sending threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered = 0
        self.retried = 0
        self.dead_lettered = 0

    def add(self, *, delivered: int = 0, retried: int = 0, dead: int = 0) -> None:
        with self._lock:
            self.delivered += delivered
            self.retried += retried
            self.dead_lettered += dead


class _RetriableError(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _reason(response: httpx.Response) -> str:
    body = response.text.strip().replace("\n", " ")
    return f"HTTP {response.status_code}: {body[:500]}" if body else f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class HttpTransport:
    """Sends groups of events, retrying and dead-lettering as the module docstring says."""

    def __init__(
        self,
        config: OpenLineageExporterConfig,
        dead_letter: DeadLetterFile,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.dead_letter = dead_letter
        self.stats = SendStats()
        self.url = f"{config.uri}/{config.endpoint.strip('/')}"
        self.batch_url = f"{self.url}/batch"
        self._sleep = sleep
        self._batch_supported: bool | None = {"auto": None, "always": True, "never": False}[
            config.batchEndpoint
        ]
        if config.batchSize == 1:
            self._batch_supported = False
        self._probe_lock = threading.Lock()
        headers = {"Content-Type": "application/json", **config.headers}
        if config.apiKey is not None:
            key = config.apiKey.get_secret_value()
            if config.apiKeyHeader:
                headers[config.apiKeyHeader] = key
            else:
                headers["Authorization"] = f"Bearer {key}"
        if config.compression == "gzip":
            headers["Content-Encoding"] = "gzip"
        self._headers = headers
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(config.timeout),
            limits=httpx.Limits(
                max_connections=config.maxConcurrency,
                max_keepalive_connections=config.maxConcurrency,
            ),
        )
        self._owns_client = client is None

    @property
    def may_batch(self) -> bool:
        """False once it is known that requests carry one event each."""
        return self._batch_supported is not False

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # -- one HTTP attempt ------------------------------------------------------------------

    def _post(self, url: str, data: bytes) -> httpx.Response:
        if self.config.compression == "gzip":
            data = gzip.compress(data, compresslevel=self.config.compressionLevel)
        try:
            response = self._client.post(url, content=data, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise _RetriableError(f"timed out after {self.config.timeout}s: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise _RetriableError(f"connection failed: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code in RETRIABLE_STATUS:
            raise _RetriableError(_reason(response), _retry_after(response))
        return response

    def _with_retries(self, url: str, body: bytes, what: str) -> httpx.Response:
        retry = self.config.retry
        for attempt in range(1, retry.maxAttempts + 1):
            try:
                return self._post(url, body)
            except _RetriableError as failure:
                if attempt == retry.maxAttempts:
                    raise DeliveryError(
                        f"OpenLineage backend {url} failed {retry.maxAttempts} times for {what}; "
                        f"last error: {failure.reason}. Nothing after the last acknowledged "
                        "event was committed: run the shipper again once the backend is back"
                    ) from failure
                cap = min(retry.maxDelay, retry.initialDelay * retry.multiplier ** (attempt - 1))
                delay = random.uniform(0, cap)
                if failure.retry_after is not None:
                    delay = min(max(delay, failure.retry_after), max(retry.maxDelay, 0.0))
                self.stats.add(retried=1)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- public ----------------------------------------------------------------------------

    def send(self, events: Sequence[OutgoingEvent]) -> None:
        """Deliver (or dead-letter) every event; DeliveryError when retries run out."""
        if not events:
            return
        if len(events) == 1 or self._batch_supported is False:
            for event in events:
                self._send_one(event)
            return
        if self._batch_supported is None:
            with self._probe_lock:
                if self._batch_supported is None:
                    self._send_batch(events, probing=True)
                    return
        if self._batch_supported:
            self._send_batch(events, probing=False)
        else:
            for event in events:
                self._send_one(event)

    def _send_one(self, event: OutgoingEvent) -> None:
        response = self._with_retries(self.url, event.body, f"event {event.key}")
        if response.is_success:
            self.stats.add(delivered=1)
            return
        self.dead_letter.write(
            event, status=response.status_code, reason=_reason(response), url=self.url
        )
        self.stats.add(dead=1)

    def _send_batch(self, events: Sequence[OutgoingEvent], *, probing: bool) -> None:
        pending = list(events)
        retry = self.config.retry
        for attempt in range(1, retry.maxAttempts + 1):
            body = b"[" + b",".join([e.body for e in pending]) + b"]"
            response = self._with_retries(self.batch_url, body, f"a batch of {len(pending)} events")
            status = response.status_code
            if probing and status in NO_BATCH_STATUS and self.config.batchEndpoint == "auto":
                self._batch_supported = False
                for event in pending:
                    self._send_one(event)
                return
            if probing:
                self._batch_supported = True
                probing = False
            if not response.is_success:
                # Refused as a whole: send one by one so only the bad events are dead-lettered.
                for event in pending:
                    self._send_one(event)
                return
            failed = self._failed_events(response)
            retriable: list[OutgoingEvent] = []
            for index, reason, again in failed:
                if not 0 <= index < len(pending):
                    continue
                if again:
                    retriable.append(pending[index])
                else:
                    self.dead_letter.write(
                        pending[index], status=status, reason=reason, url=self.batch_url
                    )
                    self.stats.add(dead=1)
            done = len(pending) - len({i for i, _, _ in failed if 0 <= i < len(pending)})
            self.stats.add(delivered=done)
            if not retriable:
                return
            pending = retriable
            if attempt < retry.maxAttempts:
                self.stats.add(retried=1)
                self._sleep(random.uniform(0, min(retry.maxDelay, retry.initialDelay * 2**attempt)))
        raise DeliveryError(
            f"OpenLineage backend {self.batch_url} kept answering that {len(pending)} events "
            f"failed (retriable) after {retry.maxAttempts} attempts; nothing after the last "
            "acknowledged event was committed"
        )

    @staticmethod
    def _failed_events(response: httpx.Response) -> list[tuple[int, str, bool]]:
        if response.status_code == 204 or not response.content:
            return []
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return []
        if not isinstance(body, dict) or body.get("status") != "partial_success":
            return []
        found: list[tuple[int, str, bool]] = []
        for item in body.get("failed_events") or []:
            if isinstance(item, dict) and isinstance(item.get("index"), int):
                found.append(
                    (item["index"], str(item.get("reason", "refused")), bool(item.get("retriable")))
                )
        return found
