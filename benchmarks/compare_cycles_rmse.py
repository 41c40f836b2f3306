#!/usr/bin/env python3
"""raysynth and Blender Cycles on the same Cornell box at equal error, side by side in one run.

    python benchmarks/compare_cycles_rmse.py [--reps 3] [--ref-spp 1024] [--peers-home .peers] [--json PATH]

Needs the Cycles venv (``PEERS_HOME=.peers bash ../shared/peers/setup.sh cycles``). Both render
``scenes/cornell_box.json`` itself, 256x256, 64 spp: raysynth with max depth 8 (path segments,
the camera ray included), Cycles through ``cycles_scene.py`` with 6 bounces (Cycles counts
bounces after the camera hit, 0 = direct light only: the same paths), box pixel filter, no
adaptive sampling, no denoising, no clamping, and the emitter as an area light of the same
size, place and radiance (``--area-lights``: Cycles' analytic light, 1.4x faster here than the
emissive quad as a mesh, which ``--mesh-lights`` keeps; the masked image means agree to 0.1 %). ``compare_peers.py``'s Cycles figure is the
shared peers' own scene (its materials and light, 8 bounces) at equal spp.

Each renderer's error is measured against its own reference of the same scene (``--ref-spp``
samples, another seed), so the RMSE is noise, not the small differences between the two
renderers' images (light sampling, filters and float maths differ; the means agree to ~0.1 %).
The emitter and its 1-px border (found in raysynth's reference, as in ``compare_peers.py``) are
masked in both. Work at equal error is time x RMSE^2 (RMSE^2 falls as 1/spp for an unbiased
estimator; a reference's own noise adds the same 64/1024 share to both). Seconds are Cycles'
``render_s`` (the render call: scene sync, BVH, path tracing; one per seed) and raysynth's
``render_frame`` (labels included; the median of three per seed), then the median over the
``--reps`` seeds, timed as the peers time themselves (waiting for an idle machine).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare_peers import ROOT, cornell_render, light_mask  # noqa: E402

SCENE = ROOT / "scenes" / "cornell_box.json"
SIZE, SPP, MAX_DEPTH = 256, 64, 8   # as compare_peers.cornell_render
CYCLES_BOUNCES = MAX_DEPTH - 2


def cycles_render(python: Path, spp: int, seed: int, out: Path, area_lights: bool):
    """(render seconds, (H, W, 3) float32 rgb, bpy version) of one Cycles render in its own
    process."""
    name = f"cornell_{spp}spp_seed{seed}"
    cmd = [str(python), str(HERE / "cycles_scene.py"), str(SCENE), "--out-dir", str(out), "--name", name,
           "--spp", str(spp), "--seed", str(seed), "--bounces", str(CYCLES_BOUNCES), "--npy"]
    cmd += ["--area-lights"] if area_lights else []
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    record = json.loads((out / f"{name}.json").read_text())
    return record["render_s"], np.load(out / f"{name}.npy"), record["bpy"]


def masked_rmse(image: np.ndarray, reference: np.ndarray, keep: np.ndarray) -> float:
    return float(np.sqrt(((image - reference)[keep] ** 2).mean()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="64-spp renders (seeds 1..reps) per renderer")
    parser.add_argument("--ref-spp", type=int, default=1024)
    parser.add_argument("--peers-home", default=str(ROOT / ".peers"))
    parser.add_argument("--mesh-lights", action="store_true", help="Cycles renders the emitter as an emissive "
                        "mesh (the literal translation) instead of an area light")
    parser.add_argument("--json", help="also write all numbers to this file")
    args = parser.parse_args()
    python = Path(args.peers_home).resolve() / "venv_cycles" / "bin" / "python"
    if not python.exists():
        print(f"compare_cycles_rmse: no Cycles venv at {python}", file=sys.stderr)
        return 2

    ref_seed = 1000
    seeds = list(range(1, args.reps + 1))
    record = {"date": time.strftime("%Y-%m-%d"), "scene": SCENE.name, "size": SIZE, "spp": SPP,
              "max_depth": MAX_DEPTH, "cycles_bounces": CYCLES_BOUNCES, "ref_spp": args.ref_spp,
              "cycles_emitter": "mesh" if args.mesh_lights else "area light"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # Cycles first (each render in a process of its own), then raysynth
        area = not args.mesh_lights
        _, cycles_ref, bpy_version = cycles_render(python, args.ref_spp, ref_seed, out, area)
        cycles = [cycles_render(python, SPP, seed, out, area)[:2] for seed in seeds]
    _, ours_ref = cornell_render(1, args.ref_spp, ref_seed)
    ours = [cornell_render(3, SPP, seed) for seed in seeds]
    ours_ref, ours = ours_ref.rgb, [(seconds, frame.rgb) for seconds, frame in ours]
    keep = ~light_mask(ours_ref)   # Cycles' area light is not seen by camera rays: one mask for both

    for name, runs, ref in (("raysynth", ours, ours_ref), ("cycles", cycles, cycles_ref)):
        seconds = statistics.median(s for s, _ in runs)
        rmse = statistics.median(masked_rmse(img, ref, keep) for _, img in runs)
        record[name] = {"render_s": seconds, "rmse_masked": rmse, "work": seconds * rmse ** 2,
                        "reference_masked_mean": [float(v) for v in ref[keep].mean(axis=0)]}
    record["cycles"]["bpy"] = bpy_version
    ours, theirs = record["raysynth"], record["cycles"]
    print(json.dumps(record, indent=1))
    print("\n| Cornell 256x256, 64 spp, own 1024-spp reference | raysynth | Cycles | ratio (Cycles / raysynth) |")
    print("|---|---|---|---|")
    print(f"| render seconds (equal spp) | {ours['render_s']:.2f} | {theirs['render_s']:.2f} | "
          f"{theirs['render_s'] / ours['render_s']:.2f} |")
    print(f"| RMSE, emitter masked | {ours['rmse_masked']:.5f} | {theirs['rmse_masked']:.5f} | "
          f"{theirs['rmse_masked'] / ours['rmse_masked']:.2f} |")
    print(f"| time x RMSE^2 (equal error) | {ours['work']:.2e} | {theirs['work']:.2e} | "
          f"{theirs['work'] / ours['work']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
