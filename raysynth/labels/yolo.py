"""YOLO (ultralytics) export of labels records, and an outer-boundary tracer for polygons.

Layout written under ``OUT``::

    OUT/data.yaml                     path, train, val (test), nc, names {0: name, ...}
    OUT/images/{split}/{stem}.png     the RGB (hard link when possible, else a copy)
    OUT/labels/{split}/{stem}.txt     one line per kept object

``stem`` is ``f"{image_id:06d}"``. The class index of a line is the 0-based position of the
object's class in the sorted category list (the union of the records' categories, unused ones
included, as in the COCO export), so ``names`` maps it back to the real class. Objects are kept
as in the COCO export (annotated, visible pixels, visibility >= ``min_visibility``).

Box lines are ``class x_center y_center width height`` of the tight visible box, divided by the
image width / height (so in [0, 1]). Segment lines (``segments=True``) are
``class x1 y1 x2 y2 ...``: the polygon of the visible mask's outer boundary (:func:`mask_polygons`),
normalized the same way; ultralytics derives the box from the polygon.

Polygons
--------
The visible mask is split into 8-connected components. Each component's outer boundary is
traced along pixel edges, so the vertices are pixel corners (integers in [0, W] x [0, H]) and the
polygon covers exactly the component's pixels with its holes filled (a pixel is inside when its
centre is). Collinear vertices are dropped. ``polygons="largest"`` (default) writes the largest
component only (ties: the first in row-major order); ``"components"`` writes one line per
component, i.e. one training instance per separated piece.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable, Mapping, Union

import numpy as np

from ..errors import RaysynthError
from ..io import atomic_write_bytes
from .coco import (
    ImageEntry,
    collect_categories,
    compressed_rle,
    keep_object,
    place_file,
    sorted_entries,
    sorted_objects,
)
from . import rle

SplitRule = Union[str, Mapping[int, str], Callable[[ImageEntry], str]]


# --------------------------------------------------------------------------------------
# connected components and boundary tracing
# --------------------------------------------------------------------------------------


def _row_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of 1s: (rows, starts, ends) int arrays, ends exclusive, row-major order."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    rows, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)
    return rows, starts, ends


def _component_crops(mask: np.ndarray, limit: int | None = None) -> list[tuple[np.ndarray, int, int]]:
    """8-connected components of an (H, W) bool mask as (crop, x0, y0): the component's pixels in
    its bounding box, whose top-left pixel is (x0, y0). Largest first (ties: row-major order of
    their first pixel); at most ``limit`` of them.

    Runs of 1s in each row are joined (union-find) with the runs of the previous row that overlap
    them or touch them diagonally.
    """
    mask = np.asarray(mask, dtype=bool)
    rows, starts, ends = _row_runs(mask)
    n = rows.size
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(rows, np.arange(mask.shape[0] + 1))
    for r in range(1, mask.shape[0]):
        a, a_end = row_first[r - 1], row_first[r]  # runs of the previous row
        b, b_end = row_first[r], row_first[r + 1]
        while a < a_end and b < b_end:
            # 8-connected: columns [s, e) touch [s', e') when s <= e' and s' <= e
            if starts[a] <= ends[b] and starts[b] <= ends[a]:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            if ends[a] < ends[b]:
                a += 1
            else:
                b += 1
    if n == 0:
        return []
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    sizes = np.bincount(roots, weights=(ends - starts), minlength=n)
    # A root is its component's first run (unions keep the smaller index), so sorting roots by
    # index is row-major order; the stable sort by size keeps it among ties.
    order = sorted((int(r) for r in np.unique(roots)), key=lambda r: -sizes[r])[:limit]
    by_root = np.argsort(roots, kind="stable")
    bounds = np.searchsorted(roots[by_root], order), np.searchsorted(roots[by_root], order, side="right")
    out = []
    for lo, hi in zip(*bounds):
        idx = by_root[lo:hi]
        y0, x0 = int(rows[idx].min()), int(starts[idx].min())
        crop = np.zeros((int(rows[idx].max()) + 1 - y0, int(ends[idx].max()) - x0), dtype=bool)
        for i in idx:
            crop[rows[i] - y0, starts[i] - x0:ends[i] - x0] = True
        out.append((crop, x0, y0))
    return out


def connected_components(mask: np.ndarray) -> list[np.ndarray]:
    """8-connected components of an (H, W) bool mask, each as an (H, W) bool mask, largest first
    (ties: row-major order of their first pixel)."""
    out = []
    for crop, x0, y0 in _component_crops(mask):
        comp = np.zeros(np.shape(mask), dtype=bool)
        comp[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
        out.append(comp)
    return out


def trace_outer_boundary(component: np.ndarray) -> np.ndarray:
    """Outer boundary of one 8-connected component ((H, W) bool) as an (n, 2) float64 array of
    pixel-corner vertices (x, y), clockwise on screen (y down), collinear vertices removed.

    Crack following: start at the top-left corner of the first pixel in row-major order heading
    +x with the component on the right; at each corner turn left if the pixel ahead-left is in
    the component (diagonal contact counts: 8-connectivity), else go straight if the pixel
    ahead-right is in, else turn right; stop on returning to the start corner.
    """
    comp = np.asarray(component, dtype=bool)
    ys, xs = np.nonzero(comp)
    if xs.size == 0:
        return np.zeros((0, 2))
    y0, x0 = int(ys.min()), int(xs.min())
    return _trace_crop(comp[y0:int(ys.max()) + 1, x0:int(xs.max()) + 1]) + [x0, y0]


def _trace_crop(crop: np.ndarray) -> np.ndarray:
    """:func:`trace_outer_boundary` of a component cropped to its bounding box (crop coordinates)."""
    grid = np.zeros((crop.shape[0] + 2, crop.shape[1] + 2), dtype=bool)
    grid[1:-1, 1:-1] = crop  # grid[y + 1, x + 1] is crop pixel (x, y)

    def inside(px, py):
        return grid[py + 1, px + 1]

    sy = 0
    sx = int(np.flatnonzero(crop[0])[0])
    x, y, dx, dy = sx, sy, 1, 0
    vertices = []
    while True:
        vertices.append((x, y))
        # Pixels ahead of corner (x, y) heading (dx, dy): left side (dy, -dx), right (-dy, dx);
        # a pixel's index is the floor of its centre, corner + (heading + side) / 2.
        ahead_left = inside(x + (dx + dy - 1) // 2, y + (dy - dx - 1) // 2)
        ahead_right = inside(x + (dx - dy - 1) // 2, y + (dy + dx - 1) // 2)
        if ahead_left:
            dx, dy = dy, -dx
        elif not ahead_right:
            dx, dy = -dy, dx
        x, y = x + dx, y + dy
        if (x, y) == (sx, sy):  # the start corner touches one pixel only: visited once
            break
    return _drop_collinear(np.array(vertices, dtype=np.float64))


def _drop_collinear(pts: np.ndarray) -> np.ndarray:
    """Remove repeated vertices and vertices where the boundary goes straight on."""
    keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
    pts = pts[keep]
    prev, nxt = np.roll(pts, 1, axis=0), np.roll(pts, -1, axis=0)
    cross = (pts[:, 0] - prev[:, 0]) * (nxt[:, 1] - pts[:, 1]) - (pts[:, 1] - prev[:, 1]) * (nxt[:, 0] - pts[:, 0])
    return pts[cross != 0]


def mask_polygons(mask: np.ndarray, largest_only: bool = True) -> list[np.ndarray]:
    """Outer-boundary polygons ((n, 2) pixel-corner (x, y) arrays) of a mask's 8-connected
    components, largest first; only the largest when ``largest_only``."""
    crops = _component_crops(mask, limit=1 if largest_only else None)
    return [_trace_crop(crop) + [x0, y0] for crop, x0, y0 in crops]


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------


def _num(value: float) -> str:
    """Fixed-point with 10 decimals, trailing zeros trimmed."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _split_of(rule: SplitRule, entry: ImageEntry) -> str:
    if isinstance(rule, str):
        split = rule
    elif callable(rule):
        split = rule(entry)
    else:
        split = rule.get(entry.image_id, "train")
    split = str(split)
    if not split or not split.replace("_", "").isalnum():
        raise RaysynthError(f"image {entry.image_id}: split name {split!r} is not a plain word")
    return split


def yolo_lines(entry: ImageEntry, class_index: Mapping[int, int], *, min_visibility: float = 0.0,
               segments: bool = False, polygons: str = "largest") -> list[str]:
    """Label lines of one image (see the module docstring)."""
    h, w = entry.size
    lines = []
    for obj in sorted_objects(entry.labels):
        if not keep_object(obj, min_visibility):
            continue
        what = f"image {entry.image_id} object {obj['instance_id']}"
        visible = rle.decode(compressed_rle(obj["mask_visible"], (h, w), what))
        if not visible.any():
            continue
        cls = class_index[int(obj["class_id"])]
        if segments:
            for poly in mask_polygons(visible, largest_only=(polygons == "largest")):
                coords = (poly / [w, h]).ravel()
                lines.append(" ".join([str(cls)] + [_num(v) for v in coords]))
        else:
            x, y, bw, bh = rle.bbox(visible)
            lines.append(" ".join([str(cls)] + [_num(v) for v in
                                                ((x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h)]))
    return lines


def data_yaml(out_dir: Path, splits: Iterable[str], names: list[str]) -> str:
    """data.yaml text: strings JSON-quoted (valid YAML); ``val`` falls back to the train images
    when there is no val split (ultralytics needs one)."""
    splits = sorted(set(splits))
    q = json.dumps
    lines = [f"path: {q(str(Path(out_dir).resolve()))}"]
    train = "train" if "train" in splits else splits[0]
    val = "val" if "val" in splits else train
    lines.append(f"train: {q(f'images/{train}')}")
    lines.append(f"val: {q(f'images/{val}')}")
    if "test" in splits:
        lines.append(f"test: {q('images/test')}")
    lines.append(f"nc: {len(names)}")
    lines.append("names:")
    lines += [f"  {i}: {q(name)}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"


def write_yolo(out_dir, entries: Iterable[ImageEntry], *, split: SplitRule = "train",
               min_visibility: float = 0.0, include_unannotated: bool = False,
               segments: bool = False, polygons: str = "largest", link: bool = True) -> dict:
    """Write the ultralytics dataset under ``out_dir`` (layout in the module docstring).

    Parameters
    ----------
    entries : ImageEntry iterable; the RGB files must exist
    split : split name of every image ("train"), or image_id -> name (missing ids: "train"), or a
        callable entry -> name
    min_visibility : objects below this visibility are left out
    include_unannotated : also write images with no kept object (empty label file: negatives)
    segments : write polygon lines instead of box lines
    polygons : "largest" (one polygon per object) or "components" (one line per component)
    link : hard-link the RGB files when possible (else copy)

    Returns ``{"names": [...], "splits": {split: [image_id, ...]}}``.
    """
    if polygons not in ("largest", "components"):
        raise RaysynthError(f"polygons must be 'largest' or 'components', not {polygons!r}")
    out = Path(out_dir)
    entries = sorted_entries(entries)
    categories = collect_categories(entries)
    class_index = {cat["id"]: i for i, cat in enumerate(categories)}
    names = [cat["name"] for cat in categories]
    written: dict[str, list[int]] = {}
    for entry in entries:
        lines = yolo_lines(entry, class_index, min_visibility=min_visibility,
                           segments=segments, polygons=polygons)
        if not lines and not include_unannotated:
            continue
        name = _split_of(split, entry)
        stem = f"{int(entry.image_id):06d}"
        image_dir, label_dir = out / "images" / name, out / "labels" / name
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        place_file(entry.rgb_file, image_dir / f"{stem}{entry.rgb_file.suffix or '.png'}", link=link)
        atomic_write_bytes(label_dir / f"{stem}.txt", "".join(line + "\n" for line in lines).encode())
        written.setdefault(name, []).append(int(entry.image_id))
    if not written:
        raise RaysynthError("YOLO export: no image has a kept object (include_unannotated=True to write negatives)")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "data.yaml", data_yaml(out, written, names).encode())
    return {"names": names, "splits": written}
