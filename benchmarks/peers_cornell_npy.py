#!/usr/bin/env python3
"""Convert Mitsuba Cornell-box EXRs written by /work/shared/peers/bench_mitsuba.py to .npy
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
RMSE = sqrt(mean((a - b)^2)) over all pixels and the 3 linear RGB channels.
"""
import argparse
import json
import os

import numpy as np
import mitsuba as mi

mi.set_variant("scalar_rgb")


def load_exr(path):
    a = np.array(mi.Bitmap(path))
    assert a.ndim == 3 and a.shape[2] == 3, (path, a.shape)
    assert a.dtype == np.float32, (path, a.dtype)
    return a


def rmse(a, b):
    return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("PEERS_OUT", ".peers/out"))
    o = ap.parse_args().out
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
        a = imgs[name]
        print("%-32s %s %s mean %s nonzero %.4f  <- %s" % (
            name + ".npy", a.shape, a.dtype, np.round(a.reshape(-1, 3).mean(0), 5),
            (a.sum(-1) > 0).mean(), rel))
    ref = imgs["cornell_ref_1024spp"]
    res = {}
    for name in ("cornell_64spp_scalar_rgb", "cornell_64spp_llvm_ad_rgb", "cornell_ref_1024spp_scalar_rgb"):
        if name in imgs:
            res[name + "_vs_ref"] = rmse(imgs[name], ref)
    if "cornell_ref_1024spp_scalar_rgb" in imgs:
        for name in ("cornell_64spp_scalar_rgb", "cornell_64spp_llvm_ad_rgb"):
            if name in imgs:
                res[name + "_vs_scalar_ref"] = rmse(imgs[name], imgs["cornell_ref_1024spp_scalar_rgb"])
    for k, v in res.items():
        print("RMSE %-48s %.6f" % (k, v))
    with open(os.path.join(o, "cornell_rmse.json"), "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
