#!/usr/bin/env python3
"""Convert Mitsuba Cornell-box EXRs written by ../shared/peers/bench_mitsuba.py to .npy
(linear float32, HxWx3) and print the RMSE of the 64-spp images against the 1024-spp reference.

Run with the Mitsuba venv (needs mitsuba for EXR reading):

    .peers/venv_mitsuba/bin/python benchmarks/peers_cornell_npy.py [--out .peers/out]

Inputs (all under --out, default $PEERS_OUT or .peers/out):
    cornell_scalar_rgb.exr, cornell_llvm_ad_rgb.exr        64 spp, seed 0 (run.sh baseline run)
    ref_llvm_ad_rgb/ref_cornell_1024spp.exr                 1024 spp (4 x 256 spp, seeds 1000..1003)
    ref_scalar_rgb/ref_cornell_1024spp.exr                  same, scalar_rgb (cross-check, optional)
Outputs (same directory):
    cornell_ref_1024spp.npy                   = the llvm_ad_rgb 1024-spp reference
    cornell_ref_1024spp_scalar_rgb.npy        = the scalar_rgb 1024-spp reference (if present)
    cornell_64spp_scalar_rgb.npy, cornell_64spp_llvm_ad_rgb.npy
    cornell_rmse.json
RMSE = sqrt(mean((a - b)^2)) over all pixels and the 3 linear RGB channels; also reported with
the emitter and its 1-px border masked out (pixels where the reference max channel > 0.9, dilated by
1 px), because the partially covered light-edge pixels (radiance ~18; ~200 px, 0.3 % of the
image) carry ~80 % of the squared error of a 64-spp image.

--seeds N additionally renders the 64-spp Cornell box (scene from bench_mitsuba.scene_cornell)
with seeds 1..N in each variant (separate processes) and reports the RMSE spread, i.e. the range
a 64-spp image of an unbiased renderer is expected to fall in.
"""
import argparse
import json
import os

import subprocess
import sys

import numpy as np
import mitsuba as mi

PEERS_SRC = os.environ.get("PEERS_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers"))


def load_exr(path):
    a = np.array(mi.Bitmap(path))
    assert a.ndim == 3 and a.shape[2] == 3, (path, a.shape)
    assert a.dtype == np.float32, (path, a.dtype)
    return a


def rmse(a, b, mask=None):
    e = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(-1)
    return float(np.sqrt(e.mean() if mask is None else e[mask].mean()))


def light_mask(ref):
    L = ref.max(-1) > 0.9
    M = L.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            M |= np.roll(np.roll(L, dy, 0), dx, 1)
    return ~M


def render_seeds(variant, seeds):
    """Child process: render the 64-spp cornell scene with the given seeds, return HxWx3 arrays."""
    sys.path.insert(0, PEERS_SRC)
    import peers_common
    peers_common.ensure_drjit_env(variant)
    import bench_mitsuba as bm
    mi.set_variant(variant)
    mi.set_log_level(mi.LogLevel.Warn)
    scene = mi.load_dict(bm.scene_cornell(mi))
    return [np.array(mi.render(scene, seed=s), dtype=np.float32) for s in seeds]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("PEERS_OUT", ".peers/out"))
    ap.add_argument("--seeds", type=int, default=0)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    o = a.out
    if a.child:   # internal: --child VARIANT NPZ
        imgs = render_seeds(a.child[0], range(1, a.seeds + 1))
        np.save(a.child[1], np.stack(imgs))
        return
    mi.set_variant("scalar_rgb")
    imgs = {}
    src = {
        "cornell_ref_1024spp": "ref_llvm_ad_rgb/ref_cornell_1024spp.exr",
        "cornell_ref_1024spp_scalar_rgb": "ref_scalar_rgb/ref_cornell_1024spp.exr",
        "cornell_64spp_scalar_rgb": "cornell_scalar_rgb.exr",
        "cornell_64spp_llvm_ad_rgb": "cornell_llvm_ad_rgb.exr",
    }
    for name, rel in src.items():
        p = os.path.join(o, rel)
        if not os.path.exists(p):
            print("missing", p)
            continue
        imgs[name] = load_exr(p)
        np.save(os.path.join(o, name + ".npy"), imgs[name])
        im = imgs[name]
        print("%-32s %s %s mean %s nonzero %.4f  <- %s" % (
            name + ".npy", im.shape, im.dtype, np.round(im.reshape(-1, 3).mean(0), 5),
            (im.sum(-1) > 0).mean(), rel))
    ref = imgs["cornell_ref_1024spp"]
    keep = light_mask(ref)
    res = {"masked_pixels_excluded": int((~keep).sum())}
    for name in ("cornell_64spp_scalar_rgb", "cornell_64spp_llvm_ad_rgb", "cornell_ref_1024spp_scalar_rgb"):
        if name in imgs:
            res[name + "_vs_ref"] = rmse(imgs[name], ref)
            res[name + "_vs_ref_nolight"] = rmse(imgs[name], ref, keep)
    if "cornell_ref_1024spp_scalar_rgb" in imgs:
        for name in ("cornell_64spp_scalar_rgb", "cornell_64spp_llvm_ad_rgb"):
            if name in imgs:
                res[name + "_vs_scalar_ref"] = rmse(imgs[name], imgs["cornell_ref_1024spp_scalar_rgb"])
    for variant in (("scalar_rgb", "llvm_ad_rgb") if a.seeds else ()):
        tmp = os.path.join(o, "_seeds_%s.npy" % variant)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--out", o, "--seeds", str(a.seeds),
                        "--child", variant, tmp], check=True)
        stack = np.load(tmp)
        os.remove(tmp)
        r = [rmse(x, ref) for x in stack]
        rn = [rmse(x, ref, keep) for x in stack]
        res["seeds_1_%d_%s_vs_ref" % (a.seeds, variant)] = {
            "min": min(r), "median": float(np.median(r)), "max": max(r), "all": r}
        res["seeds_1_%d_%s_vs_ref_nolight" % (a.seeds, variant)] = {
            "min": min(rn), "median": float(np.median(rn)), "max": max(rn), "all": rn}
    for k, v in res.items():
        if isinstance(v, dict):
            print("RMSE %-48s min %.6f median %.6f max %.6f" % (k, v["min"], v["median"], v["max"]))
        else:
            print("RMSE %-48s %s" % (k, ("%.6f" % v) if isinstance(v, float) else v))
    with open(os.path.join(o, "cornell_rmse.json"), "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
