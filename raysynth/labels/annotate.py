"""Build one image's labels record (see ``raysynth.labels``) from its layers and the amodal pass.

Everything here is counted from ray hits, never estimated: a visible pixel is one whose
centre ray first hits the object (the ``instance`` layer), an amodal pixel one whose centre ray
hits it anywhere (the amodal bits), and visibility is their ratio, so masks, boxes and
visibility agree with each other and with the RGB's own pixel-centre labels.
"""
from __future__ import annotations

import numpy as np

from ..errors import RaysynthError
from . import rle


def amodal_mask(bits: np.ndarray, index: int) -> np.ndarray:
    """(H, W) bool amodal mask of object ``index`` (instance id - 1) from the amodal pass bits
    ((H, W, words) uint32)."""
    word, bit = divmod(int(index), 32)
    return ((bits[:, :, word] >> np.uint32(bit)) & np.uint32(1)).astype(bool)


def edge_layer(soft_weight: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose camera samples saw more than one instance (or background)."""
    return soft_weight[:, :, 0] < 1.0


def soft_mask(soft_ids: np.ndarray, soft_weight: np.ndarray, instance_id: int) -> np.ndarray:
    """(H, W) float32 fraction of each pixel's camera samples that first hit ``instance_id``."""
    return np.where(soft_ids == instance_id, soft_weight, 0.0).sum(axis=2).astype(np.float32)


def mask_fields(instance: np.ndarray, bits: np.ndarray, edge: np.ndarray, index: int) -> dict:
    """Mask-derived fields of object ``index``: pixel counts, visibility, RLE masks, tight box."""
    visible = instance == index + 1
    amodal = amodal_mask(bits, index)
    # A pixel-centre ray that first hits the object also crosses it: visible is inside amodal.
    amodal |= visible
    n_visible = int(visible.sum())
    n_amodal = int(amodal.sum())
    return {
        "visible_pixels": n_visible,
        "amodal_pixels": n_amodal,
        "visibility": (n_visible / n_amodal) if n_amodal else 0.0,
        "edge_pixels": int((visible & edge).sum()),
        "mask_visible": rle.encode(visible),
        "mask_amodal": rle.encode(amodal),
        "bbox_visible": rle.bbox(visible),
    }


def part_fields(instance: np.ndarray, part: np.ndarray, index: int, names: list) -> list:
    """Per-part labels of a mesh object with named parts (OBJ groups or inline ``parts``): for
    each part id (index into ``names``), its visible pixels (the pixel-centre hit is this object
    and this part), visible mask (COCO RLE) and tight box."""
    mine = instance == index + 1
    out = []
    for part_id, name in enumerate(names):
        visible = mine & (part == part_id + 1)
        out.append({
            "part_id": part_id,
            "name": name,
            "visible_pixels": int(visible.sum()),
            "mask_visible": rle.encode(visible),
            "bbox_visible": rle.bbox(visible),
        })
    return out


def build_labels(compiled, layers: dict, bits: np.ndarray, geometry: list | None = None) -> dict:
    """The labels record of one rendered image.

    Parameters
    ----------
    compiled : CompiledScene the layers were rendered from
    layers : render() output (needs ``instance`` (H, W) int32 and ``soft_weight`` (H, W, S);
        with ``part`` (H, W) int32, mesh objects with several parts get per-part labels)
    bits : (H, W, words) uint32 amodal pass of the same camera
    geometry : per-object geometric fields (``raysynth.labels.geometry.object_geometry``)
    """
    instance = layers["instance"]
    h, w = instance.shape
    if bits.shape[:2] != (h, w):
        raise RaysynthError(f"amodal bits are {bits.shape[:2]}, layers are {(h, w)}")
    edge = edge_layer(layers["soft_weight"])
    objects = []
    for index, meta in enumerate(compiled.objects):
        record = {
            "instance_id": meta["instance_id"],
            "class_id": meta["class_id"],
            "class_name": meta["class_name"],
            "name": meta["name"],
            "type": meta["type"],
            "annotated": meta["class_id"] > 0,
        }
        record.update(mask_fields(instance, bits, edge, index))
        if "part" in layers and len(meta.get("parts") or []) > 1:
            record["parts"] = part_fields(instance, layers["part"], index, meta["parts"])
        record["object_to_world"] = meta["object_to_world"]
        if geometry is not None:
            record.update(geometry[index])
        objects.append(record)
    return {
        "image": {
            "width": int(w),
            "height": int(h),
            "K": compiled.K.tolist(),
            "world_to_camera": compiled.world_to_camera.tolist(),
            "spp": int(compiled.spp),
            "seed": int(compiled.seed),
            "rgb": "rgb.png",
        },
        "categories": [
            {"id": i, "name": name} for i, name in enumerate(compiled.class_names) if i > 0
        ],
        "objects": objects,
    }
