"""CPU backend: the shared kernels' loops over image tiles and rays, on one Python thread per core.
It only maps threads to pixels; all maths is in the kernels (``integrator.label_tiles`` and
``render_tiles``, with ``label_pixel`` / ``render_pixel`` compiled into their loops;
``amodal.amodal_tiles``; ``cast.cast_rays_in``).

Each launcher is one of those loops compiled as an entry point that releases the GIL
(``_jit.cpu_launcher``); :func:`run_guided` hands runs of tiles or rays to the threads of a pool
kept for the process. Tiles (16 x 16 pixels) are in a fixed shuffled order, so that every run
holds a mix of expensive and cheap regions, and are launched in batches when progress is
reported. Results do not depend on the order or the thread count: every pixel is computed alone
from counter-based random numbers.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import numba
import numpy as np

from .._jit import cpu_launcher
from ..compile import empty_scene_arrays
from ..frame import empty_frame
from ..kernels.amodal import amodal_tiles
from ..kernels.cast import cast_rays_in, cast_rays_in_shared, cast_triangles_in
from ..kernels.integrator import label_tiles, render_tiles
from ..kernels.rng import STRATA_CHUNK, STRATA_ROWS
from ..kernels.tags import SET_SPP, STACK_SIZE

TILE = 16


_POOL_LOCK = threading.Lock()
_POOL: Optional[ThreadPoolExecutor] = None
_POOL_SIZE = 0


def _forget_pool_after_fork() -> None:
    """A forked child has none of the parent's threads: start with a fresh pool and lock. Nor
    is the parent's compile-ahead process its child: it neither waits for it nor stops it."""
    global _POOL, _POOL_SIZE, _POOL_LOCK, _AHEAD_LOCK
    _POOL, _POOL_SIZE, _POOL_LOCK = None, 0, threading.Lock()
    _AHEAD_LOCK = threading.Lock()
    _AHEAD.update(tried=True, process=None)


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def thread_count(threads: Optional[int]) -> int:
    """The number of threads to use: ``threads``, or Numba's (``NUMBA_NUM_THREADS``, all cores,
    or what ``numba.set_num_threads`` chose), at least 1."""
    return max(1, int(threads) if threads is not None else numba.get_num_threads())


def run_guided(launch: Callable[[int, int, int], None], count: int, threads: int) -> None:
    """Run items 0 .. count - 1 as ``launch(first, stop, worker)`` calls on ``threads`` threads
    (the caller's alone for one), and wait for all; the launchers release the GIL.

    Guided scheduling: a worker that runs out claims the next run of items, a share of what is
    left (remaining / (2 * threads), at least one), so the runs shrink towards the end and the
    threads finish together with a few dozen calls in all (a static split of shuffled tiles left
    one thread 10 % longer on the Cornell box).
    """
    global _POOL, _POOL_SIZE
    threads = max(1, min(threads, count))
    if threads == 1:
        if count > 0:
            launch(0, count, 0)
        return
    claim_lock = threading.Lock()
    next_item = [0]

    def work(worker):
        while True:
            with claim_lock:
                first = next_item[0]
                if first >= count:
                    return
                stop = first + max(1, (count - first) // (2 * threads))
                next_item[0] = stop
            launch(first, stop, worker)

    with _POOL_LOCK:
        if _POOL_SIZE < threads:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(threads, thread_name_prefix="raysynth")
            _POOL_SIZE = threads
        pool = _POOL
    futures = [pool.submit(work, worker) for worker in range(1, threads)]
    try:
        work(0)
    finally:
        for future in futures:
            future.result()


# Each launcher only calls one kernel loop over a run of tiles or rays. Compiling the kernel
# itself as the entry point would skip one linking of its code (~1 s of a cold start), but Numba
# compiles a kernel once per caller's flags, and an entry point's flags differ from a kernel's:
# every kernel the entry called directly would be compiled twice.
@cpu_launcher
def _label_tiles(scene, frame, tiles, first, stop, stack, stack_t):
    label_tiles(scene, frame, tiles, first, stop, stack, stack_t)


@cpu_launcher
def _render_tiles(scene, frame, tiles, first, stop, stack, stack_t, strata):
    render_tiles(scene, frame, tiles, first, stop, stack, stack_t, strata)


@cpu_launcher
def _amodal_tiles(scene, bits, tiles, first, stop, stack):
    amodal_tiles(scene, bits, tiles, first, stop, stack)


@cpu_launcher
def _cast_rays(scene, origins, directions, t_max, first, last, any_hit, stack, stack_t, out_t, out_prim, out_obj,
               out_u, out_v):
    cast_rays_in(scene, origins, directions, t_max, first, last, any_hit, stack, stack_t, out_t, out_prim, out_obj,
                 out_u, out_v)


@cpu_launcher
def _cast_triangles(scene, origins, directions, t_max, first, last, any_hit, stack, stack_t, out_t, out_prim, out_obj,
                    out_u, out_v):
    cast_triangles_in(scene, origins, directions, t_max, first, last, any_hit, stack, stack_t, out_t, out_prim,
                      out_obj, out_u, out_v)


@cpu_launcher
def _cast_rays_shared(scene, origins, directions, t_max, first, last, any_hit, stack, stack_t, out_t, out_prim,
                      out_obj, out_u, out_v):
    cast_rays_in_shared(scene, origins, directions, t_max, first, last, any_hit, stack, stack_t, out_t, out_prim,
                        out_obj, out_u, out_v)


def _scratch(threads: int):
    """One traversal stack pair per thread: (threads, STACK_SIZE) int32 and float32."""
    return np.zeros((threads, STACK_SIZE), dtype=np.int32), np.zeros((threads, STACK_SIZE), dtype=np.float32)


def _strata(threads: int):
    """One stratified-sample table per thread: (threads, STRATA_ROWS, STRATA_CHUNK) float32."""
    return np.zeros((threads, STRATA_ROWS, STRATA_CHUNK), dtype=np.float32)


def make_tiles(width: int, height: int, tile: int = TILE) -> np.ndarray:
    """(K, 4) int32 tiles [x0, y0, x1, y1] covering the image, in a fixed shuffled order."""
    tiles = [
        (x, y, min(x + tile, width), min(y + tile, height))
        for y in range(0, height, tile)
        for x in range(0, width, tile)
    ]
    order = np.random.default_rng(0x7115).permutation(len(tiles))
    return np.ascontiguousarray(np.asarray(tiles, dtype=np.int32)[order])


def render_frame(arrays, frame, threads: Optional[int] = None,
                 progress: Optional[Callable[[int], None]] = None) -> None:
    """Fill ``frame`` (a :class:`raysynth.frame.Frame`) by rendering ``arrays`` (SceneArrays).

    Parameters
    ----------
    threads : number of CPU threads (default: Numba's default, all cores)
    progress : called with the number of pixels finished after each batch of tiles
    """
    labels_only = arrays.settings[SET_SPP] == 0
    _finish_compile_ahead(wait=not labels_only)
    height, width = frame.instance.shape
    tiles = make_tiles(width, height)
    threads = thread_count(threads)
    stacks, stacks_t = _scratch(threads)
    strata = _strata(threads)
    # batches of a few tiles per thread, for progress, but at most ~16 per image (each costs
    # the threads a wake-up); one batch when nobody watches the progress
    batch = max(4 * threads, 8, len(tiles) // 16) if progress is not None else len(tiles)
    # the centre-ray labels first: the render pass reads each pixel's instance back
    run_guided(lambda a, b, worker: _label_tiles(arrays, frame, tiles, a, b, stacks[worker], stacks_t[worker]),
               len(tiles), threads)
    if labels_only:
        _labels_only_layers(frame)
        if progress is not None:
            progress(width * height)
        return
    for first in range(0, len(tiles), batch):
        stop = min(first + batch, len(tiles))
        run_guided(lambda a, b, worker: _render_tiles(arrays, frame, tiles, first + a, first + b,
                                                      stacks[worker], stacks_t[worker], strata[worker]),
                    stop - first, threads)
        if progress is not None:
            done = tiles[first:stop]
            progress(int(((done[:, 2] - done[:, 0]) * (done[:, 3] - done[:, 1])).sum()))


def _labels_only_layers(frame) -> None:
    """What ``render_pixel`` writes with spp 0 (the centre ray as the pixel's one sample, black
    radiance), without launching it: rgb 0, coverage 1, soft mask = the visible instance with
    weight 1 (``tests/test_labels.py`` checks them against a full render's labels)."""
    frame.rgb[...] = 0.0
    frame.coverage[...] = 1.0
    frame.soft_ids[...] = 0
    frame.soft_ids[..., 0] = frame.instance
    frame.soft_weight[...] = 0.0
    frame.soft_weight[..., 0] = 1.0


def amodal_pass(arrays, width: int, height: int, n_objects: int, threads: Optional[int] = None) -> np.ndarray:
    """Objects crossed by each pixel-centre ray: (H, W, ceil(n_objects / 32)) uint32 bit sets,
    bit ``i % 32`` of word ``i // 32`` set when object i (instance id i + 1) is hit anywhere
    along the ray. See :func:`raysynth.labels.annotate.amodal_mask` to read one object's mask."""
    words = max(1, (n_objects + 31) // 32)
    bits = np.zeros((height, width, words), dtype=np.uint32)
    tiles = make_tiles(width, height)
    threads = thread_count(threads)
    stacks, _ = _scratch(threads)
    run_guided(lambda first, stop, worker: _amodal_tiles(arrays, bits, tiles, first, stop, stacks[worker]),
               len(tiles), threads)
    return bits


RAY_CHUNK = 256


def cast_rays(arrays, origins, directions, t_max=None, any_hit=False, threads=None, few=False, triangles=False):
    """Trace (n, 3) float32 world-space rays against ``arrays`` (SceneArrays).

    Returns (t, index, object, u, v), each (n,), -1 on a miss: t float32 ray parameter; index
    int32, the primitive's index within its kind (triangle or analytic shape; for an instanced
    mesh, the row of its shared object-space triangle); object int32, the
    scene object index (instance id - 1); u, v float32 surface coordinates of the hit.
    With ``any_hit`` the traversal stops at the first hit found (not the closest). ``few``: a
    handful of rays (the labels' occlusion rays): the launcher that reuses the renderer's
    compiled traversal, slower per ray but seconds quicker to compile the first time.
    ``triangles``: ``arrays`` hold one triangle mesh in blocks (``RayCaster``,
    ``compile.triangle_scene_arrays``): a leaf's triangles are one vector test; index is then
    the triangle's row in the blocks (``RayCaster.triangle_of_row`` maps it back)."""
    n = origins.shape[0]
    if t_max is None:
        t_max = np.full(n, np.float32(3.0e38), dtype=np.float32)
    else:
        # a writable copy: a read-only array (a broadcast scalar) would be another signature to compile
        t_max = np.array(np.broadcast_to(np.asarray(t_max, dtype=np.float32), (n,)), order="C")
    out_t = np.empty(n, np.float32)
    out_prim = np.empty(n, np.int32)
    out_obj = np.empty(n, np.int32)
    out_u = np.empty(n, np.float32)
    out_v = np.empty(n, np.float32)
    chunks = (n + RAY_CHUNK - 1) // RAY_CHUNK
    threads = thread_count(threads)
    stacks, stacks_t = _scratch(threads)
    launcher = _cast_rays_shared if few else (_cast_triangles if triangles else _cast_rays)
    any_hit = bool(any_hit)
    run_guided(lambda first, stop, worker: launcher(arrays, origins, directions, t_max, first * RAY_CHUNK,
                                                    min(n, stop * RAY_CHUNK), any_hit, stacks[worker],
                                                    stacks_t[worker], out_t, out_prim, out_obj, out_u, out_v),
               chunks, threads)
    return out_t, out_prim, out_obj, out_u, out_v


# ----------------------------------------------------------------------------- compile ahead
# On a cold cache, compiling the render launcher is most of a first image's time (about 14 of
# 20 s), and Numba compiles one function at a time per process. With a spare core, a second
# process compiles it into the on-disk cache while this one builds the scene (its BVH helpers
# compile meanwhile) and compiles the label launchers; the first render then loads it from disk.
# Same machine code either way: the cache holds what the other process compiled.

_AHEAD_LOCK = threading.Lock()
_AHEAD: dict = {"tried": False, "process": None, "labels": False, "meanwhile_done": False}


def render_launch_args(arrays) -> tuple:
    """Arguments of one ``_render_tiles`` call as ``render_frame`` makes it, with ``arrays``
    (their Numba types are the signature it compiles)."""
    stacks, stacks_t = _scratch(1)
    return (arrays, empty_frame(1, 1), make_tiles(1, 1), 0, 0, stacks[0], stacks_t[0], _strata(1)[0])


def label_launch_args(arrays) -> dict:
    """Launcher -> arguments of one call as ``render_frame`` (the centre-ray labels),
    ``amodal_pass`` and ``cast_rays(few=True)`` (the labels) make it, with ``arrays``."""
    stacks, stacks_t = _scratch(1)
    rays = np.zeros((1, 3), np.float32)
    f32, i32 = np.zeros(1, np.float32), np.zeros(1, np.int32)
    return {
        _label_tiles: (arrays, empty_frame(1, 1), make_tiles(1, 1), 0, 0, stacks[0], stacks_t[0]),
        _amodal_tiles: (arrays, np.zeros((1, 1, 1), np.uint32), make_tiles(1, 1), 0, 0, stacks[0]),
        _cast_rays_shared: (arrays, rays, rays, f32, 0, 0, False, stacks[0], stacks_t[0], f32, i32, i32, f32, f32),
    }


def _argument_types(args) -> tuple:
    return tuple(numba.typeof(a) for a in args)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on every OS
        return os.cpu_count() or 1


def _disk_cache_index(dispatcher, types):
    """(index file, key) of ``dispatcher``'s compiled code for ``types`` in Numba's on-disk
    cache (Numba's internals: any change there raises, and nothing is compiled ahead)."""
    cache = dispatcher._cache
    return cache._cache_file, cache._index_key(types, dispatcher.targetctx.codegen())


def compile_ahead(labels: bool = True) -> None:
    """Start compiling the render launcher in a second process, when it is not compiled yet in
    this one nor in the on-disk cache and a second core is free; ``render_frame`` waits for
    it (and with ``labels`` this process compiles the label launchers meanwhile). Tried once
    per process; ``RAYSYNTH_COMPILE_AHEAD=0`` turns it off. Measured on two cores: a first
    labelled 16x16 Cornell box from a cold cache 1.29-1.43x sooner (benchmarks/README.md)."""
    with _AHEAD_LOCK:
        if _AHEAD["tried"]:
            return
        _AHEAD["tried"] = True
        if os.environ.get("RAYSYNTH_COMPILE_AHEAD", "1") == "0" or _cpus() < 2 or not sys.executable:
            return
        types = _argument_types(render_launch_args(empty_scene_arrays()))
        if types in _render_tiles.overloads:
            return
        try:
            index, key = _disk_cache_index(_render_tiles, types)
            if key in index._load_index():
                return
            index_path = index._index_path
        except Exception:   # caching off, or another Numba layout: compile here as usual
            return
        package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        try:
            _AHEAD["process"] = subprocess.Popen(
                [sys.executable, "-m", "raysynth.backends.compile_ahead", index_path], env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return
        _AHEAD["labels"] = labels
        atexit.register(_stop_compile_ahead)


def _finish_compile_ahead(wait: bool = True) -> None:
    """Wait for the render launcher compiled ahead (if it is being compiled), compiling here
    meanwhile (once) the centre-ray label launcher every render runs and, when asked to, the
    other label launchers; without ``wait`` (a labels-only render, which needs no render
    launcher) only that."""
    if _AHEAD["process"] is None:
        return
    with _AHEAD_LOCK:
        process = _AHEAD["process"]
        if process is None:
            return
        if not _AHEAD["meanwhile_done"] and process.poll() is None:
            _AHEAD["meanwhile_done"] = True
            for launcher, args in label_launch_args(empty_scene_arrays()).items():
                if launcher is _label_tiles or _AHEAD["labels"]:
                    launcher.compile(_argument_types(args))
        if not wait:
            return
        process.wait()
        _AHEAD["process"] = None


def _stop_compile_ahead() -> None:
    """At exit: stop a compile ahead still running (Numba writes cache files whole, by rename)."""
    process = _AHEAD["process"]
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def compile_render_launcher(index_path: str) -> int:
    """The second process's work (``python -m raysynth.backends.compile_ahead``): compile
    ``_render_tiles`` into the on-disk cache. Returns 0, or 2 when this process's cache index
    is not ``index_path`` (another cache than the first process's: nothing to gain)."""
    types = _argument_types(render_launch_args(empty_scene_arrays()))
    index, _ = _disk_cache_index(_render_tiles, types)
    if os.path.abspath(index._index_path) != os.path.abspath(index_path):
        return 2
    _render_tiles.compile(types)
    return 0
