"""Joins bench/peers/results/{torch,tenseal,moreml}.json into peers.json and peers.md."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    out = Path(sys.argv[1])
    torch = json.loads((out / "torch.json").read_text())
    tenseal_file = out / "tenseal.json"
    tenseal = json.loads(tenseal_file.read_text()) if tenseal_file.exists() else None
    if tenseal is None:
        timeout = float(sys.argv[2]) if len(sys.argv) > 2 else float("nan")
        tenseal = {"finished": False, "timeout_s": timeout, "log": (out / "tenseal.log").read_text()[-2000:]
                   if (out / "tenseal.log").exists() else ""}
    moreml = json.loads((out / "moreml.json").read_text())
    rows = []
    for t in torch["runs"]:
        m = next(r for r in moreml["runs"] if r["arch"] == t["arch"] and r["dtype"] == t["dtype"])
        rows.append({
            "arch": t["arch"], "dtype": t["dtype"],
            "torch_epoch_s": t["epoch_s"], "moreml_plain_epoch_s": m["plain_epoch_s"],
            "moreml_encrypted_epoch_s": m["encrypted_epoch_s"],
            "plain_vs_torch": m["plain_epoch_s"] / t["epoch_s"],
            "encrypted_vs_plain": m["ratio"],
            "encrypted_vs_torch": m["encrypted_epoch_s"] / t["epoch_s"],
            "torch_inference_images_per_s": t["inference_images_per_s"],
            "moreml_plain_inference_images_per_s": m["plain_inference_images_per_s"],
            "moreml_encrypted_inference_images_per_s": m["encrypted_inference_images_per_s"],
        })
    cnn_f64 = next((r for r in moreml["runs"] if r["arch"] == "cnn" and r["dtype"] == "f64"), None)
    load = os.getloadavg()
    machine = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "threads_used": 2,
        "load_average_at_end": load,
        # What else ran on the machine: the runner's own words (PEERS_NOTE), never assumed.
        "note": os.environ.get("PEERS_NOTE", "no note on other load (set PEERS_NOTE)"),
    }
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    result = {"machine": machine, "moreml_commit": commit, "torch": torch, "tenseal": tenseal, "moreml": moreml,
              "table": rows}
    if cnn_f64 and "inference_images_per_s" in tenseal:
        result["encrypted_cnn_inference_vs_tenseal"] = (
            cnn_f64["encrypted_inference_images_per_s"] / tenseal["inference_images_per_s"])
    (out / "peers.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, 2 threads per run; {machine['note']} "
        f"(load average at the end {load[0]:.1f}). PyTorch {torch['torch']}, TenSEAL {tenseal.get('tenseal', '?')}, "
        f"moreml {commit}; {torch['train_images']} MNIST training images, batch 64, SGD momentum 0.9, "
        f"median of {torch['epochs']} epochs.",
        "",
        "| model | dtype | PyTorch s/epoch | moreml plain s/epoch | moreml encrypted s/epoch | plain / PyTorch "
        "| encrypted / plain | PyTorch inf img/s | moreml plain inf img/s | moreml encrypted inf img/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['arch']} | {r['dtype']} | {r['torch_epoch_s']:.2f} | {r['moreml_plain_epoch_s']:.2f} "
            f"| {r['moreml_encrypted_epoch_s']:.2f} | {r['plain_vs_torch']:.2f}x | {r['encrypted_vs_plain']:.2f}x "
            f"| {r['torch_inference_images_per_s']:.0f} | {r['moreml_plain_inference_images_per_s']:.0f} "
            f"| {r['moreml_encrypted_inference_images_per_s']:.0f} |")
    if "inference_images_per_s" in tenseal:
        md += [
            "",
            f"TenSEAL CKKS (N={tenseal['poly_modulus_degree']}) encrypted inference of the CNN shape: "
            f"{tenseal['inference_images_per_s']:.4f} img/s ({tenseal['images']} images, "
            f"{sum(tenseal['seconds_per_image']) / tenseal['images']:.1f} s each incl. encryption/decryption; "
            f"max |difference| to plaintext {tenseal['max_abs_diff_vs_plaintext']:.1e}).",
        ]
        if cnn_f64:
            md.append(f"moreml encrypted CNN inference (f64) / TenSEAL: "
                      f"{result['encrypted_cnn_inference_vs_tenseal']:.3g}x.")
    else:
        md += ["", f"TenSEAL CKKS encrypted inference of the CNN shape: no image finished within "
                   f"{tenseal['timeout_s']:.0f} s (so below {1 / tenseal['timeout_s']:.2g} img/s)."]
    (out / "peers.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
