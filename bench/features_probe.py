"""Pretrained efficientnet_lite0 features for imagenette / cifar10_png, cached in var/bench/, then probe numbers.

Usage: nice .venv/bin/python bench/features_probe.py [imagenette_224|cifar10_png] (CPU; ~1-2 min per 1,300 photos)
Prints the linear-probe test accuracy from the cached features (the train/run.py recipe's first stage).
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.ml.config import ARCHITECTURES  # noqa: E402
from training.ml.datasets import ImagePaths  # noqa: E402
from training.ml.presets import decode_size_for, eval_transforms  # noqa: E402
from training.ml.pretrained import pretrained_imagenet_model  # noqa: E402
from training.ml.transfer import ProbeConfig, extract_features, fit_linear_probe  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "images"
CACHE = ROOT / "var" / "bench"


def features(name: str) -> tuple[np.ndarray, np.ndarray, list[dict[str, str]], np.ndarray]:
    """(features, labels, manifest rows, ImageNet-1k probabilities), cached per data set."""
    rows = list(csv.DictReader((SHARED / name / "manifest.csv").open()))
    cache = CACHE / f"{name}_lite0.npz"
    if cache.is_file():
        z = np.load(cache)
        return z["x"], z["y"], rows, z["p"]
    spec = ARCHITECTURES["efficientnet_lite0"]
    model = pretrained_imagenet_model("efficientnet_lite0")
    ds = ImagePaths([SHARED / name / r["path"] for r in rows], eval_transforms(224), decode_size_for(224))
    loader = DataLoader(ds, batch_size=50, num_workers=0)
    start = time.perf_counter()
    feats = extract_features(model, loader, torch.device("cpu"), norm=(spec.mean, spec.std))
    with torch.no_grad():
        logits = model.get_classifier()(torch.from_numpy(feats.x))
        p = torch.softmax(logits, 1).numpy()
    print(f"{name}: features for {len(rows)} images in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    y = np.array([int(r["label_index"]) for r in rows])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, x=feats.x, y=y, p=p)
    return feats.x, y, rows, p


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "imagenette_224"
    if not (SHARED / name / "manifest.csv").is_file():
        print(json.dumps({"skipped": f"{SHARED / name} has no manifest.csv"}))
        return
    x, y, rows, _ = features(name)
    split = np.array([r["split"] for r in rows])
    tr, te = split == "train", split != "train"
    for epochs in (30, 60, 120):
        for wd in (1e-4, 1e-2):
            probe = fit_linear_probe(x[tr], y[tr], int(y.max()) + 1, ProbeConfig(epochs=epochs, weight_decay=wd))
            acc = float((probe.predict_proba(x[te]).argmax(1) == y[te]).mean())
            print(
                json.dumps(
                    {
                        "data": name,
                        "train": int(tr.sum()),
                        "test": int(te.sum()),
                        "epochs": epochs,
                        "weight_decay": wd,
                        "test_acc": round(acc, 4),
                    }
                )
            )


if __name__ == "__main__":
    main()
