"""Keep personal data out of the logs.

Our code never logs names, phones or СНИЛС; the API never puts them in URLs (searches are POSTs);
database errors are mapped to 4xx before they can become a traceback (``web.errors``). As a
second line of defence every log record of the process is rewritten when it is *made* (a
``logging`` record factory, so it holds for every logger and every handler, including ones added
later such as uvicorn's or a test's):

- query strings of logged URLs lose their values;
- anything that looks like a phone number or a СНИЛС is masked;
- what PostgreSQL quotes from the data — ``Failing row contains (...)``, ``Key (col)=(...)``,
  ``DETAIL:`` lines, ``invalid input syntax for type ...: "..."`` — is cut out;
- the same applies to the exception text and the traceback of the record: it is formatted
  here, masked, and the record carries only the masked text (``exc_text``), not the exception
  object (whose ``str()`` would be the unmasked message again).
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

_QUERY_VALUE = re.compile(r"([?&][^=&#\s]+)=[^&#\s\"]*")
# 7+ digits possibly separated by spaces, dashes, brackets, dots (phones, СНИЛС, partial phones)
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s\-().]{0,2}\d){6,}")
# What PostgreSQL (and psycopg, which repeats the server's DETAIL in the exception text) quotes.
_PG_QUOTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Failing row contains \(.*$", re.M), "Failing row contains (***)"),
    (re.compile(r"(Key \([^)]*\))=\(.*?\)", re.M), r"\1=(***)"),
    (re.compile(r"^(\s*DETAIL:\s*).*$", re.M), r"\1***"),
    (re.compile(r'(for type [\w ]+: )".*?"', re.M), r'\1"***"'),
    (re.compile(r'(invalid input value for enum [\w.]+: )".*?"', re.M), r'\1"***"'),
)


def mask_text(text: str) -> str:
    """``text`` with query values, long digit runs and database-quoted values masked."""
    text = _QUERY_VALUE.sub(r"\1=***", text)
    for pattern, repl in _PG_QUOTES:
        text = pattern.sub(repl, text)
    return _DIGIT_RUN.sub(lambda m: "*" * 3 + m.group(0)[-2:], text)


def _mask_arg(a: Any) -> Any:
    if isinstance(a, str):
        return mask_text(a)
    if isinstance(a, BaseException):
        return mask_text(f"{type(a).__name__}: {a}")
    return a


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask the message, its arguments, the exception and the stack of ``record`` in place."""
    if isinstance(record.msg, str):
        record.msg = mask_text(record.msg)
    elif isinstance(record.msg, BaseException):
        record.msg = _mask_arg(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_mask_arg(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _mask_arg(v) for k, v in record.args.items()}
    if record.exc_info and record.exc_info != (None, None, None):
        etype, value, tb = record.exc_info
        text = "".join(traceback.format_exception(etype, value, tb)).rstrip("\n")
        record.exc_text = mask_text(text)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    return record


class PiiFilter(logging.Filter):
    """A logging filter applying :func:`mask_record` (for handlers outside this process' factory,
    e.g. attached in a logging config)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


_installed: dict[str, Any] = {}


def install() -> None:
    """Mask every log record made in this process from now on (idempotent)."""
    if "factory" in _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(previous(*args, **kwargs))

    _installed["factory"] = factory
    logging.setLogRecordFactory(factory)
