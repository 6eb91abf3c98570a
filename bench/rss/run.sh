#!/usr/bin/env bash
# Peak resident memory of `moreml train` (1 epoch, encrypted f64 MLP) on a small encrypted data
# set and on one larger than half the machine's memory, built by repeating the small one's
# records. Not in CI (needs ~2x GIB of free disk and minutes). Usage, from the repository root:
#   bash bench/rss/run.sh            # GIB=13 (a 24 GiB machine), work files in /work/rss-tmp
#   GIB=2 RSS_WORK=/tmp/rss bash bench/rss/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
GIB=${GIB:-13}
WORK=${RSS_WORK:-/work/rss-tmp}
BIN=${MOREML:-target/release/moreml}
[ -x "$BIN" ] || cargo build -p moreml --release
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
mkdir -p "$WORK"
trap 'rm -f "$WORK/big.enc.safetensors" "$WORK"/model-*' EXIT
"$BIN" keygen --out "$WORK/key.json" 2>/dev/null || true
"$BIN" dataset mnist --synthetic --train-size 6000 --test-size 100 --out "$WORK/data"
"$BIN" encrypt --key "$WORK/key.json" --input "$WORK/data/train.safetensors" --output "$WORK/small.enc.safetensors"
small=$(stat -c %s "$WORK/small.enc.safetensors")
times=$(( (GIB * 1024 * 1024 * 1024) / small + 1 ))
python3 bench/rss/repeat_rows.py "$WORK/small.enc.safetensors" "$WORK/big.enc.safetensors" --times "$times"
peak() { grep "Maximum resident" "$1" | awk '{print $NF}'; }
for which in small big; do
  /usr/bin/time -v "$BIN" train --data "$WORK/$which.enc.safetensors" --epochs 1 \
    --out "$WORK/model-$which.safetensors" 2> "$WORK/$which.time" || { cat "$WORK/$which.time"; exit 1; }
  grep -E "^epoch|Elapsed|Maximum resident" "$WORK/$which.time"
done
size() { stat -c %s "$WORK/$1.enc.safetensors"; }
echo "| data set | file size | records | peak RSS |"
echo "|---|---|---|---|"
echo "| small | $(( $(size small) / 1048576 )) MiB | 6000 | $(( $(peak "$WORK/small.time") / 1024 )) MiB |"
echo "| big | $(( $(size big) / 1048576 )) MiB | $(( 6000 * times )) | $(( $(peak "$WORK/big.time") / 1024 )) MiB |"
