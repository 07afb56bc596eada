"""What counts as an image here: magic bytes first, then Pillow must decode it.

Pillow is imported inside the functions that need it, so routes that never
touch image bytes do not pay for it at cold start.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

ALLOWED_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
THUMBNAIL_EDGE = 512
THUMBNAIL_CONTENT_TYPE = "image/webp"
# 50 megapixels: far above any reference image, far below a decompression bomb.
MAX_PIXELS = 50_000_000


class ImageRejected(Exception):
    """The bytes are not an acceptable image; the message says why, for the client."""


def sniff(head: bytes) -> str | None:
    """The media type the leading bytes prove, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int
    content_type: str = THUMBNAIL_CONTENT_TYPE


def check_type(data: bytes, declared: str) -> str:
    actual = sniff(data[:16])
    if actual is None:
        raise ImageRejected("File is not a PNG, JPEG or WebP image")
    if actual != declared:
        raise ImageRejected(f"File content is {actual}, but {declared} was declared")
    return actual


def make_thumbnail(data: bytes, content_type: str) -> Thumbnail:
    """Decode fully (catching truncation and bombs) and render a WebP thumbnail."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[content_type]]) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise ImageRejected(f"Image is {width}x{height}; at most {MAX_PIXELS} pixels")
                if img.format == "JPEG":
                    # Decode at a reduced scale: the full-size pixels are never needed.
                    img.draft("RGB", (THUMBNAIL_EDGE, THUMBNAIL_EDGE))
                img.load()
                thumb = img.convert("RGBA" if _has_alpha(img) else "RGB")
                thumb.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
                out = io.BytesIO()
                thumb.save(out, format="WEBP", quality=80, method=4)
                return Thumbnail(out.getvalue(), thumb.width, thumb.height)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("Image dimensions are too large (decompression bomb)") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("Image is corrupt or truncated") from exc


def _has_alpha(img: object) -> bool:
    mode = getattr(img, "mode", "")
    info = getattr(img, "info", {})
    return mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in info)
