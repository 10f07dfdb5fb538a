"""Resuming an execution paused at a Pause task: the request travels through the store.

`assetline executions resume ID -i key=value` (another process, maybe another machine sharing
the home) calls `request_resume`, then `wait_outcome`; the executor driving that execution
polls its `StoreResumeChannel` while a Pause waits, takes the request (removing it) and checks
the inputs against the Pause's `onResume` declarations: bad inputs are refused (the refusal
replaces the request, for the command to print) and the Pause keeps waiting, as Kestra refuses
such a resume. Requests are KV records under a namespace of their own (`executions:resume`),
keyed by a hash of the execution id, so they never show among a flow namespace's KV keys;
while a Pause waits, a mark under `executions:paused` says at which task and for which inputs
(`paused_at`, shown by `executions show` and the API).

No Ray here, and no decisions about states: the executor makes those.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any, Final

from store import Store

__all__ = ["StoreResumeChannel", "paused_at", "request_resume", "wait_outcome"]

NAMESPACE: Final = "executions:resume"
#: Where a waiting Pause says so (its task and onResume inputs), for `executions show` and UI.
PAUSED: Final = "executions:paused"


def _key(execution_id: str) -> str:
    return hashlib.sha256(execution_id.encode()).hexdigest()[:48]


def request_resume(store: Store, execution_id: str, inputs: Mapping[str, Any]) -> None:
    """Ask the executor of `execution_id` to resume its Pause with `inputs` (a request not
    taken yet is replaced)."""
    store.kv_set(NAMESPACE, _key(execution_id), {"inputs": dict(inputs)}, kv_type="JSON")


def paused_at(store: Store, execution_id: str) -> dict[str, Any] | None:
    """The Pause `execution_id` waits at, as {"task", "inputs"}, or None. Only meaningful
    while the execution is RUNNING (a driver that died leaves its mark)."""
    entry = store.kv_get(PAUSED, _key(execution_id))
    return dict(entry.value) if entry is not None else None


def wait_outcome(store: Store, execution_id: str, timeout: float) -> str | None:
    """After `request_resume`: None once the executor took the request; its refusal message
    if it refused the inputs; "pending" if neither happened within `timeout` seconds (the
    execution has not reached its Pause yet: it will take the request then)."""
    key = _key(execution_id)
    deadline = time.monotonic() + timeout
    while True:
        entry = store.kv_get(NAMESPACE, key)
        if entry is None:
            return None
        refused = entry.value.get("refused")
        if refused is not None:
            store.kv_delete(NAMESPACE, key)
            return str(refused)
        if time.monotonic() >= deadline:
            return "pending"
        time.sleep(0.1)


class StoreResumeChannel:
    """The executor's side (`executor.ResumeChannel`) for executions written to `store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def take(self, execution_id: str) -> Mapping[str, Any] | None:
        key = _key(execution_id)
        entry = self.store.kv_get(NAMESPACE, key)
        if entry is None or "inputs" not in entry.value:
            return None
        self.store.kv_delete(NAMESPACE, key)
        inputs: Mapping[str, Any] = entry.value["inputs"]
        return inputs

    def refuse(self, execution_id: str, message: str) -> None:
        self.store.kv_set(NAMESPACE, _key(execution_id), {"refused": message}, kv_type="JSON")

    def paused(self, execution_id: str, task_id: str, inputs: list[dict[str, Any]]) -> None:
        value = {"task": task_id, "inputs": inputs}
        self.store.kv_set(PAUSED, _key(execution_id), value, kv_type="JSON")

    def waiting_over(self, execution_id: str) -> None:
        self.store.kv_delete(PAUSED, _key(execution_id))
