#!/usr/bin/env python3
"""raysynth next to Blender Cycles on the dataset job's own randomized scenes, side by side.

    python benchmarks/compare_dataset_cycles.py [--count 3] [--config scenes/random_shapes.json]
        [--seed 1] [--out DIR] [--cycles-python .peers/venv_cycles/bin/python] [--bounces 8]
        [--no-passes] [--no-wait] [--json FILE]

Runs in raysynth's virtual environment; Cycles runs in its own (the ``bpy`` wheel, Python 3.11,
``.peers/venv_cycles``, see benchmarks/peers_env.md) through ``benchmarks/cycles_scene.py``.

Scenes: the bundled random_shapes config as benchmarks/bench_dataset.py sets it up (exactly 20
pool objects plus the ground, 640x480, 64 spp, max depth 8), images 0..count-1 of dataset seed
``--seed``, each drawn as ``raysynth generate`` draws it (``sample_accepted_scene``: the first
camera that sees enough objects). Each scene is written to DIR/scene_K.json and rendered

- by raysynth: ``raysynth.render(scene)`` with every label (the amodal pass and the labels record
  included), after one warm-up render that compiles (or loads) the kernels; timed: scene compile
  (mesh generation, BVH) + path tracing + labels;
- by Cycles: a fresh process per scene (``import bpy`` reported apart), build the Blender scene,
  one 1-spp thumbnail warm-up render, then the timed render: CPU, same size and spp, 8 bounces
  (``--bounces``), no adaptive sampling, denoising or clamping, box filter; with the passes a
  dataset needs (z, normal, position, object index, diffuse colour, object cryptomatte) unless
  ``--no-passes``. Seconds per image = scene build + render.

one after the other (raysynth, then Cycles, per scene), both with all cores. Every timed render
waits for an idle machine first (../shared/peers/contention.py; ``--no-wait`` disables it) and
records the cores other processes used meanwhile ("foreign") and its own CPU seconds; on a busy
machine the CPU-seconds ratio is the steadier figure. Images: DIR/scene_K_{raysynth,cycles}.png and
DIR/scene_K_pair.png (raysynth left, Cycles right), with each image's mean sRGB value as a sanity
check that both renderers see the same scene. The translation and its approximations are listed in
benchmarks/cycles_scene.py.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CYCLES_SCRIPT = ROOT / "benchmarks" / "cycles_scene.py"
PEERS_SCRIPTS = Path(os.environ.get("PEERS_SCRIPTS", str(Path(__file__).resolve().parents[2] / "shared" / "peers")))


def load_contention():
    """The peers' idle-machine guard, or None when ../shared/peers is not there."""
    if not (PEERS_SCRIPTS / "contention.py").exists():
        return None
    sys.path.insert(0, str(PEERS_SCRIPTS))
    try:
        import contention
    finally:
        sys.path.remove(str(PEERS_SCRIPTS))
    return contention


def dataset_config(path: Path) -> dict:
    """The config as bench_dataset.py uses it: 20 objects, 640x480, 64 spp, max depth 8."""
    config = json.loads(path.read_text())
    config["num_objects"] = [20, 20]
    config["camera"].update(width=640, height=480)
    config["render"] = {"spp": 64, "max_depth": 8}
    return config


def absolute_paths(scene: dict, base_dir: Path) -> dict:
    """Make texture and environment image paths absolute (mesh files already are), so the scene
    file can be read from anywhere."""
    def fix(record: dict, key: str) -> None:
        if isinstance(record, dict) and isinstance(record.get(key), str) and not os.path.isabs(record[key]):
            record[key] = str((base_dir / record[key]).resolve())

    materials = list(scene.get("materials", {}).values())
    materials += [o["material"] for o in scene["objects"] if isinstance(o.get("material"), dict)]
    for mat in materials:
        for key in ("texture", "albedo"):
            fix(mat.get(key), "file")
    for obj in scene["objects"]:
        fix(obj, "file")
    for light in scene.get("lights", []):
        fix(light, "image")
    return scene


def timed(contention, fn):
    """(result, wall s, foreign cores or None, own CPU s) of fn()."""
    if contention is None:
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        return result, time.perf_counter() - w0, None, time.process_time() - c0
    result, wall, foreign, _ = contention.measure(fn, max_foreign=0.15, tries=2)
    return result, wall, foreign, contention.LAST.get("cpu")


def render_raysynth(scene: dict, contention) -> tuple[dict, np.ndarray]:
    import raysynth
    from raysynth.io import linear_to_srgb8

    layers, wall, foreign, cpu = timed(contention, lambda: raysynth.render(scene))
    record = {"seconds_per_image": wall, "cpu_s": cpu, "foreign_cores": foreign, **layers["timings"],
              "labelled_objects": sum(1 for o in layers["labels"]["objects"] if o.get("visible_pixels", 0) > 0)}
    return record, linear_to_srgb8(layers["rgb"])


def render_cycles(scene_file: Path, out: Path, args) -> dict:
    cmd = [args.cycles_python, str(CYCLES_SCRIPT), str(scene_file), "--out-dir", str(out),
           "--bounces", str(args.bounces), "--raysynth-root", str(ROOT)]
    if not args.no_passes:
        cmd.append("--passes")
    if args.no_wait:
        cmd.append("--no-wait")
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"cycles_scene.py failed with exit status {proc.returncode}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    record["cpu_s"] = record.pop("render_cpu_s")
    record["foreign_cores"] = record.pop("render_foreign_cores")
    return record


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3, help="scenes (default 3)")
    parser.add_argument("--config", default=str(ROOT / "scenes" / "random_shapes.json"))
    parser.add_argument("--seed", type=int, default=1, help="dataset seed (bench_dataset.py: 1)")
    parser.add_argument("--out", help="folder for scenes, images and results (default: a new temp folder)")
    parser.add_argument("--cycles-python", default=str(ROOT / ".peers" / "venv_cycles" / "bin" / "python"))
    parser.add_argument("--bounces", type=int, default=8,
                        help="Cycles max bounces (default 8; raysynth max_depth 8 = 6 Cycles bounces)")
    parser.add_argument("--no-passes", action="store_true", help="Cycles without the label passes")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for an idle machine")
    parser.add_argument("--json", help="also write the summary to this file")
    args = parser.parse_args()
    if not Path(args.cycles_python).exists():
        raise SystemExit(f"no Cycles interpreter at {args.cycles_python} (--cycles-python); see benchmarks/peers_env.md")
    if args.no_wait:
        os.environ["PEERS_NO_WAIT"] = "1"   # read by contention.py on import
    contention = load_contention()

    import imageio.v3 as iio

    from raysynth.dataset import _warm_compile_cache, sample_accepted_scene
    from raysynth.randomize import load_config

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dataset_cycles_"))
    out.mkdir(parents=True, exist_ok=True)
    config_path = Path(args.config).resolve()
    config = load_config(dataset_config(config_path), base_dir=config_path.parent)
    _warm_compile_cache()

    rows = []
    for k in range(args.count):
        scene, attempt = sample_accepted_scene(config, args.seed, k, base_dir=config_path.parent)
        scene = absolute_paths(scene, config_path.parent)
        scene_file = out / f"scene_{k}.json"
        scene_file.write_text(json.dumps(scene, indent=1))

        rs, rs_img = render_raysynth(scene, contention)
        iio.imwrite(out / f"scene_{k}_raysynth.png", rs_img)
        cy = render_cycles(scene_file, out, args)
        cy_img = iio.imread(cy["png"])[..., :3]
        iio.imwrite(out / f"scene_{k}_pair.png", np.concatenate([rs_img, cy_img], axis=1))
        rs["mean_srgb"] = rs_img.reshape(-1, 3).mean(0).round(1).tolist()
        cy["mean_srgb"] = cy_img.reshape(-1, 3).mean(0).round(1).tolist()
        row = {"index": k, "attempt": attempt, "objects": len(scene["objects"]), "raysynth": rs, "cycles": cy,
               "ratio_wall": cy["seconds_per_image"] / rs["seconds_per_image"],
               "ratio_cpu": (cy["cpu_s"] / rs["cpu_s"]) if cy["cpu_s"] and rs["cpu_s"] else None}
        rows.append(row)
        print(f"scene {k}: raysynth {rs['seconds_per_image']:.2f} s (cpu {rs['cpu_s']:.1f} s, foreign "
              f"{rs['foreign_cores'] or 0:.2f}), Cycles {cy['seconds_per_image']:.2f} s (build {cy['build_s']:.2f}"
              f" + render {cy['render_s']:.2f}; cpu {cy['cpu_s']:.1f} s, foreign {cy['foreign_cores'] or 0:.2f}),"
              f" Cycles/raysynth {row['ratio_wall']:.2f}; mean sRGB raysynth {rs['mean_srgb']} Cycles "
              f"{cy['mean_srgb']}", file=sys.stderr, flush=True)

    rs_s = mean(r["raysynth"]["seconds_per_image"] for r in rows)
    cy_s = mean(r["cycles"]["seconds_per_image"] for r in rows)
    cy0 = rows[0]["cycles"]
    summary = {
        "scenes": args.count, "seed": args.seed, "config": str(config_path), "width": 640, "height": 480, "spp": 64,
        "raysynth_max_depth": 8, "cycles_bounces": args.bounces, "cycles_passes": not args.no_passes,
        "bpy": cy0["bpy"], "threads": cy0["threads"], "cpu_count": os.cpu_count(),
        "raysynth_s_per_image": rs_s, "cycles_s_per_image": cy_s,
        "raysynth_images_per_hour": 3600 / rs_s, "cycles_images_per_hour": 3600 / cy_s,
        "ratio_cycles_over_raysynth": cy_s / rs_s,
        "ratio_cpu_cycles_over_raysynth": mean(r["ratio_cpu"] for r in rows),
        "cycles_import_bpy_s": mean(r["cycles"]["import_bpy_s"] for r in rows),
        "approximations": cy0["approximations"], "out": str(out), "per_scene": rows,
    }
    print(f"\n{'':28}{'raysynth':>12}{'Cycles':>12}")
    print(f"{'s / image (wall)':28}{rs_s:12.2f}{cy_s:12.2f}")
    print(f"{'images / hour':28}{3600 / rs_s:12.0f}{3600 / cy_s:12.0f}")
    print(f"Cycles / raysynth: {cy_s / rs_s:.2f} (wall), {summary['ratio_cpu_cycles_over_raysynth'] or float('nan'):.2f}"
          f" (CPU seconds); import bpy {summary['cycles_import_bpy_s']:.2f} s per process, not included")
    print(f"images and scenes in {out}")
    text = json.dumps(summary, indent=1)
    (out / "summary.json").write_text(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
