"""Label-error detection on imagenette with injected wrong labels: recall and precision of find_label_errors'
method (K-fold out-of-sample probe on pretrained features, cleanlab normalised margin, cut-off 0.3) against
cleanlab's own `find_label_issues` defaults on the same probabilities, and against a zero-initialised probe.

Usage: nice .venv/bin/python bench/label_errors.py [--data imagenette_224|cifar10_png] [--noise 0.1] [--seeds 0,1,2]
Small and low-resolution (issue 24: 300 CIFAR-10 images of 3 classes at 32 px, 15 flipped labels):
       nice .venv/bin/python bench/label_errors.py --data cifar10_png --classes 3 --images 300 --noise 0.05
(the images are upsampled to the backbone's 224 px, as the product does: training/ml/transfer_policy.py)
Features come from bench/features_probe.py's cache (var/bench/), computed on first use (minutes on a CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cleanlab.filter import find_label_issues  # noqa: E402
from features_probe import features  # noqa: E402

from training.ml.label_errors import rank_label_errors  # noqa: E402
from training.ml.pretrained import imagenet_head_rows  # noqa: E402
from training.ml.transfer import cv_probe_config, out_of_fold_proba  # noqa: E402


def score(flagged: set[int], truth: set[int]) -> dict[str, float]:
    tp = len(flagged & truth)
    recall, precision = tp / len(truth), tp / max(1, len(flagged))
    return {"flagged": len(flagged), "recall": round(recall, 4), "precision": round(precision, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="imagenette_224", choices=["imagenette_224", "cifar10_png"])
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--classes", type=int, default=0, help="the first N classes only (0: all)")
    parser.add_argument("--images", type=int, default=0, help="at most this many images, evenly over classes")
    args = parser.parse_args()
    if not (ROOT.parent / "shared" / "data" / "images" / args.data / "manifest.csv").is_file():
        print(json.dumps({"skipped": f"../shared/data/images/{args.data} not found"}))
        return
    x, y, rows, _ = features(args.data)
    if args.classes or args.images:  # a small subset: the first classes, the first images of each
        classes = np.unique(y)[: args.classes or None]
        per = (args.images // len(classes)) if args.images else len(y)
        keep = np.concatenate([np.flatnonzero(y == c)[:per] for c in classes])
        x, y, rows = x[keep], y[keep], [rows[i] for i in keep]
    k = int(y.max()) + 1
    wnids = {int(r["label_index"]): r.get("wnid") or None for r in rows}
    init = imagenet_head_rows("efficientnet_lite0", [wnids[c] for c in range(k)])
    for seed in (int(s) for s in args.seeds.split(",")):
        rng = np.random.default_rng(seed)
        flip = rng.choice(len(y), round(args.noise * len(y)), replace=False)
        noisy = y.copy()
        noisy[flip] = (y[flip] + rng.integers(1, k, len(flip))) % k
        truth = set(flip.tolist())
        out = {"data": args.data, "classes": k, "images": len(y), "flipped": len(flip), "noise": args.noise,
               "seed": seed, "folds": args.folds}  # fmt: skip
        for name, start in (("imagenet_rows", init), ("zero_head", None)):
            if name == "imagenet_rows" and start is None:
                continue
            t0 = time.perf_counter()
            probs = out_of_fold_proba(x, noisy, k, args.folds, cv_probe_config(start is not None, seed), init=start)
            ours = {s.index for s in rank_label_errors(noisy, probs)}
            default = set(find_label_issues(noisy, probs, return_indices_ranked_by="self_confidence").tolist())
            out[name] = {"ours": score(ours, truth), "cleanlab_default": score(default, truth),
                         "oof_accuracy_vs_truth": round(float((probs.argmax(1) == y).mean()), 4),
                         "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
        print(json.dumps(out))


if __name__ == "__main__":
    main()
