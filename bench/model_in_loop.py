"""Human labels needed to reach 95 % label accuracy, with vs without the model in the loop.

Simulated crowd over ../shared/data/images/imagenette_224 (10 classes, 1300 images; manifest.csv:
path,label,wnid,label_index,split). Workers answer right with their own accuracy (uniform in
[ACC_LO, ACC_HI]), wrong answers uniform over the other classes. Every item gets a fixed, seeded sequence
of up to MAX_VOTES answers, so both arms see exactly the same crowd.

* without the model: adaptive redundancy as the quality engine does it before it knows the workers --
  symmetric 0.7-accurate annotator model, ask one more vote until the posterior reaches the target;
* with the model: the first half of the pool (the seed) is labelled the same way; a small CNN (64 px,
  training.ml's small_cnn) is trained on the seed's *crowd* labels (GOLD items held out); its confusion
  matrix is measured on those gold items (add-one smoothing); on the other half every item starts from the
  model's bounded vote (`posterior_with_extra_voter`, max_weight = log 9, as training.services.voter).

* with the pretrained backbone (`--backbone pretrained`, the default): the packaged efficientnet_lite0.
  When the classes are ImageNet synsets (imagenette's WordNet ids) the pretrained classifier restricted to them
  votes from the first minute, before any crowd label (`--seed-size 0`, zero-shot); otherwise (cifar10_png) a
  linear probe on the features is trained on the crowd labels of `--seed-size` items (default 300). Either way
  its confusion and vote bound come from GOLD items (training.ml.calibration: symmetric, the Wilson lower bound
  of its gold accuracy, capped at log 99), and every other item starts from its bounded vote.

Cost is counted over the whole pool in both arms (seed and gold items cost the same). For a grid of confidence
targets we record (labels used, accuracy) and report the fewest labels whose accuracy is >= 95 %.
Usage: .venv/bin/python bench/model_in_loop.py [--backbone pretrained|small_cnn] [--data imagenette_224|cifar10_png]
       [--seed-size N] [--epochs 30] [--seed 0]   (CPU; features are cached in var/bench by bench/features_probe.py)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeling.algorithms.posterior import add_vote, posterior_with_extra_voter, symmetric_confusion  # noqa: E402
from training.ml.nets import build_model  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "images"
DATA = SHARED / "imagenette_224"
K, WORKERS, MAX_VOTES, ACC_LO, ACC_HI, PRIOR_ACC = 10, 40, 9, 0.55, 0.85, 0.7
GOLD = 100
TARGETS = (0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998)
SIZE = 64


def pretrained_arm(data: str, seed_size: int, gold_ids: np.ndarray, rest_ids: np.ndarray, votes: np.ndarray,
                   truth: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:  # fmt: skip
    """(crowd-only ids: gold + seed, the other ids, their start posteriors, facts): the pretrained model's
    bounded, gold-calibrated vote."""
    sys.path.insert(0, str(ROOT / "bench"))
    from features_probe import features

    from training.ml.calibration import calibrate_voter
    from training.ml.pretrained import imagenet_index
    from training.ml.transfer import ProbeConfig, fit_linear_probe

    x, _, rows, p1000 = features(data)
    wnids = {int(r["label_index"]): r.get("wnid") for r in rows}
    index = imagenet_index([wnids[k] for k in range(K)])
    seed_ids = rest_ids[:seed_size]
    others = rest_ids[seed_size:]
    if seed_size == 0:
        if any(i is None for i in index):
            raise SystemExit("--seed-size 0 (zero-shot) needs every class to be an ImageNet synset")
        probs = p1000[:, index].astype(np.float64)
        probs /= probs.sum(1, keepdims=True)
        how = "zero-shot: the pretrained ImageNet classifier restricted to the 10 synsets, no crowd label"
    else:
        crowd_labels, _ = adaptive(votes[seed_ids], 0.95)
        probe = fit_linear_probe(x[seed_ids], crowd_labels, K, ProbeConfig(epochs=60, lr=1e-3, seed=seed))
        probs = probe.predict_proba(x).astype(np.float64)
        how = f"linear probe on pretrained features, trained on {seed_size} items' crowd labels (target 0.95)"
    cal = calibrate_voter(truth[gold_ids], probs[gold_ids].argmax(1), K)
    start = posterior_with_extra_voter(np.full((len(others), K), 1.0 / K), probs[others], cal.confusion,
                                       cal.max_weight)  # fmt: skip
    pred = probs.argmax(1)
    facts = {"model": how, "model_accuracy_gold": round(float((pred[gold_ids] == truth[gold_ids]).mean()), 3),
             "model_accuracy_rest": round(float((pred[others] == truth[others]).mean()), 3),
             "gold_accuracy_low": round(cal.accuracy_low, 3), "max_weight": round(cal.max_weight, 3)}  # fmt: skip
    return np.concatenate([gold_ids, seed_ids]), others, start, facts


def load(manifest: Path) -> tuple[torch.Tensor, np.ndarray]:
    rows = list(csv.DictReader(manifest.open()))
    images = np.zeros((len(rows), SIZE, SIZE, 3), dtype=np.uint8)
    for i, row in enumerate(rows):
        with Image.open(DATA / row["path"]) as im:
            im.draft("RGB", (SIZE * 2, SIZE * 2))
            images[i] = np.asarray(im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    return (x - mean) / std, np.array([int(r["label_index"]) for r in rows])


def crowd(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, MAX_VOTES) answers: each item's fixed sequence of votes from distinct random workers."""
    acc = rng.uniform(ACC_LO, ACC_HI, WORKERS)
    votes = np.zeros((len(truth), MAX_VOTES), dtype=np.int64)
    for i, y in enumerate(truth):
        for j, w in enumerate(rng.choice(WORKERS, MAX_VOTES, replace=False)):
            votes[i, j] = y if rng.random() < acc[w] else rng.choice([c for c in range(K) if c != y])
    return votes


def adaptive(
    votes: np.ndarray, target: float, start: np.ndarray | None = None, min_votes: int = 1
) -> tuple[np.ndarray, int]:
    """Labels and human votes used; `start` (n, K) is each item's posterior before any human vote. Like the
    quality engine (project.min_votes = 1) every item gets at least one human vote; `min_votes=0` shows what
    letting a sure model finish items alone would save (not the product's policy)."""
    conf = symmetric_confusion(PRIOR_ACC, K)
    labels, used = np.zeros(len(votes), dtype=np.int64), 0
    for i, row in enumerate(votes):
        post = np.full(K, 1.0 / K) if start is None else start[i]
        if min_votes == 0 and post.max() >= target:
            labels[i] = int(post.argmax())
            continue
        for v in row:
            post = add_vote(post, conf, int(v))
            used += 1
            if post.max() >= target:
                break
        labels[i] = int(post.argmax())
    return labels, used


def train_cnn(x: torch.Tensor, y: np.ndarray, epochs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model("small_cnn", K)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * math.ceil(len(x) / 64))
    target = torch.from_numpy(y)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(64):
            xb = x[idx]
            flip = torch.rand(len(xb)) < 0.5
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
            shift = torch.randint(-6, 7, (2,)).tolist()
            xb = torch.roll(xb, shifts=shift, dims=(2, 3))
            loss = nn.functional.cross_entropy(model(xb), target[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def probs_of(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    return torch.cat([model(b).softmax(1) for b in x.split(256)]).numpy().astype(np.float64)


def cheapest(points: list[dict]) -> dict | None:
    ok = [p for p in points if p["accuracy"] >= 0.95]
    return min(ok, key=lambda p: p["labels"]) if ok else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-weight", type=float, default=math.log(9), help="small_cnn arm only")
    parser.add_argument(
        "--min-votes",
        type=int,
        choices=[0, 1],
        default=1,
        help="pretrained: 0 lets the model finish items alone (not the product's policy)",
    )
    parser.add_argument("--backbone", choices=["pretrained", "small_cnn"], default="pretrained")
    parser.add_argument("--data", choices=["imagenette_224", "cifar10_png"], default="imagenette_224")
    parser.add_argument("--seed-size", type=int, help="pretrained: items crowd-labelled to train a probe "
                        "(default 0 = zero-shot for imagenette, 300 for cifar10_png)")  # fmt: skip
    args = parser.parse_args()
    global DATA
    DATA = SHARED / args.data
    manifest = DATA / "manifest.csv"
    if not manifest.is_file():
        print(json.dumps({"skipped": f"{manifest} not found"}))
        return
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.time()
    if args.backbone == "pretrained":
        truth = np.array([int(r["label_index"]) for r in csv.DictReader(manifest.open())])
    else:
        x, truth = load(manifest)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(truth))
    seed_ids, rest_ids = order[: len(order) // 2], order[len(order) // 2 :]
    gold_ids, train_ids = seed_ids[:GOLD], seed_ids[GOLD:]
    votes = crowd(truth, rng)

    base = []
    for t in TARGETS:
        labels, used = adaptive(votes, t)
        base.append({"target": t, "labels": used, "accuracy": float((labels == truth).mean())})

    if args.backbone == "pretrained":
        seed_size = args.seed_size if args.seed_size is not None else (0 if args.data == "imagenette_224" else 300)
        pool = np.concatenate([train_ids, rest_ids])  # every non-gold item, in random order
        pre_ids, others, start, facts = pretrained_arm(args.data, seed_size, gold_ids, pool, votes, truth, args.seed)
        loop = []
        for t in TARGETS:
            pre_lab, pre_used = adaptive(votes[pre_ids], t)
            rest_lab, rest_used = adaptive(votes[others], t, start, args.min_votes)
            correct = (pre_lab == truth[pre_ids]).sum() + (rest_lab == truth[others]).sum()
            loop.append({"target": t, "labels": int(pre_used + rest_used), "accuracy": float(correct / len(truth))})
        facts.update(images=len(truth), data=args.data, backbone="efficientnet_lite0 (pretrained)", gold=GOLD,
                     seed_size=seed_size, min_votes=args.min_votes)  # fmt: skip
        report(args, base, loop, facts, t0)
        return

    # The model is trained once, on the seed's crowd labels at a 0.95 target (what a researcher would export).
    seed_labels, _ = adaptive(votes[train_ids], 0.95)
    model = train_cnn(x[train_ids], seed_labels, args.epochs, args.seed)
    p_gold, p_rest = probs_of(model, x[gold_ids]), probs_of(model, x[rest_ids])
    conf = np.ones((K, K))
    np.add.at(conf, (truth[gold_ids], p_gold.argmax(1)), 1.0)
    model_acc_gold = float((p_gold.argmax(1) == truth[gold_ids]).mean())
    model_acc_rest = float((p_rest.argmax(1) == truth[rest_ids]).mean())
    start = posterior_with_extra_voter(np.full((len(rest_ids), K), 1.0 / K), p_rest, conf, args.max_weight)

    loop = []
    for t in TARGETS:
        seed_lab, seed_used = adaptive(votes[seed_ids], t)
        rest_lab, rest_used = adaptive(votes[rest_ids], t, start)
        correct = (seed_lab == truth[seed_ids]).sum() + (rest_lab == truth[rest_ids]).sum()
        loop.append({"target": t, "labels": int(seed_used + rest_used), "accuracy": float(correct / len(truth))})

    facts = {"model_accuracy_gold": round(model_acc_gold, 3), "model_accuracy_rest": round(model_acc_rest, 3),
             "max_weight": round(args.max_weight, 3), "backbone": "small_cnn", "data": args.data,
             "images": len(truth)}  # fmt: skip
    report(args, base, loop, facts, t0)


def report(args: argparse.Namespace, base: list[dict], loop: list[dict], facts: dict, t0: float) -> None:
    a, b = cheapest(base), cheapest(loop)
    saving = (1 - b["labels"] / a["labels"]) if a and b else None
    result = {
        "classes": K, "workers": WORKERS, "worker_accuracy": [ACC_LO, ACC_HI], **facts,
        "without_model": base, "with_model": loop,
        "labels_for_95_without": a and a["labels"], "labels_for_95_with": b and b["labels"],
        "label_saving": saving and round(saving, 4), "seconds": round(time.time() - t0, 1),
    }  # fmt: skip

    for name, pts in (("without model", base), ("with model", loop)):
        print(name + ": " + ", ".join(f"t={p['target']}: {p['labels']} labels, acc {p['accuracy']:.3f}" for p in pts))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
