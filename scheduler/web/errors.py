"""The web layer's exceptions, a branch of the scheduler's tree; each maps to one HTTP answer.

    SchedulerError                   (scheduler/errors.py)
    └── WebError        an API call cannot be answered; `status` is its HTTP status
        ├── NotFound        the asset, execution, flow or blueprint does not exist (404)
        ├── BadRequest      a parameter or body is invalid (400)
        ├── NotAvailable    this server cannot do that here (501)
        └── BindRefused     `assetline ui/server` would listen beyond loopback without a token

Every API error reaches the client as JSON `{"error": message, "status": status}`.
No I/O here.
"""

from __future__ import annotations

from typing import Any

from scheduler.errors import SchedulerError

__all__ = ["BadRequest", "BindRefused", "NotAvailable", "NotFound", "WebError"]


class WebError(SchedulerError):
    """An API call that cannot be answered; `status` is the HTTP status it answers with."""

    status = 500

    def __init__(self, message: str, *, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "status": self.status}
        if self.details:
            body["details"] = self.details
        return body


class NotFound(WebError):  # noqa: N818 - named for the HTTP answer
    status = 404


class BadRequest(WebError):  # noqa: N818 - named for the HTTP answer
    status = 400


class NotAvailable(WebError):  # noqa: N818 - named for the HTTP answer
    status = 501


class BindRefused(WebError):  # noqa: N818 - reads as what happened
    """Listening on a non-loopback address without a token."""

    status = 400
