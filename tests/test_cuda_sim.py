"""The CUDA launcher (raysynth/backends/cuda.py) in Numba's CUDA simulator, against the CPU.

The simulator (NUMBA_ENABLE_CUDASIM=1, part of Numba itself and of numba-cuda) must be chosen
before ``numba.cuda`` is first imported, so the CUDA side runs in a subprocess that renders tiny
images (16 x 12, 2 spp: the simulator runs kernels as Python, ~0.1 ms per thread per step) of
every bundled scene and casts a few rays, and saves the results; this process renders the same
with the CPU backend and compares.

What is identical, and why
--------------------------
The simulator executes the kernel functions as plain Python on NumPy float32 scalars. Integer
and float32 arithmetic then rounds exactly as compiled code does (NumPy 2 keeps float32 op
Python-float in float32), but Python's ``math`` functions return float64, where Numba types
``math.sqrt(float32)`` etc. as float32. With Python's ``math`` as is, the label layers of the
bundled scenes still come out identical, but a few RGB pixels differ by whole path samples (a
float64 intermediate flips a discrete choice along the path). The subprocess therefore gives the
kernel modules a ``math`` that follows Numba's typing rule (float32 arguments -> float32 result,
computed in float64 and rounded); then every label layer, the amodal bits and the ray-cast
results are bit-identical to the CPU backend's, and RGB agrees to a few ulps (float32
cos/sin from glibc vs float64 ones rounded to float32).

A real GPU is not bit-identical to the CPU (FMA contraction, libdevice maths): see
``benchmarks/gpu_bench.py``, which checks masks exactly and depth to 1e-5 relative.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT / "scenes"
WIDTH, HEIGHT, SPP = 16, 12, 2
N_RAYS = 48


def bundled_scenes() -> list:
    """Scene files in scenes/ (randomizer configs, which have a "placement" key, excluded)."""
    return sorted(p.name for p in SCENES.glob("*.json") if "placement" not in json.loads(p.read_text()))


def make_rays(arrays, n=N_RAYS, seed=5):
    """A few rays from the camera and from random points in the scene bounds (deterministic)."""
    from raysynth.kernels import tags as T

    rng = np.random.default_rng(seed)
    cam = arrays.camera[T.CAM_POS:T.CAM_POS + 3]
    from raysynth.accel.layout import WIDTH

    root = arrays.bvh_boxes[0]   # the children's bounds: min x, y, z then max x, y, z
    low, high = root[0:3 * WIDTH], root[3 * WIDTH:6 * WIDTH]
    lo, hi = low[np.isfinite(low)].min(), high[np.isfinite(high)].max()
    origins = np.empty((n, 3), np.float32)
    origins[: n // 2] = cam
    origins[n // 2:] = rng.uniform(lo, hi, size=(n - n // 2, 3))
    directions = rng.normal(size=(n, 3)).astype(np.float32)
    forward = arrays.camera[T.CAM_FORWARD:T.CAM_FORWARD + 3]
    directions[: n // 2] += 2.0 * forward   # most camera rays go into the scene
    return np.ascontiguousarray(origins, np.float32), np.ascontiguousarray(directions, np.float32)



# The CUDA side: run with NUMBA_ENABLE_CUDASIM=1; argv = output folder, scene files.
_SIM_SCRIPT = textwrap.dedent('''
    import math, sys, types, warnings
    from pathlib import Path
    import numpy as np

    warnings.simplefilter("ignore")   # uint64 hashing overflows on purpose (NumPy warns)
    sys.path.insert(0, sys.argv[1])
    from test_cuda_sim import make_rays, WIDTH, HEIGHT, SPP

    from raysynth.backends import cuda as C
    from raysynth.frame import empty_frame
    from raysynth.render import prepare, render
    import raysynth.kernels.integrator, raysynth.kernels.amodal, raysynth.kernels.traverse  # noqa: F401

    assert C.simulator_enabled(), "NUMBA_ENABLE_CUDASIM is not in effect"

    def numba_typed_math():
        """Python's math with Numba's typing rule: float32 arguments give a float32 result."""
        shim = types.ModuleType("math_float32")
        for name in dir(math):
            f = getattr(math, name)
            if name.startswith("_"):
                continue
            if not callable(f):   # pi, e, inf, nan, tau
                setattr(shim, name, f)
                continue
            def typed(*args, f=f):
                r = f(*args)
                if isinstance(r, float) and args and all(isinstance(a, np.float32) for a in args):
                    return np.float32(r)
                return r
            setattr(shim, name, typed)
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("raysynth.kernels.") and getattr(mod, "math", None) is math:
                mod.math = shim

    out = Path(sys.argv[2])

    # the public API end to end (labels record included) on the first scene; first, because its
    # labels geometry compiles the CPU ray caster, which must see Python's own math module
    first = sys.argv[4]
    layers = render(str(Path(sys.argv[3]) / first), width=8, height=6, spp=1, backend="cuda")
    np.savez(out / "api.npz", instance=layers["instance"], amodal=layers["amodal"])
    import json
    (out / "api_labels.json").write_text(json.dumps(layers["labels"], sort_keys=True, default=float))

    compiled = {name: prepare(str(Path(sys.argv[3]) / name), width=WIDTH, height=HEIGHT, spp=SPP)
                for name in sys.argv[4:]}
    labels_only = prepare(str(Path(sys.argv[3]) / first), width=WIDTH, height=HEIGHT, spp=0)
    numba_typed_math()   # nothing is compiled for the CPU from here on: kernels run as Python
    frame = empty_frame(labels_only.height, labels_only.width)
    frame.rgb[...] = 7.0   # what an earlier render left: the label pass must overwrite it
    C.render_frame(labels_only.arrays, frame)
    np.savez(out / "labels_only.npz", **frame._asdict())
    for name, c in compiled.items():
        scene = C.device_scene(c.arrays)   # uploaded once, then reused
        assert C.device_scene(c.arrays) is scene and C.device_scene(scene) is scene
        assert C.is_device_scene(scene) and not C.is_device_scene(c.arrays)
        frame = empty_frame(c.height, c.width)
        done = []
        C.render_frame(c.arrays, frame, progress=done.append)
        assert sum(done) == c.width * c.height, done
        result = {f"frame_{k}": v for k, v in frame._asdict().items()}
        result["amodal"] = C.amodal_pass(c.arrays, c.width, c.height, len(c.objects))
        origins, directions = make_rays(c.arrays)
        for any_hit in (False, True):
            for k, v in zip("t prim obj u v".split(), C.cast_rays(c.arrays, origins, directions, any_hit=any_hit)):
                result[f"rays{int(any_hit)}_{k}"] = v
        np.savez(out / (name + ".npz"), **result)
    print("sim ok", len(compiled))
''')


@pytest.fixture(scope="module")
def sim_results(tmp_path_factory):
    import importlib.util

    if importlib.util.find_spec("numba.cuda") is None:   # Numba without its built-in CUDA target
        pytest.skip("no numba.cuda (and so no CUDA simulator): pip install numba-cuda")
    out = tmp_path_factory.mktemp("cuda_sim")
    names = bundled_scenes()
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run(
        [sys.executable, "-c", _SIM_SCRIPT, str(Path(__file__).parent), str(out), str(SCENES), *names],
        env=env, capture_output=True, text=True, timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"simulator subprocess failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return out, names


def test_bundled_scenes_found():
    names = bundled_scenes()
    assert "cornell_box.json" in names and len(names) >= 2


def _cpu(name):
    from raysynth.backends import cpu
    from raysynth.frame import empty_frame
    from raysynth.render import prepare

    c = prepare(str(SCENES / name), width=WIDTH, height=HEIGHT, spp=SPP)
    frame = empty_frame(c.height, c.width)
    cpu.render_frame(c.arrays, frame)
    bits = cpu.amodal_pass(c.arrays, c.width, c.height, len(c.objects))
    return c, frame, bits


@pytest.mark.parametrize("name", bundled_scenes())
def test_cuda_launcher_matches_cpu(sim_results, name):
    out, _ = sim_results
    sim = np.load(out / (name + ".npz"))
    c, frame, bits = _cpu(name)
    for layer, cpu_values in frame._asdict().items():
        gpu_values = sim[f"frame_{layer}"]
        assert gpu_values.dtype == cpu_values.dtype and gpu_values.shape == cpu_values.shape, layer
        if layer == "rgb":
            # identical paths; float32 sin/cos may round differently in the last bit
            np.testing.assert_allclose(gpu_values, cpu_values, rtol=1e-5, atol=1e-6, err_msg=layer)
        else:
            np.testing.assert_array_equal(gpu_values, cpu_values, err_msg=layer)
    assert frame.instance.any(), "the tiny image should see objects"
    np.testing.assert_array_equal(sim["amodal"], bits)


def test_cuda_labels_only_matches_cpu(sim_results):
    """spp 0 (labels only): every layer, rgb, coverage and soft mask included, as the CPU writes
    it (the CPU fills those three on the host, the GPU in ``render_pixel``: two sources of one
    meaning, held together here)."""
    from raysynth.backends import cpu
    from raysynth.frame import empty_frame
    from raysynth.render import prepare

    out, names = sim_results
    sim = np.load(out / "labels_only.npz")
    c = prepare(str(SCENES / names[0]), width=WIDTH, height=HEIGHT, spp=0)
    frame = empty_frame(c.height, c.width)
    cpu.render_frame(c.arrays, frame)
    for layer, cpu_values in frame._asdict().items():
        np.testing.assert_array_equal(sim[layer], cpu_values, err_msg=layer)
    assert (frame.rgb == 0).all() and (frame.coverage == 1).all() and frame.instance.any()


@pytest.mark.parametrize("name", bundled_scenes())
def test_cuda_cast_rays_matches_cpu(sim_results, name):
    from raysynth.backends import cpu
    from raysynth.render import prepare

    out, _ = sim_results
    sim = np.load(out / (name + ".npz"))
    c = prepare(str(SCENES / name), width=WIDTH, height=HEIGHT, spp=SPP)
    origins, directions = make_rays(c.arrays)
    for any_hit in (False, True):
        expected = cpu.cast_rays(c.arrays, origins, directions, any_hit=any_hit)
        for k, v in zip("t prim obj u v".split(), expected):
            np.testing.assert_array_equal(sim[f"rays{int(any_hit)}_{k}"], v, err_msg=f"any_hit={any_hit} {k}")
    assert (expected[1] >= 0).any() and (expected[1] < 0).any(), "rays should both hit and miss"


def test_render_api_with_cuda_backend(sim_results):
    import raysynth

    out, names = sim_results
    layers = raysynth.render(str(SCENES / names[0]), width=8, height=6, spp=1)
    api = np.load(out / "api.npz")
    np.testing.assert_array_equal(api["instance"], layers["instance"])
    np.testing.assert_array_equal(api["amodal"], layers["amodal"])
    sim_labels = json.loads((out / "api_labels.json").read_text())
    cpu_labels = json.loads(json.dumps(layers["labels"], sort_keys=True, default=float))
    assert sim_labels == cpu_labels


# ----------------------------------------------------------------------------- errors
def _cuda_usable() -> bool:
    from raysynth.backends import cuda as C
    from raysynth.errors import RaysynthError

    try:
        C.require_cuda()
    except RaysynthError:
        return False
    return True


def test_unknown_backend_is_one_line_error():
    import raysynth

    with pytest.raises(raysynth.RaysynthError, match="unknown backend 'gpu'"):
        raysynth.render(str(SCENES / "cornell_box.json"), backend="gpu")


def test_cuda_without_device_is_one_line_error():
    import raysynth

    if _cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is available here")
    with pytest.raises(raysynth.RaysynthError) as info:
        raysynth.render(str(SCENES / "cornell_box.json"), backend="cuda", width=4, height=4, spp=1)
    message = str(info.value)
    assert message.startswith("backend cuda: ") and "\n" not in message
    assert "numba-cuda" in message or "no CUDA device" in message or "driver" in message


def test_cli_backend_cuda_without_device(tmp_path, capsys):
    from raysynth.cli import main

    if _cuda_usable():
        pytest.skip("a CUDA device (or the simulator) is available here")
    code = main(["render", str(SCENES / "cornell_box.json"), "--out", str(tmp_path / "o"), "--backend", "cuda",
                 "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("raysynth: error: backend cuda: ") and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_generate_checks_the_backend_first(tmp_path):
    from raysynth.dataset import generate
    from raysynth.errors import RaysynthError

    config = next(p for p in sorted(SCENES.glob("*.json")) if "placement" in json.loads(p.read_text()))
    with pytest.raises(RaysynthError, match="unknown backend 'gpu'"):
        generate(config, tmp_path / "ds", 1, backend="gpu", quiet=True)
    assert not (tmp_path / "ds").exists()
