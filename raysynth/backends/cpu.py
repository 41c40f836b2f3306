"""CPU backend: a Numba ``prange`` launcher over image tiles. It only maps threads to pixels;
all maths is the shared kernel ``render_pixel``.

Tiles (16 x 16 pixels) are launched in batches so that progress can be reported between
batches, and each batch's tiles are spread over the image (a fixed shuffle), so that both
threads get a similar share of expensive and cheap regions. Results do not depend on the
order or the thread count: every pixel is computed alone from counter-based random numbers.
"""
from __future__ import annotations

from typing import Callable, Optional

import numba
import numpy as np
from numba import prange

from .._jit import cpu_launcher
from ..kernels.amodal import amodal_pixel
from ..kernels.integrator import render_tile
from ..kernels.cast import cast_rays_in, cast_rays_in_shared
from ..kernels.tags import STACK_SIZE

TILE = 16


@cpu_launcher
def _render_tiles(scene, frame, tiles, first, count, stacks, stacks_t):
    """Render tiles[first:first + count]; tiles is (K, 4) int32 [x0, y0, x1, y1];
    stacks / stacks_t are (>= count, STACK_SIZE) int32 / float32 traversal scratch, one row per
    tile."""
    for k in prange(count):
        stack = stacks[k]
        stack_t = stacks_t[k]
        x0, y0, x1, y1 = tiles[first + k, 0], tiles[first + k, 1], tiles[first + k, 2], tiles[first + k, 3]
        render_tile(scene, frame, x0, y0, x1, y1, stack, stack_t)


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
    height, width = frame.instance.shape
    tiles = make_tiles(width, height)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        # launches of a few tiles each, for progress, but at most ~16 per image (each parallel
        # launch costs ~0.1 ms of thread wake-up: 38 launches were 15 % of a 320x240 labels
        # pass); one launch when nobody watches the progress
        batch = max(4 * numba.get_num_threads(), 8, len(tiles) // 16) if progress is not None else len(tiles)
        stacks = np.zeros((batch, STACK_SIZE), dtype=np.int32)
        stacks_t = np.zeros((batch, STACK_SIZE), dtype=np.float32)
        for first in range(0, len(tiles), batch):
            count = min(batch, len(tiles) - first)
            _render_tiles(arrays, frame, tiles, first, count, stacks, stacks_t)
            if progress is not None:
                done = tiles[first:first + count]
                progress(int(((done[:, 2] - done[:, 0]) * (done[:, 3] - done[:, 1])).sum()))
    finally:
        numba.set_num_threads(previous)


@cpu_launcher
def _amodal_tiles(scene, bits, tiles, stacks):
    """The amodal pass over every tile; stacks is (>= len(tiles), STACK_SIZE) int32."""
    for k in prange(tiles.shape[0]):
        stack = stacks[k]
        for y in range(tiles[k, 1], tiles[k, 3]):
            for x in range(tiles[k, 0], tiles[k, 2]):
                amodal_pixel(scene, bits, x, y, stack)


def amodal_pass(arrays, width: int, height: int, n_objects: int, threads: Optional[int] = None) -> np.ndarray:
    """Objects crossed by each pixel-centre ray: (H, W, ceil(n_objects / 32)) uint32 bit sets,
    bit ``i % 32`` of word ``i // 32`` set when object i (instance id i + 1) is hit anywhere
    along the ray. See :func:`raysynth.labels.annotate.amodal_mask` to read one object's mask."""
    words = max(1, (n_objects + 31) // 32)
    bits = np.zeros((height, width, words), dtype=np.uint32)
    tiles = make_tiles(width, height)
    stacks = np.zeros((len(tiles), STACK_SIZE), dtype=np.int32)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        _amodal_tiles(arrays, bits, tiles, stacks)
    finally:
        numba.set_num_threads(previous)
    return bits


RAY_CHUNK = 256


@cpu_launcher
def _cast_chunks(scene, origins, directions, t_max, any_hit, out_t, out_prim, out_obj, out_u, out_v, stacks,
                 stacks_t):
    """One prange iteration per chunk of RAY_CHUNK rays; writes t, primitive index within its
    kind, object, u, v (-1 on a miss)."""
    n = origins.shape[0]
    n_chunks = (n + RAY_CHUNK - 1) // RAY_CHUNK
    for c in prange(n_chunks):
        cast_rays_in(scene, origins, directions, t_max, c * RAY_CHUNK, min(n, (c + 1) * RAY_CHUNK), any_hit,
                     stacks[c], stacks_t[c], out_t, out_prim, out_obj, out_u, out_v)


@cpu_launcher
def _cast_chunks_shared(scene, origins, directions, t_max, any_hit, out_t, out_prim, out_obj, out_u, out_v, stacks,
                        stacks_t):
    """``_cast_chunks`` calling the renderer's compiled traversal once per ray (see ``cast_rays``)."""
    n = origins.shape[0]
    n_chunks = (n + RAY_CHUNK - 1) // RAY_CHUNK
    for c in prange(n_chunks):
        cast_rays_in_shared(scene, origins, directions, t_max, c * RAY_CHUNK, min(n, (c + 1) * RAY_CHUNK), any_hit,
                            stacks[c], stacks_t[c], out_t, out_prim, out_obj, out_u, out_v)


def cast_rays(arrays, origins, directions, t_max=None, any_hit=False, threads=None, few=False):
    """Trace (n, 3) float32 world-space rays against ``arrays`` (SceneArrays).

    Returns (t, index, object, u, v), each (n,), -1 on a miss: t float32 ray parameter; index
    int32, the primitive's index within its kind (triangle or analytic shape; for an instanced
    mesh, the row of its shared object-space triangle); object int32, the
    scene object index (instance id - 1); u, v float32 surface coordinates of the hit.
    With ``any_hit`` the traversal stops at the first hit found (not the closest). ``few``: a
    handful of rays (the labels' occlusion rays): the launcher that reuses the renderer's
    compiled traversal, slower per ray but seconds quicker to compile the first time."""
    n = origins.shape[0]
    if t_max is None:
        t_max = np.full(n, np.float32(3.0e38), dtype=np.float32)
    else:
        t_max = np.ascontiguousarray(np.broadcast_to(np.asarray(t_max, dtype=np.float32), (n,)))
    out_t = np.empty(n, np.float32)
    out_prim = np.empty(n, np.int32)
    out_obj = np.empty(n, np.int32)
    out_u = np.empty(n, np.float32)
    out_v = np.empty(n, np.float32)
    stacks = np.zeros(((n + RAY_CHUNK - 1) // RAY_CHUNK, STACK_SIZE), dtype=np.int32)
    stacks_t = np.zeros(stacks.shape, dtype=np.float32)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        launcher = _cast_chunks_shared if few else _cast_chunks
        launcher(arrays, origins, directions, t_max, bool(any_hit), out_t, out_prim, out_obj, out_u, out_v, stacks,
                 stacks_t)
    finally:
        numba.set_num_threads(previous)
    return out_t, out_prim, out_obj, out_u, out_v
