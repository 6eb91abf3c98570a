#!/usr/bin/env bash
# Load test of `moreml serve` on loopback (not run in CI): MNIST MLP and CNN, batch 1 and 64,
# SECONDS_PER_RUN seconds each, plus the micro-batching comparison. Prints one JSON report per
# run to stdout.
#
#   MOREML_MNIST_DIR=/path/to/mnist bash crates/serve/loadtest.sh [workdir]
#
# Models are trained 1 epoch on a 2,000-image encrypted subset (the load test measures the
# service, not accuracy). Needs `cargo build --release -p moreml` first (or MOREML=path).
set -euo pipefail
W=${1:-/tmp/moreml-loadtest}
M=${MOREML:-target/release/moreml}
S=${SECONDS_PER_RUN:-60}
: "${MOREML_MNIST_DIR:?set MOREML_MNIST_DIR to the MNIST IDX files}"
mkdir -p "$W/models"
if [ ! -f "$W/models/mlp.safetensors" ]; then
  "$M" keygen --out "$W/key.json" --force
  "$M" dataset mnist --out "$W/data" --train-size 2000 --test-size 1000
  "$M" encrypt --key "$W/key.json" --input "$W/data/train.safetensors" --output "$W/train.enc.safetensors"
  "$M" encrypt --key "$W/key.json" --input "$W/data/test.safetensors" --output "$W/test.enc.safetensors"
  "$M" train --data "$W/train.enc.safetensors" --arch mlp --epochs 1 --lr 0.005 --out "$W/models/mlp.safetensors"
  "$M" train --data "$W/train.enc.safetensors" --arch cnn --epochs 1 --lr 0.01 --out "$W/models/cnn.safetensors"
fi
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$W/token"; chmod 600 "$W/token"
serve() { # serve EXTRA-ARGS...; sets PID and URL
  "$M" serve --models "$W/models" --addr 127.0.0.1:0 --token-file "$W/token" "$@" 2> "$W/serve.log" &
  PID=$!
  for _ in $(seq 100); do grep -q "listening on" "$W/serve.log" && break; sleep 0.2; done
  URL="http://$(sed -n 's/^moreml serve: listening on //p' "$W/serve.log")"
}
load() { # load MODEL BATCH CONCURRENCY SECONDS
  "$M" client load --url "$URL" --model "$1" --input "$W/test.enc.safetensors" --batch "$2" \
    --concurrency "$3" --seconds "$4" --token-file "$W/token" --json
}
serve
for model in mlp cnn; do
  for batch in 1 64; do load "$model" "$batch" 4 "$S"; done
done
kill -TERM "$PID"; wait "$PID"
# Micro-batching: batch-1 requests from 8 clients, joining off vs on.
for rows in 0 256; do
  serve --batch-max-records "$rows"
  echo "{\"batch_max_records\": $rows}"
  load mlp 1 8 "$(( S / 3 ))"
  kill -TERM "$PID"; wait "$PID"
done
