"""Process logging set up once from ``LoggingSettings``.

Messages must never carry pixel data, patient names, IDs or dates; the JSON format is
for log shippers in production, not a licence to log more.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import ClassVar

from medai.config.sections import LoggingSettings


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message."""

    _fields: ClassVar[tuple[str, ...]] = ("levelname", "name")

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record without its arguments' repr beyond the formatted message."""
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload)


RAW_JSON_LOGGERS = ("medai.serving.access",)
"""Loggers whose messages already are one JSON object: written as they are, one per line."""

PHI_PRONE_LOGGERS = ("pydicom",)
"""Libraries that may quote header values (patient names, IDs) in their warnings."""


def configure_logging(settings: LoggingSettings) -> None:
    """Route the root logger to stderr at the configured level and format.

    Access-log lines stay bare JSON in every format, so a log shipper parses them as
    they are; pydicom's own messages are cut to errors, since its warnings about
    malformed values quote the values.
    """
    handler = logging.StreamHandler(sys.stderr)
    if settings.json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.level, handlers=[handler], force=True)
    raw = logging.StreamHandler(sys.stderr)
    raw.setFormatter(logging.Formatter("%(message)s"))
    for name in RAW_JSON_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [raw]
        logger.propagate = False
        logger.setLevel(logging.INFO)
    for name in PHI_PRONE_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
