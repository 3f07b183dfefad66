"""Issue 28, finding 5: conversions keep what the image says. Big-endian 16-bit TIFF keeps 16 bits (it was
stretched to 8), a float TIFF keeps its values (it was stored black), thumbnails of 16-bit and float images
map the sample range to 0..255 (a dark frame was stretched to mean 127), and EXIF orientation 0 is upright
(it re-encoded the JPEG)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

from labeling.services.ingestion.validation import image_prepare


def _tiff(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "TIFF")
    return buf.getvalue()


def _thumb_mean(prepared) -> float:
    with Image.open(io.BytesIO(prepared.thumbnail)) as th:
        return float(np.asarray(th.convert("L"), dtype=np.float64).mean())


def test_big_endian_16_bit_tiff_is_stored_as_16_bit_png_with_the_same_values():
    values = (np.arange(96 * 64, dtype=np.uint32).reshape(64, 96) * 10).astype(">u2")
    big = Image.frombuffer("I;16B", (96, 64), values.tobytes(), "raw", "I;16B", 0, 1)
    prepared = image_prepare(_tiff(big))
    assert prepared.format == "PNG"
    with Image.open(io.BytesIO(prepared.data)) as stored:
        assert stored.mode == "I;16"
        assert np.array_equal(np.asarray(stored).astype(np.uint16), values.astype(np.uint16))


def test_float_tiff_keeps_its_values_and_gets_a_tone_mapped_thumbnail():
    values = np.linspace(0.0, 1.0, 96 * 64, dtype=np.float32).reshape(64, 96)
    data = _tiff(Image.fromarray(values))
    prepared = image_prepare(data)
    assert prepared.data == data and prepared.format == "TIFF" and prepared.ext == "tif"
    with Image.open(io.BytesIO(prepared.data)) as stored:
        assert np.array_equal(np.asarray(stored), values)
    assert abs(_thumb_mean(prepared) - 127.5) < 3  # was 0: black


def test_a_dark_16_bit_png_gets_a_dark_thumbnail():
    rng = np.random.default_rng(0)
    values = rng.integers(400, 600, size=(64, 96)).astype(np.uint16)  # ~0.8 % of full scale
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, "PNG")
    prepared = image_prepare(buf.getvalue())
    assert prepared.data == buf.getvalue()  # stored unchanged, 16 bits
    assert abs(_thumb_mean(prepared) - 500 / 257) < 1  # was ~127: stretched to its own maximum


def test_exif_orientation_0_does_not_re_encode():
    im = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 0
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    prepared = image_prepare(buf.getvalue())
    assert prepared.normalised == ""
    assert prepared.sha256 == hashlib.sha256(buf.getvalue()).hexdigest()
