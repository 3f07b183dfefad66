"""The demo's default images: crops of the five real photographs that installed packages ship.

No download: scikit-learn ships two colour photos (`sklearn/datasets/images/china.jpg`, the Summer Palace's
Tower of Buddhist Incense, and `flower.jpg`, a dahlia) and PyWavelets, which ImageHash depends on, ships three
512x512 grayscale photos (`pywt/data/ascent.npz`, `camera.npz`, `aero.npz`). The demo's classes are honest
about what the images are: crops of one photograph each ("a crop of the pagoda photo"), not a claim about
what every crop shows. Box images are larger crops that keep the photo's main object; the truth box is that
object's hand-measured box, clipped and moved with the crop.

Crops of one photo overlap, so the near-duplicate check (pHash + colour) must tell them apart: crops are
drawn at varied sizes and positions, and two intentional copies (re-encoded, resized) are added so the
demo shows the check merging true duplicates (`NEAR_DUPLICATES` names them).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Photo:
    key: str  # category name
    definition: str
    wnid: str  # a WordNet synset of what the photo shows (zero-shot pre-screening reads it)
    box: tuple[int, int, int, int] | None  # the main object's box (x0, y0, x1, y1) in the photo's pixels
    box_category: str = ""


PHOTOS: tuple[Photo, ...] = (
    Photo(
        "pagoda",
        "A crop of scikit-learn's china.jpg: the Tower of Buddhist Incense (Summer Palace, Beijing), "
        "trees, lake and sky.",
        "n03878066",
        (62, 28, 370, 410),
        "pagoda",
    ),
    Photo(
        "dahlia",
        "A crop of scikit-learn's flower.jpg: an orange dahlia in front of blurred leaves.",
        "n11875691",
        (165, 82, 448, 362),
        "flower",
    ),
    Photo(
        "staircase", "A crop of PyWavelets' ascent photo: an outdoor steel staircase with people.", "n04314914", None
    ),
    Photo(
        "cameraman",
        "A crop of PyWavelets' camera photo: a man with a film camera on a tripod in a park.",
        "n10529231",
        (0, 60, 340, 512),
        "person",
    ),
    Photo("aerial", "A crop of PyWavelets' aero photo: an aerial view of fields, a road and trees.", "n02693413", None),
)
BOX_CATEGORIES = ("pagoda", "flower", "person")
TILE = 96  # pixels, grid and classify images
BOX_SIDE = 192  # pixels, box images
NEAR_DUPLICATES = 2  # intentional copies (must be merged by the near-duplicate check)


def photo(key: str) -> Image.Image:
    import pywt.data  # ships with ImageHash (a runtime requirement)
    import sklearn.datasets

    if key in ("pagoda", "dahlia"):
        return Image.fromarray(sklearn.datasets.load_sample_image("china.jpg" if key == "pagoda" else "flower.jpg"))
    data = {"staircase": pywt.data.ascent, "cameraman": pywt.data.camera, "aerial": pywt.data.aero}[key]()
    return Image.fromarray(np.clip(data, 0, 255).astype(np.uint8), mode="L").convert("RGB")


def _crops(rng: random.Random, size: tuple[int, int], n: int, lo: float, hi: float) -> list[tuple[int, int, int]]:
    """n square crops (x, y, side) whose sides vary and whose corners are far enough apart to look different."""
    w, h = size
    out: list[tuple[int, int, int]] = []
    for _ in range(n * 200):
        if len(out) == n:
            break
        side = int(min(w, h) * rng.uniform(lo, hi))
        x, y = rng.randint(0, w - side), rng.randint(0, h - side)
        if all(abs(x - a) + abs(y - b) + abs(side - s) > 0.22 * min(side, s) for a, b, s in out):
            out.append((x, y, side))
    return out


def _offset(rng: random.Random, lo: int, hi: int, side: int, limit: int) -> int:
    """A crop origin in [0, limit - side] covering [lo, hi] when it fits, else centred on it."""
    first, last = max(0, hi - side), min(lo, limit - side)
    if first <= last:
        return rng.randint(first, last)
    return min(max(0, (lo + hi - side) // 2), limit - side)


def render(root: Path, *, per_class: int, boxes_per_photo: int = 6, seed: int = 0) -> Path:
    """Write root/images/<class>/*.png (the classify set), root/verify/<folder>/*.png (the grid's candidates:
    a fifth sit in a wrong folder, like a search-engine crawl), root/boxes/*.png with root/boxes.csv
    (file,x,y,w,h,category) and root/truth.csv (file,label: the class of every grid/classify file)."""
    rng = random.Random(seed)
    truth: list[tuple[str, str]] = []
    keys = [p.key for p in PHOTOS]
    for p in PHOTOS:
        img = photo(p.key)
        for i, (x, y, side) in enumerate(_crops(rng, img.size, per_class, 0.3, 0.6)):
            tile = img.crop((x, y, x + side, y + side)).resize((TILE, TILE), Image.Resampling.LANCZOS)
            name = f"{p.key}-{i:03d}.png"
            (root / "images" / p.key).mkdir(parents=True, exist_ok=True)
            tile.save(root / "images" / p.key / name)
            folder = p.key if rng.random() >= 0.2 else rng.choice([k for k in keys if k != p.key])
            (root / "verify" / folder).mkdir(parents=True, exist_ok=True)
            tile.save(root / "verify" / folder / name)
            truth += [(f"{p.key}/{name}", p.key), (f"{folder}/{name}", p.key)]
    # Intentional near-duplicates: a JPEG re-encode and a slightly smaller copy of two tiles.
    for i, key in enumerate(keys[:NEAR_DUPLICATES]):
        src = Image.open(root / "images" / key / f"{key}-000.png").convert("RGB")
        copy = src.resize((TILE - 8, TILE - 8), Image.Resampling.BILINEAR) if i else src
        name = f"{key}-recompressed-000.jpg"  # sorts after its original: the original is ingested first
        copy.save(root / "images" / key / name, quality=80)
        truth.append((f"{key}/{name}", key))
    box_rows = []
    (root / "boxes").mkdir(parents=True, exist_ok=True)
    for p in PHOTOS:
        if p.box is None:
            continue
        img = photo(p.key)
        x0, y0, x1, y1 = p.box
        for i in range(boxes_per_photo):
            # A square crop that keeps most of the object: as much of it as fits, at a random position.
            side = int(min(img.size) * (0.7 + 0.3 * i / max(1, boxes_per_photo - 1)))  # varied zoom
            cx0 = _offset(rng, x0, x1, side, img.width)
            cy0 = _offset(rng, y0, y1, side, img.height)
            crop = img.crop((cx0, cy0, cx0 + side, cy0 + side))
            if i % 2:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            scale = BOX_SIDE / side
            bx0, by0 = max(x0, cx0) - cx0, max(y0, cy0) - cy0
            bx1, by1 = min(x1, cx0 + side) - cx0, min(y1, cy0 + side) - cy0
            if i % 2:
                bx0, bx1 = side - bx1, side - bx0
            name = f"{p.key}-{i:02d}.png"
            crop.resize((BOX_SIDE, BOX_SIDE), Image.Resampling.LANCZOS).save(root / "boxes" / name)
            box_rows.append((name, round(bx0 * scale, 1), round(by0 * scale, 1), round((bx1 - bx0) * scale, 1),
                             round((by1 - by0) * scale, 1), p.box_category))  # fmt: skip
    with (root / "boxes.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("file", "x", "y", "w", "h", "category"), *box_rows])
    with (root / "truth.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("image", "label"), *truth])
    lines = ["name,definition,wnid,parent"] + [f'{p.key},"{p.definition}",{p.wnid},' for p in PHOTOS]
    (root / "categories.csv").write_text("\n".join(lines) + "\n")
    return root
