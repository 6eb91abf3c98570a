"""TenSEAL side of bench/peers: CKKS-encrypted inference of the moreml MNIST CNN shape.

conv 5x5x8 (valid, stride 1) - relu_poly - avgpool 2 - dense 128 - relu_poly - dense 10, the
shape of moreml's ModelConfig::cnn(28, 8, 128, 10), with weights of a PyTorch model of that
shape (random init: only the speed and the agreement with plaintext are measured). The average
pool is linear, so it is folded into the first dense layer's matrix (the same function, one
fewer encrypted operation). TenSEAL's im2col encoding pads windows and kernel to powers of two
(576 windows x 25 values -> 1024 x 32 slots), more than the 16,384 slots of poly modulus degree
32768, so the image is encoded as two overlapping halves (output rows 0-11 and 12-23,
512 x 32 slots each) and the 16 conv outputs are packed into one 4,608-slot vector.
Prints one JSON object on stdout.
"""

import argparse
import gzip
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import tenseal as ts
import torch

sys.path.insert(0, str(Path(__file__).parent))
from torch_bench import cnn  # noqa: E402  (same architecture as the PyTorch run)


# Multiplicative depth 8: conv (1), packing the channels (1), activation polynomial (2),
# dense 128 (1), activation (2), dense 10 (1); one 40-bit prime per level (7 levels ran out
# of scale at the last dense layer). 440 bits: within the 128-bit-security bound of 881 bits
# for N = 32768.
COEFF_MOD_BITS = [60] + [40] * 8 + [60]


def read_images(path: Path, n: int):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rows, cols = struct.unpack(">II", data[8:16])
    return np.frombuffer(data[16 : 16 + n * rows * cols], dtype=np.uint8).reshape(n, rows, cols) / 255.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mnist", type=Path, required=True)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--poly-modulus-degree", type=int, default=32768)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.manual_seed(1)
    model = cnn().double().eval()
    conv, fc1, fc2 = model[0], model[4], model[6]
    coeffs = list(model[1].c)
    # avgpool 2 folded into fc1: pooled[c, i, j] = mean of conv[c, 2i..2i+1, 2j..2j+1].
    w1 = fc1.weight.detach().numpy().reshape(128, 8, 12, 12)
    w1_full = np.repeat(np.repeat(w1, 2, axis=2), 2, axis=3) / 4.0  # [128, 8, 24, 24]
    # Encrypted conv outputs are packed as (half h, channel c, row i in half, column j).
    w1_full = w1_full.reshape(128, 8, 2, 12, 24).transpose(0, 2, 1, 3, 4).reshape(128, 4608).T
    b1 = fc1.bias.detach().numpy()
    w2, b2 = fc2.weight.detach().numpy().T, fc2.bias.detach().numpy()
    kernels = conv.weight.detach().numpy()[:, 0]  # [8, 5, 5]
    kbias = conv.bias.detach().numpy()

    t0 = time.perf_counter()
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=a.poly_modulus_degree,
                     coeff_mod_bit_sizes=COEFF_MOD_BITS, n_threads=a.threads)
    ctx.global_scale = 2**40
    ctx.generate_galois_keys()
    setup_s = time.perf_counter() - t0
    print(f"tenseal: context and galois keys {setup_s:.1f} s", file=sys.stderr, flush=True)

    def stage(name, t):
        print(f"tenseal:   {name} done at {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)

    images = read_images(a.mnist / "t10k-images-idx3-ubyte.gz", a.images)
    per_image, cpu_per_image, max_diff = [], [], 0.0
    for img in images:
        t0, c0 = time.perf_counter(), time.process_time()
        chans = []
        for h in range(2):  # output rows 12h..12h+11 come from image rows 12h..12h+15
            enc, windows = ts.im2col_encoding(ctx, img[12 * h : 12 * h + 16].tolist(), 5, 5, 1)
            chans += [enc.conv2d_im2col(kernels[c].tolist(), windows) + float(kbias[c]) for c in range(8)]
        stage("encrypt + conv", t0)
        x = ts.CKKSVector.pack_vectors(chans)
        x = x.polyval(coeffs)
        stage("pack + act", t0)
        x = x.mm(w1_full.tolist()) + b1.tolist()
        stage("dense 128", t0)
        x = x.polyval(coeffs)
        x = x.mm(w2.tolist()) + b2.tolist()
        stage("act + dense 10", t0)
        out = np.array(x.decrypt())
        per_image.append(time.perf_counter() - t0)
        # CPU seconds of all threads: on a shared machine wall time also counts other jobs.
        cpu_per_image.append(time.process_time() - c0)
        with torch.no_grad():
            ref = model(torch.tensor(img).reshape(1, 1, 28, 28)).numpy()[0]
        max_diff = max(max_diff, float(np.max(np.abs(out - ref))))
        print(f"tenseal image {len(per_image)}: {per_image[-1]:.2f} s", file=sys.stderr)
    mean = sum(per_image) / len(per_image)
    print(json.dumps({
        "tenseal": ts.__version__,
        "scheme": "CKKS",
        "poly_modulus_degree": a.poly_modulus_degree,
        "coeff_mod_bit_sizes": COEFF_MOD_BITS,
        "images": len(per_image),
        "threads": a.threads,
        "seconds_per_image": per_image,
        "cpu_seconds_per_image": cpu_per_image,
        "inference_images_per_s": 1.0 / mean,
        "key_setup_s": setup_s,
        "max_abs_diff_vs_plaintext": max_diff,
        "note": "time per image includes encryption and decryption; avgpool folded into dense 128",
    }, indent=1))


if __name__ == "__main__":
    main()
