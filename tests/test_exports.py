"""Tests for the annotation exports (raysynth.labels.coco / yolo / bop).

Labels records are built by hand from numpy masks (RLE encoded with pycocotools, not rle.py), and
every export is read back with independent tools: pycocotools (COCO file, annToMask, polygon
rasterization, COCOeval), scipy.ndimage (connected components, hole filling), imageio, and a
small even-odd polygon rasterizer written here.
"""
from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raysynth.errors import RaysynthError
from raysynth.io import png_bytes
from raysynth.labels.bop import choose_depth_scale, write_bop_scene
from raysynth.labels.coco import ImageEntry, build_coco, load_dataset_entries, write_coco
from raysynth.labels.yolo import connected_components, mask_polygons, write_yolo

mask_utils = pytest.importorskip("pycocotools.mask")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

ndimage = pytest.importorskip("scipy.ndimage")

# pycocotools' own numpy-2 deprecation notice, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

EIGHT = np.ones((3, 3), dtype=int)  # 8-connectivity structure for scipy.ndimage.label


# --------------------------------------------------------------------------------------
# hand-built dataset
# --------------------------------------------------------------------------------------


def rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def disc(h, w, cx, cy, r):
    ys, xs = np.mgrid[0:h, 0:w]
    return (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r


def coco_rle(mask):
    """pycocotools' compressed RLE with str counts (the record format)."""
    enc = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in enc["size"]], "counts": enc["counts"].decode("ascii")}


def extent(mask):
    """[x, y, w, h] of a mask's pixels (pixel (x, y) covers [x, x+1))."""
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())]


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


K0 = np.array([[50.0, 0.0, 24.0], [0.0, 50.0, 18.0], [0.0, 0.0, 1.0]])
BOUNDS = np.array([[-0.1, -0.05, -0.2], [0.1, 0.05, 0.2]])
CORNERS = np.array([[BOUNDS[(i >> 2) & 1, 0], BOUNDS[(i >> 1) & 1, 1], BOUNDS[i & 1, 2]] for i in range(8)])


def make_object(inst, cls, name, visible, amodal, *, K, annotated=True, keypoints=None, seed=0):
    rng = np.random.default_rng(seed)
    R = rotation(*rng.uniform(-np.pi, np.pi, 3))
    t = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), rng.uniform(2.0, 4.0)])
    scale = rng.uniform(0.5, 2.0, 3)
    cam = (R @ (scale * CORNERS).T).T + t
    img = (K @ cam.T).T
    img = img[:, :2] / img[:, 2:]
    n_vis, n_amo = int(visible.sum()), int(amodal.sum())
    obj = {
        "instance_id": inst, "class_id": cls, "class_name": name, "name": f"obj{inst}", "type": "mesh",
        "annotated": annotated, "visible_pixels": n_vis, "amodal_pixels": n_amo,
        "visibility": n_vis / n_amo if n_amo else 0.0, "edge_pixels": 0,
        "mask_visible": coco_rle(visible), "mask_amodal": coco_rle(amodal),
        "bbox_visible": extent(visible) if n_vis else [0.0, 0.0, 0.0, 0.0],
        "bbox_amodal": [v - 0.3 for v in extent(amodal)[:2]] + [v + 0.7 for v in extent(amodal)[2:]],
        "bbox_amodal_unclipped": None if inst % 2 else [-2.5, 1.2, 10.0, 3.3],
        "truncated": bool(inst % 2 == 0), "in_front": True,
        "pose": {"R": R.tolist(), "t": t.tolist(), "scale": scale.tolist()},
        "object_to_world": np.eye(4).tolist(),
        "bbox_3d": {"object": BOUNDS.tolist(), "camera": cam.tolist(), "image": img.tolist()},
    }
    if keypoints is not None:
        obj["keypoints"] = {"object": [[0, 0, 0]] * len(keypoints), "world": [[0, 0, 0]] * len(keypoints),
                            "image": [list(k) for k in keypoints]}
    return obj


def build_dataset():
    """{image_id: (record, rgb (H, W, 3) uint8, depth (H, W) float32 or None, {inst: (visible, amodal)})}."""
    rng = np.random.default_rng(7)
    images = {}

    # image 0: 36 x 48
    h, w = 36, 48
    ball = disc(h, w, 24, 16, 7)
    a_amo = rect(h, w, 5, 20, 4, 30)
    hidden = rect(h, w, 14, 18, 21, 27)
    assert not (hidden & ~ball).any()
    distractor = rect(h, w, 25, 33, 2, 10)
    low_amo = rect(h, w, 22, 34, 30, 46)
    low_vis = rect(h, w, 22, 24, 30, 46)
    masks = {1: (a_amo & ~ball, a_amo), 2: (ball, ball), 3: (np.zeros_like(ball), hidden),
             4: (distractor, distractor), 5: (low_vis, low_amo)}
    objects = [
        make_object(1, 3, "cube", *masks[1], K=K0, seed=1),
        make_object(2, 7, "ball", *masks[2], K=K0, seed=2,
                    keypoints=[(24.5, 16.5, 2), (30.25, 10.0, 1), (-5.0, 3.0, 0)]),
        make_object(3, 3, "cube", *masks[3], K=K0, seed=3),
        make_object(4, 0, None, *masks[4], K=K0, annotated=False, seed=4),
        make_object(5, 7, "ball", *masks[5], K=K0, seed=5,
                    keypoints=[(35.0, 23.0, 2), (40.0, 30.0, 1), (float("nan"), float("nan"), 0)]),
    ]
    first_hit = masks[1][0] | ball | distractor | low_vis
    depth = np.where(first_hit, rng.uniform(0.5, 4.0, (h, w)), 0.0).astype(np.float32)
    depth[10, 8] = 0.0  # a hole in the depth: not a valid pixel of object 1
    record = {"image": {"width": w, "height": h, "K": K0.tolist(), "world_to_camera": None,
                        "spp": 4, "seed": 0, "rgb": "rgb.png"},
              "categories": [{"id": 3, "name": "cube"}, {"id": 7, "name": "ball"}],
              "objects": objects}
    images[0] = (record, h, w, depth, masks)

    # image 5: 30 x 40, object 1 split in two by object 2; an unused class 9
    h, w = 30, 40
    K5 = np.array([[40.0, 0.0, 20.0], [0.0, 40.0, 15.0], [0.0, 0.0, 1.0]])
    bar = rect(h, w, 0, 26, 15, 20)
    plate = rect(h, w, 4, 20, 3, 35)
    masks = {1: (plate & ~bar, plate), 2: (bar, bar)}
    objects = [
        make_object(2, 7, "ball", *masks[2], K=K5, seed=6, keypoints=[(16, 1, 2), (17, 12, 2), (18, 25, 2)]),
        make_object(1, 3, "cube", *masks[1], K=K5, seed=7),  # out of instance order on purpose
    ]
    depth = np.where(plate | bar, rng.uniform(1.0, 3.0, (h, w)), 0.0).astype(np.float32)
    depth[0, 16] = 70.0  # far: needs depth_scale 2 mm
    record = {"image": {"width": w, "height": h, "K": K5.tolist(), "world_to_camera": None,
                        "spp": 4, "seed": 1, "rgb": "rgb.png"},
              "categories": [{"id": 3, "name": "cube"}, {"id": 7, "name": "ball"}, {"id": 9, "name": "unused"}],
              "objects": objects}
    images[5] = (record, h, w, depth, masks)

    # image 9: nothing to annotate (a distractor only), no depth layer
    h, w = 20, 24
    masks = {1: (rect(h, w, 2, 8, 2, 8), rect(h, w, 2, 8, 2, 8))}
    record = {"image": {"width": w, "height": h, "K": K0.tolist(), "world_to_camera": None,
                        "spp": 4, "seed": 2, "rgb": "rgb.png"},
              "categories": [{"id": 3, "name": "cube"}],
              "objects": [make_object(1, 0, None, *masks[1], K=K0, annotated=False, seed=8)]}
    images[9] = (record, h, w, None, masks)

    out = {}
    for k, (record, h, w, depth, masks) in images.items():
        a = rotation(0.1 * k, 0.2, -0.3)
        w2c = np.eye(4)
        w2c[:3, :3] = a
        w2c[:3, 3] = [0.1 * k, -0.2, 1.5]
        record["image"]["world_to_camera"] = w2c.tolist()
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        out[k] = (record, rgb, depth, masks)
    return out


@pytest.fixture(scope="module")
def data():
    return build_dataset()


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, data):
    """The dataset on disk: images/, labels/, layers/{k}/depth.npy."""
    root = tmp_path_factory.mktemp("dataset")
    for sub in ("images", "labels"):
        (root / sub).mkdir()
    for k, (record, rgb, depth, _) in data.items():
        (root / "images" / f"{k:06d}.png").write_bytes(png_bytes(rgb))
        (root / "labels" / f"{k:06d}.json").write_text(json.dumps(record))
        if depth is not None:
            (root / "layers" / f"{k:06d}").mkdir(parents=True)
            np.save(root / "layers" / f"{k:06d}" / "depth.npy", depth)
    (root / "labels" / "notes.json").write_text("{}")  # not an image: ignored
    return root


@pytest.fixture(scope="module")
def entries(dataset_dir):
    return load_dataset_entries(dataset_dir)


def kept(data, min_visibility=0.0):
    """(image_id, instance_id) of the objects an export should keep, by the rule in the brief."""
    return {(k, o["instance_id"]) for k, (rec, *_) in data.items() for o in rec["objects"]
            if o["annotated"] and o["visible_pixels"] > 0 and o["visibility"] >= min_visibility}


# --------------------------------------------------------------------------------------
# entries
# --------------------------------------------------------------------------------------


def test_load_dataset_entries(entries, data, dataset_dir):
    assert [e.image_id for e in entries] == [0, 5, 9]
    assert [e.rgb_path for e in entries] == ["images/000000.png", "images/000005.png", "images/000009.png"]
    for e in entries:
        assert e.labels == json.loads(json.dumps(data[e.image_id][0]))
        assert e.rgb_file.read_bytes() == (dataset_dir / e.rgb_path).read_bytes()
        depth = data[e.image_id][2]
        if depth is None:
            assert e.load_depth() is None
        else:
            np.testing.assert_array_equal(e.load_depth(), depth)


def test_entry_depth_callable_and_shape_check(data):
    record, _, depth, _ = data[0]
    e = ImageEntry(0, "x.png", record, depth=lambda: depth)
    np.testing.assert_array_equal(e.load_depth(), depth)
    with pytest.raises(RaysynthError, match="depth"):
        ImageEntry(0, "x.png", record, depth=lambda: depth[:-1]).load_depth()


# --------------------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------------------


def test_coco_pycocotools_roundtrip(tmp_path, entries, data):
    path = tmp_path / "ann" / "instances.json"
    write_coco(path, entries)
    coco = COCO(str(path))

    assert coco.getCatIds() == [3, 7, 9]
    cats = coco.loadCats([3, 7, 9])
    assert [c["name"] for c in cats] == ["cube", "ball", "unused"]
    assert all(c["supercategory"] == "object" for c in cats)
    assert "keypoints" not in cats[0] and "keypoints" not in cats[2]
    assert cats[1]["keypoints"] == ["kp0", "kp1", "kp2"] and cats[1]["skeleton"] == []

    assert sorted(coco.getImgIds()) == [0, 5]  # image 9 has no annotation
    img5 = coco.loadImgs(5)[0]
    assert (img5["file_name"], img5["width"], img5["height"]) == ("images/000005.png", 40, 30)

    anns = coco.loadAnns(coco.getAnnIds())
    assert [a["id"] for a in anns] == [1, 2, 3, 4, 5]
    assert [(a["image_id"], a["instance_id"]) for a in anns] == [(0, 1), (0, 2), (0, 5), (5, 1), (5, 2)]
    assert {(a["image_id"], a["instance_id"]) for a in anns} == kept(data)
    for ann in anns:
        record, _, _, masks = data[ann["image_id"]]
        obj = next(o for o in record["objects"] if o["instance_id"] == ann["instance_id"])
        visible, amodal = masks[ann["instance_id"]]
        got = coco.annToMask(ann)
        assert got.dtype == np.uint8 and got.shape == visible.shape
        np.testing.assert_array_equal(got.astype(bool), visible)
        assert ann["area"] == int(visible.sum()) and isinstance(ann["area"], int)
        assert ann["bbox"] == extent(visible)
        assert ann["category_id"] == obj["class_id"] and ann["iscrowd"] == 0
        np.testing.assert_array_equal(mask_utils.decode(ann["segmentation_amodal"]).astype(bool), amodal)
        assert ann["bbox_amodal"] == obj["bbox_amodal"]
        assert ann["visibility"] == pytest.approx(visible.sum() / amodal.sum())
        assert ann["truncated"] == obj["truncated"]
        assert ann["pose"] == obj["pose"]
        if ann["category_id"] == 7:
            expect = []
            for x, y, v in obj["keypoints"]["image"]:
                expect += [x, y, v] if v > 0 else [0, 0, 0]
            assert ann["keypoints"] == expect
            assert ann["num_keypoints"] == sum(v > 0 for _, _, v in obj["keypoints"]["image"])
        else:
            assert "keypoints" not in ann
    assert coco.loadAnns(2)[0]["num_keypoints"] == 2


def test_coco_self_evaluation_is_perfect(tmp_path, entries):
    """Ground truth submitted as detections scores AP 1 for boxes and masks in COCOeval."""
    path = tmp_path / "gt.json"
    gt_dict = write_coco(path, entries)
    gt = COCO(str(path))
    for iou_type, key in (("bbox", "bbox"), ("segm", "segmentation")):
        dets = [{"image_id": a["image_id"], "category_id": a["category_id"], key: a[key], "score": 1.0}
                for a in gt_dict["annotations"]]
        ev = COCOeval(gt, gt.loadRes(dets), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        assert ev.stats[0] == pytest.approx(1.0)


def test_coco_min_visibility_and_negatives(entries, data):
    low = next(o for o in data[0][0]["objects"] if o["instance_id"] == 5)["visibility"]
    assert 0.1 < low < 0.3
    anns = build_coco(entries, min_visibility=0.3)["annotations"]
    assert {(a["image_id"], a["instance_id"]) for a in anns} == kept(data, 0.3) == kept(data) - {(0, 5)}
    assert [a["id"] for a in anns] == list(range(1, len(anns) + 1))
    at_threshold = build_coco(entries, min_visibility=low)["annotations"]
    assert (0, 5) in {(a["image_id"], a["instance_id"]) for a in at_threshold}

    coco = build_coco(entries, include_unannotated=True, info={"description": "x"})
    assert [i["id"] for i in coco["images"]] == [0, 5, 9]
    assert coco["info"] == {"description": "x"}


def test_coco_from_memory_matches_disk(entries, data):
    memory = [ImageEntry(k, f"images/{k:06d}.png", rec) for k, (rec, *_) in reversed(list(data.items()))]
    assert build_coco(memory) == build_coco(entries)


def test_coco_rejects_inconsistent_categories(data):
    rec0, rec5 = data[0][0], json.loads(json.dumps(data[5][0]))
    rec5["categories"][1]["name"] = "sphere"  # id 7 named "ball" in image 0
    with pytest.raises(RaysynthError, match="category 7"):
        build_coco([ImageEntry(0, "a.png", rec0), ImageEntry(5, "b.png", rec5)])
    with pytest.raises(RaysynthError, match="twice"):
        build_coco([ImageEntry(0, "a.png", rec0), ImageEntry(0, "b.png", rec0)])


# --------------------------------------------------------------------------------------
# YOLO
# --------------------------------------------------------------------------------------


def read_lines(path):
    return [[float(v) for v in line.split()] for line in Path(path).read_text().splitlines()]


def test_yolo_boxes(tmp_path, entries, data, dataset_dir):
    out = tmp_path / "yolo"
    result = write_yolo(out, entries, split={5: "val"})
    assert result["names"] == ["cube", "ball", "unused"]
    text = (out / "data.yaml").read_text()
    assert text == (f'path: {json.dumps(str(out.resolve()))}\ntrain: "images/train"\nval: "images/val"\n'
                    'nc: 3\nnames:\n  0: "cube"\n  1: "ball"\n  2: "unused"\n')
    assert sorted(p.name for p in (out / "labels" / "train").iterdir()) == ["000000.txt"]
    assert sorted(p.name for p in (out / "labels" / "val").iterdir()) == ["000005.txt"]
    assert not (out / "images" / "train" / "000009.png").exists()

    class_index = {3: 0, 7: 1, 9: 2}
    for k, split in ((0, "train"), (5, "val")):
        record, rgb, _, masks = data[k]
        h, w = rgb.shape[:2]
        assert (out / "images" / split / f"{k:06d}.png").read_bytes() == (dataset_dir / f"images/{k:06d}.png").read_bytes()
        lines = read_lines(out / "labels" / split / f"{k:06d}.txt")
        objs = sorted((o for o in record["objects"] if (k, o["instance_id"]) in kept(data)),
                      key=lambda o: o["instance_id"])
        assert len(lines) == len(objs)
        for line, obj in zip(lines, objs):
            cls, xc, yc, bw, bh = line
            assert cls == class_index[obj["class_id"]]
            x, y, bw_px, bh_px = extent(masks[obj["instance_id"]][0])
            np.testing.assert_allclose([(xc - bw / 2) * w, (yc - bh / 2) * h, bw * w, bh * h],
                                       [x, y, bw_px, bh_px], rtol=1e-6, atol=1e-6 * w)
            assert all(0.0 <= v <= 1.0 for v in line[1:])

    write_yolo(out / "filtered", entries, min_visibility=0.3, include_unannotated=True, link=False)
    assert len(read_lines(out / "filtered" / "labels" / "train" / "000000.txt")) == 2
    assert (out / "filtered" / "labels" / "train" / "000009.txt").read_text() == ""
    assert 'val: "images/train"' in (out / "filtered" / "data.yaml").read_text()


def even_odd(poly, h, w):
    """(H, W) bool: pixel centres inside polygon (n, 2) by the even-odd rule."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    inside = np.zeros((h, w), dtype=bool)
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        if y1 == y2:
            continue
        crosses = ((y1 > ys) != (y2 > ys)) & (xs < x1 + (ys - y1) * (x2 - x1) / (y2 - y1))
        inside ^= crosses
    return inside


def reference_components(mask):
    """scipy's 8-connected components with holes filled, largest first (ties: label order)."""
    labels, n = ndimage.label(mask, structure=EIGHT)
    comps = [labels == i for i in range(1, n + 1)]
    comps.sort(key=lambda c: -int(c.sum()))  # stable: label (row-major) order among ties
    return comps


def test_yolo_segments(tmp_path, entries, data):
    out = tmp_path / "yolo"
    write_yolo(out, entries, segments=True)
    for k in (0, 5):
        record, rgb, _, masks = data[k]
        h, w = rgb.shape[:2]
        lines = read_lines(out / "labels" / "train" / f"{k:06d}.txt")
        insts = sorted(i for (kk, i) in kept(data) if kk == k)
        assert len(lines) == len(insts)
        for line, inst in zip(lines, insts):
            visible = masks[inst][0]
            largest = ndimage.binary_fill_holes(reference_components(visible)[0])
            poly = np.asarray(line[1:]).reshape(-1, 2) * [w, h]
            np.testing.assert_array_equal(even_odd(poly, h, w), largest)
            raster = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([poly.ravel().tolist()], h, w)))
            iou = (raster.astype(bool) & largest).sum() / (raster.astype(bool) | largest).sum()
            assert iou > 0.99, (k, inst, iou)  # corner polygons rasterize exactly here
    # object 1 of image 5 is cut in two by object 2: the largest piece is its right part
    line = read_lines(out / "labels" / "train" / "000005.txt")[0]
    assert sorted(set(np.asarray(line[1:]).reshape(-1, 2)[:, 0] * 40)) == pytest.approx([20.0, 35.0])

    write_yolo(out / "all", entries, segments=True, polygons="components")
    lines = read_lines(out / "all" / "labels" / "train" / "000005.txt")
    assert len(lines) == 3 and [line[0] for line in lines] == [0, 0, 1]
    union = np.zeros((30, 40), dtype=bool)
    for line in lines[:2]:
        union |= even_odd(np.asarray(line[1:]).reshape(-1, 2) * [40, 30], 30, 40)
    np.testing.assert_array_equal(union, data[5][3][1][0])


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1), st.floats(0.2, 0.8))
def test_tracer_matches_scipy_components(h, w, seed, density):
    """Every component's outer polygon covers exactly its hole-filled pixels (pixel-centre
    even-odd), components come largest first as scipy labels them."""
    mask = np.random.default_rng(seed).random((h, w)) < density
    ours = connected_components(mask)
    ref = reference_components(mask)
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)
    for poly, comp in zip(mask_polygons(mask, largest_only=False), ref):
        np.testing.assert_array_equal(even_odd(poly, h, w), ndimage.binary_fill_holes(comp))
        assert np.all(poly == np.round(poly))
    assert mask_polygons(np.zeros((3, 3), dtype=bool)) == []


def test_tracer_hand_case():
    m = np.zeros((4, 5), dtype=bool)
    m[1, 1:4] = True
    m[2, 1] = True
    m[3, 2] = True  # touches (1, 2) diagonally only
    (poly,) = mask_polygons(m)
    assert poly.tolist() == [[1, 1], [4, 1], [4, 2], [2, 2], [2, 3], [3, 3], [3, 4], [2, 4], [2, 3], [1, 3]]


# --------------------------------------------------------------------------------------
# BOP
# --------------------------------------------------------------------------------------


def test_choose_depth_scale():
    assert choose_depth_scale(0.0) == 0.1
    assert choose_depth_scale(6553.5) == 0.1
    assert choose_depth_scale(6553.6) == 0.2
    assert choose_depth_scale(70000.0) == 2.0
    assert choose_depth_scale(1e6) == 20.0


def test_bop_scene(tmp_path, entries, data, dataset_dir):
    out = tmp_path / "train_pbr" / "000000"
    write_bop_scene(out, entries)
    cams = json.loads((out / "scene_camera.json").read_text())
    gts = json.loads((out / "scene_gt.json").read_text())
    infos = json.loads((out / "scene_gt_info.json").read_text())
    assert sorted(cams) == sorted(gts) == sorted(infos) == ["0", "5", "9"]

    for k, (record, rgb, depth, masks) in data.items():
        cam = cams[str(k)]
        h, w = rgb.shape[:2]
        K = np.asarray(record["image"]["K"])
        w2c = np.asarray(record["image"]["world_to_camera"])
        np.testing.assert_array_equal(np.reshape(cam["cam_K"], (3, 3)), K)
        np.testing.assert_array_equal(np.reshape(cam["cam_R_w2c"], (3, 3)), w2c[:3, :3])
        np.testing.assert_allclose(cam["cam_t_w2c"], w2c[:3, 3] * 1000, rtol=1e-12)
        assert (out / "rgb" / f"{k:06d}.png").read_bytes() == (dataset_dir / f"images/{k:06d}.png").read_bytes()

        if depth is None:
            assert "depth_scale" not in cam and not (out / "depth" / f"{k:06d}.png").exists()
        else:
            ds = cam["depth_scale"]
            assert ds == {0: 0.1, 5: 2.0}[k]
            png = iio.imread(out / "depth" / f"{k:06d}.png")
            assert png.dtype == np.uint16 and png.shape == (h, w)
            err = np.abs(png * ds - depth.astype(np.float64) * 1000)
            assert err.max() <= ds / 2 * (1 + 1e-9)
            assert np.array_equal(png == 0, depth == 0)

        objs = sorted((o for o in record["objects"] if o["annotated"]), key=lambda o: o["instance_id"])
        assert [g["obj_id"] for g in gts[str(k)]] == [o["class_id"] for o in objs]
        assert len(infos[str(k)]) == len(objs)
        for gt_id, (gt, info, obj) in enumerate(zip(gts[str(k)], infos[str(k)], objs)):
            visible, amodal = masks[obj["instance_id"]]
            R = np.reshape(gt["cam_R_m2c"], (3, 3))
            np.testing.assert_array_equal(R, obj["pose"]["R"])
            np.testing.assert_allclose(gt["cam_t_m2c"], np.multiply(obj["pose"]["t"], 1000), rtol=1e-12)
            # units: the record's projected 3D box, from the mm pose and a mm model
            cam_mm = (R @ (np.asarray(gt["scale_m2c"]) * CORNERS * 1000).T).T + gt["cam_t_m2c"]
            uv = (K @ cam_mm.T).T
            np.testing.assert_allclose(uv[:, :2] / uv[:, 2:], obj["bbox_3d"]["image"], rtol=1e-9)

            assert info["px_count_all"] == int(amodal.sum())
            assert info["px_count_visib"] == int(visible.sum())
            assert info["px_count_valid"] == int((amodal & (depth > 0)).sum())
            assert info["visib_fract"] == pytest.approx(visible.sum() / amodal.sum())
            assert info["bbox_visib"] == ([int(v) for v in extent(visible)] if visible.any() else [-1, -1, -1, -1])
            exact = obj["bbox_amodal_unclipped"] or obj["bbox_amodal"]
            x0, y0 = np.floor(exact[0]), np.floor(exact[1])
            assert info["bbox_obj"] == [x0, y0, np.ceil(exact[0] + exact[2]) - x0, np.ceil(exact[1] + exact[3]) - y0]
            for sub, m in (("mask", amodal), ("mask_visib", visible)):
                png = iio.imread(out / sub / f"{k:06d}_{gt_id:06d}.png")
                assert png.dtype == np.uint8
                np.testing.assert_array_equal(png, m.astype(np.uint8) * 255)
    # image 0: the hidden cube (3) is kept with an empty visible box, the distractor (4) is not
    assert [g["obj_id"] for g in gts["0"]] == [3, 7, 3, 7]
    assert infos["0"][2]["bbox_visib"] == [-1, -1, -1, -1] and infos["0"][2]["visib_fract"] == 0.0
    assert infos["0"][0]["px_count_valid"] == infos["0"][0]["px_count_all"] - 1
    assert gts["9"] == []

    write_bop_scene(tmp_path / "filtered", entries, min_visibility=0.3, unit_mm=1.0, depth_scale=0.5)
    gts = json.loads((tmp_path / "filtered" / "scene_gt.json").read_text())
    assert [g["obj_id"] for g in gts["0"]] == [3, 7]
    assert json.loads((tmp_path / "filtered" / "scene_camera.json").read_text())["5"]["depth_scale"] == 0.5


def test_bop_depth_scale_too_small(tmp_path, entries):
    with pytest.raises(RaysynthError, match="16 bits"):
        write_bop_scene(tmp_path / "s", entries, depth_scale=0.1)
