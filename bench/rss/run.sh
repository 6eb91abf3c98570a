#!/usr/bin/env bash
# Peak resident memory of `moreml encrypt` and `moreml train` (1 epoch, encrypted f64 MLP) on a
# small data set and on one whose ciphertexts are larger than half the machine's memory: the
# small plaintext set's records are repeated into a big plaintext file, which `moreml encrypt`
# (mapped input, streamed output) turns into the big encrypted set. Not in CI (needs ~1.3x GIB
# of free disk and minutes). Usage, from the repository root:
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
trap 'rm -f "$WORK/big.safetensors" "$WORK/big.enc.safetensors" "$WORK"/model-*' EXIT
"$BIN" keygen --out "$WORK/key.json" 2>/dev/null || true
"$BIN" dataset mnist --synthetic --train-size 6000 --test-size 100 --out "$WORK/data"
cp "$WORK/data/train.safetensors" "$WORK/small.safetensors"
small=$(stat -c %s "$WORK/small.safetensors")
# Ciphertexts are 4x their plaintexts (2x2 matrices).
times=$(( (GIB * 1024 * 1024 * 1024) / (4 * small) + 1 ))
python3 bench/rss/repeat_rows.py "$WORK/small.safetensors" "$WORK/big.safetensors" --times "$times"
peak() { grep "Maximum resident" "$1" | awk '{print $NF}'; }
for which in small big; do
  /usr/bin/time -v "$BIN" encrypt --key "$WORK/key.json" --input "$WORK/$which.safetensors" \
    --output "$WORK/$which.enc.safetensors" 2> "$WORK/$which.encrypt.time" || { cat "$WORK/$which.encrypt.time"; exit 1; }
  grep -E "^encrypted|Elapsed|Maximum resident" "$WORK/$which.encrypt.time"
done
rm -f "$WORK/big.safetensors"
for which in small big; do
  /usr/bin/time -v "$BIN" train --data "$WORK/$which.enc.safetensors" --epochs 1 \
    --out "$WORK/model-$which.safetensors" 2> "$WORK/$which.time" || { cat "$WORK/$which.time"; exit 1; }
  grep -E "^epoch|Elapsed|Maximum resident" "$WORK/$which.time"
done
size() { stat -c %s "$WORK/$1.enc.safetensors"; }
echo "| data set | encrypted file | records | encrypt peak RSS | train peak RSS |"
echo "|---|---|---|---|---|"
for which in small big; do
  records=6000; [ "$which" = big ] && records=$(( 6000 * times ))
  echo "| $which | $(( $(size "$which") / 1048576 )) MiB | $records | $(( $(peak "$WORK/$which.encrypt.time") / 1024 )) MiB | $(( $(peak "$WORK/$which.time") / 1024 )) MiB |"
done
