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
from ..kernels.integrator import render_pixel
from ..kernels.tags import STACK_SIZE

TILE = 16


@cpu_launcher
def _render_tiles(scene, frame, tiles, first, count, stacks):
    """Render tiles[first:first + count]; tiles is (K, 4) int32 [x0, y0, x1, y1];
    stacks is (>= count, STACK_SIZE) int32 traversal scratch, one row per tile."""
    for k in prange(count):
        stack = stacks[k]
        x0, y0, x1, y1 = tiles[first + k, 0], tiles[first + k, 1], tiles[first + k, 2], tiles[first + k, 3]
        for y in range(y0, y1):
            for x in range(x0, x1):
                render_pixel(scene, frame, x, y, stack)


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
        batch = max(4 * numba.get_num_threads(), 8)
        stacks = np.zeros((batch, STACK_SIZE), dtype=np.int32)
        for first in range(0, len(tiles), batch):
            count = min(batch, len(tiles) - first)
            _render_tiles(arrays, frame, tiles, first, count, stacks)
            if progress is not None:
                done = tiles[first:first + count]
                progress(int(((done[:, 2] - done[:, 0]) * (done[:, 3] - done[:, 1])).sum()))
    finally:
        numba.set_num_threads(previous)
