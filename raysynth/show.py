"""Pictures of labels (``raysynth show``): overlays, depth, normals and amodal masks as PNGs.

Everything is drawn in numpy (no imaging library): lines, rectangles, dashed rectangles, squares
and a built-in 5x7 bitmap font. Images are ``(H, W, 3) uint8`` arrays indexed ``img[y, x]``;
drawing functions modify them in place and silently clip to the image.

Inputs
------
A single render (``raysynth render SCENE --out DIR``)::

    DIR/labels.json, DIR/rgb.png, DIR/depth.npy, DIR/normals.npy, ...

or a dataset::

    DIR/images/{k:06d}.png, DIR/labels/{k:06d}.json, DIR/layers/{k:06d}/{depth,normals}.npy

Outputs (``DIR/show/`` by default), per image ``STEM`` (``"render"`` for a single render, the
6-digit id for a dataset):

- ``overlay_STEM.png``: the RGB with each annotated object's visible mask tinted by its instance
  colour (:func:`instance_color`, alpha :data:`MASK_ALPHA`), mask outlines, tight box (solid),
  amodal box (dashed), 3D box edges, keypoints (filled square v=2, hollow v=1, none v=0) and a
  tag "ID CLASS VIS%" (tags are left out on images under 64 pixels). Objects that are not
  annotated (class 0) get a grey outline only.
- ``depth_STEM.png``: z-depth through the turbo colour map, near = warm (red), far = cool (blue),
  no hit (0 or non-finite) = black.
- ``normals_STEM.png``: camera-space normals mapped by (n + 1) / 2; no hit (n = 0) = black.
- ``amodal_STEM.png``: the dimmed RGB, each object's hidden part (amodal but not visible)
  hatched and its amodal mask outlined in its colour, tagged "ID VIS%".
- ``contact_sheet.png`` (datasets): a grid of the overlays, captioned with their ids.

Label fields that are absent (``bbox_amodal``, ``keypoints``, ``bbox_3d``, ...) are skipped;
pictures whose layer file is absent (depth, normals) are not written.
"""
from __future__ import annotations

import colorsys
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import imageio.v3 as iio
import numpy as np

from .errors import RaysynthError
from .io import atomic_write_bytes, png_bytes
from .labels import rle

#: Opacity of the instance colour over a visible mask in the overlay.
MASK_ALPHA = 0.45
#: Brightness factor of the RGB under the amodal picture.
DIM = 0.35
#: Dash pattern of amodal boxes: (pixels on, pixels off).
DASH = (3, 2)
#: Colour of objects that are not annotated (distractors, class 0).
GREY = (150, 150, 150)
#: Largest side of a contact-sheet tile (larger overlays are shrunk by an integer factor).
TILE_MAX = 320
#: Default number of dataset images shown.
MAX_IMAGES = 16

# --------------------------------------------------------------------------------------
# colours and colour maps
# --------------------------------------------------------------------------------------


def instance_color(instance_id: int) -> tuple[int, int, int]:
    """Deterministic saturated colour of an instance id: hues spaced by the golden ratio.

    Returns (r, g, b) ints in 0..255; never grey (saturation 0.85, value 0.95)."""
    hue = (int(instance_id) * 0.6180339887498949 + 0.13) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


# Polynomial fit of Google's turbo colour map (A. Mikhailov, 2019), valid on [0, 1].
_TURBO = np.array([
    [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],   # red
    [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],         # green
    [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],   # blue
])


def turbo(x: np.ndarray) -> np.ndarray:
    """Turbo colour map: (...) floats in [0, 1] (clipped) -> (..., 3) float64 RGB in [0, 1].

    0 is dark blue, 0.5 green-yellow, 1 dark red."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    powers = np.stack([x ** k for k in range(6)], axis=-1)  # (..., 6)
    return np.clip(powers @ _TURBO.T, 0.0, 1.0)


#: Turbo positions of the farthest and the nearest hit in :func:`depth_image`.
TURBO_FAR, TURBO_NEAR = 0.1, 0.95


def depth_image(depth: np.ndarray) -> np.ndarray:
    """(H, W) z-depth (0 or non-finite = no hit) -> (H, W, 3) uint8 turbo picture.

    Depths are scaled linearly between the nearest (turbo 0.95, red) and the farthest (turbo
    0.1, blue) hit of the image (turbo's near-black ends are left out); pixels without a hit are
    exactly black, every hit pixel is not."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise RaysynthError(f"depth: expected an (H, W) array, got shape {depth.shape}")
    hit = np.isfinite(depth) & (depth > 0)
    out = np.zeros(depth.shape + (3,), dtype=np.uint8)
    if not hit.any():
        return out
    near, far = float(depth[hit].min()), float(depth[hit].max())
    t = np.ones(depth.shape) if far <= near else (far - np.where(hit, depth, far)) / (far - near)
    rgb = np.round(turbo(TURBO_FAR + (TURBO_NEAR - TURBO_FAR) * t[hit]) * 255.0).astype(np.uint8)
    out[hit] = rgb
    return out


def normals_image(normals: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit camera-space normals -> (H, W, 3) uint8 ``round((n + 1) / 2 * 255)``.

    Pixels whose normal is 0 (no hit) or not finite are black."""
    n = np.asarray(normals, dtype=np.float64)
    if n.ndim != 3 or n.shape[2] != 3:
        raise RaysynthError(f"normals: expected an (H, W, 3) array, got shape {n.shape}")
    hit = np.isfinite(n).all(axis=2) & (np.abs(np.nan_to_num(n)).sum(axis=2) > 0)
    out = np.round((np.clip(np.nan_to_num(n), -1.0, 1.0) + 1.0) * 0.5 * 255.0).astype(np.uint8)
    out[~hit] = 0
    return out


# --------------------------------------------------------------------------------------
# drawing primitives (in place, clipped to the image)
# --------------------------------------------------------------------------------------


def put_pixels(img: np.ndarray, xs, ys, color) -> None:
    """Set img[ys, xs] = color for the (n,) integer coordinates inside the image."""
    xs = np.asarray(xs, dtype=np.int64).ravel()
    ys = np.asarray(ys, dtype=np.int64).ravel()
    h, w = img.shape[:2]
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    img[ys[inside], xs[inside]] = color


def line_pixels(x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of the digital line from (x0, y0) to (x1, y1), both included, in order.

    One pixel per step along the major axis (``max(|dx|, |dy|) + 1`` pixels, 8-connected); the
    minor coordinate is the exact line's, rounded half up (integer arithmetic, vectorized).
    Returns (xs, ys), each (n,) int64."""
    x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
    dx, dy = x1 - x0, y1 - y0
    steps = max(abs(dx), abs(dy))
    t = np.arange(steps + 1, dtype=np.int64)
    if steps == 0:
        return np.array([x0], dtype=np.int64), np.array([y0], dtype=np.int64)
    # x0 + round(t * dx / steps) with round half up: floor((2 t dx + steps) / (2 steps))
    xs = x0 + (2 * t * dx + steps) // (2 * steps)
    ys = y0 + (2 * t * dy + steps) // (2 * steps)
    return xs, ys


def clip_segment(x0: float, y0: float, x1: float, y1: float, width: float, height: float):
    """Liang-Barsky clip of a segment to the box [0, width] x [0, height].

    Returns the clipped (x0, y0, x1, y1) floats, or None when the segment misses the box."""
    t0, t1 = 0.0, 1.0
    dx, dy = x1 - x0, y1 - y0
    for p, q in ((-dx, x0), (dx, width - x0), (-dy, y0), (dy, height - y0)):
        if p == 0.0:
            if q < 0.0:
                return None
            continue
        r = q / p
        if p < 0.0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return None
    return x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy


def _dash_keep(n: int, dash) -> np.ndarray:
    """(n,) bool: which pixels of an n-pixel run a (on, off) dash pattern keeps."""
    if dash is None:
        return np.ones(n, dtype=bool)
    on, off = dash
    return (np.arange(n) % (on + off)) < on


def draw_line(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color, dash=None) -> None:
    """Integer-pixel line (see :func:`line_pixels`), optionally dashed with (on, off) pixels."""
    xs, ys = line_pixels(x0, y0, x1, y1)
    keep = _dash_keep(xs.size, dash)
    put_pixels(img, xs[keep], ys[keep], color)


def draw_segment(img: np.ndarray, p0, p1, color, dash=None) -> None:
    """Line between two points in continuous pixel coordinates (pixel (x, y) covers
    [x, x+1) x [y, y+1)), clipped to the image first so far-away points cost nothing."""
    h, w = img.shape[:2]
    clipped = clip_segment(float(p0[0]), float(p0[1]), float(p1[0]), float(p1[1]), w, h)
    if clipped is None:
        return
    a, b, c, d = (math.floor(v) for v in clipped)
    draw_line(img, min(a, w - 1), min(b, h - 1), min(c, w - 1), min(d, h - 1), color, dash)


def rect_pixels(x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
    """Outline of the rectangle with inclusive pixel corners (x0, y0), (x1, y1), walked
    clockwise from (x0, y0), each pixel once: ``2 (w + h) - 4`` pixels for w, h >= 2.

    Returns (xs, ys), each (n,) int64."""
    x0, x1 = sorted((int(x0), int(x1)))
    y0, y1 = sorted((int(y0), int(y1)))
    if x0 == x1 or y0 == y1:
        return line_pixels(x0, y0, x1, y1)
    top = (np.arange(x0, x1), np.full(x1 - x0, y0))
    right = (np.full(y1 - y0, x1), np.arange(y0, y1))
    bottom = (np.arange(x1, x0, -1), np.full(x1 - x0, y1))
    left = (np.full(y1 - y0, x0), np.arange(y1, y0, -1))
    parts = (top, right, bottom, left)
    return (np.concatenate([p[0] for p in parts]).astype(np.int64),
            np.concatenate([p[1] for p in parts]).astype(np.int64))


def draw_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color, dash=None) -> None:
    """Rectangle outline with inclusive pixel corners; dashed along the outline walk when
    ``dash`` is (on, off)."""
    xs, ys = rect_pixels(x0, y0, x1, y1)
    keep = _dash_keep(xs.size, dash)
    put_pixels(img, xs[keep], ys[keep], color)


def fill_rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color) -> None:
    """Fill the rectangle with inclusive pixel corners (clipped)."""
    h, w = img.shape[:2]
    x0, x1 = sorted((int(x0), int(x1)))
    y0, y1 = sorted((int(y0), int(y1)))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    if x0 <= x1 and y0 <= y1:
        img[y0:y1 + 1, x0:x1 + 1] = color


def draw_square(img: np.ndarray, x: int, y: int, half: int, color, filled: bool = True) -> None:
    """(2 half + 1)-pixel square centred on pixel (x, y), filled or outlined."""
    if filled:
        fill_rect(img, x - half, y - half, x + half, y + half, color)
    else:
        draw_rect(img, x - half, y - half, x + half, y + half, color)


def box_corners(box) -> Optional[tuple[int, int, int, int]]:
    """Inclusive pixel corners (x0, y0, x1, y1) of a continuous [x, y, w, h] box (pixel (x, y)
    covers [x, x+1)): the pixels the box overlaps. None for an empty or malformed box."""
    if box is None or len(box) != 4 or not all(isinstance(v, (int, float)) for v in box):
        return None
    x, y, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
        return None
    return math.floor(x), math.floor(y), math.ceil(x + w) - 1, math.ceil(y + h) - 1


# --------------------------------------------------------------------------------------
# 5x7 bitmap font
# --------------------------------------------------------------------------------------

# Rows top to bottom, bit 4 = leftmost column (HD44780 character ROM style).
_GLYPHS = {
    "0": (0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E), "1": (0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E),
    "2": (0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F), "3": (0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E),
    "4": (0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02), "5": (0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E),
    "6": (0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E), "7": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E), "9": (0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C),
    "A": (0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11), "B": (0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E),
    "C": (0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E), "D": (0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C),
    "E": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F), "F": (0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10),
    "G": (0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F), "H": (0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11),
    "I": (0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E), "J": (0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C),
    "K": (0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11), "L": (0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F),
    "M": (0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11), "N": (0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11),
    "O": (0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E), "P": (0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10),
    "Q": (0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D), "R": (0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11),
    "S": (0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E), "T": (0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04),
    "U": (0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E), "V": (0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04),
    "W": (0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A), "X": (0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11),
    "Y": (0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04), "Z": (0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F),
    " ": (0, 0, 0, 0, 0, 0, 0), "%": (0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03),
    ".": (0, 0, 0, 0, 0, 0x0C, 0x0C), "-": (0, 0, 0, 0x1F, 0, 0, 0), "_": (0, 0, 0, 0, 0, 0, 0x1F),
    ":": (0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0), "#": (0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A),
    "/": (0, 0x01, 0x02, 0x04, 0x08, 0x10, 0), "?": (0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04),
    "(": (0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02), ")": (0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08),
    "+": (0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0), "=": (0, 0, 0x1F, 0, 0x1F, 0, 0),
}
GLYPH_W, GLYPH_H = 5, 7
#: Horizontal distance between the left edges of consecutive characters (one blank column).
ADVANCE = GLYPH_W + 1


def glyph(char: str) -> np.ndarray:
    """(7, 5) bool bitmap of a character; lower case reads as upper case, unknown as '?'."""
    rows = _GLYPHS.get(char.upper(), _GLYPHS["?"])
    return ((np.asarray(rows)[:, None] >> np.arange(GLYPH_W - 1, -1, -1)[None, :]) & 1).astype(bool)


def text_bitmap(text: str, scale: int = 1) -> np.ndarray:
    """(7 scale, (6 n - 1) scale) bool bitmap of a one-line text of n characters."""
    n = len(text)
    if n == 0:
        return np.zeros((GLYPH_H * scale, 0), dtype=bool)
    bitmap = np.zeros((GLYPH_H, ADVANCE * n - 1), dtype=bool)
    for i, char in enumerate(text):
        bitmap[:, i * ADVANCE:i * ADVANCE + GLYPH_W] = glyph(char)
    return np.repeat(np.repeat(bitmap, scale, axis=0), scale, axis=1)


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of :func:`draw_text`'s glyphs (without the background pad)."""
    return max(ADVANCE * len(text) - 1, 0) * scale, GLYPH_H * scale


def draw_text(img: np.ndarray, x: int, y: int, text: str, color, background=None, scale: int = 1) -> None:
    """Draw ``text`` with its top-left glyph pixel at (x, y); ``background``, when given, fills
    the text's box grown by ``scale`` pixels on every side first. Clipped to the image."""
    bitmap = text_bitmap(text, scale)
    th, tw = bitmap.shape
    if background is not None:
        fill_rect(img, x - scale, y - scale, x + tw - 1 + scale, y + th - 1 + scale, background)
    ys, xs = np.nonzero(bitmap)
    put_pixels(img, xs + x, ys + y, color)


def text_color_on(background) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``background`` (Rec. 709 luma)."""
    r, g, b = background
    return (0, 0, 0) if 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 else (255, 255, 255)


# --------------------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------------------


def blend_mask(img: np.ndarray, mask: np.ndarray, color, alpha: float = MASK_ALPHA) -> None:
    """img[mask] = round((1 - alpha) img + alpha color), in place; mask (H, W) bool."""
    mask = np.asarray(mask, dtype=bool)
    mixed = (1.0 - alpha) * img[mask].astype(np.float64) + alpha * np.asarray(color, dtype=np.float64)
    img[mask] = np.round(mixed).astype(np.uint8)


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: mask pixels with a 4-neighbour outside the mask. The image border does not
    count as outside, so a mask cut by the border is not outlined along it."""
    m = np.pad(np.asarray(mask, dtype=bool), 1, mode="edge")
    inner = m[1:-1, 1:-1]
    interior = m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return inner & ~interior


def _mask(obj: dict, key: str, shape, instance: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Decoded (H, W) bool mask ``obj[key]``; the visible mask falls back to the instance layer."""
    if obj.get(key) is not None:
        try:
            mask = rle.decode(obj[key])
        except (KeyError, TypeError, ValueError) as err:
            raise RaysynthError(f"object {obj.get('instance_id')}: bad {key} ({err})") from None
        if mask.shape != tuple(shape):
            raise RaysynthError(f"object {obj.get('instance_id')}: {key} is {mask.shape[1]}x{mask.shape[0]}, "
                                f"the image is {shape[1]}x{shape[0]}")
        return mask
    if key == "mask_visible" and instance is not None and "instance_id" in obj:
        return instance == int(obj["instance_id"])
    return None


def _visibility(obj: dict) -> Optional[float]:
    if isinstance(obj.get("visibility"), (int, float)):
        return float(obj["visibility"])
    vis, amo = obj.get("visible_pixels"), obj.get("amodal_pixels")
    if isinstance(vis, int) and isinstance(amo, int) and amo > 0:
        return vis / amo
    return None


def _tag(obj: dict, with_class: bool = True) -> str:
    """"ID CLASS VIS%" label of an object (fields that are absent are left out)."""
    parts = [str(obj.get("instance_id", "?"))]
    if with_class:
        name = obj.get("class_name") or (f"C{obj['class_id']}" if obj.get("class_id") else None)
        if name:
            parts.append(str(name))
    vis = _visibility(obj)
    if vis is not None:
        parts.append(f"{round(100 * vis)}%")
    return " ".join(parts)


#: Images whose smaller side is below this get no text tags (they would hide the labels).
MIN_TAG_SIDE = 64


def _text_scale(shape) -> int:
    """Font scale of the tags: 1 below 480 pixels (smaller side), 2 up to 959, ..."""
    return 1 + min(shape[0], shape[1]) // 480


def _keypoint_half(shape) -> int:
    """Half size of keypoint squares: 1 (3x3) on images under 128 pixels, else 2 per font scale."""
    return 1 if min(shape[0], shape[1]) < 128 else 2 * _text_scale(shape)


def _place_tag(img: np.ndarray, corners, text: str, color, scale: int) -> None:
    """Tag on a filled box of the object's colour above the box (inside it when there is no
    room above), kept inside the image horizontally."""
    h, w = img.shape[:2]
    tw, th = text_size(text, scale)
    x0, y0 = corners[0], corners[1]
    y = y0 - th - 2 * scale if y0 - th - 2 * scale >= 0 else y0 + 2 * scale
    x = min(max(x0 + scale, scale), max(w - tw - scale, scale))
    draw_text(img, x, y, text, text_color_on(color), background=color, scale=scale)


# --------------------------------------------------------------------------------------
# pictures
# --------------------------------------------------------------------------------------


def _check_rgb(rgb: np.ndarray, record: dict) -> None:
    image = record.get("image")
    if not isinstance(image, dict):
        raise RaysynthError("labels record has no 'image' entry")
    want = (image.get("height"), image.get("width"))
    if None not in want and rgb.shape[:2] != tuple(int(v) for v in want):
        raise RaysynthError(f"the RGB is {rgb.shape[1]}x{rgb.shape[0]}, its labels record says "
                            f"{want[1]}x{want[0]}")


def overlay_image(rgb: np.ndarray, record: dict, instance: Optional[np.ndarray] = None, *,
                  masks: bool = True, outlines: bool = True, boxes: bool = True, box3d: bool = True,
                  keypoints: bool = True, text: bool = True) -> np.ndarray:
    """The overlay picture of one image.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 image (not modified)
    record : its labels record (``raysynth.labels``)
    instance : optional (H, W) instance layer, used when an object has no ``mask_visible``
    masks, outlines, boxes, box3d, keypoints, text : which marks to draw (all by default)

    Returns
    -------
    (H, W, 3) uint8: ``rgb`` with, for each annotated object, its visible mask blended with
    :func:`instance_color` (:func:`blend_mask`, alpha :data:`MASK_ALPHA`), the mask outline, the
    3D box edges, the amodal box dashed and the tight box solid, keypoints (squares, filled for
    v = 2, hollow for v = 1; 3x3 on images under 128 pixels, else 5x5 or larger) and the tag
    "ID CLASS VIS%" (not on images under :data:`MIN_TAG_SIDE` pixels). Objects that are not
    annotated get a grey outline only.
    """
    _check_rgb(rgb, record)
    img = np.array(rgb, dtype=np.uint8, copy=True)
    shape = img.shape[:2]
    objects = [o for o in record.get("objects", []) if isinstance(o, dict)]
    decoded = [_mask(o, "mask_visible", shape, instance) for o in objects]
    annotated = [bool(o.get("annotated", (o.get("class_id") or 0) > 0)) for o in objects]
    colors = [instance_color(o.get("instance_id", i + 1)) for i, o in enumerate(objects)]
    if masks:
        for obj, mask, ann, color in zip(objects, decoded, annotated, colors):
            if ann and mask is not None:
                blend_mask(img, mask, color)
    if outlines:
        for obj, mask, ann, color in zip(objects, decoded, annotated, colors):
            if mask is not None:
                img[mask_outline(mask)] = color if ann else GREY
    scale = _text_scale(shape)
    for obj, mask, ann, color in zip(objects, decoded, annotated, colors):
        if not ann:
            continue
        if box3d:
            corners = (obj.get("bbox_3d") or {}).get("image")
            if isinstance(corners, list) and len(corners) == 8:
                for i in range(8):
                    for bit in (1, 2, 4):
                        j = i | bit
                        if i & bit or corners[i] is None or corners[j] is None:
                            continue
                        if None in corners[i] or None in corners[j]:
                            continue
                        draw_segment(img, corners[i], corners[j], color)
        if boxes:
            amodal = box_corners(obj.get("bbox_amodal"))
            if amodal is not None:
                draw_rect(img, *amodal, color, dash=DASH)
            tight = box_corners(obj.get("bbox_visible"))
            if tight is not None:
                draw_rect(img, *tight, color)
        if keypoints:
            rows = (obj.get("keypoints") or {}).get("image")
            for row in rows if isinstance(rows, list) else []:
                if not isinstance(row, (list, tuple)) or len(row) < 3 or None in row[:3]:
                    continue
                x, y, v = float(row[0]), float(row[1]), int(row[2])
                if v > 0 and math.isfinite(x) and math.isfinite(y):
                    draw_square(img, math.floor(x), math.floor(y), _keypoint_half(shape), color,
                                filled=(v == 2))
    if text and min(shape) >= MIN_TAG_SIDE:
        for obj, mask, ann, color in zip(objects, decoded, annotated, colors):
            corners = box_corners(obj.get("bbox_visible")) or box_corners(obj.get("bbox_amodal"))
            if ann and corners is not None:
                _place_tag(img, corners, _tag(obj), color, scale)
    return img


def amodal_image(rgb: np.ndarray, record: dict, instance: Optional[np.ndarray] = None) -> np.ndarray:
    """The amodal picture of one image: (H, W, 3) uint8.

    ``rgb`` (H, W, 3) uint8 dimmed by :data:`DIM`; for each object with an amodal mask, its hidden
    part (amodal and not visible) hatched with diagonal lines every 4 pixels, its amodal mask
    outlined (annotated objects in their instance colour, others grey) and, for annotated
    objects, the tag "ID VIS%" at its amodal box (not on images under :data:`MIN_TAG_SIDE`)."""
    _check_rgb(rgb, record)
    img = np.round(np.asarray(rgb, dtype=np.float64) * DIM).astype(np.uint8)
    shape = img.shape[:2]
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    hatch = (xs + ys) % 4 == 0
    scale = _text_scale(shape)
    tags = []
    for i, obj in enumerate(o for o in record.get("objects", []) if isinstance(o, dict)):
        amodal = _mask(obj, "mask_amodal", shape, instance)
        if amodal is None:
            continue
        visible = _mask(obj, "mask_visible", shape, instance)
        ann = bool(obj.get("annotated", (obj.get("class_id") or 0) > 0))
        color = instance_color(obj.get("instance_id", i + 1)) if ann else GREY
        hidden = amodal & ~visible if visible is not None else np.zeros(shape, dtype=bool)
        img[hidden & hatch] = color
        img[mask_outline(amodal)] = color
        corners = box_corners(obj.get("bbox_amodal")) or box_corners(rle.bbox(amodal))
        if ann and corners is not None:
            tags.append((corners, _tag(obj, with_class=False), color))
    for corners, tag, color in tags if min(shape) >= MIN_TAG_SIDE else []:
        _place_tag(img, corners, tag, color, scale)
    return img


def downscale(img: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (ceil(H / f), ceil(W / f), 3) uint8 block means (edge blocks padded by
    repeating the last row/column)."""
    if factor <= 1:
        return img
    h, w = img.shape[:2]
    ph, pw = -h % factor, -w % factor
    padded = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge").astype(np.float64)
    blocks = padded.reshape((h + ph) // factor, factor, (w + pw) // factor, factor, 3)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


def contact_sheet(tiles: list, captions: list, gap: int = 4, background=(32, 32, 32)) -> np.ndarray:
    """Grid of pictures, ceil(sqrt(n)) columns, each captioned under it.

    tiles : list of (Hi, Wi, 3) uint8 (shrunk by one common integer factor so the largest side is
        at most :data:`TILE_MAX`); captions : list of str, one per tile.
    Returns (gap + rows (Hc + 9 + gap), gap + cols (Wc + gap), 3) uint8, where (Hc, Wc) is the
    largest shrunk tile (Wc at least the widest caption) and 9 the caption line, cells
    separated and framed by ``gap`` pixels of ``background``."""
    if not tiles:
        raise RaysynthError("contact sheet: no images")
    largest = max(max(t.shape[:2]) for t in tiles)
    factor = max(1, math.ceil(largest / TILE_MAX))
    tiles = [downscale(t, factor) for t in tiles]
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(max(t.shape[1] for t in tiles), max(text_size(c)[0] for c in captions))
    caption_h = GLYPH_H + 2
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    sheet = np.empty((gap + rows * (cell_h + caption_h + gap), gap + cols * (cell_w + gap), 3), dtype=np.uint8)
    sheet[:] = background
    for k, (tile, caption) in enumerate(zip(tiles, captions)):
        r, c = divmod(k, cols)
        y, x = gap + r * (cell_h + caption_h + gap), gap + c * (cell_w + gap)
        sheet[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
        draw_text(sheet, x, y + cell_h + 2, caption, (230, 230, 230))
    return sheet


# --------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowItem:
    """One image of a folder: its output stem, labels file, RGB file and layers folder."""

    stem: str
    labels_path: Path
    rgb_path: Path
    layers_dir: Path


def find_images(directory) -> tuple[str, list[ShowItem]]:
    """Detect the layout of ``directory``: ("render", [one item]) when it holds labels.json,
    ("dataset", items in id order) when it holds labels/{digits}.json.

    Raises RaysynthError when the folder is missing or holds no labels."""
    root = Path(directory)
    if not root.exists():
        raise RaysynthError(f"{root}: no such folder")
    if not root.is_dir():
        raise RaysynthError(f"{root}: not a folder")
    if (root / "labels.json").is_file():
        return "render", [ShowItem("render", root / "labels.json", root / "rgb.png", root)]
    found = sorted((int(p.stem), p) for p in (root / "labels").glob("*.json") if p.stem.isdigit()) \
        if (root / "labels").is_dir() else []
    if not found:
        raise RaysynthError(f"{root}: no labels found (expected labels.json or labels/NNNNNN.json)")
    items = [ShowItem(p.stem, p, root / "images" / f"{p.stem}.png", root / "layers" / p.stem) for _, p in found]
    return "dataset", items


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RaysynthError(f"{path}: cannot read labels record ({err})") from None
    if not isinstance(record, dict) or not isinstance(record.get("objects", []), list):
        raise RaysynthError(f"{path}: not a labels record")
    return record


def read_rgb(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 (grey expanded, alpha dropped, 16-bit scaled down)."""
    if not Path(path).is_file():
        raise RaysynthError(f"{path}: RGB image not found")
    try:
        img = np.asarray(iio.imread(path))
    except Exception as err:  # imageio raises many types for unreadable files
        raise RaysynthError(f"{path}: cannot read image ({err})") from None
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(np.round(img.astype(np.float64)), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise RaysynthError(f"{path}: unexpected image shape {img.shape}")
    return np.ascontiguousarray(img[:, :, :3])


def _load_optional(path: Path):
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False) if path.suffix == ".npy" else np.asarray(iio.imread(path))
    except Exception as err:
        raise RaysynthError(f"{path}: cannot read ({err})") from None


def _rgb_path(item: ShowItem, record: dict, layout: str) -> Path:
    name = record.get("image", {}).get("rgb") if layout == "render" else None
    return item.labels_path.parent / name if isinstance(name, str) and name else item.rgb_path


def show_folder(directory, out=None, max_images: int = MAX_IMAGES,
                progress: Optional[Callable[[int], None]] = None) -> list[Path]:
    """Write the pictures of a render or dataset folder (layouts in the module docstring).

    Parameters
    ----------
    directory : the render or dataset folder
    out : output folder (default ``directory/show``; created)
    max_images : a dataset shows its first ``max_images`` images (by id), per image and on the
        contact sheet
    progress : None, or a callable taking the number of images just finished

    Returns the paths written, in order. Raises RaysynthError on missing or malformed input.
    """
    layout, items = find_images(directory)
    if max_images < 1:
        raise RaysynthError(f"--max-images: must be >= 1 (got {max_images})")
    items = items[:max_images]
    out = Path(out) if out is not None else Path(directory) / "show"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RaysynthError(f"--out: cannot create folder {out} ({err.strerror})") from None
    written: list[Path] = []

    def save(name: str, image: np.ndarray) -> None:
        atomic_write_bytes(out / name, png_bytes(image))
        written.append(out / name)

    overlays = []
    for item in items:
        record = _read_record(item.labels_path)
        rgb = read_rgb(_rgb_path(item, record, layout))
        instance = _load_optional(item.layers_dir / "instance.png")
        if instance is not None and instance.shape != rgb.shape[:2]:
            instance = None
        overlay = overlay_image(rgb, record, instance)
        save(f"overlay_{item.stem}.png", overlay)
        overlays.append(overlay)
        depth = _load_optional(item.layers_dir / "depth.npy")
        if depth is not None:
            save(f"depth_{item.stem}.png", depth_image(depth))
        normals = _load_optional(item.layers_dir / "normals.npy")
        if normals is not None:
            save(f"normals_{item.stem}.png", normals_image(normals))
        save(f"amodal_{item.stem}.png", amodal_image(rgb, record, instance))
        if progress is not None:
            progress(1)
    if layout == "dataset":
        save("contact_sheet.png", contact_sheet(overlays, [item.stem for item in items]))
    return written
