"""Real image bytes for upload tests, made with Pillow."""

from __future__ import annotations

import io
import zlib

from PIL import Image

FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def image_bytes(content_type: str = "image/png", size: tuple[int, int] = (64, 48)) -> bytes:
    img = Image.new("RGB", size, (200, 40, 90))
    for x in range(0, size[0], 4):
        img.putpixel((x, x % size[1]), (10, 200, 30))
    out = io.BytesIO()
    img.save(out, format=FORMATS[content_type])
    return out.getvalue()


def noisy_image(content_type: str, target_bytes: int) -> bytes:
    """An image of roughly `target_bytes` (random pixels do not compress)."""
    import os

    side = 256
    while True:
        img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        kwargs = {"quality": 95} if content_type == "image/jpeg" else {}
        img.save(out, format=FORMATS[content_type], **kwargs)
        if out.tell() >= target_bytes * 0.85:
            return out.getvalue()
        side = int(side * 1.4)


def decompression_bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG that claims 400 megapixels (one row filter byte + zeros, deflated)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width
    raw = b"".join(compressor.compress(row) for _ in range(50)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
