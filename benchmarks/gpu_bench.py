#!/usr/bin/env python3
"""The CUDA backend on a real GPU, in one go: correctness first, then speed.

    python benchmarks/gpu_bench.py [--reps 3] [--data .peers/data] [--json out.json] [--quick]

Needs an NVIDIA GPU and ``pip install -e '.[cuda]'``; without them it stops at once with a
one-line error (exit status 2). Prints one JSON summary (also written with ``--json``); exit
status 1 when a correctness check failed.

1. **Device**: GPU model, compute capability, driver, numba-cuda version.
2. **Correctness**, every bundled scene (scenes/*.json without "placement"), GPU vs CPU backend
   at 128x96, 4 spp: instance, class, part and amodal masks identical; depth and distance within
   1e-5 relative; RGB mean difference reported (GPU floats differ in the last bits: FMA
   contraction, libdevice maths, so an exact match is not expected there).
3. **Float64 hygiene**: float64 PTX instructions per kernel (``backends.cuda.f64_report``).
4. **Ray casting** on the peers' 1M-triangle mesh (mesh1m, 1,003,520 triangles; see
   ../shared/peers/README.md): closest-hit Mrays/s for the primary and incoherent ray sets, the
   kernel alone (rays already on the GPU, each set repeated to >= 4M rays per launch) and end to
   end (upload, trace, download); hits checked against the CPU backend on a subset. The mesh and
   rays are read from ``--data`` (``mesh_1m.npz``, ``rays_mesh1m.npz``, written by the peers'
   ``mesh_gen.py``); when missing, they are regenerated with ``mesh_gen.py`` (numpy only, from
   ``--peers-dir``), the incoherent set from the GPU's own primary hits.
5. **Path tracing**: scenes/cornell_box.json at 256x256, 64 spp, max depth 8 (as
   benchmarks/compare_peers.py): Msamples/s, JIT compilation excluded (one warm-up render).

``--quick`` shrinks everything (16x12 images, 2 spp, a few thousand rays) to smoke-test the
script itself, also in the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, with ``--allow-sim``).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEPTH_RTOL = 1e-5
MASK_LAYERS = ("instance", "class_id", "part")


def fail(message: str, code: int = 2):
    print(f"gpu_bench: error: {message}", file=sys.stderr)
    sys.exit(code)


def device_info(C) -> dict:
    from numba import cuda

    info = {"gpu": C.device_name(), "simulator": C.simulator_enabled()}
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_cuda"] = importlib.metadata.version("numba-cuda") if importlib.util.find_spec("numba_cuda") else None
    except Exception:  # pragma: no cover
        pass
    if not C.simulator_enabled():
        dev = cuda.get_current_device()
        info["compute_capability"] = list(dev.compute_capability)
        info["multiprocessors"] = int(getattr(dev, "MULTIPROCESSOR_COUNT", 0))
        try:
            info["driver"] = list(cuda.cudadrv.driver.driver.get_version())
        except Exception:
            pass
        try:
            info["runtime"] = list(cuda.runtime.get_version())
        except Exception:
            pass
    return info


def bundled_scenes() -> list:
    return sorted(p for p in (ROOT / "scenes").glob("*.json") if "placement" not in json.loads(p.read_text()))


def _rel(a, b, both):
    if not both.any():
        return 0.0
    a, b = a[both].astype(np.float64), b[both].astype(np.float64)
    return float((np.abs(a - b) / np.maximum(np.abs(b), 1e-30)).max())


def correctness(C, cpu, width: int, height: int, spp: int) -> dict:
    """GPU vs CPU backend on every bundled scene."""
    from raysynth.frame import empty_frame
    from raysynth.render import prepare

    out = {"size": [width, height], "spp": spp, "scenes": {}, "ok": True}
    for path in bundled_scenes():
        c = prepare(str(path), width=width, height=height, spp=spp)
        f_cpu, f_gpu = empty_frame(height, width), empty_frame(height, width)
        cpu.render_frame(c.arrays, f_cpu)
        C.render_frame(c.arrays, f_gpu)
        a_cpu = cpu.amodal_pass(c.arrays, width, height, len(c.objects))
        a_gpu = C.amodal_pass(c.arrays, width, height, len(c.objects))
        rec = {}
        for layer in MASK_LAYERS:
            if layer in f_cpu._fields:
                rec[f"{layer}_mismatched_pixels"] = int((getattr(f_cpu, layer) != getattr(f_gpu, layer)).sum())
        rec["amodal_mismatched_pixels"] = int((a_cpu != a_gpu).any(axis=2).sum())
        both = (f_cpu.instance > 0) & (f_gpu.instance > 0)
        rec["depth_max_rel"] = _rel(f_gpu.depth, f_cpu.depth, both)
        rec["distance_max_rel"] = _rel(f_gpu.distance, f_cpu.distance, both)
        rec["soft_ids_mismatched_pixels"] = int((f_cpu.soft_ids != f_gpu.soft_ids).any(axis=2).sum())
        rec["coverage_max_abs"] = float(np.abs(f_cpu.coverage - f_gpu.coverage).max())
        rec["rgb_mean_cpu"] = float(f_cpu.rgb.mean())
        rec["rgb_mean_gpu"] = float(f_gpu.rgb.mean())
        rec["rgb_identical_fraction"] = float((f_cpu.rgb == f_gpu.rgb).mean())
        rec["ok"] = (all(rec[k] == 0 for k in rec if k.endswith("mismatched_pixels") and not k.startswith("soft"))
                     and rec["depth_max_rel"] <= DEPTH_RTOL and rec["distance_max_rel"] <= DEPTH_RTOL)
        out["ok"] &= rec["ok"]
        out["scenes"][path.name] = rec
    return out


def _time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load_mesh1m(data: Path, peers_dir: Path, C):
    """(vertices, faces, {primary_origins, primary_dirs, incoherent_origins, incoherent_dirs},
    source) from the peers' npz files, or regenerated with their mesh_gen.py."""
    mesh_file, rays_file = data / "mesh_1m.npz", data / "rays_mesh1m.npz"
    if mesh_file.exists() and rays_file.exists():
        mesh, rays = np.load(mesh_file), np.load(rays_file)
        sets = {k: rays[k] for k in ("primary_origins", "primary_dirs", "incoherent_origins", "incoherent_dirs")}
        return mesh["vertices"], mesh["faces"], sets, str(data)
    gen = peers_dir / "mesh_gen.py"
    if not gen.exists():
        return None
    spec = importlib.util.spec_from_file_location("mesh_gen", gen)
    mesh_gen = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(peers_dir))
    spec.loader.exec_module(mesh_gen)
    vertices, faces = mesh_gen.make_mesh1m()
    o, d = mesh_gen.primary_rays(**mesh_gen.CAMERAS["mesh1m"])
    return vertices, faces, {"primary_origins": o, "primary_dirs": d}, f"regenerated by {gen}"


def ray_casting(C, cpu, data: Path, peers_dir: Path, reps: int, quick: bool) -> dict:
    import raysynth

    loaded = load_mesh1m(data, peers_dir, C)
    if loaded is None:
        return {"skipped": f"no {data}/mesh_1m.npz and no {peers_dir}/mesh_gen.py"}
    vertices, faces, sets, source = loaded
    out = {"source": source, "triangles": int(len(faces))}
    t0 = time.perf_counter()
    arrays = raysynth.RayCaster(vertices, faces).arrays
    out["bvh_build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scene = C.to_device(arrays)
    out["upload_s"] = time.perf_counter() - t0
    if quick:  # the simulator traces ~10 rays/s on 1M triangles
        sets = {k: v[:: max(1, len(v) // 64)] for k, v in sets.items()}
    if "incoherent_origins" not in sets:  # regenerate from the GPU's own primary hits
        import importlib

        mesh_gen = importlib.import_module("mesh_gen")
        t, prim, _, _, _ = C.cast_rays(scene, sets["primary_origins"], sets["primary_dirs"])
        sets["incoherent_origins"], sets["incoherent_dirs"] = mesh_gen.incoherent_rays_from_hits(
            sets["primary_origins"], sets["primary_dirs"], t, prim, vertices, faces)
    target = 0 if quick else 1 << 22
    for kind in ("primary", "incoherent"):
        origins = np.ascontiguousarray(sets[f"{kind}_origins"], np.float32)
        dirs = np.ascontiguousarray(sets[f"{kind}_dirs"], np.float32)
        rec = {"rays": int(len(origins))}
        # correctness on a subset: the CPU backend's hits
        sub = slice(0, min(len(origins), 65536))
        g = C.cast_rays(scene, origins[sub], dirs[sub])
        c = cpu.cast_rays(arrays, origins[sub], dirs[sub])
        hit = (g[1] >= 0) & (c[1] >= 0)
        rec["check_rays"] = int(len(g[0]))
        rec["check_prim_mismatches"] = int((g[1] != c[1]).sum())
        rec["check_t_max_rel"] = _rel(g[0], c[0], hit)
        # kernel alone: the set repeated to >= target rays, already on the GPU
        repeat = max(1, -(-target // len(origins)))
        buffers = C.ray_buffers(np.tile(origins, (repeat, 1)), np.tile(dirs, (repeat, 1)))
        C.launch_rays(scene, buffers)  # compile / warm-up
        seconds = _time(lambda: C.launch_rays(scene, buffers), reps)
        rec["kernel_rays_per_launch"] = int(len(origins) * repeat)
        rec["kernel_Mrays_per_s"] = len(origins) * repeat / seconds / 1e6
        # end to end: upload, trace, download of the original set
        seconds = _time(lambda: C.cast_rays(scene, origins, dirs), reps)
        rec["end_to_end_Mrays_per_s"] = len(origins) / seconds / 1e6
        out[kind] = rec
    return out


def path_tracing(C, reps: int, quick: bool) -> dict:
    from raysynth.frame import empty_frame
    from raysynth.render import prepare

    width, height, spp = (16, 12, 2) if quick else (256, 256, 64)
    c = prepare(str(ROOT / "scenes" / "cornell_box.json"), width=width, height=height, spp=spp, max_depth=8)
    scene = C.to_device(c.arrays)
    frame = empty_frame(height, width)
    t0 = time.perf_counter()
    C.render_frame(scene, frame)  # compile / warm-up
    first = time.perf_counter() - t0
    seconds = _time(lambda: C.render_frame(scene, empty_frame(height, width)), reps)
    return {"scene": "cornell_box.json", "size": [width, height], "spp": spp, "max_depth": 8,
            "first_render_s_with_compile": first, "render_s": seconds,
            "Msamples_per_s": width * height * spp / seconds / 1e6, "rgb_mean": float(frame.rgb.mean())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data", default=str(ROOT / ".peers" / "data"), help="folder with mesh_1m.npz, rays_mesh1m.npz")
    parser.add_argument("--peers-dir", default=str(ROOT.parent / "shared" / "peers"), help="folder with mesh_gen.py")
    parser.add_argument("--json", help="also write the summary to this file")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: smoke-test the script")
    parser.add_argument("--allow-sim", action="store_true", help="run in the CUDA simulator (with --quick)")
    parser.add_argument("--skip-mesh", action="store_true", help="no mesh1m ray casting")
    args = parser.parse_args(argv)

    from raysynth.errors import RaysynthError

    try:
        from raysynth.backends import cuda as C

        C.require_cuda()
    except RaysynthError as err:
        fail(str(err))
    if C.simulator_enabled() and not args.allow_sim:
        fail("NUMBA_ENABLE_CUDASIM=1: the CUDA simulator gives no GPU numbers (add --allow-sim --quick to "
             "smoke-test this script)")
    from raysynth.backends import cpu

    summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "host": platform.node(), "quick": args.quick}
    summary["device"] = device_info(C)
    print(f"gpu_bench: {summary['device']['gpu']}", file=sys.stderr)
    w, h, spp = (16, 12, 2) if args.quick else (128, 96, 4)
    summary["correctness"] = correctness(C, cpu, w, h, spp)
    print(f"gpu_bench: correctness ok={summary['correctness']['ok']}", file=sys.stderr)
    if not C.simulator_enabled():
        from raysynth.render import prepare

        try:
            arrays = prepare(str(ROOT / "scenes" / "cornell_box.json"), width=4, height=4, spp=1).arrays
            summary["f64"] = C.f64_report(arrays, tuple(summary["device"].get("compute_capability", (9, 0))))
        except Exception as exc:  # PTX inspection is a report, not a gate
            summary["f64"] = {"error": f"{type(exc).__name__}: {exc}"}
    if not args.skip_mesh:
        summary["mesh1m"] = ray_casting(C, cpu, Path(args.data), Path(args.peers_dir), args.reps, args.quick)
        print("gpu_bench: mesh1m done", file=sys.stderr)
    summary["cornell"] = path_tracing(C, args.reps, args.quick)
    text = json.dumps(summary, indent=1, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if summary["correctness"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
