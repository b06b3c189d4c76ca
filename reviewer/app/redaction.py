"""The last line of defence for the configured secrets: no log record leaves with one in it.

Every module already keeps tokens out of what it logs and raises; this catches what slips through
(a library's debug line, an exception's text from deep inside a client). It is installed once per
process at its edge, with the values from Settings: a log record factory, so that it covers every
logger and handler, including ones a library adds later. A record that holds a secret in its
message, arguments, exception or stack text gets it replaced by ``[SECRET]``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["MASK", "install", "redact"]

MASK = "[SECRET]"
_MIN_LENGTH = 6  # a shorter value would mask ordinary words, and is no secret worth the name

_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None
_installed = False


def redact(text: str) -> str:
    """``text`` with every configured secret replaced by ``[SECRET]``."""
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None and text else text


def install(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` from every log record this process makes from now on (again: replaces
    the set). Values shorter than 6 characters are left out: they would mask ordinary words."""
    global _pattern, _installed
    values = sorted({s for s in secrets if s and len(s) >= _MIN_LENGTH}, key=len, reverse=True)
    with _lock:
        _pattern = re.compile("|".join(map(re.escape, values))) if values else None
        if not _installed:
            logging.setLogRecordFactory(_redacting(logging.getLogRecordFactory()))
            _installed = True


def _redacting(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if _pattern is not None:
            _clean(record)
        return record

    return factory


def _clean(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed record: logging reports it when it formats it
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
