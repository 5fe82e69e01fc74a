"""Logging for strato's servers: plain text for a terminal, or one JSON object per line for log
collectors, on standard error.

Owns :func:`configure`. Every logger (strato's, uvicorn's, httpx's) goes through the root
handler it installs, so a service's log is one stream in one format. A JSON line holds ``ts``
(UTC, ISO 8601 with milliseconds), ``level``, ``logger`` and ``msg``, the exception text as
``exc`` when there is one, and every ``extra={...}`` field given to the logging call::

    {"ts": "2026-11-24T17:20:01.123Z", "level": "info", "logger": "strato.service.serving",
     "msg": "plc running on http://127.0.0.1:2582", "service": "plc", "url": "http://..."}
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final, Literal

LogFormat = Literal["text", "json"]
FORMATS: Final = ("text", "json")
LEVELS: Final = ("debug", "info", "warning", "error")

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, object] = {
            "ts": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(format: LogFormat = "text", level: str = "info") -> None:
    """Send every logger's records at ``level`` and above to standard error in ``format``,
    replacing whatever handlers the root logger had."""
    if format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {format!r}")
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    if format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # httpx logs every request at info; that is noise in a server's log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
