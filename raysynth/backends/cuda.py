"""CUDA backend: ``numba.cuda`` launchers of the shared kernels. It only maps GPU threads to
pixels (or rays) and moves arrays; all maths is the same ``raysynth.kernels`` code the CPU
backend runs (``register_jitable`` functions compile for whichever target calls them).

Three kernels, one per launch type, mirroring :mod:`raysynth.backends.cpu`:

- ``render_frame``: one thread per pixel calls ``integrator.label_pixel`` then ``render_pixel``
  with a per-thread traversal stack (``cuda.local.array(STACK_SIZE, int32)`` and its float32 twin);
- ``amodal_pass``: one thread per pixel calls ``amodal.amodal_pixel``;
- ``cast_rays``: one thread per ray calls ``cast.cast_ray``.

Data movement
-------------
``to_device(arrays)`` uploads every array of a :class:`~raysynth.compile.SceneArrays` once and
returns the same NamedTuple type holding device arrays; numba-cuda accepts a (named) tuple of
device arrays as a kernel argument (it flattens tuples into their members when it marshals
arguments, and the kernels read ``scene.bvh_boxes`` as on the CPU), so no other packing is
needed. The launchers take either host SceneArrays (uploaded on first use, and kept for the
next call with the same object: a scene is uploaded once however many launches, images or
ray batches use it) or a scene already uploaded with :func:`to_device`. The output :class:`~raysynth.frame.Frame`
is uploaded as given (misses keep its values, as on the CPU), filled, and copied back.

Launch shape
------------
Render and amodal launches cover bands of whole rows in 2-D blocks of ``BLOCK`` (16 x 8)
threads; a band holds about ``SAMPLES_PER_LAUNCH`` camera samples, so no launch runs for long
(display watchdogs) and progress is reported after each band. ``render_pixel`` takes all the
pixel's ``spp`` samples in one call, so bands split pixels, never samples.

Results
-------
Every pixel depends only on its own counter-based random numbers, as on the CPU. Floating-point
results are not bit-identical to the CPU's on a real GPU: libNVVM contracts multiply-adds into
FMA by default and libdevice's sin/cos/exp/log differ from the CPU's libm in the last bit, so
RGB, depth and normals may differ in the last few ulps and, very rarely, a label at an exact
silhouette edge may flip (``benchmarks/gpu_bench.py`` measures it). In the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``) the kernels run as Python on NumPy float32 scalars (see
``tests/test_cuda_sim.py`` for what is identical there).

Labels geometry (keypoint occlusion rays in :mod:`raysynth.labels.geometry`) keeps using the
CPU ray caster: a few rays per object, not worth a launch.

Requirements: the ``numba-cuda`` package (``pip install 'raysynth[cuda]'``), an NVIDIA driver
and a device. Without them :func:`require_cuda` raises a one-line
:class:`~raysynth.errors.RaysynthError`. The CUDA simulator needs neither.
"""
from __future__ import annotations

import importlib.util
import sys
import warnings
from collections import Counter
from contextlib import contextmanager
from typing import Callable, NamedTuple, Optional

import numpy as np

from ..errors import RaysynthError
from ..kernels.tags import STACK_SIZE

try:  # numba.cuda: numba-cuda's when installed, else Numba's built-in target (and simulator)
    from numba import cuda
except Exception as exc:  # pragma: no cover - depends on the installed Numba
    cuda = None
    _IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
else:
    _IMPORT_ERROR = ""

#: Threads per block of the 2-D pixel launches (x, y).
BLOCK = (16, 8)
#: Threads per block of the ray-casting launch.
RAY_BLOCK = 128
#: About this many camera samples (pixels x spp) per render launch.
SAMPLES_PER_LAUNCH = 1 << 21
#: Rays per ray-casting launch.
RAYS_PER_LAUNCH = 1 << 22

_INSTALL_HINT = "pip install 'raysynth[cuda]'"


# ----------------------------------------------------------------------------- availability
def simulator_enabled() -> bool:
    """True when Numba runs CUDA kernels in its Python simulator (NUMBA_ENABLE_CUDASIM=1)."""
    try:
        from numba.core import config
    except ImportError:  # pragma: no cover
        return False
    return bool(config.ENABLE_CUDASIM)


def _numba_cuda_installed() -> bool:
    return importlib.util.find_spec("numba_cuda") is not None


def require_cuda():
    """The ``numba.cuda`` module, ready to launch on a device (or the simulator).

    Raises
    ------
    RaysynthError
        one line, when numba-cuda is not installed or no CUDA driver or device is found.
    """
    if cuda is None:
        raise RaysynthError(f"backend cuda: numba.cuda cannot be imported ({_IMPORT_ERROR}); {_INSTALL_HINT}")
    if simulator_enabled():
        return cuda
    if not _numba_cuda_installed():
        raise RaysynthError(f"backend cuda: the numba-cuda package is not installed; {_INSTALL_HINT}")
    try:
        available = cuda.is_available()
    except Exception as exc:  # a broken driver install can raise instead of answering False
        raise RaysynthError(f"backend cuda: no usable CUDA driver ({type(exc).__name__}: {exc})") from None
    if not available:
        reason = ""
        try:
            reason = str(cuda.cuda_error() or "")
        except Exception:  # pragma: no cover - older numba-cuda
            pass
        reason = " ".join(reason.split())
        raise RaysynthError("backend cuda: no CUDA device or driver found" + (f" ({reason})" if reason else ""))
    return cuda


def device_name() -> str:
    """Name of the current CUDA device ("CUDA simulator" in the simulator)."""
    c = require_cuda()
    if simulator_enabled():
        return "CUDA simulator"
    name = c.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


# ----------------------------------------------------------------------------- kernels
_KERNELS = {}


def _kernels() -> dict:
    """The three CUDA kernels, built on first use (so importing this module needs no GPU).

    They refer to the module-level name ``cuda``, which the simulator swaps for its own."""
    if _KERNELS:
        return _KERNELS
    from numba import float32, int32

    from .._jit import CUDA_LAUNCHER
    from ..kernels.amodal import amodal_pixel
    from ..kernels.cast import cast_ray
    from ..kernels.integrator import label_pixel, render_pixel
    from ..kernels.rng import STRATA_CHUNK, STRATA_ROWS

    @cuda.jit(**CUDA_LAUNCHER)
    def render_rows(scene, frame, y0, y1):
        """Pixels of rows [y0, y1): x = thread x, y = y0 + thread y."""
        stack = cuda.local.array(STACK_SIZE, int32)
        stack_t = cuda.local.array(STACK_SIZE, float32)
        strata = cuda.local.array((STRATA_ROWS, STRATA_CHUNK), float32)
        x, y = cuda.grid(2)
        y += y0
        if x < frame.rgb.shape[1] and y < y1:
            label_pixel(scene, frame, x, y, stack, stack_t)
            render_pixel(scene, frame, x, y, stack, stack_t, strata)

    @cuda.jit(**CUDA_LAUNCHER)
    def amodal_rows(scene, bits, y0, y1):
        """The amodal pass over rows [y0, y1) of bits ((H, W, words) uint32)."""
        stack = cuda.local.array(STACK_SIZE, int32)
        x, y = cuda.grid(2)
        y += y0
        if x < bits.shape[1] and y < y1:
            amodal_pixel(scene, bits, x, y, stack)

    @cuda.jit(**CUDA_LAUNCHER)
    def cast(scene, origins, directions, t_max, any_hit, first, count, out_t, out_prim, out_obj, out_u, out_v):
        """Rays [first, first + count): closest (or any) hit; -1 on a miss, as the CPU's."""
        stack = cuda.local.array(STACK_SIZE, int32)
        stack_t = cuda.local.array(STACK_SIZE, float32)
        i = cuda.grid(1)
        if i < count:
            cast_ray(scene, origins, directions, t_max, first + i, any_hit, stack, stack_t,
                     out_t, out_prim, out_obj, out_u, out_v)

    _KERNELS.update(render=render_rows, amodal=amodal_rows, cast=cast)
    return _KERNELS


# ----------------------------------------------------------------------------- transfers
def is_device_scene(arrays) -> bool:
    """True when ``arrays`` holds device arrays (the result of :func:`to_device`)."""
    return len(arrays) > 0 and hasattr(arrays[0], "copy_to_host")   # DeviceNDArray (or the simulator's)


def to_device(arrays):
    """Upload a SceneArrays (or any NamedTuple of arrays, e.g. a Frame): the same NamedTuple
    type holding device arrays, each uploaded once (C-contiguous)."""
    c = require_cuda()
    return type(arrays)(*(c.to_device(np.ascontiguousarray(a)) for a in arrays))


class _Uploaded(NamedTuple):
    host: object
    device: object


_LAST_SCENE: list = []   # [_Uploaded] of the last host scene uploaded by a launcher


def device_scene(arrays):
    """Device copy of ``arrays``: itself if already uploaded, the cached copy when the same
    host object was uploaded by the previous call, or a new upload (which replaces the cache)."""
    if is_device_scene(arrays):
        return arrays
    if _LAST_SCENE and _LAST_SCENE[0].host is arrays:
        return _LAST_SCENE[0].device
    device = to_device(arrays)
    _LAST_SCENE[:] = [_Uploaded(arrays, device)]
    return device


def release_scene() -> None:
    """Forget the cached device copy of the last uploaded scene (frees its GPU memory)."""
    _LAST_SCENE.clear()


def _launch(kernel, grid, block, *args) -> None:
    """``kernel[grid, block](*args)``, without numba-cuda's low-occupancy warning (small images
    are legitimate here; large ones fill the GPU)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Grid size \d+ will likely result in GPU under-utilization")
        kernel[grid, block](*args)


def _grid_2d(width: int, rows: int):
    return ((width + BLOCK[0] - 1) // BLOCK[0], (rows + BLOCK[1] - 1) // BLOCK[1])


def _band_rows(width: int, height: int, samples_per_pixel: int) -> int:
    """Rows per launch: about SAMPLES_PER_LAUNCH samples, a whole number of block rows."""
    rows = SAMPLES_PER_LAUNCH // max(1, width * max(1, samples_per_pixel))
    rows = max(BLOCK[1], (rows // BLOCK[1]) * BLOCK[1])
    return min(rows, height) if height > 0 else BLOCK[1]


# ----------------------------------------------------------------------------- launchers
def render_frame(arrays, frame, threads: Optional[int] = None,
                 progress: Optional[Callable[[int], None]] = None) -> None:
    """Fill ``frame`` (a host :class:`raysynth.frame.Frame`) by rendering ``arrays`` on the GPU.

    Parameters
    ----------
    arrays : SceneArrays, host (uploaded once, cached) or from :func:`to_device`
    frame : Frame of host arrays, (H, W[, k]) C-contiguous; uploaded, filled, copied back
    threads : ignored (CPU backend parity)
    progress : called with the number of pixels finished after each launch (band of rows)
    """
    c = require_cuda()
    kernel = _kernels()["render"]
    scene = device_scene(arrays)
    height, width = frame.instance.shape
    settings = scene.settings.copy_to_host() if is_device_scene(arrays) else arrays.settings
    spp = int(settings[0])  # SET_SPP
    d_frame = to_device(frame)
    rows = _band_rows(width, height, spp)
    for y0 in range(0, height, rows):
        y1 = min(height, y0 + rows)
        _launch(kernel, _grid_2d(width, y1 - y0), BLOCK, scene, d_frame, y0, y1)
        c.synchronize()
        if progress is not None:
            progress(int((y1 - y0) * width))
    for host, device in zip(frame, d_frame):
        device.copy_to_host(host)


def amodal_pass(arrays, width: int, height: int, n_objects: int, threads: Optional[int] = None) -> np.ndarray:
    """Objects crossed by each pixel-centre ray: (H, W, ceil(n_objects / 32)) uint32 bit sets
    (see :func:`raysynth.backends.cpu.amodal_pass`); computed on the GPU. ``threads`` is ignored."""
    c = require_cuda()
    kernel = _kernels()["amodal"]
    scene = device_scene(arrays)
    words = max(1, (n_objects + 31) // 32)
    bits = np.zeros((height, width, words), dtype=np.uint32)
    d_bits = c.to_device(bits)
    rows = _band_rows(width, height, 8)
    for y0 in range(0, height, rows):
        y1 = min(height, y0 + rows)
        _launch(kernel, _grid_2d(width, y1 - y0), BLOCK, scene, d_bits, y0, y1)
    c.synchronize()
    d_bits.copy_to_host(bits)
    return bits


class RayBuffers(NamedTuple):
    """Device arrays of one ray-casting batch: inputs and the five outputs."""

    origins: object      # (n, 3) float32
    directions: object   # (n, 3) float32
    t_max: object        # (n,) float32
    t: object            # (n,) float32
    prim: object         # (n,) int32
    obj: object          # (n,) int32
    u: object            # (n,) float32
    v: object            # (n,) float32


def ray_buffers(origins, directions, t_max=None) -> RayBuffers:
    """Upload (n, 3) float32 rays and allocate the outputs on the device."""
    c = require_cuda()
    origins = np.ascontiguousarray(origins, dtype=np.float32)
    directions = np.ascontiguousarray(directions, dtype=np.float32)
    n = origins.shape[0]
    if t_max is None:
        t_max = np.full(n, np.float32(3.0e38), dtype=np.float32)
    else:
        t_max = np.ascontiguousarray(np.broadcast_to(np.asarray(t_max, dtype=np.float32), (n,)))
    return RayBuffers(
        c.to_device(origins), c.to_device(directions), c.to_device(t_max),
        c.device_array(n, np.float32), c.device_array(n, np.int32), c.device_array(n, np.int32),
        c.device_array(n, np.float32), c.device_array(n, np.float32),
    )


def launch_rays(scene, rays: RayBuffers, any_hit: bool = False) -> None:
    """Trace ``rays`` (from :func:`ray_buffers`) against a device scene; waits for the end."""
    c = require_cuda()
    kernel = _kernels()["cast"]
    n = rays.origins.shape[0]
    for first in range(0, n, RAYS_PER_LAUNCH):
        count = min(RAYS_PER_LAUNCH, n - first)
        _launch(
            kernel, (count + RAY_BLOCK - 1) // RAY_BLOCK, RAY_BLOCK, scene, rays.origins, rays.directions, rays.t_max, bool(any_hit), first, count,
            rays.t, rays.prim, rays.obj, rays.u, rays.v)
    c.synchronize()


def cast_rays(arrays, origins, directions, t_max=None, any_hit=False, threads=None, few=False):
    """Trace (n, 3) float32 world-space rays against ``arrays`` on the GPU (``few`` is accepted
    for the CPU backend's signature and changes nothing here).

    Same contract as :func:`raysynth.backends.cpu.cast_rays`: returns host (t, index, object,
    u, v), each (n,), -1 on a miss. ``threads`` is ignored."""
    scene = device_scene(arrays)
    rays = ray_buffers(origins, directions, t_max)
    if rays.origins.shape[0] > 0:
        launch_rays(scene, rays, any_hit)
    return (rays.t.copy_to_host(), rays.prim.copy_to_host(), rays.obj.copy_to_host(),
            rays.u.copy_to_host(), rays.v.copy_to_host())


# ----------------------------------------------------------------------------- PTX hygiene
def _kernel_signatures(arrays):
    """Numba signatures of the three kernels for the types of ``arrays`` (host SceneArrays)."""
    from numba import typeof, types

    from ..frame import empty_frame

    scene = typeof(arrays)
    frame = typeof(empty_frame(1, 1))
    f32_1d = types.Array(types.float32, 1, "C")
    f32_2d = types.Array(types.float32, 2, "C")
    i32_1d = types.Array(types.int32, 1, "C")
    return {
        "render": (scene, frame, types.int64, types.int64),
        "amodal": (scene, types.Array(types.uint32, 3, "C"), types.int64, types.int64),
        "cast": (scene, f32_2d, f32_2d, f32_1d, types.boolean, types.int64, types.int64,
                 f32_1d, i32_1d, i32_1d, f32_1d, f32_1d),
    }


def ptx(arrays, which: str = "render", cc=(9, 0)) -> str:
    """PTX of one kernel ("render", "amodal" or "cast") for the array types of ``arrays``.

    Needs numba-cuda with libNVVM (``raysynth[cuda]``), not a GPU; not in the simulator."""
    if cuda is None or simulator_enabled():
        raise RaysynthError("ptx: needs numba-cuda and libNVVM, not the CUDA simulator")
    kernel = _kernels()[which]
    with _device_cc(cc):
        code, _ = cuda.compile_ptx(kernel.py_func, _kernel_signatures(arrays)[which], cc=cc)
    return code


@contextmanager
def _device_cc(cc):
    """Without a driver, let numba-cuda compile device functions for ``cc``.

    numba-cuda compiles each called device function (every ``register_jitable`` kernel
    function) for ``get_current_device().compute_capability``, which needs a driver even for
    ``compile_ptx``; where there is none, that lookup is answered with ``cc`` meanwhile."""
    try:
        available = cuda.is_available()
    except Exception:
        available = False
    module = sys.modules.get("numba.cuda.dispatcher")
    if available or module is None or not hasattr(module, "get_current_device"):
        yield
        return

    class _Device:
        compute_capability = tuple(cc)

    original = module.get_current_device
    module.get_current_device = lambda: _Device()
    try:
        yield
    finally:
        module.get_current_device = original


def _instructions(ptx_text: str) -> list:
    """(opcode, line) of every PTX instruction (predicates dropped; no directives or labels)."""
    out = []
    for line in ptx_text.splitlines():
        text = line.split("//")[0].strip()
        if not text.endswith(";") or text.startswith("."):
            continue
        tokens = text.split()
        if tokens[0].startswith("@"):
            tokens = tokens[1:]
        if tokens:
            out.append((tokens[0], text))
    return out


#: libdevice's sinf/cosf argument reduction for huge arguments (Payne-Hanek) multiplies by
#: pi/2 * 2**-64 in float64; it runs only for |x| > ~1e5, never on the hot path.
_LIBDEVICE_TRIG_CONSTANT = "0d3BF921FB54442D19"


def count_f64(ptx_text: str) -> dict:
    """Float64 PTX instructions (any opcode with a ``.f64`` part), by opcode.

    Returns {"total": n, "by_opcode": {opcode: n}, "libdevice_trig_reduction": n, "other": n}:
    the float64 steps of libdevice's sin/cos range reduction for huge arguments (a multiply by
    ``_LIBDEVICE_TRIG_CONSTANT`` and the conversions either side of it) are counted apart, so
    ``other`` is what the kernels themselves ask for."""
    instructions = _instructions(ptx_text)
    is_f64 = [".f64" in op or op.endswith("f64") for op, _ in instructions]
    trig = set()
    for i, (op, text) in enumerate(instructions):
        if op.startswith("mul") and _LIBDEVICE_TRIG_CONSTANT in text:
            trig.update(j for j in (i - 1, i, i + 1) if 0 <= j < len(instructions) and is_f64[j])
    by_opcode = Counter(op for (op, _), f in zip(instructions, is_f64) if f)
    total = sum(by_opcode.values())
    return {"total": total, "by_opcode": dict(by_opcode), "libdevice_trig_reduction": len(trig),
            "other": total - len(trig)}


def f64_report(arrays, cc=(9, 0)) -> dict:
    """{kernel: {"instructions": n, "f64": count_f64(...)}} for the three kernels' PTX.

    Expected: ``other`` is 0 in every kernel (the only f64 instructions are libdevice's argument
    reduction for huge sin/cos arguments, which never runs for scene values)."""
    report = {}
    for which in ("render", "amodal", "cast"):
        code = ptx(arrays, which, cc)
        report[which] = {"instructions": len(_instructions(code)), "f64": count_f64(code)}
    return report

