"""Decode one input with Pillow inside limits and turn it into what we store: original, thumbnail, hash.

Every refusal is a `Rejected(code, message)`; nothing else escapes for bad bytes.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from annotate.conf import options
from labeling.algorithms.phash_index import phash64, to_signed

# Pillow's bomb warning is an error here (and anywhere in the process: a half-checked bomb is never wanted).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # MPO (camera JPEGs) comes through the JPEG opener
# Formats every browser shows; anything else (TIFF) is stored as PNG.
BROWSER_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp",
                 "TIFF": "image/tiff"}  # fmt: skip
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, Image.DecompressionBombError)


class Rejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple:  # pickled back from a decoding process (decoding.py)
        return (Rejected, (self.code, self.message))


@dataclass(frozen=True)
class PreparedImage:
    sha256: str
    data: bytes  # what is stored: the input bytes, or a normalised re-encoding (see README)
    format: str
    ext: str
    mode: str
    width: int
    height: int
    thumbnail: bytes
    phash: int  # signed 64-bit
    normalised: str = ""  # why the stored bytes differ from the input ("" when they don't)
    thumbnail_is_original: bool = False  # a small JPEG: no second file, Image.thumbnail names the original


def image_prepare(data: bytes) -> PreparedImage:
    """Validate `data` and build the stored original, a ≤256 px JPEG thumbnail and a pHash."""
    if not data:
        raise Rejected("empty", "The file is empty (0 bytes).")
    max_bytes = options().MAX_IMAGE_BYTES
    if len(data) > max_bytes:
        raise Rejected("too_large", f"The file is {len(data)} bytes; the limit is {max_bytes}.")
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise Rejected("decompression_bomb", f"Too many pixels to decode safely ({exc}).") from exc
    except UnidentifiedImageError as exc:
        raise Rejected("not_an_image", "Not a JPEG, PNG, WebP, GIF, BMP or TIFF image.") from exc
    except _DECODE_ERRORS as exc:
        raise _decode_rejected(exc, "The image header could not be read") from exc
    with im:
        return _prepare_open(im, data)


def _prepare_open(im: Image.Image, data: bytes) -> PreparedImage:
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    width, height = im.size
    _check_size(width, height)
    decoded = _decoded_bytes(im)
    with _DECODE_BUDGET.hold(decoded + decoded // 4):  # the pixels, and one band of them while reducing
        return _prepare_decode(im, data, fmt)


def _decoded_bytes(im: Image.Image) -> int:
    """What decoding `im` allocates (Pillow keeps 3-band modes in 4 bytes a pixel), refused past MAX_DECODE_BYTES.

    A JPEG is decoded in draft mode at a fraction of its size, so only its scaled size counts."""
    width, height = im.size
    if im.format in ("JPEG", "MPO"):
        size = options().THUMBNAIL_SIZE * 2
        scale = 1
        while scale < 8 and min(width // (scale * 2), height // (scale * 2)) >= size:
            scale *= 2
        width, height = -(-width // scale), -(-height // scale)
    per_pixel = _BYTES_PER_PIXEL.get(im.mode, 4)
    decoded = width * height * per_pixel
    max_decoded = options().MAX_DECODE_BYTES
    if decoded > max_decoded:
        raise Rejected(
            "decompression_bomb",
            f"{im.size[0]}×{im.size[1]} {im.mode} decodes to {decoded} bytes; the limit is {max_decoded}.",
        )
    return decoded


class _DecodeBudget:
    """Bytes of decoded pixels held by this process's decoding threads together: a thread whose image does
    not fit waits for others to finish (one image bigger than the budget runs alone), so a batch of large
    images never holds more than about the budget at once, whatever the thread count.

    A pool of decoding processes (decoding.py) shares one budget: `share` swaps in a condition and a
    counter that live in shared memory, so the budget holds across the processes as it does across threads."""

    def __init__(self) -> None:
        self._used: Any = _Counter()
        self._cond: Any = threading.Condition()

    def share(self, cond: Any, used: Any) -> None:
        self._cond, self._used = cond, used

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        budget = options().DECODE_BUDGET_BYTES
        cost = min(cost, budget)
        cond, used = self._cond, self._used  # released where it was taken, even if `share` swaps them meanwhile
        with cond:
            while used.value and used.value + cost > budget:
                cond.wait()
            used.value += cost
        try:
            yield
        finally:
            with cond:
                used.value -= cost
                cond.notify_all()


class _Counter:
    value = 0


_DECODE_BUDGET = _DecodeBudget()


def decode_budget_share(cond: Any, used: Any) -> None:
    """Hold this process's decode budget in shared memory (decoding.py: its pool and caller share one)."""
    _DECODE_BUDGET.share(cond, used)


_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "LA": 4, "PA": 4}
# Reduced (band by band) before the alpha is flattened onto white: flattening first copies the full-size
# image twice (RGBA, then an RGB canvas), about 1 GB more for a 9400x9400 PNG. (Palette and 16-bit modes
# are converted first: Pillow resizes "P" only with NEAREST.)
_THUMBNAIL_FIRST = {"RGBA", "LA", "RGBa", "La", "RGBX"}


def _reduce_by_band(im: Image.Image, size: int) -> Image.Image:
    """`im` box-reduced to about twice `size`, one band at a time.

    Pillow's own reduce/resize of RGBA first converts the whole image to premultiplied RGBa (a full-size
    copy); a band is a quarter of that. Averaging without premultiplying only tints fully transparent
    pixels, which the thumbnail then flattens onto white anyway."""
    factor = max(im.size) // (2 * size)
    if factor < 2:
        return im
    bands = [im.getchannel(i).reduce(factor) for i in range(len(im.getbands()))]
    return Image.merge(im.mode, bands)


def _prepare_decode(im: Image.Image, data: bytes, fmt: str) -> PreparedImage:
    width, height = im.size
    try:
        frames = getattr(im, "n_frames", 1)
        orientation = im.getexif().get(0x0112, 1)
    except _DECODE_ERRORS as exc:
        raise _decode_rejected(exc, "The image metadata could not be read") from exc
    reasons = []
    # A float image (TIFF "F") has no lossless PNG form: it is stored as it came, range and all; its
    # thumbnail (a JPEG, what volunteers are shown) is tone-mapped (`_to_rgb`).
    keep_float = im.mode == "F" and frames == 1 and orientation not in range(2, 9)
    if fmt not in BROWSER_FORMATS and not keep_float:
        reasons.append(f"{fmt} stored as PNG")
    if frames > 1:
        reasons.append(f"first of {frames} frames kept")
    if orientation in range(2, 9):  # 0 and out-of-range values mean "upright" (exif_transpose ignores them too)
        reasons.append(f"EXIF orientation {orientation} applied")
    size = options().THUMBNAIL_SIZE
    try:
        if reasons:
            im.seek(0)
            im.load()
            upright = ImageOps.exif_transpose(im) or im
            stored_fmt = "JPEG" if fmt == "JPEG" else "PNG"
            stored = _encode_original(upright, stored_fmt, icc=im.info.get("icc_profile"))
            thumb = _to_rgb(upright)
            thumb.thumbnail((size, size))
            width, height, mode = upright.width, upright.height, upright.mode
        else:
            stored, stored_fmt, mode = data, fmt, im.mode
            if im.mode in {"RGB", "L", "CMYK", "YCbCr"}:
                im.thumbnail((size, size))  # JPEG: decodes in draft mode (DCT scaling), still reads every block
                thumb = _to_rgb(im)
            elif im.mode in _THUMBNAIL_FIRST:
                im.load()
                thumb = _to_rgb(_reduce_by_band(im, size))
                thumb.thumbnail((size, size))
            else:
                im.load()
                thumb = _to_rgb(im)
                thumb.thumbnail((size, size))
        if stored_fmt == "JPEG" and stored is data and max(width, height) <= size and mode in {"RGB", "L"}:
            thumbnail = data  # already a small JPEG: it is its own thumbnail (stored once, see batch.py)
        else:
            buf = io.BytesIO()
            thumb.save(buf, "JPEG", quality=85)
            thumbnail = buf.getvalue()
        # Inside the try: for a small JPEG this is where its pixels are decoded for the first time.
        gray = thumb.convert("L").resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=2.0)
        phash = to_signed(phash64(np.asarray(gray)))
    except _DECODE_ERRORS as exc:
        raise _decode_rejected(exc, "The image could not be decoded") from exc
    except Image.DecompressionBombWarning as exc:
        raise Rejected("decompression_bomb", f"Too many pixels to decode safely ({exc}).") from exc
    return PreparedImage(
        sha256=hashlib.sha256(stored).hexdigest(),
        data=stored,
        format=stored_fmt,
        ext=EXTENSIONS[stored_fmt],
        mode=mode,
        width=width,
        height=height,
        thumbnail=thumbnail,
        phash=phash,
        normalised="; ".join(reasons),
        thumbnail_is_original=thumbnail is data,
    )


def _decode_rejected(exc: BaseException, what: str) -> Rejected:
    """`truncated` when the bytes stop early (an interrupted download or copy), `corrupt` otherwise."""
    text = str(exc)
    if isinstance(exc, EOFError) or "truncated" in text.lower():
        return Rejected("truncated", f"{what}: the file ends early (truncated download or copy?): {text}")
    return Rejected("corrupt", f"{what}: {text}")


def _check_size(width: int, height: int) -> None:
    max_pixels = options().MAX_IMAGE_PIXELS
    if Image.MAX_IMAGE_PIXELS:
        max_pixels = min(max_pixels, int(Image.MAX_IMAGE_PIXELS))
    if width * height > max_pixels:
        raise Rejected("decompression_bomb", f"{width}×{height} is {width * height} pixels; the limit is {max_pixels}.")
    min_side, max_side = options().MIN_IMAGE_SIDE, options().MAX_IMAGE_SIDE
    if min(width, height) < min_side:
        raise Rejected("too_small", f"{width}×{height}: each side must be at least {min_side} px.")
    if max(width, height) > max_side:
        raise Rejected("too_large_dimensions", f"{width}×{height}: each side must be at most {max_side} px.")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any decoded mode -> RGB or L for a JPEG thumbnail and the hash (alpha flattened onto white)."""
    if im.mode in {"RGB", "L"}:
        return im
    if im.mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        arr = np.asarray(im, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(arr * (255.0 / _white_level(im.mode, arr))), 0, 255).astype(np.uint8))
    if im.mode in {"RGBA", "LA", "PA", "P", "RGBa", "La"} or "transparency" in im.info:
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return im.convert("RGB")


def _white_level(mode: str, arr: np.ndarray) -> float:
    """The value that is white in the thumbnail: the range of the sample type, never the image's own maximum
    (a dark 16-bit frame stays dark). 16-bit: 65535. Float: 1.0 when the values lie in 0..1 (the usual
    convention), else the smallest of 255 / 65535 that holds them, else their maximum. 32-bit integers: the
    same ladder from 255."""
    if mode in _SIXTEEN_BIT:
        return 65535.0
    top = float(np.nanmax(arr)) if arr.size else 0.0
    ladder = (1.0, 255.0, 65535.0) if mode == "F" else (255.0, 65535.0)
    for level in ladder:
        if top <= level:
            return level
    return top


def _encode_original(im: Image.Image, fmt: str, *, icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG" and im.mode in _SIXTEEN_BIT - {"I;16"}:
        # Big-endian (TIFF's "MM") or native 16-bit: the same values, as the 16-bit PNG Pillow writes from I;16.
        im = Image.fromarray(np.asarray(im).astype("<u2"))
    if fmt == "JPEG":
        out = im if im.mode in {"L", "RGB", "CMYK"} else _to_rgb(im)
        out.save(buf, "JPEG", quality=95, icc_profile=icc or None)
    else:
        out = im if im.mode in _PNG_MODES else _to_rgb(im)
        out.save(buf, "PNG", icc_profile=icc or None)
    return buf.getvalue()
