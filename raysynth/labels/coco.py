"""COCO export of labels records, plus the dataset entries every exporter reads.

Entries
-------
Each exporter (``coco.py``, ``yolo.py``, ``bop.py``) takes an iterable of :class:`ImageEntry`:
the image id, the path of its RGB file, its labels record (see ``raysynth.labels``) and, when
known, where to get its depth layer. Entries can be built in memory or listed from a dataset
folder with :func:`load_dataset_entries`::

    DIR/images/{k:06d}.png            RGB
    DIR/labels/{k:06d}.json           labels record
    DIR/layers/{k:06d}/depth.npy      float32 (H, W) z-depth in scene units, 0 = no hit

COCO file
---------
``build_coco`` returns the usual ``images`` / ``categories`` / ``annotations`` dictionary that
pycocotools' ``COCO`` loads:

* ``images``: ``id`` (the entry's image_id), ``file_name`` (the entry's ``rgb_path``, relative to
  the dataset folder), ``width``, ``height``.
* ``categories``: the union of every record's categories, sorted by id, keeping the scene's real
  class ids and names (unused classes are kept too); ``supercategory`` is taken from the record's
  category when it has one, else ``"object"``. A category whose objects carry K keypoints gets
  ``keypoints: ["kp0", ..., "kp{K-1}"]`` and ``skeleton: []``.
* ``annotations``: one per kept object, ids 1, 2, ... in (image_id, instance_id) order.
  ``segmentation`` is the compressed RLE of the visible mask, ``area`` its pixel count, ``bbox``
  its tight [x, y, w, h] (pixel (x, y) covers [x, x+1) x [y, y+1)), ``iscrowd`` 0. Extra fields:
  ``bbox_amodal`` (exact projection clipped to the image), ``segmentation_amodal`` (RLE),
  ``visibility``, ``truncated``, ``instance_id``, ``pose`` (camera-from-object R, t, scale in
  scene units, OpenCV axes) and, for keypoint categories, ``keypoints`` (flat [x, y, v, ...] in
  the same continuous pixel coordinates; COCO's x = y = 0 when v = 0) and ``num_keypoints``
  (count of v > 0).

An object is kept when it is ``annotated``, has visible pixels, and its visibility is at least
``min_visibility`` (:func:`keep_object`, shared with the YOLO export).
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Union

import numpy as np

from ..errors import RaysynthError
from ..io import atomic_write_bytes
from . import rle

DepthSource = Union[Callable[[], np.ndarray], str, os.PathLike, None]


@dataclass(frozen=True)
class ImageEntry:
    """One image of a dataset, as the exporters see it.

    Attributes
    ----------
    image_id : int, unique within a dataset (COCO image id, BOP im_id, file stem)
    rgb_path : path of the RGB file relative to ``root`` (COCO ``file_name``), e.g.
        ``"images/000003.png"``; POSIX separators
    labels : the image's labels record (dict, see ``raysynth.labels``)
    depth : how to get the (H, W) z-depth in scene units (0 = no hit): a callable returning the
        array, a ``.npy`` path (relative paths are under ``root``), or None when there is none
    root : folder the relative paths are under (None: the current folder)
    """

    image_id: int
    rgb_path: str
    labels: dict
    depth: DepthSource = None
    root: Path | None = None

    @property
    def rgb_file(self) -> Path:
        """``root / rgb_path`` (the current folder when root is None)."""
        return Path(self.root or ".") / self.rgb_path

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the image, from the record."""
        image = self.labels["image"]
        return int(image["height"]), int(image["width"])

    def load_depth(self) -> np.ndarray | None:
        """(H, W) float64 z-depth in scene units (non-finite values read as 0), or None."""
        if self.depth is None:
            return None
        if callable(self.depth):
            depth = self.depth()
        else:
            path = Path(self.depth)
            if not path.is_absolute():
                path = Path(self.root or ".") / path
            depth = np.load(path, allow_pickle=False)
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != self.size:
            raise RaysynthError(f"image {self.image_id}: depth is {depth.shape}, the image is {self.size}")
        return np.where(np.isfinite(depth), depth, 0.0)


def load_dataset_entries(directory) -> list[ImageEntry]:
    """Entries of a dataset folder (layout in the module docstring), in image_id order.

    Every ``labels/<digits>.json`` is one image; its depth is ``layers/<stem>/depth.npy`` when
    that file exists.
    """
    root = Path(directory)
    labels_dir = root / "labels"
    if not labels_dir.is_dir():
        raise RaysynthError(f"{root}: no labels/ folder")
    entries = []
    for path in labels_dir.glob("*.json"):
        if not path.stem.isdigit():
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise RaysynthError(f"{path}: cannot read labels record ({err})") from None
        depth = Path("layers") / path.stem / "depth.npy"
        entries.append(ImageEntry(
            image_id=int(path.stem),
            rgb_path=f"images/{path.stem}.png",
            labels=record,
            depth=depth if (root / depth).is_file() else None,
            root=root,
        ))
    entries.sort(key=lambda e: e.image_id)
    check_unique_ids(entries)
    return entries


# --------------------------------------------------------------------------------------
# helpers shared by the exporters
# --------------------------------------------------------------------------------------


def check_unique_ids(entries: list[ImageEntry]) -> None:
    seen = set()
    for entry in entries:
        if entry.image_id in seen:
            raise RaysynthError(f"image_id {entry.image_id} appears twice")
        seen.add(entry.image_id)


def sorted_entries(entries: Iterable[ImageEntry]) -> list[ImageEntry]:
    """The entries as a list in image_id order; duplicate ids are an error."""
    entries = sorted(entries, key=lambda e: int(e.image_id))
    check_unique_ids(entries)
    return entries


def collect_categories(entries: list[ImageEntry]) -> list[dict]:
    """Union of the records' categories, sorted by id: [{"id", "name", "supercategory"}].

    The same id with two different names is an error, as is an annotated object whose class is
    not listed in its record's categories.
    """
    by_id: dict[int, dict] = {}
    for entry in entries:
        for cat in entry.labels.get("categories", []):
            cid, name = int(cat["id"]), str(cat["name"])
            if cid in by_id and by_id[cid]["name"] != name:
                raise RaysynthError(
                    f"image {entry.image_id}: category {cid} is named {name!r} here and "
                    f"{by_id[cid]['name']!r} in another image")
            by_id.setdefault(cid, {"id": cid, "name": name,
                                   "supercategory": str(cat.get("supercategory", "object"))})
        listed = {int(c["id"]) for c in entry.labels.get("categories", [])}
        for obj in entry.labels.get("objects", []):
            if obj.get("annotated") and int(obj["class_id"]) not in listed:
                raise RaysynthError(
                    f"image {entry.image_id}: object {obj.get('instance_id')} has class "
                    f"{obj['class_id']}, which is not in the record's categories")
    return [by_id[k] for k in sorted(by_id)]


def keep_object(obj: dict, min_visibility: float) -> bool:
    """Whether an object gets an export entry: annotated, some visible pixel, visibility at least
    ``min_visibility``."""
    return (bool(obj.get("annotated"))
            and int(obj.get("visible_pixels", 0)) > 0
            and float(obj.get("visibility", 0.0)) >= min_visibility)


def sorted_objects(record: dict) -> list[dict]:
    """The record's objects in instance_id order."""
    return sorted(record.get("objects", []), key=lambda o: int(o["instance_id"]))


def compressed_rle(rle_dict: dict, size: tuple[int, int], what: str) -> dict:
    """``{"size": [H, W], "counts": str}`` of a record RLE (compressed or list counts), checked
    against the image size (H, W)."""
    if [int(v) for v in rle_dict["size"]] != [int(size[0]), int(size[1])]:
        raise RaysynthError(f"{what}: mask size {list(rle_dict['size'])} is not the image size {list(size)}")
    counts = rle_dict["counts"]
    if not isinstance(counts, str):
        counts = rle.counts_to_string(counts)
    return {"size": [int(size[0]), int(size[1])], "counts": counts}


def object_masks(obj: dict, size: tuple[int, int], what: str) -> tuple[np.ndarray, np.ndarray]:
    """(visible, amodal) (H, W) bool masks of a record object."""
    visible = rle.decode(compressed_rle(obj["mask_visible"], size, what))
    amodal = rle.decode(compressed_rle(obj["mask_amodal"], size, what)) if "mask_amodal" in obj else visible
    return visible, amodal


def keypoint_count(obj: dict) -> int:
    """Number of image keypoints of a record object (0 when it has none)."""
    kps = obj.get("keypoints") or {}
    return len(kps.get("image") or [])


def write_json(path: Path, data) -> None:
    atomic_write_bytes(Path(path), (json.dumps(data, allow_nan=False) + "\n").encode())


def place_file(src: Path, dst: Path, link: bool = True) -> None:
    """Put a copy of ``src`` at ``dst`` atomically: a hard link when ``link`` and the file system
    allows it, else a byte copy."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise RaysynthError(f"{src}: no such file")
    if link:
        tmp = dst.parent / f".{dst.name}.{uuid.uuid4().hex}.tmp"
        try:
            os.link(src, tmp)
            os.replace(tmp, dst)
            return
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass
    atomic_write_bytes(dst, src.read_bytes())


# --------------------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------------------


def _keypoints_per_category(entries: list[ImageEntry]) -> dict[int, int]:
    """class id -> keypoint count K (> 0) over all annotated objects; a class must have one K."""
    counts: dict[int, int] = {}
    for entry in entries:
        for obj in entry.labels.get("objects", []):
            k = keypoint_count(obj)
            if not obj.get("annotated") or k == 0:
                continue
            cid = int(obj["class_id"])
            if counts.setdefault(cid, k) != k:
                raise RaysynthError(
                    f"image {entry.image_id}: object {obj['instance_id']} of class {cid} has {k} "
                    f"keypoints, other objects of the class have {counts[cid]}")
    return counts


def _coco_keypoints(obj: dict) -> tuple[list, int]:
    """Flat [x, y, v, ...] (x = y = 0 where v = 0, as COCO does) and the count of v > 0."""
    flat, n = [], 0
    for x, y, v in obj["keypoints"]["image"]:
        v = int(v)
        if v > 0:
            flat += [float(x), float(y), v]
            n += 1
        else:
            flat += [0.0, 0.0, 0]
    return flat, n


def build_coco(entries: Iterable[ImageEntry], *, min_visibility: float = 0.0,
               include_unannotated: bool = False, info: dict | None = None) -> dict:
    """COCO instances dictionary of the entries (fields in the module docstring).

    Parameters
    ----------
    entries : ImageEntry iterable (any order; written in image_id order)
    min_visibility : objects with visibility (visible / amodal pixels) below this are left out
    include_unannotated : also list images that end up with no annotation (negatives)
    info : the file's ``info`` block (default: a short description)
    """
    entries = sorted_entries(entries)
    categories = collect_categories(entries)
    kp_counts = _keypoints_per_category(entries)
    for cat in categories:
        k = kp_counts.get(cat["id"], 0)
        if k:
            cat["keypoints"] = [f"kp{i}" for i in range(k)]
            cat["skeleton"] = []

    images, annotations = [], []
    for entry in entries:
        size = entry.size
        anns = []
        for obj in sorted_objects(entry.labels):
            if not keep_object(obj, min_visibility):
                continue
            what = f"image {entry.image_id} object {obj['instance_id']}"
            visible, amodal = object_masks(obj, size, what)
            n_visible = int(visible.sum())
            if n_visible == 0:
                continue
            ann = {
                "id": 0,
                "image_id": int(entry.image_id),
                "category_id": int(obj["class_id"]),
                "segmentation": compressed_rle(obj["mask_visible"], size, what),
                "area": n_visible,
                "bbox": rle.bbox(visible),
                "iscrowd": 0,
                "bbox_amodal": [float(v) for v in obj["bbox_amodal"]] if "bbox_amodal" in obj else rle.bbox(amodal),
                "segmentation_amodal": rle.encode(amodal),
                "visibility": float(obj.get("visibility", n_visible / max(int(amodal.sum()), 1))),
                "truncated": bool(obj.get("truncated", False)),
                "instance_id": int(obj["instance_id"]),
            }
            if "pose" in obj:
                pose = obj["pose"]
                ann["pose"] = {key: np.asarray(pose[key], dtype=float).tolist() for key in ("R", "t", "scale") if key in pose}
            if kp_counts.get(ann["category_id"], 0):
                ann["keypoints"], ann["num_keypoints"] = _coco_keypoints(obj)
            anns.append(ann)
        if anns or include_unannotated:
            images.append({"id": int(entry.image_id), "file_name": str(entry.rgb_path),
                           "width": size[1], "height": size[0]})
            annotations += anns
    for i, ann in enumerate(annotations, start=1):
        ann["id"] = i
    return {
        "info": dict(info) if info is not None else {"description": "raysynth synthetic dataset"},
        "licenses": [],
        "images": images,
        "categories": categories,
        "annotations": annotations,
    }


def write_coco(path, entries: Iterable[ImageEntry], *, min_visibility: float = 0.0,
               include_unannotated: bool = False, info: dict | None = None) -> dict:
    """Build the COCO dictionary (:func:`build_coco`) and write it to ``path`` atomically as JSON;
    returns the dictionary."""
    coco = build_coco(entries, min_visibility=min_visibility,
                      include_unannotated=include_unannotated, info=info)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, coco)
    return coco
