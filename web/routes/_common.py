"""Small pieces shared by the route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, UploadFile

from dispatch.errors import Invalid

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Purpose = Annotated[
    str,
    Query(
        min_length=1,
        max_length=200,
        description="Цель обращения к персональным данным (журнал доступа)",
    ),
]
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def read_upload(file: UploadFile, *, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The uploaded content, refusing more than ``max_bytes`` without reading it all."""
    data = file.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Invalid(f"Файл больше {max_bytes // (1024 * 1024)} МБ", code="file_too_large")
    return data
