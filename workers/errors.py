"""The workers package's exceptions, one tree; library errors are converted and chained.

    WorkerError
    ├── TaskFailed      a task's own failure; its message is written for the flow's author
    ├── ParamsError     the rendered properties do not validate against the task type's Params
    └── StorageError    the internal storage could not store, find or read a file

`run_task` never lets any of these escape: it turns them into a FAILED task run whose `error`
is the exception's message. No I/O here.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base of every error the workers package raises."""


class TaskFailed(WorkerError):  # noqa: N818 - the name others code against
    """A task could not do its work; the message says why, for the person who wrote the flow."""


class ParamsError(WorkerError):
    """A task's rendered properties are not valid for its type."""


class StorageError(WorkerError):
    """The internal storage failed (missing file, bad URI, S3 error...)."""
