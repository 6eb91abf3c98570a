#!/usr/bin/env bash
# bench/peers: PyTorch (plaintext) and TenSEAL (CKKS) against moreml on the same models and the
# same machine, one after the other; writes bench/peers/results/peers.{json,md}. Not in CI.
#   bash bench/peers/run.sh                  # full MNIST, 2 epochs per run, 2 TenSEAL images
#   EPOCHS=1 TENSEAL_IMAGES=1 TRAIN_SIZE=6000 bash bench/peers/run.sh
# PEERS_NOTE="..." describes what else ran on the machine (copied into the table header).
# Needs the MNIST IDX files (.gz) in $MOREML_MNIST_DIR (default /work/shared/data/mnist) and
# PyPI access the first time (the venv is kept in $PEERS_VENV, ~5.5 GiB: PyPI's Linux torch
# wheel is the CUDA build and does not import without its nvidia-* packages).
set -euo pipefail
cd "$(dirname "$0")/../.."
MNIST=${MOREML_MNIST_DIR:-/work/shared/data/mnist}
VENV=${PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/moreml-peers-venv}
EPOCHS=${EPOCHS:-2}
TENSEAL_IMAGES=${TENSEAL_IMAGES:-2}
TENSEAL_TIMEOUT=${TENSEAL_TIMEOUT:-3600}   # seconds; a TenSEAL run past it is reported as such
TRAIN_SIZE=${TRAIN_SIZE:-0}               # first N training images (0 = all 60000)
OUT=bench/peers/results
mkdir -p "$OUT"
if ! "$VENV/bin/python" -c "import torch, tenseal, numpy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "torch==2.15.*" "tenseal==0.3.18" numpy
fi
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2
"$VENV/bin/python" bench/peers/torch_bench.py --mnist "$MNIST" --epochs "$EPOCHS" --train-size "$TRAIN_SIZE" > "$OUT/torch.json"
rm -f "$OUT/tenseal.json"
timeout "$TENSEAL_TIMEOUT" "$VENV/bin/python" bench/peers/tenseal_bench.py --mnist "$MNIST" \
  --images "$TENSEAL_IMAGES" > "$OUT/tenseal.json.tmp" 2> "$OUT/tenseal.log" && mv "$OUT/tenseal.json.tmp" "$OUT/tenseal.json" \
  || echo "TenSEAL did not finish within ${TENSEAL_TIMEOUT} s (see $OUT/tenseal.log)"
rm -f "$OUT/tenseal.json.tmp"
cargo build -q -p moreml --release
target/release/moreml bench train --data-dir "$MNIST" --epochs "$EPOCHS" --train-size "$TRAIN_SIZE" \
  --json "$OUT/moreml.json"
python3 bench/peers/combine.py "$OUT" "$TENSEAL_TIMEOUT"
