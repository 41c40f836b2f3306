"""The path tracer against closed-form radiance.

- White furnace: inside a uniform environment of radiance L, a closed object made of a lossless
  material (albedo-1 diffuse, clear glass, a perfect mirror) reflects/transmits exactly L, so the
  image is L everywhere, up to Monte Carlo noise (diffuse: NEE + MIS) or exactly (delta BSDFs).
- Direct lighting of a Lambertian plane: L = albedo / pi * E for a directional light of
  irradiance E, and L = albedo / pi * I cos(theta) / r^2 for a point light: both deterministic per
  pixel (one light, no noise), checked against the world positions of the position layer.
- Emitters seen directly return their radiance; back faces of one-sided emitters are black.
- Exposure scales rgb by 2**exposure; coverage is 1 inside objects and fractional at edges.

Images are tiny (<= 32x24) so the suite stays fast; kernels are shared with every other test.
"""
from __future__ import annotations

import numpy as np
import pytest

import raysynth

L_ENV = 0.5


def furnace_scene(material: dict, *, spp: int, max_depth: int, size: int = 24, shape: str = "sphere") -> dict:
    obj = {"type": shape, "material": material, "label": "thing"}
    if shape == "sphere":
        obj["radius"] = 1.0
    else:
        obj["size"] = [1.4, 1.4, 1.4]
        obj["transform"] = {"rotate": [20, 35, 0]}
    return {
        "camera": {"position": [0, 0, 4], "look_at": [0, 0, 0], "fov": 35, "width": size, "height": size},
        "render": {"spp": spp, "max_depth": max_depth, "seed": 7},
        "objects": [obj],
        "lights": [{"type": "environment", "color": [L_ENV, L_ENV, L_ENV]}],
    }


def test_white_furnace_diffuse_sphere():
    out = raysynth.render(furnace_scene({"type": "diffuse", "albedo": [1, 1, 1]}, spp=64, max_depth=4))
    hit = out["instance"] == 1
    assert hit.sum() > 100
    rgb = out["rgb"][hit]
    # Unbiased mean; MIS keeps per-pixel noise small (each pixel averages 64 samples).
    assert abs(rgb.mean() - L_ENV) < 0.01 * L_ENV
    assert np.abs(rgb - L_ENV).max() < 0.15 * L_ENV
    # Background pixels see the environment itself, exactly.
    np.testing.assert_allclose(out["rgb"][~hit & (out["coverage"] == 1)], L_ENV, rtol=1e-6)


def test_white_furnace_diffuse_box_with_russian_roulette():
    """A convex box: the camera path leaves after one bounce; rr must stay unbiased anyway."""
    scene = furnace_scene({"type": "diffuse", "albedo": [1, 1, 1]}, spp=64, max_depth=16, shape="box")
    scene["render"]["rr_depth"] = 1
    out = raysynth.render(scene)
    hit = out["instance"] == 1
    assert abs(out["rgb"][hit].mean() - L_ENV) < 0.015 * L_ENV


@pytest.mark.parametrize("ior", [1.33, 1.5, 2.4])
def test_white_furnace_glass_sphere(ior):
    """Clear glass loses nothing: every path through it ends in the environment.

    Russian roulette is off (rr_depth = max_depth), so every path is deterministic in weight and
    energy is lost only by paths still inside after 64 segments (Fresnel reflectance^60: none)."""
    scene = furnace_scene({"type": "dielectric", "ior": ior}, spp=16, max_depth=64)
    scene["render"]["rr_depth"] = 64
    out = raysynth.render(scene)
    hit = out["instance"] == 1
    np.testing.assert_allclose(out["rgb"][hit], L_ENV, rtol=1e-4)


def test_white_furnace_perfect_mirror():
    out = raysynth.render(
        furnace_scene({"type": "conductor", "color": [1, 1, 1], "roughness": 0.0}, spp=4, max_depth=4)
    )
    hit = out["instance"] == 1
    np.testing.assert_allclose(out["rgb"][hit], L_ENV, rtol=1e-5)


def ggx_directional_albedo(mu: np.ndarray, alpha: float, n: int = 400_000) -> np.ndarray:
    """Directional albedo E(mu) of a white GGX conductor (height-correlated Smith G2), by
    numpy Monte Carlo with uniform hemisphere sampling: independent of raysynth's sampling."""
    rng = np.random.default_rng(1)
    z = rng.random(n)
    phi = 2 * np.pi * rng.random(n)
    r = np.sqrt(1 - z * z)
    wi = np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)

    def lam(w):
        t2 = (1 - w[:, 2] ** 2) / w[:, 2] ** 2
        return (np.sqrt(1 + alpha * alpha * t2) - 1) / 2

    out = []
    for m in mu:
        wo = np.broadcast_to([np.sqrt(1 - m * m), 0, m], wi.shape)
        h = wi + wo
        h /= np.linalg.norm(h, axis=1, keepdims=True)
        c2 = h[:, 2] ** 2
        d = 1 / (np.pi * alpha**2 * c2 * c2 * (1 + (1 - c2) / c2 / alpha**2) ** 2)
        g2 = 1 / (1 + lam(wo) + lam(wi))
        out.append(np.mean(d * g2 / (4 * m) * 2 * np.pi))
    return np.array(out)


def pixel_centre_rays(meta: dict, h: int, w: int) -> np.ndarray:
    """(H, W, 3) unit camera-space directions through the pixel centres, from meta's K."""
    k_inv = np.linalg.inv(np.array(meta["camera"]["K"]))
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    d = np.stack([xs, ys, np.ones_like(xs)], -1) @ k_inv.T
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def test_rough_conductor_matches_ggx_albedo():
    """White GGX (alpha 0.5) in the furnace: each pixel returns L * E(mu), the single-scattering
    directional albedo at the pixel's viewing angle (a 30% loss on average: single scattering)."""
    alpha = 0.5
    out = raysynth.render(
        furnace_scene({"type": "conductor", "color": [1, 1, 1], "roughness": alpha}, spp=256, max_depth=2)
    )
    inner = (out["instance"] == 1) & (out["coverage"] == 1)
    d = pixel_centre_rays(out["meta"], *out["instance"].shape)
    mu = -(out["normals"] * d).sum(-1)[inner]
    table_mu = np.linspace(0.02, 1.0, 50)
    expected = L_ENV * np.interp(mu, table_mu, ggx_directional_albedo(table_mu, alpha))
    rendered = out["rgb"][inner].mean(-1)
    assert abs(rendered.mean() - expected.mean()) < 0.01 * expected.mean()
    np.testing.assert_allclose(rendered, expected, rtol=0.15)  # per-pixel Monte Carlo noise


def plane_scene(light: dict, albedo=(0.6, 0.4, 0.2)) -> dict:
    """A 10x10 Lambertian quad on z = 0 facing +z, seen obliquely from above."""
    return {
        "camera": {"position": [0.5, -3, 4], "look_at": [0, 0, 0], "up": [0, 0, 1], "fov": 40,
                   "width": 32, "height": 24},
        "render": {"spp": 4, "max_depth": 2, "seed": 3},
        "objects": [{"type": "quad", "size": [10, 10], "material": {"type": "diffuse", "albedo": list(albedo)}}],
        "lights": [light],
    }


def test_directional_light_on_lambertian_plane():
    direction = np.array([0.3, -0.2, -1.0])
    e = 2.0
    out = raysynth.render(plane_scene({"type": "directional", "direction": direction.tolist(),
                                       "irradiance": [e, e, e]}))
    hit = out["instance"] == 1
    assert hit.all()
    cos = -direction[2] / np.linalg.norm(direction)   # irradiance is given facing the light
    expected = np.array([0.6, 0.4, 0.2]) / np.pi * e * cos
    np.testing.assert_allclose(out["rgb"][hit], np.broadcast_to(expected, (hit.sum(), 3)), rtol=1e-4)


def test_point_light_on_lambertian_plane():
    """Pixel means of albedo/pi * I cos / r^2, integrated over each pixel's footprint on the
    plane with a 16x16 grid (the renderer averages 256 stratified samples per pixel)."""
    light_pos = np.array([0.7, -0.4, 1.5])
    intensity = 5.0
    scene = plane_scene({"type": "point", "position": light_pos.tolist(), "intensity": [intensity] * 3})
    scene["render"]["spp"] = 256
    out = raysynth.render(scene)
    assert (out["instance"] == 1).all()
    # Reference: rays through a 16x16 grid inside each pixel, intersected with z = 0 in numpy.
    meta = out["meta"]["camera"]
    k_inv = np.linalg.inv(np.array(meta["K"]))
    w2c = np.array(meta["world_to_camera"])
    c2w_rot, eye = w2c[:3, :3].T, -w2c[:3, :3].T @ w2c[:3, 3]
    sub = (np.arange(16) + 0.5) / 16
    h, w = out["instance"].shape
    ys = (np.arange(h)[:, None] + sub[None, :]).reshape(-1)
    xs = (np.arange(w)[:, None] + sub[None, :]).reshape(-1)
    px, py = np.meshgrid(xs, ys)
    d = np.stack([px, py, np.ones_like(px)], -1) @ k_inv.T @ c2w_rot.T
    p = eye + d * (-eye[2] / d[..., 2])[..., None]
    to_light = light_pos - p
    r2 = (to_light**2).sum(-1)
    irradiance = intensity * to_light[..., 2] / r2**1.5
    pixel_mean = irradiance.reshape(h, 16, w, 16).mean(axis=(1, 3))
    expected = np.array([0.6, 0.4, 0.2]) / np.pi * pixel_mean[..., None]
    np.testing.assert_allclose(out["rgb"], expected, rtol=2e-3)


def test_shadow_rays_stop_at_the_light():
    """A point light over the plane, a disk halfway down casting a shadow of twice its radius
    (similar triangles), and a disk just above the light that a shadow ray running past the
    light would hit. Pixels whose samples all land in the shadow are exactly black (direct
    light only); lit pixels under the upper disk get the closed-form light."""
    light_pos = np.array([0.7, -0.4, 1.5])
    intensity = 5.0
    foot = light_pos[:2]
    scene = plane_scene({"type": "point", "position": light_pos.tolist(), "intensity": [intensity] * 3})
    scene["camera"].update(width=64, height=48)
    material = {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}
    scene["objects"] += [
        {"type": "disk", "radius": 0.2, "material": material,
         "transform": {"translate": [*foot, light_pos[2] / 2]}},
        {"type": "disk", "radius": 0.3, "material": material,
         "transform": {"translate": [*foot, light_pos[2] + 0.4]}},
    ]
    out = raysynth.render(scene)
    on_plane = (out["instance"] == 1) & (out["coverage"] == 1)
    p = out["position"].astype(np.float64)
    rho = np.linalg.norm(p[..., :2] - foot, axis=-1)   # from the point under the light
    umbra = on_plane & (rho < 0.4 - 0.15)                # shadow radius 0.2 * 1.5 / 0.75
    lit = on_plane & (rho > 0.4 + 0.15) & (rho < 1.0)    # the upper disk lies on these rays' line
    assert umbra.sum() >= 10 and lit.sum() >= 30
    assert (out["rgb"][umbra] == 0).all()
    to_light = light_pos - p
    r2 = (to_light**2).sum(-1)
    expected = 0.6 / np.pi * intensity * to_light[..., 2] / r2**1.5   # red albedo 0.6
    np.testing.assert_allclose(out["rgb"][lit][:, 0], expected[lit], rtol=0.1)


def test_distant_light_shadow_from_far_above():
    """A sun straight down and a disk 3 units above the plane: the disk's shadow (its own
    radius, under it) is black however far the occluder is; outside it the plane is lit."""
    e = 2.0
    scene = plane_scene({"type": "directional", "direction": [0, 0, -1], "irradiance": [e, e, e]})
    scene["camera"].update(width=64, height=48)
    scene["objects"].append({"type": "disk", "radius": 0.5, "material": {"type": "diffuse", "albedo": [0.5] * 3},
                             "transform": {"translate": [-1.0, 0.5, 3.0]}})
    out = raysynth.render(scene)
    on_plane = (out["instance"] == 1) & (out["coverage"] == 1)
    rho = np.linalg.norm(out["position"][..., :2] - np.array([-1.0, 0.5]), axis=-1)
    umbra = on_plane & (rho < 0.5 - 0.15)
    lit = on_plane & (rho > 0.5 + 0.15)
    assert umbra.sum() >= 10 and lit.sum() >= 100
    assert (out["rgb"][umbra] == 0).all()
    np.testing.assert_allclose(out["rgb"][lit][:, 0], 0.6 / np.pi * e, rtol=1e-4)


def test_emitter_seen_directly_and_from_behind():
    scene = {
        "camera": {"position": [0, 0, 3], "look_at": [0, 0, 0], "fov": 40, "width": 16, "height": 16},
        "render": {"spp": 2, "max_depth": 1},
        "objects": [
            {"type": "quad", "size": [0.6, 0.6], "transform": {"translate": [-0.5, 0, 0]},
             "material": {"type": "emissive", "radiance": [1, 2, 3], "intensity": 1.5}},
            {"type": "quad", "size": [0.6, 0.6], "transform": {"translate": [0.5, 0, 0], "rotate": [0, 180, 0]},
             "material": {"type": "emissive", "radiance": [1, 2, 3], "intensity": 1.5}},
        ],
    }
    out = raysynth.render(scene)
    front = (out["instance"] == 1) & (out["coverage"] == 1)
    back = (out["instance"] == 2) & (out["coverage"] == 1)
    assert front.sum() > 4 and back.sum() > 4
    np.testing.assert_allclose(out["rgb"][front], np.broadcast_to([1.5, 3.0, 4.5], (front.sum(), 3)), rtol=1e-6)
    assert (out["rgb"][back] == 0).all()
    # Two-sided emitters shine both ways.
    scene["objects"][1]["material"]["two_sided"] = True
    out2 = raysynth.render(scene)
    np.testing.assert_allclose(out2["rgb"][back], np.broadcast_to([1.5, 3.0, 4.5], (back.sum(), 3)), rtol=1e-6)


def test_exposure_scales_rgb_only():
    scene = furnace_scene({"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}, spp=4, max_depth=3, size=12)
    base = raysynth.render(scene)
    scene["render"]["exposure"] = 1.5
    brighter = raysynth.render(scene)
    np.testing.assert_allclose(brighter["rgb"], base["rgb"] * np.float32(2 ** 1.5), rtol=1e-6)
    assert (brighter["depth"] == base["depth"]).all()


def test_coverage_is_one_inside_and_fractional_on_edges():
    out = raysynth.render(furnace_scene({"type": "diffuse", "albedo": [1, 1, 1]}, spp=16, max_depth=2, size=32))
    inst, cov = out["instance"], out["coverage"]
    # Interior pixels (all 8 neighbours share the instance) are fully covered by it.
    pad = np.pad(inst, 1, mode="edge")
    same = np.ones_like(inst, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same &= pad[1 + dy:1 + dy + inst.shape[0], 1 + dx:1 + dx + inst.shape[1]] == inst
    assert (cov[same] == 1).all()
    edge = ~same
    assert edge.any() and (cov[edge] < 1).any()
    assert ((cov >= 0) & (cov <= 1)).all()
    # Coverage is a fraction of 16 samples.
    np.testing.assert_allclose(cov * 16, np.round(cov * 16), atol=1e-5)
    # The sphere's area in pixels: summed coverage of the sphere matches the analytic disc.
    f = 32 / 2 / np.tan(np.radians(35) / 2)
    radius_px = f * 1.0 / np.sqrt(4.0 ** 2 - 1.0)   # tangent-cone radius on the image plane
    # Sphere pixels hold the sphere's share; background pixels hold 1 - the sphere's share.
    area = (cov * (inst == 1)).sum() + ((1 - cov) * (inst == 0)).sum()
    assert abs(area - np.pi * radius_px ** 2) < 0.03 * np.pi * radius_px ** 2


def test_checker_on_a_ground_quad_is_stable():
    """A checker quad lying at object z = 0 (the usual ground): every pixel's albedo is the
    checker colour of its object-space (x, y) cell, never flipped by the rounding of z."""
    cells = 2.0
    a, b = (0.9, 0.9, 0.9), (0.1, 0.2, 0.3)
    scene = {
        "camera": {"position": [0.3, 2.0, 6.0], "look_at": [0, 0, 0], "fov": 50, "width": 48, "height": 36},
        "render": {"spp": 1, "max_depth": 1},
        "objects": [{"type": "quad", "size": [30, 30], "transform": {"rotate": [-90, 0, 0], "translate": [0.1, 0, 0]},
                     "material": {"type": "diffuse", "checker": {"color_a": a, "color_b": b, "scale": cells}}}],
    }
    out = raysynth.render(scene, labels=False)
    hit = out["instance"] == 1
    p = out["position"][hit].astype(np.float64)
    # object space of a quad rotated -90 degrees about x and moved by 0.1 in x: (x - 0.1, -z, y)
    qx, qy = (p[:, 0] - 0.1) * cells, -p[:, 2] * cells
    parity = (np.floor(qx) + np.floor(qy)) % 2
    clear = (np.abs(qx - np.round(qx)) > 0.01) & (np.abs(qy - np.round(qy)) > 0.01)
    want = np.where(parity[:, None] == 0, a, b)
    np.testing.assert_allclose(out["albedo"][hit][clear], want[clear], atol=1e-6)
    assert clear.sum() > 0.8 * hit.sum()
