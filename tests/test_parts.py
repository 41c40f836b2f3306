"""Part labels: OBJ groups (``o`` / ``g``) or an inline mesh's per-face ``parts`` become part ids;
the ``part`` layer holds part id + 1 of the pixel-centre hit (0: background or analytic shape),
``part.png`` stores it in 16 bits and meta.json lists each mesh object's part names."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from raysynth.errors import SceneError
from raysynth.io import encode_layers
from raysynth.render import prepare, render

CENTRES = {"left": (-1.2, 0.0, 0.1), "mid": (0.0, 0.2, -0.3), "right": (1.3, -0.1, 0.2)}
HALF = 0.4
CAMERA = {"position": [0.7, 2.1, 4.3], "look_at": [0.05, 0.02, -0.05], "fov": 48, "width": 64, "height": 40}

# unit cube corners and outward-wound (counter-clockwise) triangles
_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
_FACES = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
          (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]


def three_boxes_obj(path):
    lines = []
    for k, (name, centre) in enumerate(CENTRES.items()):
        lines.append(f"o {name}" if k % 2 == 0 else f"g {name}")
        for corner in _CORNERS * HALF + np.asarray(centre):
            lines.append("v {:.6f} {:.6f} {:.6f}".format(*corner))
        for face in _FACES:
            lines.append("f " + " ".join(str(8 * k + i + 1) for i in face))
    path.write_text("\n".join(lines) + "\n")
    return path


def three_boxes_scenes(tmp_path):
    """(the three boxes as one OBJ mesh with a group each, the same boxes as analytic objects)."""
    obj = three_boxes_obj(tmp_path / "boxes.obj")
    mesh_scene = {"camera": CAMERA, "render": {"spp": 1, "max_depth": 1},
                  "objects": [{"type": "mesh", "file": str(obj), "label": "boxes"}]}
    ref_scene = {"camera": CAMERA, "render": {"spp": 1, "max_depth": 1},
                 "objects": [{"type": "box", "size": [2 * HALF] * 3, "transform": {"translate": list(c)}}
                             for c in CENTRES.values()]}
    return mesh_scene, ref_scene


def test_obj_groups_are_parts(tmp_path):
    mesh_scene, ref_scene = three_boxes_scenes(tmp_path)
    got = render(mesh_scene, labels=False)
    ref = render(ref_scene, labels=False)
    assert got["meta"]["objects"][0]["parts"] == ["left", "mid", "right"]
    # each part's pixels are exactly where the corresponding box projects, all of one instance
    np.testing.assert_array_equal(got["part"], ref["instance"])
    np.testing.assert_array_equal(got["instance"], (ref["instance"] > 0).astype(np.int32))
    for k in (1, 2, 3):
        assert (got["part"] == k).sum() > 20
    # analytic shapes have no parts
    assert (ref["part"] == 0).all()
    # part.png: the same ids in 16 bits
    png = iio.imread(encode_layers(got)["part.png"])
    assert png.dtype == np.uint16
    np.testing.assert_array_equal(png, got["part"])


def test_eighty_parts_get_eighty_ids(tmp_path):
    lines = []
    for k in range(80):
        x0, y0 = (k % 10) * 1.0 - 5.0, (k // 10) * 1.0 - 4.0
        lines.append(f"g part{k:02d}")
        for dx, dy in ((0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)):
            lines.append(f"v {x0 + dx:.3f} {y0 + dy:.3f} 0")
        lines.append(f"f {4 * k + 1} {4 * k + 2} {4 * k + 3} {4 * k + 4}")
    (tmp_path / "grid.obj").write_text("\n".join(lines) + "\n")
    scene = {"camera": {"position": [0, 0, 9], "look_at": [0, 0, 0], "fov": 60, "width": 100, "height": 80},
             "render": {"spp": 1, "max_depth": 1},
             "objects": [{"type": "mesh", "file": "grid.obj"}]}
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(scene))   # the OBJ path is relative to the scene file
    out = render(path, labels=False)
    assert out["meta"]["objects"][0]["parts"] == [f"part{k:02d}" for k in range(80)]
    assert set(np.unique(out["part"]).tolist()) == set(range(81))
    # the pixel under the centre of group k's quad has part id k + 1
    K = np.asarray(out["meta"]["camera"]["K"])
    w2c = np.asarray(out["meta"]["camera"]["world_to_camera"])
    for k in range(80):
        centre = np.array([(k % 10) - 4.5, (k // 10) - 3.5, 0.0, 1.0])
        u, v, w = K @ (w2c @ centre)[:3]
        assert out["part"][int(v / w), int(u / w)] == k + 1


def test_inline_mesh_parts_and_validation():
    quad = {"type": "mesh", "vertices": [[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]],
            "faces": [[0, 1, 2], [0, 2, 3]]}
    cam = {"position": [0, 0, 4], "look_at": [0, 0, 0], "width": 16, "height": 16, "fov": 60}
    out = render({"camera": cam, "render": {"spp": 1, "max_depth": 1},
                  "objects": [dict(quad, parts=[1, 0], part_names=["lower", "upper"])]}, labels=False)
    assert out["meta"]["objects"][0]["parts"] == ["lower", "upper"]
    assert set(np.unique(out["part"]).tolist()) == {0, 1, 2}
    # default names
    compiled = prepare({"camera": cam, "objects": [dict(quad, parts=[0, 2])]})
    assert compiled.objects[0]["parts"] == ["group0", "group1", "group2"]
    assert compiled.arrays.tri_part.tolist() == [0, 2]
    # no parts: one part named "default"
    assert prepare({"camera": cam, "objects": [quad]}).objects[0]["parts"] == ["default"]
    for bad, message in ((dict(quad, parts=[0]), "`parts` has 1 entries"),
                         (dict(quad, parts=[0, 3], part_names=["a", "b"]), "`part_names` has 2 names"),
                         ({"type": "mesh", "procedural": {"kind": "icosphere"}, "parts": [0]}, "inline meshes")):
        with pytest.raises(SceneError, match=message):
            prepare({"camera": cam, "objects": [bad]})


def test_parts_are_annotated(tmp_path):
    """The labels record of a multi-part mesh lists every part with the mask of its visible
    pixels: equal to the instance masks of the same boxes as separate analytic objects."""
    from raysynth.labels import rle

    mesh_scene, ref_scene = three_boxes_scenes(tmp_path)
    got = render(mesh_scene)
    ref = render(ref_scene, labels=False)
    parts = got["labels"]["objects"][0]["parts"]
    assert [p["name"] for p in parts] == ["left", "mid", "right"]
    for k, part in enumerate(parts):
        mask = ref["instance"] == k + 1
        assert (rle.decode(part["mask_visible"]) == mask).all()
        assert part["visible_pixels"] == int(mask.sum()) > 0
        assert part["bbox_visible"] == rle.bbox(mask)
    assert "parts" not in json.loads(json.dumps(ref["meta"]))["objects"][0]
