#!/usr/bin/env python3
"""The ground-truth-only pass next to Mitsuba 3's AOV integrator, side by side in one run.

    python benchmarks/compare_aov.py [--reps 3] [--peers-home .peers]

Scene: the peers' "spheres" scene (100 diffuse spheres resting on a 20 x 20 ground, a sphere
light, constant environment; camera from (0, 5, 14) to (0, 0.3, 0), horizontal fov 45 degrees),
320x240 at 1 spp. Mitsuba llvm_ad_rgb renders depth, shading normal, shape index and albedo with
its `aov` integrator (../shared/peers/bench_mitsuba.py --scene aov); raysynth renders its
label layers (instance, class, depth, distance, normals, albedo, position, coverage) with
spp 0 (labels only: one pixel-centre ray per pixel, the ground-truth-only pass) and, for
reference, spp 1 with max depth 1 (the centre ray plus one camera sample), labels record off.
Render seconds exclude compilation (one warm-up).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS_SCRIPTS = ROOT.parent / "shared" / "peers"
W, H = 320, 240


def sphere_list(seed=None, n=None):
    """The peers' 100 spheres (same generator and seed as bench_mitsuba.make_sphere_list)."""
    import numpy as np

    sys.path.insert(0, str(PEERS_SCRIPTS))
    src = (PEERS_SCRIPTS / "bench_mitsuba.py").read_text()
    consts = {}
    for line in src.splitlines():
        if line.startswith(("SPHERES_SEED", "SPHERES_N")):
            exec(line, {}, consts)
    seed = consts["SPHERES_SEED"] if seed is None else seed
    n = consts["SPHERES_N"] if n is None else n
    rng = np.random.default_rng(seed)
    sph = []
    while len(sph) < n:
        r = float(rng.uniform(0.15, 0.45))
        x, z = (float(v) for v in rng.uniform(-6.0, 6.0, size=2))
        color = [float(c) for c in rng.uniform(0.05, 0.95, size=3)]
        if any((x - s["center"][0]) ** 2 + (z - s["center"][2]) ** 2 < (r + s["radius"] + 0.02) ** 2 for s in sph):
            continue
        sph.append({"center": [x, r, z], "radius": r, "albedo": color})
    return sph


def spheres_scene() -> dict:
    vfov = math.degrees(2 * math.atan(math.tan(math.radians(45.0) / 2) * H / W))
    objects = [{"type": "quad", "size": [20, 20], "transform": {"rotate": [-90, 0, 0]},
                "material": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}}]
    objects.append({"type": "sphere", "radius": 1.0, "transform": {"translate": [3.0, 6.0, 4.0]},
                    "material": {"type": "emissive", "radiance": [40.0, 36.0, 30.0]}})
    for s in sphere_list():
        objects.append({"type": "sphere", "radius": s["radius"], "label": "sphere",
                        "transform": {"translate": s["center"]},
                        "material": {"type": "diffuse", "albedo": s["albedo"]}})
    return {"camera": {"position": [0, 5, 14], "look_at": [0, 0.3, 0], "up": [0, 1, 0], "fov": vfov,
                       "width": W, "height": H},
            "render": {"spp": 1, "max_depth": 1},
            "objects": objects,
            "lights": [{"type": "environment", "color": [0.6, 0.7, 0.8]}]}


def raysynth_aov(reps: int, spp: int) -> dict:
    from raysynth.render import prepare, render

    compiled = prepare(spheres_scene(), spp=spp)
    render(compiled, labels=False)   # warm-up / compile
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        render(compiled, labels=False)
        times.append(time.perf_counter() - t0)
    return {"render_s": statistics.median(times), "all": times}


def mitsuba_aov(home: Path, reps: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="peers_aov_"))
    env = dict(os.environ, PEERS_HOME=str(home), PEERS_DATA=str(home / "data"), PEERS_OUT=str(out),
               PEERS_CACHE=str(home / "cache"), PYTHONDONTWRITEBYTECODE="1")
    cmd = [str(home / "venv_mitsuba" / "bin" / "python"), str(PEERS_SCRIPTS / "bench_mitsuba.py"),
           "--variant", "llvm_ad_rgb", "--scene", "aov", "--reps", str(reps), "--out", str(out),
           "--data", str(home / "data")]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out / "results_mitsuba_llvm_ad_rgb_aov.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--peers-home", default=str(ROOT / ".peers"))
    args = parser.parse_args()
    peer = mitsuba_aov(Path(args.peers_home).resolve(), args.reps)
    ours = {spp: raysynth_aov(args.reps, spp) for spp in (0, 1)}
    theirs = peer["median_render_s"]
    print(json.dumps({"raysynth_spp0": ours[0], "raysynth_spp1": ours[1], "mitsuba_llvm_aov_render_s": theirs},
                     indent=1))
    for spp, what in ((0, "labels only, spp 0"), (1, "spp 1, one camera sample too")):
        print(f"| ground-truth pass 320x240 ({what}) vs Mitsuba llvm_ad_rgb aov (peer s / raysynth s) | "
              f"{ours[spp]['render_s']:.4f} | {theirs:.4f} | {theirs / ours[spp]['render_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
