#!/usr/bin/env python3
"""BVH build time, memory and primary-ray Mrays/s from 10k to 10M triangles, raysynth next to
NVIDIA Warp's CPU ``wp.Mesh``, side by side in one run on the same machine.

    export NUMBA_CACHE_DIR=DIR                     # optional: where Numba keeps compiled code
    python benchmarks/bench_bvh_scaling.py [--sizes 10k 100k 1M 10M] [--reps 3]
           [--threads 1 2] [--peers-home .peers] [--no-warp] [--idle-timeout 10] [--tries 2]
           [--json PATH]        # default JSON: PEERS_HOME/out/bvh_scaling.json

To measure a committed raysynth rather than the working tree (the raysynth measured, with its
source hash and modified files, is printed and stored in the JSON):
``git archive HEAD raysynth | tar -x -C DIR`` then ``PYTHONPATH=DIR python benchmarks/...``.

Needs the Warp peer for the Warp columns (``PEERS_HOME=.peers bash ../shared/peers/setup.sh
warp``: .peers/venv_warp with warp-lang, CPU); without it they are left empty.

Meshes: the peers' mesh1m recipe (``../shared/peers/mesh_gen.py``, ``make_mesh1m``: displaced
geodesic icosphere, ``default_rng(0)``), with the geodesic frequency f chosen for the size:
20 f^2 triangles, f = 22, 71, 224, 707 -> 9,680 / 100,820 / 1,003,520 (= the peers' mesh1m,
bit-identical) / 9,996,980 triangles. The shape is the same at every size (radius 1 +- 0.15),
so the rays are the same too: the mesh1m camera (eye (0,-3,0.5) -> origin, vfov 30 deg),
512x512 pinhole rays through pixel centres (262,144; ``mesh_gen.primary_rays``).

Per size, raysynth first, then Warp in its own process (the mesh and rays passed as .npz in a
temporary directory):
- raysynth ``RayCaster(v, f)``: total build of the ray-casting arrays (triangle records,
  bounds, BVH, paired layout), Numba's default threads (2 here);
- raysynth ``build_bvh(lo, hi)`` alone, bounds from numpy (per-triangle min / max of the
  float32 vertices), on Numba's default threads and on 1 thread;
- Warp ``wp.Mesh(points, indices, bvh_constructor="sah")`` on "cpu" (its CPU default: SAH,
  4 triangles per leaf, single-threaded), the constructor ../shared/peers/bench_warp.py uses;
- memory: bytes of ``caster.arrays`` (sum of nbytes, views of one buffer counted once) per
  triangle, split into BVH (paired records + prim_order) and triangle data (tri_geom,
  prim_info, tri_part, ...); for Warp, the growth of resident memory over one build (rough);
- primary closest-hit Mrays/s on 1 and 2 threads (raysynth: Numba threads; Warp: N launches on
  disjoint ray ranges from N Python threads, as bench_warp.py does). Each measurement casts the
  ray set ceil(1M / 262,144) = 4 times.
Build and cast figures are warm (compile and first-touch excluded by one untimed run first) and
are the median of --reps measurements. Every timed measurement goes through the peers'
``contention.measure``: it waits (up to --idle-timeout s) until other processes use < 0.1 core,
retries a noisy one (--tries attempts in all), and records the cores other processes used meanwhile ("load" column:
the largest such value among the size's measurements; > 0.2 means the figures are disturbed).
Ratios are Warp / raysynth for times and raysynth / Warp for Mrays/s: > 1 = raysynth better.
Before each size (and again before its Warp run) the free memory (MemAvailable) is checked
against 1.25 x an estimate of the peak: bytes per triangle measured on the largest size of
>= 500k triangles so far (growth of peak RSS; for Warp, over its process after import), 600
before that. A size that does not fit is skipped with a message.
"""
from __future__ import annotations

import argparse
import gc
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
PEERS_SCRIPTS = Path(os.environ.get("PEERS_SCRIPTS", ROOT.parent / "shared" / "peers"))
sys.path.insert(0, str(PEERS_SCRIPTS))
import contention  # noqa: E402
import mesh_gen  # noqa: E402

SIZES = {"10k": 22, "100k": 71, "1M": 224, "10M": 707}  # name -> geodesic frequency
TARGET_RAYS = 1_000_000
#: Fallback peak-memory estimate (bytes per triangle) before any size has been measured.
DEFAULT_PEAK_PER_TRI = 600.0
#: Sizes from which the measured peak memory replaces that estimate.
MEASURE_PEAK_MIN_TRIS = 500_000


# --------------------------------------------------------------------------------- helpers
def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def mem_available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def freq_of(size: str) -> int:
    if size in SIZES:
        return SIZES[size]
    s = size.lower().replace("_", "")
    mult = {"k": 1e3, "m": 1e6}.get(s[-1], 1.0)
    n = float(s[:-1] if s[-1] in "km" else s) * mult
    return max(1, int(round((n / 20.0) ** 0.5)))


class Timer:
    """contention.measure with this run's settings; collects the foreign loads."""

    def __init__(self, idle_timeout: float, tries: int):
        self.idle_timeout = idle_timeout
        self.tries = tries
        self.loads: list[float] = []

    def __call__(self, fn):
        r, wall, foreign, _ = contention.measure(fn, tries=self.tries, idle_timeout=self.idle_timeout)
        self.loads.append(round(foreign, 3))
        return r, wall, contention.LAST.get("cpu", float("nan"))

    def median_time(self, fn, reps):
        walls = []
        for _ in range(reps):
            _, wall, _ = self(fn)
            walls.append(wall)
        return statistics.median(walls), walls


def array_bytes(arrays) -> dict:
    """Bytes of the SceneArrays fields by group; views of one buffer are counted once."""
    groups = {"bvh": 0, "tri": 0, "other": 0}
    fields = {}
    seen: list[np.ndarray] = []
    for name in arrays._fields:
        a = getattr(arrays, name)
        if not isinstance(a, np.ndarray):
            continue
        if any(np.may_share_memory(a, b) for b in seen):
            continue
        seen.append(a)
        if name.startswith("bvh_") or name == "prim_order":
            g = "bvh"
        elif name.startswith("tri_") or name == "prim_info":
            g = "tri"
        else:
            g = "other"
        groups[g] += a.nbytes
        fields[name] = a.nbytes
    groups["total"] = sum(groups.values())
    groups["fields"] = fields
    return groups


def source_info(raysynth) -> dict:
    """Which raysynth was measured: its path, the hash of its source files, the git commit and
    the files that differ from it (read-only git queries)."""
    pkg = Path(raysynth.__file__).resolve().parent
    info = {"path": str(pkg)}
    try:
        from raysynth._jit import package_source_hash
        info["source_sha256"] = package_source_hash()[:16]
    except ImportError:
        pass

    def git(*cmd):
        p = subprocess.run(["git", "-C", str(pkg), *cmd], capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else None

    info["commit"] = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", ".")
    info["modified"] = dirty.splitlines() if dirty else []
    return info


def set_threads(n: int) -> None:
    import numba
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


# ------------------------------------------------------------------------------- raysynth
def raysynth_warmup(origins, dirs, threads) -> float:
    """Compile everything once on a small mesh (the Numba cache may be cold). Returns s."""
    import numba
    import raysynth
    from raysynth.accel.bvh import build_bvh

    t0 = time.perf_counter()
    v, f = mesh_gen.make_mesh1m(freq=8)
    tri = v[f]
    for nt in sorted(set(threads) | {1, numba.config.NUMBA_NUM_THREADS}):
        set_threads(nt)
        caster = raysynth.RayCaster(v, f)
        build_bvh(tri.min(axis=1), tri.max(axis=1))
        caster.intersect_closest(origins[:4096], dirs[:4096])
    set_threads(numba.config.NUMBA_NUM_THREADS)
    return time.perf_counter() - t0


def raysynth_size(v, f, origins, dirs, reps, threads, timer) -> dict:
    import numba
    import raysynth
    from raysynth.accel.bvh import build_bvh

    default_threads = numba.config.NUMBA_NUM_THREADS
    set_threads(default_threads)
    res = {"build_threads": default_threads}
    t0 = time.perf_counter()
    caster = raysynth.RayCaster(v, f)  # untimed first build (page faults of a new size)
    res["raycaster_first_s"] = time.perf_counter() - t0
    caster = None
    gc.collect()

    holder = {}

    def make():
        holder.pop("c", None)
        holder["c"] = raysynth.RayCaster(v, f)

    res["raycaster_s"], res["raycaster_all"] = timer.median_time(make, reps)
    caster = holder.pop("c")
    mem = array_bytes(caster.arrays)
    n = f.shape[0]
    res["bytes"] = mem
    res["bytes_per_tri"] = mem["total"] / n
    res["bvh_bytes_per_tri"] = mem["bvh"] / n
    res["tri_bytes_per_tri"] = mem["tri"] / n
    res["bvh_records"] = int(caster.arrays.bvh_boxes.shape[0])

    # build_bvh alone: bounds from numpy, outside the timing.
    tri = v[f]
    lo = np.ascontiguousarray(tri.min(axis=1))
    hi = np.ascontiguousarray(tri.max(axis=1))
    del tri
    for label, nt in (("", default_threads), ("_1t", 1)):
        set_threads(nt)
        build_bvh(lo, hi)  # untimed
        gc.collect()
        res[f"build_bvh{label}_s"], res[f"build_bvh{label}_all"] = timer.median_time(
            lambda: build_bvh(lo, hi), reps)
    set_threads(default_threads)
    del lo, hi
    gc.collect()

    # Primary rays, closest hit.
    casts = max(1, -(-TARGET_RAYS // origins.shape[0]))
    faces = {}
    for nt in threads:
        set_threads(nt)
        _, prim, _, _ = caster.intersect_closest(origins, dirs)  # untimed
        faces[nt] = prim
        vals, cpuv = [], []
        for _ in range(reps):
            _, wall, cpu = timer(lambda: [caster.intersect_closest(origins, dirs) for _ in range(casts)])
            vals.append(casts * origins.shape[0] / wall / 1e6)
            cpuv.append(casts * origins.shape[0] / max(cpu / nt, 1e-9) / 1e6)
        res[f"mrays_{nt}t"] = statistics.median(vals)
        res[f"mrays_{nt}t_all"] = vals
        res[f"mrays_{nt}t_cpubased"] = statistics.median(cpuv)
    set_threads(default_threads)
    first = faces[threads[0]]
    res["hit_frac"] = float((first >= 0).mean())
    res["threads_agree"] = bool(all(np.array_equal(p, first) for p in faces.values()))
    res["_faces"] = first
    return res


# ----------------------------------------------------------------------------------- warp
def warp_size(py: Path, v, f, origins, dirs, args, tmp: Path, cache: Path) -> dict:
    mesh_npz, rays_npz, out = tmp / "mesh.npz", tmp / "rays.npz", tmp / "warp.json"
    np.savez(mesh_npz, vertices=v, faces=f)
    if not rays_npz.exists():
        np.savez(rays_npz, origins=origins, dirs=dirs)
    cmd = [str(py), str(Path(__file__).with_name("warp_build.py")), "--mesh", str(mesh_npz),
           "--rays", str(rays_npz), "--out", str(out), "--reps", str(args.reps),
           "--threads", *map(str, args.threads), "--cache", str(cache),
           "--idle-timeout", str(args.idle_timeout), "--tries", str(args.tries)]
    env = dict(os.environ, PEERS_SCRIPTS=str(PEERS_SCRIPTS), PYTHONDONTWRITEBYTECODE="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("warp "):  # skip Warp's start-up banner
            print("   ", line, flush=True)
    mesh_npz.unlink(missing_ok=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"error": f"warp_build.py exited {proc.returncode}"}
    res = json.loads(out.read_text())
    res["process_s"] = time.perf_counter() - t0
    faces = out.with_name(out.stem + "_sah_faces.npy")
    if faces.exists():
        res["_faces"] = np.load(faces)
        faces.unlink()
    return res


# ---------------------------------------------------------------------------------- table
def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def table(rows) -> str:
    head = ("| triangles | RayCaster s | build_bvh s (2t) | build_bvh s (1t) | Warp build s | "
            "Warp/RayCaster | Warp/build_bvh 2t | Warp/build_bvh 1t | bytes/tri (BVH + tri) | "
            "Warp RSS B/tri | Mrays/s 1t | Mrays/s 2t | Warp Mrays/s 1t | Warp Mrays/s 2t | "
            "Mrays ratio 1t | Mrays ratio 2t | load |")
    ncol = head.count("|") - 1
    lines = [head, "|" + "---|" * ncol]
    for r in rows:
        n = r["tris"]
        if r.get("skipped"):
            lines.append(f"| {n:,} | skipped: {r['skipped']} |" + " |" * (ncol - 2))
            continue
        rs = r["raysynth"]
        w = r.get("warp", {}).get("ctors", {}).get("sah", {})
        wb = w.get("build_s")
        wrss = w.get("rss_delta_bytes")
        lines.append(
            f"| {n:,} | {rs['raycaster_s']:.4f} | {rs['build_bvh_s']:.4f} | {rs['build_bvh_1t_s']:.4f} | "
            f"{fmt(wb, '.4f')} | {fmt(ratio(wb, rs['raycaster_s']), '.2f')} | "
            f"{fmt(ratio(wb, rs['build_bvh_s']), '.2f')} | {fmt(ratio(wb, rs['build_bvh_1t_s']), '.2f')} | "
            f"{rs['bytes_per_tri']:.1f} ({rs['bvh_bytes_per_tri']:.1f} + {rs['tri_bytes_per_tri']:.1f}) | "
            f"{fmt(None if wrss is None else wrss / n, '.1f')} | "
            f"{rs.get('mrays_1t', 0):.2f} | {rs.get('mrays_2t', 0):.2f} | "
            f"{fmt(w.get('mrays_1t'), '.2f')} | {fmt(w.get('mrays_2t'), '.2f')} | "
            f"{fmt(ratio(rs.get('mrays_1t'), w.get('mrays_1t')), '.2f')} | "
            f"{fmt(ratio(rs.get('mrays_2t'), w.get('mrays_2t')), '.2f')} | {r['max_load']:.2f} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description="BVH build / memory / Mrays/s scaling, raysynth vs Warp CPU")
    ap.add_argument("--sizes", nargs="+", default=list(SIZES),
                    help="triangle counts (10k 100k 1M 10M, or any like 300k): 20 f^2 triangles")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--peers-home", type=Path, default=Path(os.environ.get("PEERS_HOME", ROOT / ".peers")))
    ap.add_argument("--no-warp", action="store_true")
    ap.add_argument("--idle-timeout", type=float, default=10.0,
                    help="most seconds to wait for an idle machine before each measurement")
    ap.add_argument("--tries", type=int, default=2, help="attempts per noisy measurement")
    ap.add_argument("--json", type=Path, default=None,
                    help="result file (default PEERS_HOME/out/bvh_scaling.json)")
    args = ap.parse_args(argv)
    args.threads = sorted(set(args.threads))

    import numba
    import raysynth

    warp_py = args.peers_home / "venv_warp" / "bin" / "python"
    use_warp = not args.no_warp and warp_py.exists()
    if not args.no_warp and not use_warp:
        print(f"Warp venv not found ({warp_py}); Warp columns left empty "
              "(PEERS_HOME=.peers bash ../shared/peers/setup.sh warp)")
    cache = args.peers_home / "cache" / "warp"
    json_path = args.json or args.peers_home / "out" / "bvh_scaling.json"

    cam = mesh_gen.CAMERAS["mesh1m"]
    origins, dirs = mesh_gen.primary_rays(**cam)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads), "
          f"NUMBA_CACHE_DIR={os.environ.get('NUMBA_CACHE_DIR', '(default)')}, "
          f"MemAvailable {mem_available_bytes() / 2**30:.1f} GiB, "
          f"foreign load now {contention.foreign_load(0.5):.2f} cores", flush=True)
    print(f"raysynth warm-up/compile: {raysynth_warmup(origins, dirs, args.threads):.1f} s", flush=True)

    result = {"sizes": [], "rays": int(origins.shape[0]), "camera": cam, "reps": args.reps,
              "threads": args.threads, "numba": numba.__version__, "cpu_count": os.cpu_count(),
              "raysynth": source_info(raysynth)}
    print(f"raysynth: {result['raysynth']}", flush=True)
    rows = []
    peak_per_tri = DEFAULT_PEAK_PER_TRI
    warp_peak_per_tri = DEFAULT_PEAK_PER_TRI
    with tempfile.TemporaryDirectory(prefix="bvh_scaling_") as tmpdir:
        tmp = Path(tmpdir)
        for size in args.sizes:
            freq = freq_of(size)
            n = 20 * freq * freq
            row = {"size": size, "freq": freq, "tris": n}
            gc.collect()
            avail = mem_available_bytes()
            need = peak_per_tri * n * 1.25
            print(f"\n== {size}: {n:,} triangles (geodesic frequency {freq}); estimated peak "
                  f"{need / 2**30:.2f} GiB, MemAvailable {avail / 2**30:.2f} GiB", flush=True)
            if need > avail:
                row["skipped"] = (f"needs ~{need / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB available")
                print("   SKIPPED:", row["skipped"], flush=True)
                rows.append(row)
                result["sizes"].append(row)
                continue
            rss0 = rss_bytes()
            t0 = time.perf_counter()
            v, f = mesh_gen.make_mesh1m(freq=freq)
            row["gen_s"] = time.perf_counter() - t0
            row["verts"] = int(v.shape[0])
            timer = Timer(args.idle_timeout, args.tries)
            rs = raysynth_size(v, f, origins, dirs, args.reps, args.threads, timer)
            row["raysynth_foreign"] = list(timer.loads)
            peak = peak_rss_bytes()
            row["raysynth_peak_rss_growth"] = peak - rss0
            if n >= MEASURE_PEAK_MIN_TRIS and peak > rss0:  # smaller sizes: start-up dominates
                peak_per_tri = (peak - rss0) / n
            print(f"   raysynth: RayCaster {rs['raycaster_s']:.4f} s (all "
                  f"{['%.4f' % x for x in rs['raycaster_all']]}), build_bvh {rs['build_bvh_s']:.4f} s "
                  f"(1t {rs['build_bvh_1t_s']:.4f} s), {rs['bytes_per_tri']:.1f} B/tri "
                  f"(BVH {rs['bvh_bytes_per_tri']:.1f}, tri {rs['tri_bytes_per_tri']:.1f}), "
                  + ", ".join(f"{nt}t {rs[f'mrays_{nt}t']:.3f} Mrays/s" for nt in args.threads)
                  + f", hit {rs['hit_frac']:.4f}, foreign load {timer.loads}", flush=True)
            rs_faces = rs.pop("_faces")
            row["raysynth"] = rs
            gc.collect()
            if use_warp:
                avail = mem_available_bytes()
                wneed = warp_peak_per_tri * n * 1.25
                if wneed > avail:
                    row["warp"] = {"skipped": f"needs ~{wneed / 2**30:.1f} GiB, {avail / 2**30:.1f} available"}
                    print("   Warp SKIPPED:", row["warp"]["skipped"], flush=True)
                else:
                    w = warp_size(warp_py, v, f, origins, dirs, args, tmp, cache)
                    wf = w.pop("_faces", None)
                    if wf is not None:
                        w["face_agree_with_raysynth"] = float((wf == rs_faces).mean())
                        print(f"    same closest triangle as raysynth: {w['face_agree_with_raysynth']:.5f} "
                              "of rays", flush=True)
                    if n >= MEASURE_PEAK_MIN_TRIS and "peak_rss_bytes" in w:
                        warp_peak_per_tri = (w["peak_rss_bytes"] - w["rss_after_import_bytes"]) / n
                    row["warp"] = w
            loads = row["raysynth_foreign"] + [
                x for c in row.get("warp", {}).get("ctors", {}).values()
                for k, vals in c.items() if k.endswith("_foreign") for x in vals]
            row["max_load"] = max(loads) if loads else 0.0
            del v, f, rs_faces
            rows.append(row)
            result["sizes"].append(row)
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(result, indent=1, default=float))

    print("\nraysynth vs Warp (CPU), primary rays 512x512 of the mesh1m camera; times = median of "
          f"{args.reps} warm builds; ratios > 1 = raysynth better (Warp s / raysynth s, "
          "raysynth Mrays / Warp Mrays); load = most cores other processes used during a measurement\n")
    print(table(rows))
    print(f"\nwrote {json_path}")


if __name__ == "__main__":
    main()
