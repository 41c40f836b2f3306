"""Masks, visibility and soft masks against analytic truth under the pixel-centre rule.

The camera sits at the world origin looking down -z with explicit intrinsics, so a world point
(X, Y, -Z) projects to u = f X / Z + cx, v = -f Y / Z + cy. A sphere of radius r centred on the
axis at distance D covers exactly the pixels whose centre ray is within the angle asin(r / D)
of the axis; a quad's straight edge at X = a in the plane z = -d hides the pixel centres with
u < cx + f a / d. Those sets are computed here in float64 from the pixel grid alone.
"""
from __future__ import annotations

import numpy as np
import pytest

import raysynth
from raysynth.labels import rle
from raysynth.labels.annotate import amodal_mask, soft_mask

W, H, F = 48, 40, 40.0
CX, CY = W / 2, H / 2


def camera(**kw):
    return {"position": [0, 0, 0], "look_at": [0, 0, -1], "up": [0, 1, 0], "width": W, "height": H,
            "intrinsics": {"fx": F, "fy": F, "cx": CX, "cy": CY}, **kw}


def pixel_rays():
    """(H, W, 3) unit camera-space directions through pixel centres."""
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    d = np.stack([(xs - CX) / F, (ys - CY) / F, np.ones_like(xs)], -1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def sphere_centres_mask(radius, distance, shift_x=0.0):
    """Pixels whose centre ray hits a sphere at camera-space centre (shift_x, 0, distance)."""
    c = np.array([shift_x, 0.0, distance])
    d = pixel_rays()
    along = d @ c
    miss2 = (c @ c) - along ** 2
    return (miss2 < radius ** 2) & (along > 0), miss2


def render(objects, spp=4, max_depth=1, lights=()):
    return raysynth.render({"camera": camera(), "render": {"spp": spp, "max_depth": max_depth, "seed": 5},
                            "objects": objects, "lights": list(lights)})


def sphere(radius, distance, shift_x=0.0, label="ball"):
    return {"type": "sphere", "radius": radius, "label": label,
            "transform": {"translate": [shift_x, 0, -distance]}}


def occluder(edge_x, depth, label="wall"):
    """A quad in the plane z = -depth covering world x < edge_x (and far beyond in y)."""
    width = 40.0
    return {"type": "quad", "size": [width, 40], "label": label,
            "transform": {"translate": [edge_x - width / 2, 0, -depth]}}


def assert_masks_match(got, want, miss2=None, radius=None, what=""):
    """Equal except at pixel centres within 1e-5 (relative) of an analytic boundary."""
    diff = got != want
    if miss2 is not None:
        diff &= np.abs(np.sqrt(np.maximum(miss2, 0)) - radius) > 1e-5 * radius
    assert not diff.any(), f"{what}: {int(diff.sum())} pixels differ from the analytic mask"


def test_partly_hidden_sphere_visibility_is_exact():
    r, dist, edge_x, wall_d = 1.0, 6.0, -0.2, 3.0
    out = render([sphere(r, dist), occluder(edge_x, wall_d)])
    labels = out["labels"]["objects"]
    ball = labels[0]
    amodal_want, miss2 = sphere_centres_mask(r, dist)
    u_edge = CX + F * edge_x / wall_d
    xs = np.arange(W) + 0.5
    unhidden = np.broadcast_to(xs >= u_edge, (H, W))
    visible_want = amodal_want & unhidden
    assert_masks_match(amodal_mask(out["amodal"], 0), amodal_want, miss2, r, "amodal")
    assert_masks_match(out["instance"] == 1, visible_want, miss2, r, "visible")
    assert ball["amodal_pixels"] == int(amodal_want.sum())
    assert ball["visible_pixels"] == int(visible_want.sum())
    assert ball["visibility"] == pytest.approx(visible_want.sum() / amodal_want.sum())
    # and close to the continuous visible fraction of the projected disc (pixel quantization)
    rho = F * r / np.sqrt(dist ** 2 - r ** 2)
    a = (u_edge - CX) / rho
    seg = (np.arccos(a) - a * np.sqrt(1 - a * a)) / np.pi   # disc fraction right of the line
    assert ball["visibility"] == pytest.approx(seg, abs=2.5 * 2 * np.pi * rho / (np.pi * rho ** 2))
    # masks in the record decode to the same pixels
    assert (rle.decode(ball["mask_visible"]) == (out["instance"] == 1)).all()
    assert (rle.decode(ball["mask_amodal"]) == amodal_mask(out["amodal"], 0)).all()
    assert ball["bbox_visible"] == rle.bbox(out["instance"] == 1)


def test_fully_hidden_sphere_keeps_its_amodal_disc():
    r, dist = 1.0, 6.0
    out = render([sphere(r, dist), occluder(30.0, 3.0)])
    ball = out["labels"]["objects"][0]
    want, miss2 = sphere_centres_mask(r, dist)
    assert ball["visible_pixels"] == 0 and ball["visibility"] == 0.0
    assert ball["bbox_visible"] == [0.0, 0.0, 0.0, 0.0]
    assert_masks_match(amodal_mask(out["amodal"], 0), want, miss2, r, "hidden amodal")
    assert ball["amodal_pixels"] == int(want.sum()) > 0


def test_amodal_sees_through_every_layer():
    """Three spheres on the axis behind each other: each amodal mask is its own disc."""
    objs = [sphere(0.5, 3.0), sphere(1.0, 6.0), sphere(2.0, 12.0)]
    out = render(objs)
    for i, (r, dist) in enumerate([(0.5, 3.0), (1.0, 6.0), (2.0, 12.0)]):
        want, miss2 = sphere_centres_mask(r, dist)
        assert_masks_match(amodal_mask(out["amodal"], i), want, miss2, r, f"sphere {i}")
    # equal angular radius: all three discs are the same; only the first is visible
    assert out["labels"]["objects"][0]["visibility"] == 1.0
    assert out["labels"]["objects"][1]["visible_pixels"] == 0


def test_many_objects_use_several_bit_words():
    """70 small spheres in a row: instance ids beyond 64 still get their own amodal masks."""
    objs = []
    for i in range(70):
        x = -3.5 + 0.1 * i
        objs.append({"type": "sphere", "radius": 0.04, "transform": {"translate": [x, 0, -4]}})
    out = render(objs, spp=1)
    assert out["amodal"].shape[2] == 3
    for i, rec in enumerate(out["labels"]["objects"]):
        mask = amodal_mask(out["amodal"], i)
        assert (mask >= (out["instance"] == i + 1)).all()
        assert rec["amodal_pixels"] == int(mask.sum())


def test_spp_zero_renders_the_label_layers_only():
    """spp 0: the label layers of the pixel-centre rays, bit for bit those of a full render,
    with black rgb, coverage 1 and a soft mask that is the visible mask."""
    objects = [sphere(2.0, 10.0, shift_x=-0.5), occluder(0.3, 6.0),
               {"type": "quad", "size": [1.3, 0.9], "transform": {"translate": [2.1, 0.05, -5]},
                "material": {"type": "emissive", "radiance": [1, 1, 1]}}]
    full = render(objects, spp=3, max_depth=2)
    only = render(objects, spp=0, max_depth=2)
    assert len(np.unique(full["instance"])) == 4   # background and all three objects seen
    for name in ("depth", "distance", "normals", "instance", "class", "albedo", "position", "part"):
        np.testing.assert_array_equal(only[name], full[name], err_msg=name)
    assert (only["rgb"] == 0).all() and (only["coverage"] == 1).all()
    assert (only["soft_ids"][..., 0] == only["instance"]).all() and (only["soft_weight"][..., 0] == 1).all()
    assert (only["soft_weight"][..., 1:] == 0).all()
    assert only["labels"]["objects"] and only["labels"]["image"]["spp"] == 0
    for a, b in zip(only["labels"]["objects"], full["labels"]["objects"]):
        assert a["visible_pixels"] == b["visible_pixels"] and a["amodal_pixels"] == b["amodal_pixels"]


def test_soft_masks_agree_with_rgb_edges():
    """A white emitter on black: each pixel's RGB is exactly the fraction of its camera samples
    that hit the emitter, which is what the soft mask records."""
    quad = {"type": "quad", "size": [1.3, 0.9], "transform": {"translate": [0.1, 0.05, -3], "rotate": [0, 0, 17]},
            "material": {"type": "emissive", "radiance": [1, 1, 1]}}
    out = render([quad], spp=16)
    soft = soft_mask(out["soft_ids"], out["soft_weight"], 1)
    np.testing.assert_allclose(out["rgb"][..., 0], soft, atol=1e-6)
    edge = out["soft_weight"][..., 0] < 1
    assert edge.any() and ((soft > 0) & (soft < 1) == edge).all()
    # the shares of all instances add up to one in every pixel
    np.testing.assert_allclose(out["soft_weight"].sum(-1), 1.0, atol=1e-6)
    # coverage is the share of the centre ray's instance
    centre = np.where(out["soft_ids"] == out["instance"][..., None], out["soft_weight"], 0).sum(-1)
    np.testing.assert_array_equal(centre, out["coverage"])
    # edge pixels of the record count visible pixels with mixed samples
    rec = out["labels"]["objects"][0]
    assert rec["edge_pixels"] == int((edge & (out["instance"] == 1)).sum())


def test_unlabelled_objects_are_not_annotated():
    out = render([sphere(1.0, 6.0, label=None), sphere(0.5, 4.0, shift_x=1.0)])
    assert [o["annotated"] for o in out["labels"]["objects"]] == [False, True]
    assert out["labels"]["categories"] == [{"id": 1, "name": "ball"}]


def test_coincident_surfaces_label_the_first_object():
    """Eight quads in one plane, overlapping in x: wherever several are hit at exactly the same
    t, the label is the first of them in the scene (the lowest primitive row), not whichever
    the BVH walk met first."""
    rng = np.random.default_rng(3)
    depth = 5.0   # pixel centres land on odd multiples of 1/16 in x: never on a quad's edge (1/4)
    edges = np.sort(rng.integers(-12, 13, (8, 2)), axis=1) / 4.0
    edges[:, 1] += 0.25
    quads = [{"type": "quad", "size": [float(b - a), 40.0], "label": f"q{k}",
              "transform": {"translate": [float(a + b) / 2, 0.0, -depth]}} for k, (a, b) in enumerate(edges)]
    out = render(quads, spp=0)
    x = (np.arange(W) + 0.5 - CX) / F * depth
    covering = (edges[:, :1] < x) & (x < edges[:, 1:])                  # (quads, W)
    want = np.where(covering.any(0), covering.argmax(0) + 1, 0)          # first covering quad
    assert (covering.sum(0) >= 2).sum() >= 10                            # ties in many columns
    np.testing.assert_array_equal(out["instance"], np.broadcast_to(want, (H, W)))
