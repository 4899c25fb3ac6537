"""Attached documents (referrals, certificates): what a file really is, judged by its content.

Pure. The declared content type and the file name are not trusted: the type comes from the first
bytes (the "magic numbers" of PDF, JPEG and PNG), and then the file must *parse* as that type —
a PDF with at least one page (pypdf), an image that decodes (Pillow) within a pixel budget — so
that an executable with ``%PDF-1.4`` in front is refused. The SHA-256 of the content is kept.
"""

from __future__ import annotations

import hashlib
import io
import logging
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


# A scan of an A4 page at 600 dpi is ~35 Mpx; more is a decompression bomb, not a document.
MAX_IMAGE_PIXELS = 60_000_000
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


def sniff_content_type(content: bytes) -> str | None:
    """``application/pdf``, ``image/jpeg`` or ``image/png`` by the leading bytes; else ``None``.

    The magic must come first: readers accept junk before ``%PDF-``, and that is exactly how a
    file is made to be two things at once (an executable that is also a PDF).
    """
    for magic, ctype in _MAGIC:
        if content.startswith(magic):
            return ctype
    return None


def _structure_problem(content: bytes, ctype: str) -> str | None:
    """Why ``content`` is not a well-formed file of ``ctype``, or ``None``."""
    if ctype == "application/pdf":
        from pypdf import PdfReader

        # pypdf reports repairs of a sloppy (but readable) file as log warnings; not ours to log
        logging.getLogger("pypdf").setLevel(logging.ERROR)
        try:
            reader = PdfReader(io.BytesIO(content), strict=False)
            pages = len(reader.pages)
        except Exception:  # noqa: BLE001 - any parser failure means "not a PDF"
            return "Файл не читается как PDF"
        return None if pages >= 1 else "В PDF нет ни одной страницы"
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as img:
            if img.format != _PIL_FORMATS[ctype]:
                return "Содержимое изображения не совпадает с его типом"
            w, h = img.size
            if w * h > MAX_IMAGE_PIXELS:
                return "Изображение слишком большое (число точек)"
            img.load()  # decode fully: a truncated or corrupt file fails here
    except Exception:  # noqa: BLE001 - any decoder failure (incl. DecompressionBombError)
        return "Файл не читается как изображение"
    return None


def check_document(content: bytes, *, max_bytes: int = MAX_BYTES) -> CheckedDocument:
    """Accept a PDF, JPEG or PNG of at most ``max_bytes`` bytes.

    Raises
    ------
    Invalid
        Empty, too large, of another type (whatever type the upload declared), or not parsing
        as the type its first bytes claim.
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
    problem = _structure_problem(content, ctype)
    if problem is not None:
        raise Invalid(f"{problem}: допускаются только настоящие файлы PDF, JPEG и PNG",
                      code="bad_file_structure")  # fmt: skip
    return CheckedDocument(ctype, len(content), hashlib.sha256(content).hexdigest())
