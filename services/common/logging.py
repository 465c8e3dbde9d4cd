"""Structured logs of a service process: JSON lines with the request id of the call.

:func:`configure_logging` (process entry points only) sends every record to stderr as
one JSON object per line (:class:`JsonFormatter`); :class:`RequestIdFilter` stamps
each record with the id of the call the emitting thread is handling, which the
observability interceptor sets (:func:`bind_request_id`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("motiflens_request_id", default=None)


def current_request_id() -> str | None:
    """The request id of the call this thread is handling, or None outside a call."""
    return _request_id.get()


def bind_request_id(request_id: str | None) -> contextvars.Token[str | None]:
    """Make ``request_id`` the current call's id in this context; undo with :func:`unbind_request_id`."""
    return _request_id.set(request_id)


def unbind_request_id(token: contextvars.Token[str | None]) -> None:
    """Restore the request id that :func:`bind_request_id` replaced."""
    try:
        _request_id.reset(token)
    except ValueError:  # a stream closed from another thread (garbage collection)
        pass


_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exception.

    ``request_id`` comes from the record (see :class:`RequestIdFilter`); keys passed with
    ``extra=`` become keys of the object.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as JSON (``extra=`` fields become keys)."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in entry and key != "request_id":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(entry, default=str)


class RequestIdFilter(logging.Filter):
    """Stamp each record with the request id of the call being handled in the emitting thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``record.request_id`` (unless set); never drops a record."""
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as JSON lines at ``level`` (process entry points only)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
