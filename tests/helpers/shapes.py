"""Synthetic, easy-to-learn images: circles, squares and triangles in random colours, sizes and positions
on random backgrounds. Deterministic given a seed. Used by the training tests (a small CNN must reach
>= 90 % on them in seconds) and by Django-side tests that need real, labelled encoded images.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

SHAPE_CLASSES = ("circle", "square", "triangle")
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class ShapeImage:
    label: str
    filename: str  # e.g. "circle_0007.png"
    data: bytes  # the encoded file


def _colour_pair(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Background and foreground colours far enough apart to keep the shape visible."""
    while True:
        bg = tuple(rng.randrange(256) for _ in range(3))
        fg = tuple(rng.randrange(256) for _ in range(3))
        if sum(abs(a - b) for a, b in zip(bg, fg, strict=True)) > 240:
            return bg, fg  # type: ignore[return-value]


def draw_shape(label: str, size: int, rng: random.Random) -> Image.Image:
    """One RGB picture of `label`, the shape spanning 40-80 % of the side at a random position."""
    if label not in SHAPE_CLASSES:
        raise ValueError(f"unknown shape {label!r}")
    bg, fg = _colour_pair(rng)
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    side = rng.uniform(0.4, 0.8) * size
    x0 = rng.uniform(0, size - side)
    y0 = rng.uniform(0, size - side)
    box = [x0, y0, x0 + side, y0 + side]
    if label == "circle":
        draw.ellipse(box, fill=fg)
    elif label == "square":
        draw.rectangle(box, fill=fg)
    else:
        apex = (x0 + side / 2, y0) if rng.random() < 0.5 else (x0 + side / 2, y0 + side)
        base_y = y0 + side if apex[1] == y0 else y0
        draw.polygon([apex, (x0, base_y), (x0 + side, base_y)], fill=fg)
    return img


def encode(img: Image.Image, fmt: str = "png") -> bytes:
    """PNG, JPEG (quality 92) or any other Pillow format name."""
    buf = io.BytesIO()
    if fmt.lower() in ("jpg", "jpeg"):
        img.save(buf, format="JPEG", quality=92)
    else:
        img.save(buf, format=fmt.upper())
    return buf.getvalue()


def iter_shape_images(n_per_class: int, size: int = 32, seed: int = 0, fmt: str = "png") -> Iterator[ShapeImage]:
    """Encoded images, classes interleaved (circle, square, triangle, circle, ...)."""
    rng = random.Random(seed)
    ext = "jpg" if fmt.lower() in ("jpg", "jpeg") else fmt.lower()
    for i in range(n_per_class):
        for label in SHAPE_CLASSES:
            yield ShapeImage(label, f"{label}_{i:04d}.{ext}", encode(draw_shape(label, size, rng), fmt))


def make_shapes_dataset(
    root: str | Path,
    n_per_class: int,
    size: int = 32,
    seed: int = 0,
    splits: tuple[float, float, float] = (0.7, 0.15, 0.15),
    fmt: str = "png",
) -> dict[str, int]:
    """Write ROOT/{train,val,test}/{circle,square,triangle}/*.{png,jpg}; returns images per split.

    Each class is split by the given fractions (test takes the remainder); a split with 0 images gets no
    folder, which exercises the "class list is the union over splits" rule.
    """
    if abs(sum(splits) - 1.0) > 1e-6:
        raise ValueError("split fractions must sum to 1")
    root = Path(root)
    n_train = round(n_per_class * splits[0])
    n_val = round(n_per_class * splits[1])
    counts = dict.fromkeys(SPLIT_NAMES, 0)
    seen: dict[str, int] = dict.fromkeys(SHAPE_CLASSES, 0)
    for image in iter_shape_images(n_per_class, size, seed, fmt):
        k = seen[image.label]
        seen[image.label] += 1
        split = "train" if k < n_train else ("val" if k < n_train + n_val else "test")
        folder = root / split / image.label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / image.filename).write_bytes(image.data)
        counts[split] += 1
    return counts
