"""Transfer learning through the product's training code: `training.ml.run.train` with the pretrained
efficientnet_lite0 (what `manage.py train --arch efficientnet_lite0 --pretrained` runs on a worker).

Builds an imagefolder tree of links under var/bench/ from ../shared/data/images/<data>/manifest.csv: train =
the manifest's train split (at most --train-images, evenly over classes); the manifest's other split is the
test set (about --val-images of it can be held out as val for curves, default none), so the reported test
accuracy is on images no stage saw. With --wnids the tree carries class_wnids.json (what a
dataset version whose categories have WordNet ids materialises), so ImageNet synsets start from the pretrained
head's rows. Prints one JSON line: accuracy, seconds, stage timings.

    nice .venv/bin/python bench/transfer.py --data imagenette_224 --wnids            # 1,000 train images
    nice .venv/bin/python bench/transfer.py --data imagenette_224                    # zero head (no wnids)
    nice .venv/bin/python bench/transfer.py --data cifar10_png --train-images 1000
    nice .venv/bin/python bench/transfer.py --data imagenette_224 --wnids --epochs 2  # + 2 fine-tune epochs
    # small and low-resolution (issue 24): 300 CIFAR-10 images of 3 classes at 32 px, 3 fine-tune epochs asked for;
    # --transfer auto applies the product's rule (training/ml/transfer_policy.py: a probe only here)
    nice .venv/bin/python bench/transfer.py --data cifar10_png --classes 3 --train-images 300 --epochs 3 \
        --transfer fine_tune
    nice .venv/bin/python bench/transfer.py --data cifar10_png --classes 3 --train-images 300 --epochs 3
    python bench/transfer.py --device cuda --epochs 5 --workers 8                    # on a GPU machine
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.ml.config import default_config_for  # noqa: E402
from training.ml.run import train  # noqa: E402
from training.ml.transfer_policy import transfer_choose  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "images"


def build_tree(src: Path, train_images: int, val_images: int, wnids: bool, n_classes: int = 0) -> Path:
    data = src.name
    rows = list(csv.DictReader((src / "manifest.csv").open()))
    classes = sorted({int(r["label_index"]) for r in rows})
    if n_classes:
        classes = classes[:n_classes]
        rows = [r for r in rows if int(r["label_index"]) in classes]
    tree = ROOT / "var" / "bench" / f"tree-{data}-{train_images}-{val_images}-{int(wnids)}-{len(classes)}"
    shutil.rmtree(tree, ignore_errors=True)
    per_class = train_images // len(classes)
    taken = dict.fromkeys(classes, 0)
    held = [r for r in rows if r["split"] != "train"]
    for r in rows:
        k = int(r["label_index"])
        if r["split"] == "train":
            if taken[k] >= per_class:
                continue
            taken[k] += 1
            split = "train"
        else:
            split = "val" if held.index(r) % max(1, len(held) // max(val_images, 1)) == 0 and val_images else "test"
        dst = tree / split / f"{k:03d}" / Path(r["path"]).name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src / r["path"])
    (tree / "classes.json").write_text(json.dumps([f"{k:03d}" for k in classes]))
    if wnids:
        names = {int(r["label_index"]): r.get("wnid", "") for r in rows}
        (tree / "class_wnids.json").write_text(json.dumps([names[k] for k in classes]))
    return tree


def tree_figures(tree: Path) -> tuple[float, int]:
    """(training images per class, median shorter side): what the product reads off a dataset version."""
    from PIL import Image

    files = [p for p in (tree / "train").rglob("*") if p.is_file() or p.is_symlink()]
    classes = {p.parent.name for p in files}
    sides = sorted(min(Image.open(p).size) for p in files[:2000])
    return len(files) / max(1, len(classes)), sides[len(sides) // 2] if sides else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="imagenette_224", choices=["imagenette_224", "cifar10_png"])
    parser.add_argument("--root", type=Path, help="a data set folder with manifest.csv (default: ../shared/.../DATA)")
    parser.add_argument("--train-images", type=int, default=1000)
    parser.add_argument("--val-images", type=int, default=0, help="held out of the test split for curves")
    parser.add_argument("--wnids", action="store_true", help="classes carry WordNet ids (ImageNet head rows)")
    parser.add_argument("--probe-epochs", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=0, help="fine-tune epochs after the probe")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=0, help="the first N classes only (0: all)")
    parser.add_argument("--transfer", default="auto", choices=["auto", "probe", "fine_tune"],
                        help="the product's rule (auto) or a forced choice (manage.py train --transfer)")  # fmt: skip
    args = parser.parse_args()
    src = (args.root or SHARED / args.data).resolve()
    if not (src / "manifest.csv").is_file():
        print(json.dumps({"skipped": f"{src} has no manifest.csv"}))
        return
    tree = build_tree(src, args.train_images, args.val_images, args.wnids, args.classes)
    per_class, side = tree_figures(tree)
    choice = transfer_choose(requested=args.transfer, native_size=224, requested_epochs=args.epochs,
                             images_per_class=per_class, median_side=side)  # fmt: skip
    config = default_config_for(
        "efficientnet_lite0", pretrained=True, probe_epochs=args.probe_epochs, epochs=choice.fine_tune_epochs,
        device=args.device, workers=args.workers, batch_size=args.batch_size, image_size=choice.image_size,
    )  # fmt: skip
    start = time.perf_counter()
    result = train(config, tree)
    seconds = time.perf_counter() - start
    metrics = result.final_metrics or {}
    history = result.history
    print(json.dumps({
        "data": src.name, "train_images": args.train_images, "wnids": args.wnids, "probe_epochs": args.probe_epochs,
        "classes": args.classes or None, "transfer": choice.to_dict(), "fine_tune_epochs": choice.fine_tune_epochs,
        "device": args.device, "status": result.status,
        "test_images": metrics.get("num_samples"), "test_accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"), "seconds": round(seconds, 1),
        "probe_first_epoch_seconds": round(history[0]["seconds"], 1) if history else None,
        "fine_tune_seconds": round(sum(h["seconds"] for h in history if h.get("stage") != "probe"), 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
