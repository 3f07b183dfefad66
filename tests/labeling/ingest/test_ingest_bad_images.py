"""Every bad image input of the issue: a clear reason code, nothing lost, nothing crashes the batch."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.models import Image, IngestEntry
from tests.helpers.images import encode, jpeg_bytes, jpeg_with_exif_orientation, make_image, png_bytes

pytestmark = pytest.mark.django_db

REJECTED = IngestEntry.Status.REJECTED
INGESTED = IngestEntry.Status.INGESTED


def _single(run_folder, name: str, data: bytes, **kw):
    batch = run_folder({f"heron/{name}": data}, **kw)
    assert batch.status == "done"
    entries = list(batch.entries.all())
    assert len(entries) == 1
    return batch, entries[0]


def _stored(entry) -> PILImage.Image:
    with default_storage.open(entry.image.file.name, "rb") as fh:
        img = PILImage.open(io.BytesIO(fh.read()))
        img.load()
    return img


def test_zero_byte_file_is_rejected_as_empty(run_folder):
    batch, entry = _single(run_folder, "empty.jpg", b"")
    assert (entry.status, entry.reason_code) == (REJECTED, "empty")
    assert batch.rejected == 1 and "empty" in entry.message


@pytest.mark.parametrize("size", [(400, 300), (64, 48)], ids=["large", "thumbnail-sized"])
@pytest.mark.parametrize("fraction", [0.5, 0.99])
def test_truncated_jpeg_is_rejected_as_truncated(run_folder, size, fraction):
    """Issue 17, finding 8: a JPEG no larger than a thumbnail was decoded outside the guarded block, so its
    truncation was reported as `internal_error`; a larger one only as `corrupt`."""
    data = jpeg_bytes(*size, seed=3)
    _, entry = _single(run_folder, "cut.jpg", data[: int(len(data) * fraction)])
    assert (entry.status, entry.reason_code) == (REJECTED, "truncated"), entry.message
    assert "ends early" in entry.message


@pytest.mark.parametrize(
    "payload",
    [
        b"<!doctype html><html><script>alert(1)</script></html>",
        b"alert(document.cookie);\n",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    ],
    ids=["html", "js", "svg"],
)
def test_html_js_svg_renamed_jpg_are_not_images(run_folder, payload):
    _, entry = _single(run_folder, "evil.jpg", payload)
    assert (entry.status, entry.reason_code) == (REJECTED, "not_an_image")
    assert not Image.objects.exists()


def test_png_decompression_bomb_is_an_error(run_folder, settings):
    # 4,000 x 4,000 zeros: a 60 kB file that expands to 16 MP, over a 1 MP limit.
    settings.ANNOTATE = {**settings.ANNOTATE, "MAX_IMAGE_PIXELS": 1_000_000}
    data = encode(PILImage.new("L", (4000, 4000)), "PNG", optimize=True)
    assert len(data) < 100_000
    _, entry = _single(run_folder, "bomb.png", data)
    assert (entry.status, entry.reason_code) == (REJECTED, "decompression_bomb")


def test_png_header_claiming_gigapixels_is_rejected_before_decoding(run_folder):
    data = bytearray(png_bytes(16, 16))
    ihdr = struct.pack(">II", 60_000, 60_000) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    _, entry = _single(run_folder, "huge.png", bytes(data))
    assert (entry.status, entry.reason_code) == (REJECTED, "decompression_bomb")


def test_50000_by_1_image_is_rejected_for_its_dimensions(run_folder):
    data = encode(PILImage.new("L", (50_000, 1), 128), "PNG")
    _, entry = _single(run_folder, "line.png", data)
    assert entry.status == REJECTED
    assert entry.reason_code in {"too_small", "too_large_dimensions"}
    assert "50000×1" in entry.message


def test_animated_gif_keeps_its_first_frame_as_png(run_folder):
    frames = [make_image(64, 48, seed=s).convert("P") for s in (1, 2, 3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    _, entry = _single(run_folder, "anim.gif", buf.getvalue())
    assert entry.status == INGESTED, entry.message
    assert "first of 3 frames" in entry.message
    stored = _stored(entry)
    assert stored.format == "PNG" and getattr(stored, "n_frames", 1) == 1
    assert entry.image.format == "PNG" and (entry.image.width, entry.image.height) == (64, 48)
    first = frames[0].convert("RGB")
    assert stored.convert("RGB").getpixel((10, 10)) == first.getpixel((10, 10))


def test_cmyk_jpeg_is_accepted_with_an_rgb_thumbnail(run_folder):
    data = encode(make_image(80, 60, seed=4).convert("CMYK"), "JPEG")
    _, entry = _single(run_folder, "cmyk.jpg", data)
    assert entry.status == INGESTED
    assert (entry.image.format, entry.image.mode) == ("JPEG", "CMYK")
    with default_storage.open(entry.image.thumbnail.name, "rb") as fh:
        assert PILImage.open(fh).mode == "RGB"


def test_16_bit_png_is_accepted_and_its_thumbnail_keeps_contrast(run_folder):
    import numpy as np

    arr = np.zeros((64, 64), dtype=np.uint16)
    arr[:, 32:] = 60_000
    data = encode(PILImage.fromarray(arr), "PNG")
    _, entry = _single(run_folder, "deep.png", data)
    assert entry.status == INGESTED, entry.message
    assert entry.image.mode.startswith("I")
    with default_storage.open(entry.image.thumbnail.name, "rb") as fh:
        thumb = PILImage.open(fh).convert("L")
        assert thumb.getpixel((5, 30)) < 30 and thumb.getpixel((60, 30)) > 200


def test_palette_png_with_alpha_is_flattened_for_the_thumbnail(run_folder):
    img = PILImage.new("RGBA", (40, 40), (0, 0, 0, 0))
    img.paste((200, 0, 0, 255), (0, 0, 20, 40))
    pal = img.convert("P", palette=PILImage.Palette.ADAPTIVE)
    pal.info["transparency"] = pal.getpixel((39, 39))
    data = encode(pal, "PNG", transparency=pal.getpixel((39, 39)))
    _, entry = _single(run_folder, "pal.png", data)
    assert entry.status == INGESTED, entry.message
    assert entry.image.mode == "P"
    with default_storage.open(entry.image.thumbnail.name, "rb") as fh:
        thumb = PILImage.open(fh).convert("RGB")
        assert thumb.getpixel((35, 20))[1] > 230  # transparent -> white, not black


def test_exif_rotated_jpeg_is_stored_upright(run_folder):
    data = jpeg_with_exif_orientation(80, 40, 6, seed=5)  # stored sideways, displayed 40 x 80
    _, entry = _single(run_folder, "rot.jpg", data)
    assert entry.status == INGESTED
    assert (entry.image.width, entry.image.height) == (40, 80)
    stored = _stored(entry)
    assert stored.size == (40, 80)
    assert stored.getexif().get(0x0112, 1) == 1
    with default_storage.open(entry.image.thumbnail.name, "rb") as fh:
        assert PILImage.open(fh).size == (40, 80)


def test_a_bad_file_does_not_stop_the_good_ones(run_folder):
    batch = run_folder({"heron/a.jpg": jpeg_bytes(seed=11), "heron/b.jpg": b"", "heron/c.png": png_bytes(seed=12)})
    assert (batch.ingested, batch.rejected, batch.total, batch.processed) == (2, 1, 3, 3)
