"""COCO run-length encoding of binary masks, in numpy (no pycocotools needed at run time).

A mask is read in column-major (Fortran) order; ``counts`` alternates runs of 0s and 1s, starting
with 0s. The compressed form is pycocotools' string: each count (after the first two, minus the
count two places before it) is written as 5-bit groups, low first, in characters offset by 48,
0x20 meaning "more groups follow" and 0x10 the sign of the last group (maskApi.c rleToString).
The test suite checks every function against pycocotools bit for bit.
"""
from __future__ import annotations

import numpy as np


def mask_runs(mask: np.ndarray) -> np.ndarray:
    """Uncompressed COCO counts of an (H, W) boolean mask: (n,) int64, first run = zeros."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges)
    if flat[0]:
        runs = np.concatenate([[0], runs])
    return runs.astype(np.int64)


def counts_to_string(counts) -> str:
    """pycocotools' compressed string of uncompressed counts."""
    out = []
    counts = [int(c) for c in counts]
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift, as for C's signed long
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def string_to_counts(text: str) -> np.ndarray:
    """Inverse of :func:`counts_to_string`: (n,) int64 uncompressed counts."""
    counts = []
    p, n = 0, len(text)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return np.asarray(counts, dtype=np.int64)


def encode(mask: np.ndarray) -> dict:
    """Compressed RLE of an (H, W) boolean mask: ``{"size": [H, W], "counts": str}``."""
    mask = np.asarray(mask)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts_to_string(mask_runs(mask))}


def decode(rle: dict) -> np.ndarray:
    """(H, W) boolean mask of a compressed (str counts) or uncompressed (list counts) RLE."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    counts = string_to_counts(counts) if isinstance(counts, str) else np.asarray(counts, dtype=np.int64)
    if counts.sum() != h * w:
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, expected {h * w} for size {h}x{w}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape((h, w), order="F")


def area(rle: dict) -> int:
    """Number of 1 pixels of an RLE."""
    counts = rle["counts"]
    counts = string_to_counts(counts) if isinstance(counts, str) else np.asarray(counts, dtype=np.int64)
    return int(counts[1::2].sum())


def bbox(mask: np.ndarray) -> list:
    """Tight [x, y, w, h] of a mask's 1 pixels in pixel units (pixel (x, y) covers [x, x+1));
    [0, 0, 0, 0] for an empty mask."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
