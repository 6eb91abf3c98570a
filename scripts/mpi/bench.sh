#!/usr/bin/env bash
# Throughput of `moreml train` with 1 process and with 1, 2 and 4 (oversubscribed) MPI ranks,
# and the all-reduce time per step, for the MNIST MLP and CNN on ciphertexts (f64).
# Writes scripts/mpi/results/bench.json and prints the scaling table (scripts/mpi/scaling.py).
#
#   bash scripts/mpi/bench.sh [RECORDS_MLP] [RECORDS_CNN]
#
# Needs the MPI build: cargo build --release -p moreml --features mpi
# MNIST from $MOREML_MNIST_DIR (default ../shared/data/mnist), else synthetic digits.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
BIN=${MOREML_BIN:-target/release/moreml}
MLP_N=${1:-3840}
CNN_N=${2:-640}
OUT=scripts/mpi/results
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

MNIST=${MOREML_MNIST_DIR:-../shared/data/mnist}
if [ -e "$MNIST/train-labels-idx1-ubyte.gz" ] || [ -e "$MNIST/train-labels-idx1-ubyte" ]; then
    SRC=(--data-dir "$MNIST")
else
    SRC=(--synthetic)
fi

data() { # records -> $WORK/enc_N.safetensors
    local n=$1
    "$BIN" dataset mnist "${SRC[@]}" --out "$WORK/d$n" --train-size "$n" --test-size 10 --dtype f64 >/dev/null 2>&1
    [ -e "$WORK/key.json" ] || "$BIN" keygen --out "$WORK/key.json" >/dev/null 2>&1
    "$BIN" encrypt --key "$WORK/key.json" --input "$WORK/d$n/train.safetensors" --output "$WORK/enc_$n.safetensors" >/dev/null 2>&1
}

# one configuration, run $REPS times (the machine is shared: keep the fastest epoch and the
# fastest all-reduce): label arch records train-flag launcher... ; prints a JSON object
REPS=${REPS:-3}
run() {
    local label=$1 arch=$2 n=$3 flag=$4; shift 4
    local log="$WORK/$label-$arch.log" secs="" steps="" ar="" bytes="" s a
    for _ in $(seq "$REPS"); do
        "$@" train $flag --data "$WORK/enc_$n.safetensors" --arch "$arch" --epochs 1 --batch 64 \
            --out "$WORK/m-$label-$arch.safetensors" 2>"$log" >/dev/null
        s=$(sed -n 's/^epoch 1\/1: \([0-9.]*\) s, \([0-9]*\) steps.*/\1/p' "$log" | tail -1)
        steps=$(sed -n 's/^epoch 1\/1: \([0-9.]*\) s, \([0-9]*\) steps.*/\2/p' "$log" | tail -1)
        a=$(sed -n 's/.*all-reduce \([0-9.]*\) ms\/step of \([0-9]*\) bytes.*/\1/p' "$log" | tail -1)
        bytes=$(sed -n 's/.*all-reduce \([0-9.]*\) ms\/step of \([0-9]*\) bytes.*/\2/p' "$log" | tail -1)
        secs=$(python3 -c "print(min(x for x in [$s, ${secs:-$s}]))")
        [ -n "$a" ] && ar=$(python3 -c "print(min(x for x in [$a, ${ar:-$a}]))")
    done
    printf '{"run":"%s","arch":"%s","records":%s,"seconds":%s,"steps":%s,"records_per_s":%s,"allreduce_ms_per_step":%s,"allreduce_bytes":%s}' \
        "$label" "$arch" "$n" "$secs" "$steps" "$(python3 -c "print(round($n/$secs,2))")" "${ar:-null}" "${bytes:-null}"
}

data "$MLP_N"
data "$CNN_N"
# yield_when_idle: a rank waiting in a collective yields its core (this machine is shared with
# other builds; busy-polling ranks then slow each other down, measured 3-8x longer all-reduces)
MPI=(mpirun --allow-run-as-root --bind-to none --mca mpi_yield_when_idle 1)
rows=()
for arch in mlp cnn; do
    n=$MLP_N; [ "$arch" = cnn ] && n=$CNN_N
    rows+=("$(run serial-2threads "$arch" "$n" "" "$BIN" --threads 2)")
    rows+=("$(run serial-1thread "$arch" "$n" "" "$BIN" --threads 1)")
    rows+=("$(run mpi-1rank "$arch" "$n" --distributed "${MPI[@]}" -np 1 "$BIN" --threads 1)")
    rows+=("$(run mpi-2ranks "$arch" "$n" --distributed "${MPI[@]}" -np 2 "$BIN" --threads 1)")
    rows+=("$(run mpi-4ranks-oversubscribed "$arch" "$n" --distributed "${MPI[@]}" --oversubscribe -np 4 "$BIN" --threads 1)")
done
{
    echo "{\"machine\":\"$(nproc) cores, $(uptime | sed 's/.*load average: //') load at the start\",\"runs\":["
    (IFS=,; echo "${rows[*]}")
    echo "]}"
} >"$OUT/bench.json"
cat "$OUT/bench.json"
python3 scripts/mpi/scaling.py "$OUT/bench.json"
