#!/usr/bin/env python3
"""Cross-check moreml-wbc against svZeroDSolver (PyPI `svzerod`).

(a) An RCR windkessel driven by a prescribed periodic inflow: `moreml wbc windkessel` vs
    svZeroDSolver's FLOW -> BloodVessel(R=0) -> RCR boundary condition.
(b) The closed loop of `moreml wbc simulate` (default patient, or --params FILE) rebuilt from
    svZeroDSolver blocks: LinearElastanceChamber (piecewise_cosine activation, the same
    raised-cosine twitch), PiecewiseValve (open resistance = ours, closed resistance 1e5 x
    larger: a near-diode), BloodVessel (R then C at its outlet, so R=Zc,C=Ca is our
    "Zc then arterial compliance"). Initial state = moreml's start-of-beat volumes, so both
    circuits hold the same blood volume.

Prints max differences over a cycle and exits 1 if any exceeds its tolerance.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import svzerod


def read_csv(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        data = np.loadtxt(f, delimiter=",", ndmin=2)
    return {h: data[:, i] for i, h in enumerate(header)}


def rel_max(a, b, scale=None):
    """max |a - b| / scale (default: the peak |b|); NaN propagates to a failure."""
    scale = np.max(np.abs(b)) if scale is None else scale
    return float(np.max(np.abs(a - b)) / scale)


def rcr_check(moreml, tmp, cycles):
    period, t_eject, q_max, n = 0.8, 0.3, 400.0, 801
    t = [period * i / (n - 1) for i in range(n)]
    q = [q_max * math.sin(math.pi * x / t_eject) if x < t_eject else 0.0 for x in t]
    rcr = {"Rp": 0.04, "C": 1.8, "Rd": 1.0, "Pd": 5.0}
    inflow = os.path.join(tmp, "inflow.csv")
    with open(inflow, "w") as f:
        f.write("t,q\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(t, q)))
    out = os.path.join(tmp, "rcr.csv")
    subprocess.run(
        [moreml, "wbc", "windkessel", "--inflow", inflow, "--rp", str(rcr["Rp"]), "--c", str(rcr["C"]),
         "--rd", str(rcr["Rd"]), "--pd", str(rcr["Pd"]), "--steps", str(n - 1), "--cycles", str(cycles),
         "--out", out],
        check=True,
    )
    ours = read_csv(out)
    cfg = {
        "simulation_parameters": {"number_of_cardiac_cycles": cycles,
                                  "number_of_time_pts_per_cardiac_cycle": n, "output_all_cycles": False},
        "boundary_conditions": [
            {"bc_name": "INFLOW", "bc_type": "FLOW", "bc_values": {"t": t, "Q": q}},
            {"bc_name": "OUT", "bc_type": "RCR", "bc_values": rcr},
        ],
        "vessels": [{"vessel_id": 0, "vessel_length": 1.0, "vessel_name": "v0",
                     "zero_d_element_type": "BloodVessel", "zero_d_element_values": {"R_poiseuille": 0.0},
                     "boundary_conditions": {"inlet": "INFLOW", "outlet": "OUT"}}],
        "junctions": [],
    }
    sv = svzerod.simulate(cfg)
    ts = sv["time"].to_numpy() - sv["time"].to_numpy()[0]
    p_ours = np.interp(ts, ours["t"], ours["p"])
    q_ours = np.interp(ts, ours["t"], ours["q"])
    return {
        "rcr pressure (max |dp| / max p)": rel_max(p_ours, sv["pressure_in"].to_numpy()),
        "rcr flow (max |dq| / max q)": rel_max(q_ours, sv["flow_in"].to_numpy()),
    }


def closed_loop_config(rec, cycles, pts, closed_ratio):
    p, act = rec["parameters"], rec["activation_s"]
    v = rec["start_of_beat_volumes_ml"]
    period = act["period"]

    def chamber(name, side, kind):
        emax, emin, v0 = p[f"{side}_emax"], p[f"{side}_emin"], p[f"{side}_v0"]
        if kind == "v":
            start, up, down = 0.0, act["v_contract"], act["v_relax"]
        else:
            start, up, down = act["a_onset"], act["a_contract"], act["a_relax"]
        return {"type": "LinearElastanceChamber", "name": name,
                "values": {"Emax": emax - emin, "Epass": emin, "Vrest": v0},
                "activation_function": {"type": "piecewise_cosine", "contract_start": start,
                                        "relax_start": math.fmod(start + up, period),
                                        "contract_duration": up, "relax_duration": down}}

    def valve(name, r, up, down):
        return {"type": "PiecewiseValve", "name": name,
                "params": {"Rmin": r, "Rmax": r * closed_ratio, "upstream_block": up, "downstream_block": down}}

    def vessel(i, name, r, c):
        return {"vessel_id": i, "vessel_length": 1.0, "vessel_name": name, "zero_d_element_type": "BloodVessel",
                "zero_d_element_values": {"R_poiseuille": r, "C": c, "L": 0.0}}

    p_sa, p_sv = v["sys_art"] / p["c_sys_art"], v["sys_ven"] / p["c_sys_ven"]
    p_pa, p_pv = v["pul_art"] / p["c_pul_art"], v["pul_ven"] / p["c_pul_ven"]
    return {
        "simulation_parameters": {"number_of_cardiac_cycles": cycles, "number_of_time_pts_per_cardiac_cycle": pts,
                                  "output_all_cycles": False, "output_variable_based": True,
                                  "cardiac_period": period},
        "chambers": [chamber("left_atrium", "la", "a"), chamber("left_ventricle", "lv", "v"),
                     chamber("right_atrium", "ra", "a"), chamber("right_ventricle", "rv", "v")],
        "valves": [valve("mitral", p["r_mitral"], "left_atrium", "left_ventricle"),
                   valve("aortic", p["r_aortic"], "left_ventricle", "sys_zc"),
                   valve("tricuspid", p["r_tricuspid"], "right_atrium", "right_ventricle"),
                   valve("pulmonary", p["r_pulmonary_valve"], "right_ventricle", "pul_zc")],
        "vessels": [vessel(0, "sys_zc", p["zc_sys"], p["c_sys_art"]), vessel(1, "sys_art", p["r_sys"], p["c_sys_ven"]),
                    vessel(2, "sys_ven", p["r_sys_ven"], 0.0), vessel(3, "pul_zc", p["zc_pul"], p["c_pul_art"]),
                    vessel(4, "pul_art", p["r_pul"], p["c_pul_ven"]), vessel(5, "pul_ven", p["r_pul_ven"], 0.0)],
        "junctions": [
            {"junction_name": "J1", "junction_type": "NORMAL_JUNCTION", "inlet_vessels": [0], "outlet_vessels": [1]},
            {"junction_name": "J2", "junction_type": "NORMAL_JUNCTION", "inlet_vessels": [1], "outlet_vessels": [2]},
            {"junction_name": "J3", "junction_type": "NORMAL_JUNCTION", "inlet_blocks": ["sys_ven"],
             "outlet_blocks": ["right_atrium"]},
            {"junction_name": "J4", "junction_type": "NORMAL_JUNCTION", "inlet_vessels": [3], "outlet_vessels": [4]},
            {"junction_name": "J5", "junction_type": "NORMAL_JUNCTION", "inlet_vessels": [4], "outlet_vessels": [5]},
            {"junction_name": "J6", "junction_type": "NORMAL_JUNCTION", "inlet_blocks": ["pul_ven"],
             "outlet_blocks": ["left_atrium"]},
        ],
        "boundary_conditions": [],
        # Start-of-beat state: both valves to the arteries are closed (zero flow), so every
        # vessel's capacitor pressure (inlet pressure - R * inlet flow) equals moreml's.
        "initial_condition": {
            "Vc:left_atrium": v["la"], "Vc:left_ventricle": v["lv"],
            "Vc:right_atrium": v["ra"], "Vc:right_ventricle": v["rv"],
            "pressure:aortic:sys_zc": p_sa, "flow:aortic:sys_zc": 0.0,
            "pressure:J1:sys_art": p_sa, "flow:J1:sys_art": (p_sa - p_sv) / p["r_sys"],
            "pressure:pulmonary:pul_zc": p_pa, "flow:pulmonary:pul_zc": 0.0,
            "pressure:J4:pul_art": p_pa, "flow:J4:pul_art": (p_pa - p_pv) / p["r_pul"],
        },
    }


def closed_loop_check(moreml, tmp, params, cycles):
    out = os.path.join(tmp, "sim")
    cmd = [moreml, "wbc", "simulate", "--json", "--out", out] + (["--params", params] if params else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "simulation.json")) as f:
        rec = json.load(f)
    ours = read_csv(os.path.join(out, "waveforms.csv"))
    pts = len(ours["t"])
    sv = svzerod.simulate(closed_loop_config(rec, cycles, pts, 1e5))
    by = {name: g for name, g in sv.groupby("name")}

    def series(name):
        g = by[name]
        return g["time"].to_numpy() - g["time"].to_numpy()[0], g["y"].to_numpy()

    pairs = {
        "aortic pressure": ("pressure:aortic:sys_zc", "aortic_pressure"),
        "LV pressure": ("pressure:left_ventricle:aortic", "lv_pressure"),
        "LV volume": ("Vc:left_ventricle", "lv_volume"),
        "RV volume": ("Vc:right_ventricle", "rv_volume"),
        "PA pressure": ("pressure:pulmonary:pul_zc", "pa_pressure"),
        "aortic flow": ("flow:aortic:sys_zc", "aortic_flow"),
    }
    diffs = {}
    for label, (sv_name, ours_name) in pairs.items():
        if sv_name not in by:
            print(f"  (svZeroDSolver output has no `{sv_name}`; available: {sorted(by)[:12]}...)")
            diffs[f"closed loop {label}"] = float("nan")
            continue
        ts, ys = series(sv_name)
        mine = np.interp(ts, ours["t"], ours[ours_name])
        diffs[f"closed loop {label} (max |d| / peak)"] = rel_max(mine, ys)
    # The clinical outputs from svZeroDSolver's waveforms vs moreml's.
    _, ao = series("pressure:aortic:sys_zc")
    _, vlv = series("Vc:left_ventricle")
    o = rec["outputs"]
    for key, val in [("aortic_systolic_mmhg", ao.max()), ("aortic_diastolic_mmhg", ao.min()),
                     ("lv_edv_ml", vlv.max()), ("lv_esv_ml", vlv.min())]:
        diffs[f"closed loop {key} (relative)"] = abs(o[key] - val) / abs(val)
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moreml", required=True, help="path of the moreml binary")
    ap.add_argument("--params", help="parameter file for the closed-loop check (default patient if omitted)")
    ap.add_argument("--rcr-tol", type=float, default=1e-3, help="max relative difference allowed for the RCR check")
    ap.add_argument("--loop-tol", type=float, default=0.02, help="max relative difference allowed for the closed loop")
    ap.add_argument("--cycles", type=int, default=40, help="cycles simulated by svZeroDSolver")
    a = ap.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for diffs, tol in [(rcr_check(a.moreml, tmp, a.cycles), a.rcr_tol),
                           (closed_loop_check(a.moreml, tmp, a.params, a.cycles), a.loop_tol)]:
            for k, d in diffs.items():
                ok = d <= tol  # NaN fails
                failed |= not ok
                print(f"{'ok  ' if ok else 'FAIL'} {k:<58} {d:.3e}  (tolerance {tol:.0e})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
