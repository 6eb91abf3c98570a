#!/usr/bin/env python3
"""Scaling model of data-parallel encrypted training over 2..64 machines, from measured inputs.

    python3 scripts/mpi/scaling.py scripts/mpi/results/bench.json

Inputs (from scripts/mpi/bench.sh): the compute time of one SGD step of batch 64 on one machine
(the fastest single-process run, 1 or 2 threads: this machine has 2 cores) and the bytes of one gradient all-reduce
(every parameter's ciphertext coordinates, 2 planes x 8 bytes for f64).

Model, no overlap of compute and communication (moreml all-reduces after the backward pass):
  ring all-reduce of S bytes over p machines: 2 (p-1)/p * S / bandwidth + 2 (p-1) * latency
  strong scaling (global batch 64 fixed): compute per step = t1 / p
  weak scaling (64 records per machine, global batch 64 p): compute per step = t1
Latency per message: 10 us (TCP over Ethernet; RDMA is lower). Efficiency = compute / (compute +
all-reduce); speed-up = p * efficiency (strong) relative to one machine.
"""
import json
import sys

LATENCY = 10e-6
LINKS = {"10 Gbit/s": 10e9 / 8, "100 Gbit/s": 100e9 / 8}
MACHINES = [2, 4, 8, 16, 32, 64]


def ring(p, size, bandwidth):
    return 2 * (p - 1) / p * size / bandwidth + 2 * (p - 1) * LATENCY


def main(path):
    runs = json.load(open(path))["runs"]
    out = []
    for arch in ("mlp", "cnn"):
        by = {r["run"]: r for r in runs if r["arch"] == arch}
        serial = [r for name, r in by.items() if name.startswith("serial")]
        sized = [r for r in by.values() if r.get("allreduce_bytes")]
        if not serial or not sized:
            continue
        t1 = min(r["seconds"] / r["steps"] for r in serial)
        size = sized[0]["allreduce_bytes"]
        out.append(f"\n**{arch.upper()}**, f64 ciphertexts: one machine {t1 * 1e3:.1f} ms/step (batch 64), "
                   f"all-reduce message {size / 1e6:.2f} MB\n")
        out.append("| machines | strong: compute/step | all-reduce 10 Gbit/s | all-reduce 100 Gbit/s "
                   "| strong speed-up 10G / 100G | weak efficiency 10G / 100G |")
        out.append("|---:|---:|---:|---:|---:|---:|")
        for p in MACHINES:
            c = t1 / p
            ar = {k: ring(p, size, bw) for k, bw in LINKS.items()}
            strong = [p * c / (c + a) for a in ar.values()]
            weak = [t1 / (t1 + a) for a in ar.values()]
            out.append(f"| {p} | {c * 1e3:.2f} ms | {ar['10 Gbit/s'] * 1e3:.2f} ms | {ar['100 Gbit/s'] * 1e3:.3f} ms "
                       f"| {strong[0]:.1f}x / {strong[1]:.1f}x | {weak[0] * 100:.0f}% / {weak[1] * 100:.0f}% |")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "scripts/mpi/results/bench.json")
