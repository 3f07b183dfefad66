"""Real encoded image bytes for tests, made with Pillow (no files from ../shared)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw


def make_image(width: int = 64, height: int = 48, *, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A deterministic picture with some structure (so perceptual hashes differ between seeds)."""
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(1, max(2, width // 2)), y0 + rng.randrange(1, max(2, height // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
    return img.convert(mode) if mode != "RGB" else img


def encode(img: Image.Image, fmt: str = "JPEG", **save_kwargs: object) -> bytes:
    buf = io.BytesIO()
    if fmt.upper() == "JPEG" and img.mode not in {"RGB", "L", "CMYK"}:
        img = img.convert("RGB")
    img.save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48, *, seed: int = 0, quality: int = 90) -> bytes:
    return encode(make_image(width, height, seed=seed), "JPEG", quality=quality)


def png_bytes(width: int = 64, height: int = 48, *, seed: int = 0, mode: str = "RGB") -> bytes:
    return encode(make_image(width, height, seed=seed, mode=mode), "PNG")


def jpeg_with_exif_orientation(width: int, height: int, orientation: int, *, seed: int = 0) -> bytes:
    """A JPEG whose pixels are stored sideways with an EXIF Orientation tag (e.g. 6 = rotate 90° CW)."""
    img = make_image(width, height, seed=seed)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", exif=exif.tobytes())
