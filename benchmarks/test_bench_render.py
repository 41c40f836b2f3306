"""Rendering and ray-casting throughput, compile time excluded (one warm-up round).

Units: Msamples/s (camera samples per second, all bounces included) and Mrays/s.
"""
import numpy as np
import pytest

import raysynth
from raysynth.backends.cpu import render_frame
from raysynth.frame import empty_frame
from raysynth.render import prepare

from conftest import ROOT


def test_cornell_256_64spp(benchmark):
    """Cornell box, 256x256, 64 spp, max depth 8 (the Mitsuba 3 comparison setting)."""
    compiled = prepare(ROOT / "scenes" / "cornell_box.json", spp=64, width=256, height=256, max_depth=8)
    frame = empty_frame(256, 256)
    benchmark.pedantic(render_frame, args=(compiled.arrays, frame), warmup_rounds=1, rounds=3, iterations=1)
    samples = 256 * 256 * 64
    benchmark.extra_info["Msamples_per_s"] = samples / benchmark.stats.stats.median / 1e6
    ref_path = ROOT / ".peers" / "out" / "cornell_ref_1024spp.npy"
    if ref_path.exists():
        ref = np.load(ref_path)
        benchmark.extra_info["rmse_vs_mitsuba_1024spp"] = float(np.sqrt(((frame.rgb - ref) ** 2).mean()))


@pytest.mark.parametrize("kind", ["primary", "incoherent"])
def test_mesh1m_rays(benchmark, peers_data, kind):
    """Closest hit with t, triangle and barycentrics for the peers' mesh1m ray sets."""
    mesh = np.load(peers_data / "mesh_1m.npz")
    rays = np.load(peers_data / "rays_mesh1m.npz")
    caster = raysynth.RayCaster(mesh["vertices"], mesh["faces"])
    origins, directions = rays[f"{kind}_origins"], rays[f"{kind}_dirs"]
    result = benchmark.pedantic(caster.intersect_closest, args=(origins, directions),
                                warmup_rounds=1, rounds=5, iterations=1)
    benchmark.extra_info["Mrays_per_s"] = len(origins) / benchmark.stats.stats.median / 1e6
    if kind == "primary":
        agree = float((result[1] == rays["primary_prim_embree"]).mean())
        benchmark.extra_info["same_triangle_as_embree"] = agree
        assert agree > 0.999
