"""Keep personal data out of the logs.

Our code never logs names, phones or СНИЛС; the API never puts them in URLs (searches are POSTs).
As a second line of defence, :class:`PiiFilter` rewrites log records before they are written:
query strings of logged URLs lose their values, and anything that looks like a phone number or a
СНИЛС is masked.
"""

from __future__ import annotations

import logging
import re

_QUERY_VALUE = re.compile(r"([?&][^=&#\s]+)=[^&#\s\"]*")
# 7+ digits possibly separated by spaces, dashes, brackets, dots (phones, СНИЛС, partial phones)
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s\-().]{0,2}\d){6,}")


def mask_text(text: str) -> str:
    """``text`` with query values replaced by ``***`` and long digit runs masked."""
    text = _QUERY_VALUE.sub(r"\1=***", text)
    return _DIGIT_RUN.sub(lambda m: "*" * 3 + m.group(0)[-2:], text)


class PiiFilter(logging.Filter):
    """A logging filter that masks the message and string arguments of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: mask_text(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "fastapi", "web", "dispatch", "psycopg")


def install() -> None:
    """Attach one :class:`PiiFilter` to the loggers that may see request data (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, PiiFilter) for f in logger.filters):
            logger.addFilter(PiiFilter())
