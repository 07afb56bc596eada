"""A file sent through the API (multipart/form-data), as the edge parsed it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes
