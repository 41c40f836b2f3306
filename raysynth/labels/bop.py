"""BOP export of labels records: one scene folder (https://github.com/thodan/bop_toolkit,
docs/bop_datasets_format.md).

Files written under ``scene_dir`` (``im`` = the entry's image_id, ``gt`` = the object's position in
that image's ``scene_gt`` list)::

    scene_camera.json   {im: {cam_K (9, row-major), depth_scale, cam_R_w2c (9), cam_t_w2c (3, mm)}}
    scene_gt.json       {im: [{obj_id, cam_R_m2c (9), cam_t_m2c (3, mm), scale_m2c (3)}]}
    scene_gt_info.json  {im: [{bbox_obj, bbox_visib, px_count_all, px_count_valid,
                               px_count_visib, visib_fract}]}
    rgb/{im:06d}.png                 the RGB (hard link when possible, else a copy)
    depth/{im:06d}.png               uint16: depth in mm = value * depth_scale, 0 = no hit
    mask/{im:06d}_{gt:06d}.png       amodal mask, uint8 0/255
    mask_visib/{im:06d}_{gt:06d}.png visible mask, uint8 0/255

Units: scene lengths are multiplied by ``unit_mm`` (default 1000: scene units are metres).
Poses are camera-from-object in OpenCV axes, from the record's ``pose``
(x_cam = R @ (scale * x_obj) + t). BOP's ``cam_R_m2c`` must be a rotation, so the object's scale
goes into the extra field ``scale_m2c``: with the object model in mm (object coordinates times
``unit_mm``), x_cam_mm = cam_R_m2c @ (scale_m2c * x_model_mm) + cam_t_m2c.

Objects: every ``annotated`` object whose amodal mask is not empty and whose visibility is at
least ``min_visibility`` (default 0: occluded objects are kept, as BOP does), in instance_id
order; ``obj_id`` is the class id. ``bbox_obj`` is the exact projection of the whole object
(``bbox_amodal_unclipped``, or the clipped ``bbox_amodal`` when that is null) rounded outwards to
whole pixels, so it may extend past the image as in BOP; ``bbox_visib`` the tight box of the
visible mask; both ``[-1, -1, -1, -1]`` when empty. ``px_count_all`` counts amodal pixels,
``px_count_valid`` those with a depth value > 0 in the written depth image, ``px_count_visib``
visible pixels, ``visib_fract`` = visib / all.

Depth: ``depth_scale`` is per image (BOP allows it): the given value, or the smallest of 0.1,
0.2, 0.5, 1, 2, 5, ... mm that fits the image's largest depth in 16 bits. Entries without depth
get no depth PNG and no ``depth_scale``; their ``px_count_valid`` equals ``px_count_all``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import RaysynthError
from ..io import atomic_write_bytes, png_bytes
from .coco import ImageEntry, object_masks, place_file, sorted_entries, sorted_objects

UINT16_MAX = 65535


def choose_depth_scale(max_depth_mm: float) -> float:
    """Smallest of 0.1, 0.2, 0.5, 1, 2, 5, 10, ... (mm per unit) with max_depth_mm / scale
    rounding to at most 65535."""
    exponent = -1
    while True:
        for mantissa in (1, 2, 5):
            scale = float(f"{mantissa}e{exponent}")
            if round(max_depth_mm / scale) <= UINT16_MAX:
                return scale
        exponent += 1


def depth_png(depth_mm: np.ndarray, depth_scale: float) -> np.ndarray:
    """(H, W) uint16 of depth in mm / depth_scale, rounded to nearest."""
    values = np.rint(np.asarray(depth_mm, dtype=np.float64) / depth_scale)
    if values.size and values.max() > UINT16_MAX:
        raise RaysynthError(
            f"depth up to {float(np.max(depth_mm)):.1f} mm does not fit 16 bits at depth_scale {depth_scale}")
    return values.astype(np.uint16)


def pixel_box(mask: np.ndarray) -> list[int]:
    """BOP integer [x, y, w, h] of a mask's pixels; [-1, -1, -1, -1] when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [-1, -1, -1, -1]
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def outward_box(box) -> list[int]:
    """Continuous [x, y, w, h] rounded outwards to whole pixels; [-1, -1, -1, -1] when empty."""
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        return [-1, -1, -1, -1]
    x0, y0, x1, y1 = math.floor(x), math.floor(y), math.ceil(x + w), math.ceil(y + h)
    return [x0, y0, x1 - x0, y1 - y0]


def _flat(matrix) -> list[float]:
    return [float(v) for v in np.asarray(matrix, dtype=np.float64).ravel()]


def write_bop_scene(scene_dir, entries: Iterable[ImageEntry], *, unit_mm: float = 1000.0,
                    depth_scale: float | None = None, min_visibility: float = 0.0,
                    link: bool = True) -> dict:
    """Write one BOP scene folder from the entries (layout and conventions in the module
    docstring).

    Parameters
    ----------
    scene_dir : the scene folder (e.g. ``train_pbr/000000``), created if needed
    entries : ImageEntry iterable; RGB files must exist, records must have ``pose`` for every
        exported object
    unit_mm : millimetres per scene unit
    depth_scale : fixed mm per depth PNG unit, or None to choose one per image
    min_visibility : objects below this visibility are left out
    link : hard-link the RGB files when possible (else copy)

    Returns ``{"scene_camera": ..., "scene_gt": ..., "scene_gt_info": ...}`` as written.
    """
    out = Path(scene_dir)
    for sub in ("rgb", "depth", "mask", "mask_visib"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    unit_mm = float(unit_mm)
    scene_camera, scene_gt, scene_gt_info = {}, {}, {}
    for entry in sorted_entries(entries):
        im = int(entry.image_id)
        size = entry.size
        image = entry.labels["image"]
        w2c = np.asarray(image["world_to_camera"], dtype=np.float64)
        camera = {"cam_K": _flat(image["K"])}
        place_file(entry.rgb_file, out / "rgb" / f"{im:06d}{entry.rgb_file.suffix or '.png'}", link=link)

        depth = entry.load_depth()
        depth_u16 = None
        if depth is not None:
            depth_mm = np.maximum(depth, 0.0) * unit_mm
            scale = float(depth_scale) if depth_scale is not None else choose_depth_scale(float(depth_mm.max(initial=0.0)))
            depth_u16 = depth_png(depth_mm, scale)
            atomic_write_bytes(out / "depth" / f"{im:06d}.png", png_bytes(depth_u16))
            camera["depth_scale"] = scale
        camera["cam_R_w2c"] = _flat(w2c[:3, :3])
        camera["cam_t_w2c"] = _flat(w2c[:3, 3] * unit_mm)
        scene_camera[str(im)] = camera

        gts, infos = [], []
        for obj in sorted_objects(entry.labels):
            if not obj.get("annotated") or float(obj.get("visibility", 0.0)) < min_visibility:
                continue
            what = f"image {im} object {obj['instance_id']}"
            visible, amodal = object_masks(obj, size, what)
            n_all = int(amodal.sum())
            if n_all == 0:
                continue
            if "pose" not in obj:
                raise RaysynthError(f"{what}: the labels record has no pose")
            pose = obj["pose"]
            gt_index = len(gts)
            gts.append({
                "obj_id": int(obj["class_id"]),
                "cam_R_m2c": _flat(pose["R"]),
                "cam_t_m2c": _flat(np.asarray(pose["t"], dtype=np.float64) * unit_mm),
                "scale_m2c": _flat(pose.get("scale", [1.0, 1.0, 1.0])),
            })
            n_visib = int(visible.sum())
            box = obj.get("bbox_amodal_unclipped") or obj.get("bbox_amodal")
            infos.append({
                "bbox_obj": outward_box(box) if box is not None else pixel_box(amodal),
                "bbox_visib": pixel_box(visible),
                "px_count_all": n_all,
                "px_count_valid": int((amodal & (depth_u16 > 0)).sum()) if depth_u16 is not None else n_all,
                "px_count_visib": n_visib,
                "visib_fract": n_visib / n_all,
            })
            name = f"{im:06d}_{gt_index:06d}.png"
            atomic_write_bytes(out / "mask" / name, png_bytes(amodal.astype(np.uint8) * 255))
            atomic_write_bytes(out / "mask_visib" / name, png_bytes(visible.astype(np.uint8) * 255))
        scene_gt[str(im)] = gts
        scene_gt_info[str(im)] = infos

    files = {"scene_camera": scene_camera, "scene_gt": scene_gt, "scene_gt_info": scene_gt_info}
    for name, data in files.items():
        atomic_write_bytes(out / f"{name}.json", (json.dumps(data, indent=2, allow_nan=False) + "\n").encode())
    return files
