"""PyTorch side of bench/peers: the moreml MNIST MLP and CNN, trained and run in plaintext.

Same architectures as crates/nn/src/config.rs (ModelConfig::mlp(784, 128, 10) and
ModelConfig::cnn(28, 8, 128, 10)), same loss (softmax cross-entropy, label smoothing 0.1),
same optimiser (SGD, momentum 0.9, lr 0.01 for the MLP and 0.05 for the CNN, as
`moreml bench train`), batch 64, pixels / 255, 2 threads, flush-to-zero.
Prints one JSON object (a list of runs) on stdout.
"""

import argparse
import gzip
import json
import statistics
import struct
import sys
import time
from pathlib import Path

import torch
from torch import nn


def read_idx(path: Path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, dtype, ndim = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).reshape(dims)


class Square(nn.Module):
    def forward(self, x):
        return x * x


class ReluPoly(nn.Module):
    """moreml's degree-2 ReLU fit on [-range, range]: 3r/32 + x/2 + 15/(32 r) x^2."""

    def __init__(self, r=4.0):
        super().__init__()
        self.c = (3 * r / 32, 0.5, 15 / (32 * r))

    def forward(self, x):
        return self.c[0] + x * (self.c[1] + self.c[2] * x)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), Square(), nn.Linear(128, 10))


def cnn():
    # moreml: conv 5x5x8 (valid, stride 1) - relu_poly - avgpool 2 - dense 128 - relu_poly - dense 10
    return nn.Sequential(
        nn.Conv2d(1, 8, 5),
        ReluPoly(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 12 * 12, 128),
        ReluPoly(),
        nn.Linear(128, 10),
    )


def epoch(model, opt, loss_fn, x, y, batch, seed):
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(x.shape[0], generator=g)
    model.train()
    t0 = time.perf_counter()
    for i in range(0, x.shape[0], batch):
        idx = order[i : i + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, loss.item()


@torch.no_grad()
def infer(model, x, batch=500):
    model.eval()
    t0 = time.perf_counter()
    outs = [model(x[i : i + batch]) for i in range(0, x.shape[0], batch)]
    dt = time.perf_counter() - t0
    return x.shape[0] / dt, torch.cat(outs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mnist", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-size", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    xs = read_idx(a.mnist / "train-images-idx3-ubyte.gz").float().div(255).unsqueeze(1)
    ys = read_idx(a.mnist / "train-labels-idx1-ubyte.gz").long()
    xt = read_idx(a.mnist / "t10k-images-idx3-ubyte.gz").float().div(255).unsqueeze(1)
    yt = read_idx(a.mnist / "t10k-labels-idx1-ubyte.gz").long()
    if a.train_size:
        xs, ys = xs[: a.train_size], ys[: a.train_size]
    runs = []
    for arch, make, lr in (("mlp", mlp, 0.01), ("cnn", cnn, 0.05)):
        for dtype in (torch.float32, torch.float64):
            torch.manual_seed(1)
            model = make().to(dtype)
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
            loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
            x, xte = xs.to(dtype), xt.to(dtype)
            times = []
            for e in range(a.epochs):
                dt, loss = epoch(model, opt, loss_fn, x, ys, 64, e)
                times.append(dt)
                print(f"torch {arch} {dtype} epoch {e + 1}: {dt:.3f} s, last loss {loss:.3f}", file=sys.stderr)
            ips, out = infer(model, xte)
            acc = float((out.argmax(1) == yt).float().mean())
            runs.append(
                {
                    "arch": arch,
                    "dtype": "f32" if dtype == torch.float32 else "f64",
                    "epoch_s": statistics.median(times),
                    "epoch_s_all": times,
                    "train_images_per_s": x.shape[0] / statistics.median(times),
                    "inference_images_per_s": ips,
                    "test_accuracy": acc,
                }
            )
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "flush_denormal": True,
                "train_images": int(xs.shape[0]),
                "epochs": a.epochs,
                "runs": runs,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
