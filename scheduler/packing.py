"""Packing short task runs into one Ray task: how a fan-out beats raw Ray.

One Ray task costs about half a millisecond of scheduling on a laptop, more than a trivial
iteration itself. `PackingBackend` wraps a backend and watches how long each task's runs take
on the worker; once a task has shown (after `probe` runs) that its runs are short, the task runs
that reach it in the same event-loop tick are sent together, several to a Ray task, sized so
each Ray task lasts about `target` seconds, and split so every CPU gets work.

Each value keeps its own task run, attempt, outputs and idempotency key: a pack is only a way
of carrying them. Retries (attempt > 1) and task runs with a timeout never go into a pack, so a
value that failed inside a pack is retried alone. No I/O here beyond the wrapped backend.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict, deque
from dataclasses import dataclass, field

from scheduler.backends import Backend
from workers.spec import TaskResult, TaskRunSpec


@dataclass
class _Stats:
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=32))

    def add(self, seconds: float) -> None:
        self.samples.append(max(seconds, 0.0))

    def median(self) -> float:
        ordered = sorted(self.samples)
        return ordered[len(ordered) // 2]


class PackingBackend:
    """A Backend that packs short task runs; everything else passes straight through."""

    def __init__(
        self,
        inner: Backend,
        *,
        parallelism: int,
        target: float = 0.02,
        short: float = 0.005,
        probe: int = 8,
        max_pack: int = 128,
    ) -> None:
        self.inner = inner
        self.parallelism = max(1, parallelism)
        self.target = target
        self.short = short
        self.probe = probe
        self.max_pack = max_pack
        self._stats: dict[str, _Stats] = defaultdict(_Stats)
        self._queue: list[tuple[TaskRunSpec, asyncio.Future[TaskResult]]] = []
        self._flush_scheduled = False
        self._inflight = 0
        self._sending: set[asyncio.Task[None]] = set()
        self._max_inflight_packs = 2 * self.parallelism
        self.packs_sent = 0
        self.packed_runs = 0

    def _key(self, spec: TaskRunSpec) -> str:
        return f"{spec.flow_id}/{spec.task_id}"

    def _packable(self, spec: TaskRunSpec) -> bool:
        if spec.timeout is not None or spec.attempt > 1:
            return False
        stats = self._stats.get(self._key(spec))
        return (
            stats is not None and len(stats.samples) >= self.probe and (stats.median() < self.short)
        )

    def _observe(self, spec: TaskRunSpec, result: TaskResult) -> None:
        self._stats[self._key(spec)].add(result.end - result.start)

    async def run(self, spec: TaskRunSpec) -> TaskResult:
        if not self._packable(spec):
            result = await self.inner.run(spec)
            self._observe(spec, result)
            return result
        future: asyncio.Future[TaskResult] = asyncio.get_running_loop().create_future()
        self._queue.append((spec, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    async def run_pack(self, specs: list[TaskRunSpec]) -> list[TaskResult]:
        return await self.inner.run_pack(specs)

    def _pack_size(self, spec: TaskRunSpec) -> int:
        median = self._stats[self._key(spec)].median()
        return max(1, min(self.max_pack, int(self.target / max(median, 1e-5))))

    def _flush(self) -> None:
        """Send queued runs while fewer than `2 x parallelism` packs are out. When every slot
        is taken the queue grows, and the next pack to return makes room for a full one."""
        self._flush_scheduled = False
        loop = asyncio.get_running_loop()
        while self._queue and self._inflight < self._max_inflight_packs:
            size = self._pack_size(self._queue[0][0])
            free = self._max_inflight_packs - self._inflight
            per_pack = max(1, min(size, math.ceil(len(self._queue) / free)))
            chunk, self._queue = self._queue[:per_pack], self._queue[per_pack:]
            self._inflight += 1
            task = loop.create_task(self._send(chunk))
            self._sending.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._sending.discard)

    def _pack_done(self) -> None:
        self._inflight -= 1
        if self._queue and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def _send(self, chunk: list[tuple[TaskRunSpec, asyncio.Future[TaskResult]]]) -> None:
        specs = [spec for spec, _ in chunk]
        self.packs_sent += 1
        self.packed_runs += len(specs)
        try:
            results = await self.inner.run_pack(specs)
        except BaseException as exc:  # the whole pack was lost: every value sees the error
            self._pack_done()
            for _, future in chunk:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        self._pack_done()
        for (spec, future), result in zip(chunk, results, strict=True):
            self._observe(spec, result)
            if not future.done():
                future.set_result(result)
