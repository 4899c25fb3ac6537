"""Attached documents (referrals, certificates): what a file really is, judged by its content.

Pure. The declared content type and the file name are not trusted: the type comes from the first
bytes (the "magic numbers" of PDF, JPEG and PNG) and the SHA-256 of the content is kept with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from dispatch.errors import Invalid

__all__ = ["CheckedDocument", "ALLOWED_TYPES", "MAX_BYTES", "sniff_content_type", "check_document"]

MAX_BYTES = 10 * 1024 * 1024
ALLOWED_TYPES = ("application/pdf", "image/jpeg", "image/png")

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


@dataclass(frozen=True)
class CheckedDocument:
    content_type: str
    size_bytes: int
    sha256: str


def sniff_content_type(content: bytes) -> str | None:
    """``application/pdf``, ``image/jpeg`` or ``image/png`` by the leading bytes; else ``None``.

    A PDF may have a few bytes of junk before ``%PDF-`` (readers accept up to 1024); so do we.
    """
    for magic, ctype in _MAGIC:
        if content.startswith(magic):
            return ctype
    if b"%PDF-" in content[:1024]:
        return "application/pdf"
    return None


def check_document(content: bytes, *, max_bytes: int = MAX_BYTES) -> CheckedDocument:
    """Accept a PDF, JPEG or PNG of at most ``max_bytes`` bytes.

    Raises
    ------
    Invalid
        Empty, too large, or of another type (whatever type the upload declared).
    """
    if not content:
        raise Invalid("Файл пустой", code="empty_file")
    if len(content) > max_bytes:
        raise Invalid(f"Файл больше {max_bytes // (1024 * 1024)} МБ", code="file_too_large")
    ctype = sniff_content_type(content)
    if ctype is None:
        raise Invalid(
            "Допускаются только файлы PDF, JPEG и PNG (тип определяется по содержимому)",
            code="bad_file_type",
        )
    return CheckedDocument(ctype, len(content), hashlib.sha256(content).hexdigest())
