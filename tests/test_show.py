"""``raysynth show``: drawing primitives pixel by pixel, mask tints against the decoded RLE and
the instance layer, the depth and normals maps, and the command on a tiny render and dataset.

Expected pixel sets are built here independently of the drawing code (array slicing, ASCII-art
glyphs, the exact line), never by calling the function under test twice.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from raysynth import show
from raysynth.labels import rle

ROOT = Path(__file__).resolve().parents[1]
W, H = 32, 24


def canvas(h=20, w=30):
    return np.zeros((h, w, 3), dtype=np.uint8)


def lit(img):
    """Set of (x, y) of the non-black pixels of an (H, W, 3) image."""
    ys, xs = np.nonzero(img.any(axis=2))
    return set(zip(xs.tolist(), ys.tolist()))


# --------------------------------------------------------------------------- primitives
@pytest.mark.parametrize("seg", [(2, 3, 17, 9), (17, 9, 2, 3), (5, 1, 8, 18), (9, 18, 0, 0), (4, 4, 4, 4),
                                 (0, 7, 25, 7), (3, 0, 3, 15), (0, 0, 12, 12), (20, 2, 1, 14)])
def test_line_endpoints_count_and_closeness(seg):
    x0, y0, x1, y1 = seg
    xs, ys = show.line_pixels(*seg)
    steps = max(abs(x1 - x0), abs(y1 - y0))
    assert xs.size == steps + 1
    assert (xs[0], ys[0]) == (x0, y0) and (xs[-1], ys[-1]) == (x1, y1)
    # 8-connected, one pixel per step of the major axis
    dx, dy = np.diff(xs), np.diff(ys)
    assert np.all(np.maximum(np.abs(dx), np.abs(dy)) == 1)
    # every pixel within half a pixel of the exact line along the minor axis
    if steps:
        if abs(x1 - x0) >= abs(y1 - y0):
            exact = y0 + (xs - x0) * (y1 - y0) / (x1 - x0)
            assert np.all(np.abs(ys - exact) <= 0.5)
        else:
            exact = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
            assert np.all(np.abs(xs - exact) <= 0.5)
    img = canvas()
    show.draw_line(img, *seg, (255, 0, 0))
    assert lit(img) == set(zip(xs.tolist(), ys.tolist()))
    assert len(lit(img)) == steps + 1


def test_horizontal_line_is_exactly_the_row():
    img = canvas()
    show.draw_line(img, 3, 5, 11, 5, (9, 9, 9))
    assert lit(img) == {(x, 5) for x in range(3, 12)}


def test_rectangle_outline_pixel_set():
    x0, y0, x1, y1 = 4, 3, 13, 9
    img = canvas()
    show.draw_rect(img, x0, y0, x1, y1, (0, 200, 0))
    want = np.zeros((20, 30), dtype=bool)
    want[y0:y1 + 1, x0:x1 + 1] = True
    want[y0 + 1:y1, x0 + 1:x1] = False
    assert np.array_equal(img.any(axis=2), want)
    assert want.sum() == 2 * ((x1 - x0 + 1) + (y1 - y0 + 1)) - 4
    assert np.all(img[want] == (0, 200, 0))
    # the walk visits each outline pixel once
    xs, ys = show.rect_pixels(x0, y0, x1, y1)
    assert len(set(zip(xs.tolist(), ys.tolist()))) == xs.size == want.sum()


def test_rectangle_is_clipped_to_the_image():
    img = canvas()
    show.draw_rect(img, -5, -5, 10, 40, (1, 2, 3))
    assert lit(img) == {(10, y) for y in range(0, 20)}  # the only edge inside the 30x20 image


def test_dashed_rectangle_is_a_gappy_subset_of_the_solid_one():
    solid, dashed = canvas(), canvas()
    show.draw_rect(solid, 2, 2, 25, 15, (5, 5, 5))
    show.draw_rect(dashed, 2, 2, 25, 15, (5, 5, 5), dash=(3, 2))
    s, d = lit(solid), lit(dashed)
    assert d < s
    assert abs(len(d) / len(s) - 3 / 5) < 0.05
    # along the top edge: 3 on, 2 off, starting at the corner
    top = [(x, 2) in d for x in range(2, 12)]
    assert top == [True, True, True, False, False] * 2


def test_filled_and_hollow_squares():
    filled, hollow = canvas(), canvas()
    show.draw_square(filled, 10, 8, 2, (7, 7, 7), filled=True)
    show.draw_square(hollow, 10, 8, 2, (7, 7, 7), filled=False)
    assert lit(filled) == {(x, y) for x in range(8, 13) for y in range(6, 11)}
    assert lit(hollow) == lit(filled) - {(x, y) for x in range(9, 12) for y in range(7, 10)}
    assert len(lit(hollow)) == 16


def test_box_corners_follow_the_pixel_convention():
    assert show.box_corners([3, 4, 1, 1]) == (3, 4, 3, 4)           # one-pixel mask at (3, 4)
    assert show.box_corners([2.5, 1.2, 3.0, 2.0]) == (2, 1, 5, 3)   # pixels the box overlaps
    assert show.box_corners([0, 0, 0, 0]) is None
    assert show.box_corners(None) is None


ONE = """
..#..
.##..
..#..
..#..
..#..
..#..
.###.
"""
PERCENT = """
##...
##..#
...#.
..#..
.#...
#..##
...##
"""


def art(text):
    return np.array([[c == "#" for c in row] for row in text.strip().splitlines()])


def test_font_glyphs_and_text_layout():
    assert np.array_equal(show.glyph("1"), art(ONE))
    assert np.array_equal(show.glyph("%"), art(PERCENT))
    assert np.array_equal(show.glyph("b"), show.glyph("B"))
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ%"
    bitmaps = {show.glyph(c).tobytes() for c in chars}
    assert len(bitmaps) == len(chars), "two characters share a glyph"
    img = canvas(12, 40)
    show.draw_text(img, 2, 3, "1%", (255, 255, 255))
    want = np.zeros((12, 40), dtype=bool)
    want[3:10, 2:7] = art(ONE)
    want[3:10, 8:13] = art(PERCENT)
    assert np.array_equal(img.any(axis=2), want)
    assert show.text_size("1%") == (11, 7)
    assert show.text_size("1%", scale=2) == (22, 14)


def test_mask_outline_of_a_square_is_its_ring():
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:7, 3:9] = True
    want = mask.copy()
    want[3:6, 4:8] = False
    assert np.array_equal(show.mask_outline(mask), want)
    # the image border is not an edge
    full = np.ones((5, 5), dtype=bool)
    assert not show.mask_outline(full).any()


def test_instance_colours_are_deterministic_distinct_and_saturated():
    colours = [show.instance_color(i) for i in range(1, 40)]
    assert colours == [show.instance_color(i) for i in range(1, 40)]
    assert len(set(colours)) == len(colours)
    assert all(max(c) - min(c) > 100 for c in colours)


# --------------------------------------------------------------------------- depth, normals
def test_depth_map_is_black_exactly_where_there_is_no_hit():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 40.0, size=(30, 40)).astype(np.float32)
    depth[rng.random((30, 40)) < 0.3] = 0.0
    depth[0, 0] = np.nan
    depth[0, 1] = np.inf
    img = show.depth_image(depth)
    assert img.shape == (30, 40, 3) and img.dtype == np.uint8
    no_hit = ~(np.isfinite(depth) & (depth > 0))
    assert np.array_equal(~img.any(axis=2), no_hit)
    near = np.unravel_index(np.argmin(np.where(no_hit, np.inf, depth)), depth.shape)
    far = np.unravel_index(np.argmax(np.where(no_hit, -np.inf, depth)), depth.shape)
    assert img[near][0] > img[near][2], "near should be warm (red)"
    assert img[far][2] > img[far][0], "far should be cool (blue)"


def test_depth_map_of_no_hits_and_of_a_flat_depth():
    assert not show.depth_image(np.zeros((4, 5))).any()
    flat = show.depth_image(np.full((4, 5), 3.0))
    assert flat.any(axis=2).all() and (flat == flat[0, 0]).all()


def test_turbo_never_rounds_to_black_and_runs_blue_to_red():
    rgb = np.round(show.turbo(np.linspace(show.TURBO_FAR, show.TURBO_NEAR, 4097)) * 255)
    assert rgb.max(axis=1).min() >= 60      # clearly apart from the black of "no hit"
    far, near = show.turbo(show.TURBO_FAR), show.turbo(show.TURBO_NEAR)
    assert far[2] > 2 * far[0] and near[0] > 2 * near[2]
    mid = show.turbo(0.5)                     # green-ish in the middle
    assert mid[1] > mid[2]


def test_normals_map():
    n = np.zeros((2, 3, 3), dtype=np.float32)
    n[0, 0] = (0, 0, -1)
    n[0, 1] = (1, 0, 0)
    n[1, 2] = (0, -1, 0)
    img = show.normals_image(n)
    assert tuple(img[0, 0]) == (128, 128, 0)
    assert tuple(img[0, 1]) == (255, 128, 128)
    assert tuple(img[1, 2]) == (128, 0, 128)
    assert not img[0, 2].any() and not img[1, 0].any() and not img[1, 1].any()


# --------------------------------------------------------------------------- synthetic overlay
def synthetic_record(h=40, w=50):
    """One annotated object (a blob) and one distractor, with every optional field."""
    ys, xs = np.mgrid[0:h, 0:w]
    visible = ((xs - 20) ** 2 + (ys - 22) ** 2 < 64) & (xs < 25)
    amodal = (xs - 20) ** 2 + (ys - 22) ** 2 < 64
    distractor = (xs >= 40) & (ys < 10)
    obj = {"instance_id": 3, "class_id": 1, "class_name": "ball", "annotated": True,
           "visible_pixels": int(visible.sum()), "amodal_pixels": int(amodal.sum()),
           "visibility": float(visible.sum() / amodal.sum()),
           "mask_visible": rle.encode(visible), "mask_amodal": rle.encode(amodal),
           "bbox_visible": rle.bbox(visible), "bbox_amodal": [12.0, 14.0, 17.0, 17.0],
           "keypoints": {"image": [[20.5, 22.5, 2], [5.5, 5.5, 1], [45.5, 35.5, 0], [0, 0, 0]]}}
    dis = {"instance_id": 4, "class_id": 0, "class_name": None, "annotated": False,
           "mask_visible": rle.encode(distractor), "mask_amodal": rle.encode(distractor),
           "bbox_visible": rle.bbox(distractor)}
    return {"image": {"width": w, "height": h}, "objects": [obj, dis]}, visible, amodal, distractor


def test_overlay_tints_exactly_the_annotated_masks():
    record, visible, _, distractor = synthetic_record()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    before = rgb.copy()
    out = show.overlay_image(rgb, record, masks=True, outlines=False, boxes=False, box3d=False,
                             keypoints=False, text=False)
    colour = np.array(show.instance_color(3), dtype=np.float64)
    want = rgb.copy()
    want[visible] = np.round((1 - show.MASK_ALPHA) * rgb[visible] + show.MASK_ALPHA * colour).astype(np.uint8)
    assert np.array_equal(out, want)       # distractor untouched, everything else untouched
    assert np.array_equal(rgb, before)      # the input is not modified


def test_overlay_boxes_keypoints_and_distractor_outline():
    record, visible, _, distractor = synthetic_record()
    rgb = np.full((40, 50, 3), 60, dtype=np.uint8)
    out = show.overlay_image(rgb, record, masks=False, outlines=True, box3d=False, text=False,
                             boxes=True, keypoints=True)
    colour = show.instance_color(3)
    x, y, w, h = (int(v) for v in record["objects"][0]["bbox_visible"])
    # the tight box: solid, in the instance colour, except under a keypoint square
    ring = np.zeros((40, 50), dtype=bool)
    ring[y:y + h, x:x + w] = True
    ring[y + 1:y + h - 1, x + 1:x + w - 1] = False
    assert np.all(out[ring] == colour)
    # the amodal box [12, 14, 17, 17] -> pixels 12..28 x 14..30, dashed: only some of its outline
    amodal_ring = np.zeros((40, 50), dtype=bool)
    amodal_ring[14:31, 12:29] = True
    amodal_ring[15:30, 13:28] = False
    on = np.all(out == colour, axis=2) & amodal_ring & ~ring
    assert 0.4 < on.sum() / (amodal_ring & ~ring).sum() < 0.8
    # keypoints (on images under 128 px: 3x3): v=2 filled at (20, 22), v=1 hollow at (5, 5)
    assert np.all(out[21:24, 19:22] == colour)
    assert np.all(out[4:7, 4:7][[0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 2, 0, 2, 0, 1, 2]] == colour)
    assert tuple(out[5, 5]) == (60, 60, 60)
    assert tuple(out[35, 45]) == (60, 60, 60)        # v = 0 not drawn
    # the distractor: grey outline, no box inside it
    d_outline = show.mask_outline(distractor)
    assert np.all(out[d_outline] == show.GREY)
    assert np.all(out[distractor & ~d_outline] == 60)


def test_overlay_without_optional_fields():
    record, visible, amodal, _ = synthetic_record(80, 100)
    for obj in record["objects"]:
        for key in ("bbox_amodal", "keypoints", "bbox_3d", "visibility", "class_name", "mask_amodal"):
            obj.pop(key, None)
    rgb = np.full((80, 100, 3), 90, dtype=np.uint8)
    out = show.overlay_image(rgb, record)
    assert out.shape == rgb.shape and (out != rgb).any()
    amo = show.amodal_image(rgb, record)  # no amodal masks: just the dimmed image
    assert np.all(amo == round(90 * show.DIM))


def test_amodal_picture_hatches_the_hidden_part_only():
    record, visible, amodal, _ = synthetic_record()
    rgb = np.full((40, 50, 3), 200, dtype=np.uint8)
    out = show.amodal_image(rgb, record)
    colour = show.instance_color(3)
    coloured = np.all(out == colour, axis=2)
    outline = show.mask_outline(amodal)
    assert coloured[outline].all()
    inside = amodal & ~outline
    assert coloured[inside & ~visible].any()          # hatch in the hidden part
    assert not coloured[inside & visible].any()       # visible part left dimmed
    dim = round(200 * show.DIM)
    assert np.all(out[~amodal & ~show.mask_outline(record_mask(record, 1))] == dim)


def record_mask(record, i):
    return rle.decode(record["objects"][i]["mask_amodal"])


def test_mask_of_the_wrong_size_is_an_error():
    record, *_ = synthetic_record()
    with pytest.raises(show.RaysynthError, match="mask_visible"):
        show.overlay_image(np.zeros((40, 49, 3), dtype=np.uint8), {**record, "image": {}})


# --------------------------------------------------------------------------- on a real render
def scene():
    return {
        "camera": {"position": [0, 0, 5], "look_at": [0, 0, 0], "width": W, "height": H},
        "render": {"spp": 1, "seed": 2},
        "materials": {"red": {"type": "diffuse", "albedo": [0.8, 0.2, 0.2]},
                      "grey": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}},
        "objects": [
            {"type": "sphere", "radius": 1.0, "material": "red", "label": "ball",
             "transform": {"translate": [-0.6, 0, 0]}},
            {"type": "box", "size": [1.2, 1.2, 1.2], "material": "grey", "label": "cube",
             "transform": {"translate": [0.8, 0.2, 1.0]}},
            {"type": "sphere", "radius": 0.5, "material": "grey", "transform": {"translate": [-2.2, 1.0, 0]}},
        ],
        "lights": [{"type": "environment"}],
    }


@pytest.fixture(scope="module")
def render_dir(tmp_path_factory):
    import raysynth
    from raysynth.io import write_layers

    out = tmp_path_factory.mktemp("show") / "render"
    write_layers(raysynth.render(scene()), out)
    return out


def cli(*args):
    return subprocess.run([sys.executable, "-m", "raysynth.cli", *map(str, args)], capture_output=True,
                          text=True, env=dict(os.environ), cwd=ROOT, timeout=600)


def test_overlay_tint_matches_rle_and_instance_layer(render_dir):
    record = json.loads((render_dir / "labels.json").read_text())
    instance = iio.imread(render_dir / "instance.png")
    grey = np.full((H, W, 3), 128, dtype=np.uint8)   # no instance colour is grey: every tint shows
    out = show.overlay_image(grey, record, masks=True, outlines=False, boxes=False, box3d=False,
                             keypoints=False, text=False)
    tinted = (out != 128).any(axis=2)
    union = np.zeros((H, W), dtype=bool)
    for obj in record["objects"]:
        mask = rle.decode(obj["mask_visible"])
        assert np.array_equal(mask, instance == obj["instance_id"])
        if obj["annotated"]:
            assert mask.any()
            assert np.all(np.abs(out[mask].astype(int) - (0.55 * 128 + 0.45 * np.array(show.instance_color(
                obj["instance_id"])))) <= 0.5)
            union |= mask
        else:
            assert mask.any(), "the distractor should be visible in the test scene"
    assert np.array_equal(tinted, union)


def test_show_command_on_a_render(render_dir):
    result = cli("show", render_dir)
    assert result.returncode == 0, result.stderr
    folder = render_dir / "show"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["amodal_render.png", "depth_render.png", "normals_render.png", "overlay_render.png"]
    for name in names:
        img = iio.imread(folder / name)
        assert img.shape == (H, W, 3) and img.dtype == np.uint8, name
    depth = np.load(render_dir / "depth.npy")
    assert np.array_equal(~iio.imread(folder / "depth_render.png").any(axis=2), depth == 0)
    assert (depth == 0).any() and (depth > 0).any()
    assert "4 pictures" in result.stderr


def test_show_without_geometry_fields_and_to_another_folder(render_dir, tmp_path):
    src = tmp_path / "bare"
    shutil.copytree(render_dir, src, ignore=shutil.ignore_patterns("show"))
    record = json.loads((src / "labels.json").read_text())
    for obj in record["objects"]:
        for key in ("bbox_amodal", "bbox_amodal_unclipped", "keypoints", "bbox_3d", "pose"):
            obj.pop(key, None)
    (src / "labels.json").write_text(json.dumps(record))
    (src / "normals.npy").unlink()
    from raysynth.cli import main

    assert main(["show", str(src), "--out", str(tmp_path / "pics"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == [
        "amodal_render.png", "depth_render.png", "overlay_render.png"]


def make_dataset(render_dir, root, count):
    for k in range(count):
        stem = f"{k:06d}"
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(exist_ok=True)
        (root / "layers" / stem).mkdir(parents=True)
        shutil.copy(render_dir / "rgb.png", root / "images" / f"{stem}.png")
        shutil.copy(render_dir / "labels.json", root / "labels" / f"{stem}.json")
        for name in ("depth.npy", "normals.npy", "instance.png"):
            shutil.copy(render_dir / name, root / "layers" / stem / name)


def test_show_command_on_a_dataset(render_dir, tmp_path):
    root = tmp_path / "ds"
    make_dataset(render_dir, root, 5)
    result = cli("show", root, "--max-images", 4, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    names = {p.name for p in (root / "show").iterdir()}
    stems = [f"{k:06d}" for k in range(4)]
    assert names == {f"{kind}_{s}.png" for kind in ("overlay", "depth", "normals", "amodal") for s in stems} | {
        "contact_sheet.png"}
    for name in names - {"contact_sheet.png"}:
        assert iio.imread(root / "show" / name).shape == (H, W, 3)
    sheet = iio.imread(root / "show" / "contact_sheet.png")
    # 4 tiles in a 2x2 grid; cells as wide as the caption "000003" (6 glyphs: 35 px), captions
    # 9 px high, 4 px gaps
    cell_w = max(W, 35)
    assert sheet.shape == (4 + 2 * (H + 9 + 4), 4 + 2 * (cell_w + 4), 3)
    overlay = iio.imread(root / "show" / "overlay_000003.png")
    y, x = 4 + H + 9 + 4, 4 + cell_w + 4
    assert np.array_equal(sheet[y:y + H, x:x + W], overlay)
    assert sheet[y + H + 2:y + H + 9, x:x + 35].any()   # its caption


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_show_bad_folder_is_a_one_line_error(tmp_path, make):
    target = tmp_path / "nope"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("x")
    result = cli("show", target)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raysynth: error:") and str(target) in lines[0]
    assert "Traceback" not in result.stderr
    assert not (target / "show").exists()
