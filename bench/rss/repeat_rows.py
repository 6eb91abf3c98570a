"""Writes a safetensors file whose tensors are those of INPUT with their records repeated.

Every tensor's first axis is multiplied by --times (records 0..n-1, then 0..n-1 again, ...);
the header (metadata included, e.g. the ciphertext key tag) is kept. Streams the data, so a
file far larger than memory is written with a few MiB of memory. Used by bench/rss/run.sh to
build a data set larger than half the machine's memory from a small one.
"""

import argparse
import json
import struct
from pathlib import Path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--times", type=int, required=True)
    a = p.parse_args()
    with open(a.input, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    out, at = {}, 0
    for k in names:
        t = header[k]
        start, end = t["data_offsets"]
        size = (end - start) * a.times
        out[k] = {"dtype": t["dtype"], "shape": [t["shape"][0] * a.times] + t["shape"][1:], "data_offsets": [at, at + size]}
        at += size
    if meta is not None:
        out = {"__metadata__": meta, **out}
    h = json.dumps(out, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # safetensors pads the header to 8 bytes
    tmp = a.output.with_name(a.output.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for k in names:
            start, end = header[k]["data_offsets"]
            block = data[start:end]
            for _ in range(a.times):
                f.write(block)
    tmp.rename(a.output)
    print(f"wrote {a.output}: {8 + len(h) + at} bytes, {a.times} x the records of {a.input}")


if __name__ == "__main__":
    main()
