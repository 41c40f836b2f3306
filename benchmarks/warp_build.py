#!/usr/bin/env python3
"""Warp side of ``bench_bvh_scaling.py``: wp.Mesh (CPU) build time and primary-ray Mrays/s.

Runs in the Warp peer's venv (``.peers/venv_warp``, warp-lang CPU), one process per mesh:

    .peers/venv_warp/bin/python benchmarks/warp_build.py --mesh M.npz --rays R.npz --out W.json
                                [--reps 3] [--threads 1 2] [--ctors sah] [--cache DIR]
                                [--idle-timeout 10] [--tries 2]

Build: ``wp.Mesh(points=pts, indices=idx, bvh_constructor=ctor)`` on device "cpu", the
constructor ``../shared/peers/bench_warp.py`` times (points / indices are wp.arrays made
beforehand; Warp's CPU default is SAH with 4 triangles per leaf). One warm-up build of a tiny
mesh and one of the measured mesh come first; the figure is the median of --reps builds.
Ray casting: the kernel of bench_warp.py (one ray per thread, ``wp.mesh_query_ray``, closest
hit; writes t, face, u, v). Warp CPU launches are serial, so N threads = N launches on disjoint
ray ranges from N Python threads (as in bench_warp.py). Each timed measurement casts the ray
set ceil(1M / rays) times; median of --reps. Every timed measurement goes through the peers'
``contention.measure`` (waits up to --idle-timeout s for an idle machine, retries noisy ones).
``rss_delta_bytes``: growth of this process's resident memory over the first build of the
measured mesh (the mesh alive), a rough figure for Warp's BVH + mesh memory.
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

import numpy as np

PEERS_SCRIPTS = os.environ.get("PEERS_SCRIPTS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers"))
sys.path.insert(0, PEERS_SCRIPTS)
import contention  # noqa: E402

TARGET_RAYS = 1_000_000


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", required=True, help="npz with vertices (n,3) float32, faces (m,3) int32")
    ap.add_argument("--rays", required=True, help="npz with origins, dirs (k,3) float32")
    ap.add_argument("--out", required=True, help="result JSON")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ctors", nargs="+", default=["sah"])
    ap.add_argument("--cache", default=None, help="Warp kernel cache (default: Warp's own)")
    ap.add_argument("--idle-timeout", type=float, default=10.0)
    ap.add_argument("--tries", type=int, default=2)
    ap.add_argument("--no-trace", action="store_true", help="build only")
    a = ap.parse_args()

    t0 = time.perf_counter()
    import warp as wp

    if a.cache:
        wp.config.kernel_cache_dir = a.cache
    wp.config.quiet = True
    wp.init()
    import_init_s = time.perf_counter() - t0
    rss_import = rss_bytes()

    @wp.kernel
    def trace_kernel(mesh: wp.uint64, orig: wp.array(dtype=wp.vec3), dirs: wp.array(dtype=wp.vec3),
                     offset: int, out_t: wp.array(dtype=float), out_face: wp.array(dtype=int),
                     out_u: wp.array(dtype=float), out_v: wp.array(dtype=float)):
        i = wp.tid() + offset
        q = wp.mesh_query_ray(mesh, orig[i], dirs[i], 1.0e30)
        if q.result:
            out_t[i] = q.t
            out_face[i] = q.face
            out_u[i] = q.u
            out_v[i] = q.v
        else:
            out_t[i] = 1.0e30
            out_face[i] = -1

    def measure(fn):
        r, wall, foreign, tries = contention.measure(fn, tries=a.tries, idle_timeout=a.idle_timeout)
        return r, wall, foreign, contention.LAST.get("cpu", float("nan"))

    dev = "cpu"
    m = np.load(a.mesh)
    V = np.ascontiguousarray(m["vertices"], np.float32)
    F = np.ascontiguousarray(m["faces"], np.int32)
    r = np.load(a.rays)
    O_np = np.ascontiguousarray(r["origins"], np.float32)
    D_np = np.ascontiguousarray(r["dirs"], np.float32)
    res = {"warp": wp.__version__, "tris": int(F.shape[0]), "verts": int(V.shape[0]),
           "import_and_init_s": import_init_s, "reps": a.reps, "rss_after_import_bytes": rss_import,
           "ctors": {}}

    # Warm-up: a tiny mesh, built and traced once (kernel codegen/compile or cache load).
    tv = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    tiny = wp.Mesh(points=wp.array(tv, dtype=wp.vec3, device=dev),
                   indices=wp.array(np.arange(3, dtype=np.int32), dtype=wp.int32, device=dev))
    o1 = wp.array(np.array([[0.2, 0.2, 1.0]], np.float32), dtype=wp.vec3, device=dev)
    d1 = wp.array(np.array([[0.0, 0.0, -1.0]], np.float32), dtype=wp.vec3, device=dev)
    outs1 = [wp.empty(1, dtype=float, device=dev), wp.empty(1, dtype=int, device=dev),
             wp.empty(1, dtype=float, device=dev), wp.empty(1, dtype=float, device=dev)]
    t0 = time.perf_counter()
    wp.launch(trace_kernel, dim=1, inputs=[tiny.id, o1, d1, 0], outputs=outs1, device=dev)
    res["first_launch_s"] = time.perf_counter() - t0
    del tiny

    pts = wp.array(V, dtype=wp.vec3, device=dev)
    idx = wp.array(F.reshape(-1), dtype=wp.int32, device=dev)
    O = wp.array(O_np, dtype=wp.vec3, device=dev)
    D = wp.array(D_np, dtype=wp.vec3, device=dev)
    n = O.shape[0]
    out = [wp.empty(n, dtype=float, device=dev), wp.empty(n, dtype=int, device=dev),
           wp.empty(n, dtype=float, device=dev), wp.empty(n, dtype=float, device=dev)]

    for ctor in a.ctors:
        rec = {}
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        mesh = wp.Mesh(points=pts, indices=idx, bvh_constructor=ctor)  # warm-up build
        rec["first_build_s"] = time.perf_counter() - t0
        rec["rss_delta_bytes"] = rss_bytes() - rss0
        walls, loads, cpus = [], [], []
        for _ in range(a.reps):
            mesh = None
            mesh, wall, foreign, cpu = measure(
                lambda: wp.Mesh(points=pts, indices=idx, bvh_constructor=ctor))
            walls.append(wall)
            loads.append(round(foreign, 3))
            cpus.append(cpu)
        rec.update(build_s=statistics.median(walls), build_all=walls, build_foreign=loads,
                   build_cpu_s=cpus)
        print(f"warp {ctor}: {F.shape[0]} tris build {rec['build_s']:.4f} s "
              f"(all {['%.4f' % w for w in walls]}, foreign load {loads})", flush=True)

        if not a.no_trace:
            def run_n(nt, mesh=mesh):
                if nt == 1:
                    wp.launch(trace_kernel, dim=n, inputs=[mesh.id, O, D, 0], outputs=out, device=dev)
                    return
                b = np.linspace(0, n, nt + 1).astype(int)
                th = [threading.Thread(target=wp.launch, args=(trace_kernel,),
                                       kwargs=dict(dim=int(hi - lo), inputs=[mesh.id, O, D, int(lo)],
                                                   outputs=out, device=dev))
                      for lo, hi in zip(b[:-1], b[1:])]
                for t in th:
                    t.start()
                for t in th:
                    t.join()

            reps = max(1, -(-TARGET_RAYS // n))
            faces_by_nt = {}
            for nt in a.threads:
                run_n(nt)
                faces_by_nt[nt] = out[1].numpy().copy()
                if nt == a.threads[0]:
                    np.save(os.path.splitext(a.out)[0] + f"_{ctor}_faces.npy", faces_by_nt[nt])
                vals, loads, cpuv = [], [], []
                for _ in range(a.reps):
                    _, wall, foreign, cpu = measure(lambda: [run_n(nt) for _ in range(reps)])
                    vals.append(reps * n / wall / 1e6)
                    cpuv.append(reps * n / max(cpu / nt, 1e-9) / 1e6)
                    loads.append(round(foreign, 3))
                rec[f"mrays_{nt}t"] = statistics.median(vals)
                rec[f"mrays_{nt}t_all"] = vals
                rec[f"mrays_{nt}t_cpubased"] = statistics.median(cpuv)
                rec[f"mrays_{nt}t_foreign"] = loads
                print(f"warp {ctor}: {nt}t {rec[f'mrays_{nt}t']:.3f} Mrays/s (all "
                      f"{['%.3f' % v for v in vals]}, foreign load {loads})", flush=True)
            first = faces_by_nt[a.threads[0]]
            rec["hit_frac"] = float((first >= 0).mean())
            rec["threads_agree"] = bool(all((f == first).all() for f in faces_by_nt.values()))
        res["ctors"][ctor] = rec
        mesh = None
    res["peak_rss_bytes"] = _peak_rss()
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


def _peak_rss():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    main()
