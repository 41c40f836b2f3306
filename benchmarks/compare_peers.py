#!/usr/bin/env python3
"""raysynth next to its peers, side by side in one run, on the same machine.

    python benchmarks/compare_peers.py [--reps 3] [--peers-home .peers] [--skip-peers]

Needs the peers set up first (``PEERS_HOME=.peers bash ../shared/peers/setup.sh embree mitsuba``,
which also writes the 1M-triangle mesh and its ray sets to .peers/data) and, for image quality,
the 1024-spp Mitsuba reference ``.peers/out/cornell_ref_1024spp.npy`` with ``cornell_rmse.json``
(``benchmarks/peers_cornell_npy.py``). Each peer runs in its own process, one after the other,
then raysynth; ratios are raysynth / peer (higher is better for raysynth). raysynth's Cornell
render is also timed before the peers, and the Cycles ratio printed with both timings.

Measured:
- Cornell box 256x256, 64 spp, max depth 8: render seconds and Msamples/s for raysynth and
  Mitsuba 3 (scalar_rgb, llvm_ad_rgb); RMSE against the 1024-spp reference, plain and with the
  emitter and its 1-px border masked (which dominate the plain figure). Work at equal error is
  compared through time x RMSE^2 (for an unbiased estimator RMSE^2 falls as 1/spp).
- mesh1m (1,003,520 triangles): primary and incoherent closest-hit Mrays/s for raysynth and
  Embree (robust and fast builds), 2 threads.

raysynth is timed as the peers' scripts time themselves (``contention.measure`` from
../shared/peers: each timing waits for an idle machine and is retried when other processes
took CPU meanwhile; a mesh1m timing traces its ray set repeatedly, about 2M rays, as
``bench_embree.py`` does); each figure is the median of ``--reps`` timings.
- Blender Cycles (when .peers/venv_cycles exists): the shared peers' Cornell box (its own
  materials and lamp), 64 spp, 8 bounces, at equal spp. ``compare_cycles_rmse.py`` compares
  the two on raysynth's own scene file at equal error.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS_SCRIPTS = ROOT.parent / "shared" / "peers"
#: rays per mesh1m timing (``bench_embree.py``'s TARGET_RAYS: the ray set traced repeatedly)
TARGET_RAYS = 2_000_000


def timed(fn) -> float:
    """Wall seconds of fn(), taken as the peers' scripts take theirs (``contention.measure``:
    waits for an idle machine, retries when other processes took CPU during the timing)."""
    if str(PEERS_SCRIPTS) not in sys.path:
        sys.path.insert(0, str(PEERS_SCRIPTS))
    import contention

    _, wall, _, _ = contention.measure(fn)
    return wall


def run_peer(cmd: list[str], env: dict) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def peers(home: Path, reps: int) -> dict:
    """Run Mitsuba (both variants, Cornell) and Embree (mesh1m); return their result records."""
    out = Path(tempfile.mkdtemp(prefix="peers_"))
    env = dict(os.environ, PEERS_HOME=str(home), PEERS_DATA=str(home / "data"), PEERS_OUT=str(out),
               PEERS_CACHE=str(home / "cache"), PYTHONDONTWRITEBYTECODE="1")
    results = {}
    mitsuba = home / "venv_mitsuba" / "bin" / "python"
    for variant in ("scalar_rgb", "llvm_ad_rgb"):
        run_peer([str(mitsuba), str(PEERS_SCRIPTS / "bench_mitsuba.py"), "--variant", variant, "--scene",
                  "cornell", "--reps", str(reps), "--out", str(out), "--data", str(home / "data")], env)
        results[f"mitsuba_{variant}"] = json.loads((out / f"results_mitsuba_{variant}_cornell.json").read_text())
    embree = home / "venv_embree" / "bin" / "python"
    run_peer([str(embree), str(PEERS_SCRIPTS / "bench_embree.py"), "--reps", str(reps), "--out", str(out),
              "--data", str(home / "data")], env)
    results["embree"] = json.loads((out / "results_embree.json").read_text())
    cycles = home / "venv_cycles" / "bin" / "python"
    if cycles.exists():
        run_peer([str(cycles), str(PEERS_SCRIPTS / "bench_cycles.py"), "--reps", str(reps), "--out", str(out),
                  "--no-extra"], env)
        found = sorted(out.glob("results_cycles_*.json"))
        if found:
            results["cycles"] = json.loads(found[-1].read_text())
    return results


def light_mask(ref: np.ndarray) -> np.ndarray:
    """True for the emitter and a 1-px border around it (reference max channel > 0.9, dilated)."""
    hot = ref.max(axis=2) > 0.9
    grown = hot.copy()
    grown[1:] |= hot[:-1]
    grown[:-1] |= hot[1:]
    grown[:, 1:] |= grown[:, :-1].copy()
    grown[:, :-1] |= grown[:, 1:].copy()
    return grown


def cornell_render(reps: int, spp: int = 64, seed=None):
    """(median seconds, Frame) of raysynth's 256x256 Cornell render, max depth 8, ``spp``
    samples and ``seed`` (None: the scene's), compile excluded (one warm-up)."""
    from raysynth.backends.cpu import render_frame
    from raysynth.frame import empty_frame
    from raysynth.render import prepare

    compiled = prepare(ROOT / "scenes" / "cornell_box.json", spp=spp, seed=seed, width=256, height=256, max_depth=8)
    frame = empty_frame(256, 256)
    render_frame(compiled.arrays, frame)  # compile / warm-up
    seconds = statistics.median(timed(lambda: render_frame(compiled.arrays, frame)) for _ in range(reps))
    return seconds, frame


def raysynth_side(home: Path, reps: int) -> dict:
    """raysynth's numbers, compile excluded (one warm-up)."""
    import raysynth

    result = {}
    result["cornell_render_s"], frame = cornell_render(reps)
    result["cornell_Msamples_per_s"] = 256 * 256 * 64 / result["cornell_render_s"] / 1e6
    ref_path = home / "out" / "cornell_ref_1024spp.npy"
    if ref_path.exists():
        ref = np.load(ref_path)
        keep = ~light_mask(ref)
        result["cornell_rmse"] = float(np.sqrt(((frame.rgb - ref) ** 2).mean()))
        result["cornell_rmse_masked"] = float(np.sqrt(((frame.rgb - ref)[keep] ** 2).mean()))

    data = home / "data"
    if (data / "mesh_1m.npz").exists():
        mesh = np.load(data / "mesh_1m.npz")
        rays = np.load(data / "rays_mesh1m.npz")
        t0 = time.perf_counter()
        caster = raysynth.RayCaster(mesh["vertices"], mesh["faces"])
        result["mesh1m_build_s_first"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        caster = raysynth.RayCaster(mesh["vertices"], mesh["faces"])
        result["mesh1m_build_s"] = time.perf_counter() - t0
        for kind in ("primary", "incoherent"):
            origins, directions = rays[f"{kind}_origins"], rays[f"{kind}_dirs"]
            caster.intersect_closest(origins, directions)
            repeat = max(1, -(-TARGET_RAYS // len(origins)))

            def cast_repeatedly():
                for _ in range(repeat):
                    caster.intersect_closest(origins, directions)

            times = [timed(cast_repeatedly) for _ in range(reps)]
            result[f"mesh1m_{kind}_Mrays_per_s"] = repeat * len(origins) / statistics.median(times) / 1e6
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--peers-home", default=str(ROOT / ".peers"))
    parser.add_argument("--skip-peers", action="store_true", help="raysynth only")
    parser.add_argument("--json", help="also write all numbers to this file")
    args = parser.parse_args()
    home = Path(args.peers_home).resolve()

    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
              "cpu_count": os.cpu_count()}
    before = None
    if not args.skip_peers:
        # the Cornell render timed before the peers as well as after them: this machine's speed
        # drifts over minutes, so the two bracket the phase the peers ran in
        before, _ = cornell_render(args.reps)
        record["peers"] = peers(home, args.reps)
    record["raysynth"] = ours = raysynth_side(home, args.reps)
    if before is not None:
        ours["cornell_render_s_before_peers"] = before

    print(f"\nraysynth: {json.dumps(ours, indent=1)}")
    if not args.skip_peers:
        rmse_file = home / "out" / "cornell_rmse.json"
        rmse = json.loads(rmse_file.read_text()) if rmse_file.exists() else {}
        print("\n| comparison | raysynth | peer | ratio (raysynth / peer) |\n|---|---|---|---|")
        for variant in ("scalar_rgb", "llvm_ad_rgb"):
            peer = record["peers"][f"mitsuba_{variant}"]
            print(f"| Cornell Msamples/s vs Mitsuba {variant} | {ours['cornell_Msamples_per_s']:.2f} | "
                  f"{peer['Msamples_per_s']:.2f} | {ours['cornell_Msamples_per_s'] / peer['Msamples_per_s']:.2f} |")
            peer_rmse = rmse.get(f"seeds_1_8_{variant}_vs_ref_nolight", {}).get("median")
            if peer_rmse and "cornell_rmse_masked" in ours:
                work_ours = ours["cornell_render_s"] * ours["cornell_rmse_masked"] ** 2
                work_peer = peer["median_render_s"] * peer_rmse ** 2
                print(f"| Cornell time x RMSE^2 (masked) vs {variant} | {work_ours:.2e} | {work_peer:.2e} | "
                      f"{work_peer / work_ours:.2f} |")
        cyc = record["peers"].get("cycles")
        if cyc:
            print(f"| Cornell 256x256x64 render s vs Blender Cycles {cyc.get('bpy', '')} | "
                  f"{ours['cornell_render_s']:.2f} | {cyc['render_plain_s']:.2f} | "
                  f"{cyc['render_plain_s'] / ours['cornell_render_s']:.2f} |")
            print(f"| the same, raysynth timed before the peers | {before:.2f} | {cyc['render_plain_s']:.2f} | "
                  f"{cyc['render_plain_s'] / before:.2f} |")
        embree = record["peers"]["embree"]["scenes"]["mesh1m"]
        for build in ("robust", "fast"):
            if build not in embree:
                continue
            for kind in ("primary", "incoherent"):
                theirs = embree[build].get(f"{kind}_mrays_2t")
                if theirs:
                    mine = ours.get(f"mesh1m_{kind}_Mrays_per_s", float("nan"))
                    print(f"| mesh1m {kind} Mrays/s vs Embree {build} | {mine:.2f} | {theirs:.2f} | {mine / theirs:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
