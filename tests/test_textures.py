"""Textures: image lookups (uv, bilinear, wrap modes, sRGB), uv parameterizations, mesh uvs and
MTL materials, procedural noise, environment images, and the errors of missing images.

The camera sits at the world origin looking down -z with explicit intrinsics, so the ray through
pixel centre (x + 1/2, y + 1/2) meets the plane z = -d at X = d (x + 1/2 - cx) / f,
Y = -d (y + 1/2 - cy) / f. Expected albedos are computed here in float64 from that geometry, the
texel bytes and an independent numpy bilinear lookup, and compared with the ``albedo`` layer
(the material colour at each pixel-centre hit). Renders are 32 x 32 at 1 spp, max_depth 1.
"""
from __future__ import annotations

import json
import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest

import raysynth
from raysynth.assets.images import read_texture
from raysynth.errors import SceneError
from raysynth.render import prepare

W = H = 32
F = 32.0
C = 16.0


# --------------------------------------------------------------------------- references
def srgb_decode(c):
    """IEC 61966-2-1 decoding of values in [0, 1]."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def bilinear(tex, u, v, wrap):
    """Bilinear lookup of (h, w, 3) float64 texels at uv (v up; row 0 = top), numpy reference."""
    h, w = tex.shape[:2]
    x = np.asarray(u, dtype=np.float64) * w - 0.5
    y = (1.0 - np.asarray(v, dtype=np.float64)) * h - 0.5
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]

    def fix(i, n):
        if wrap == "repeat":
            return np.mod(i, n)
        if wrap == "clamp":
            return np.clip(i, 0, n - 1)
        k = np.mod(i, 2 * n)
        return np.where(k < n, k, 2 * n - 1 - k)

    xa, xb, ya, yb = fix(x0, w), fix(x0 + 1, w), fix(y0, h), fix(y0 + 1, h)
    return (tex[ya, xa] * (1 - fx) * (1 - fy) + tex[ya, xb] * fx * (1 - fy)
            + tex[yb, xa] * (1 - fx) * fy + tex[yb, xb] * fx * fy)


def camera(f=F, c=C):
    return {"position": [0, 0, 0], "look_at": [0, 0, -1], "up": [0, 1, 0], "width": W, "height": H,
            "intrinsics": {"fx": f, "fy": f, "cx": c, "cy": c}}


def pixel_rays(f=F, c=C):
    """(H, W, 3) world directions through the pixel centres, scaled to z = -1."""
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    return np.stack([(xs - c) / f, -(ys - c) / f, -np.ones_like(xs)], axis=-1)


def render(scene, **kw):
    scene = {"camera": camera(), "render": {"spp": 1, "max_depth": 1, "seed": 3}, **scene}
    return raysynth.render(scene, labels=False, **kw)


def quad(centre, size, material, z=-2.0):
    return {"type": "quad", "size": [size, size], "material": material,
            "transform": {"translate": [centre[0], centre[1], z]}}


def png16_bytes(img):
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA) whose row y uses PNG filter type y % 5."""
    img = np.asarray(img, dtype=np.uint16)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w, ch = img.shape
    rows = img.astype(">u2").view(np.uint8).reshape(h, w * ch * 2).astype(np.int64)
    bpp = 2 * ch
    out = []
    for y in range(h):
        cur = rows[y]
        prev = rows[y - 1] if y else np.zeros_like(cur)
        left = np.concatenate([np.zeros(bpp, np.int64), cur[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int64), prev[:-bpp]])
        p = left + prev - upleft
        pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        pred = [np.zeros_like(cur), left, prev, (left + prev) // 2, paeth][y % 5]
        out.append(bytes([y % 5]) + ((cur - pred) % 256).astype(np.uint8).tobytes())

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[ch]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(out))) + chunk(b"IEND", b""))


def probe_image():
    """256 x 256 linear ramps: red = column / 255, green = (255 - row) / 255 (so the bilinear
    lookup returns a colour that encodes uv)."""
    img = np.zeros((256, 256, 3), dtype=np.uint8)
    img[..., 0] = np.arange(256)[None, :]
    img[..., 1] = 255 - np.arange(256)[:, None]
    return img


# --------------------------------------------------------------------------- decoding
def test_srgb_and_linear_decoding_match_the_formula(tmp_path):
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    img = np.stack([values, values[::-1], values.T], axis=-1)
    iio.imwrite(tmp_path / "ramp.png", img)
    got = read_texture(tmp_path / "ramp.png")
    assert got.dtype == np.float32 and got.shape == (16, 16, 3)
    np.testing.assert_allclose(got, srgb_decode(img / 255.0), rtol=0, atol=1e-7)
    assert got[0, 0, 0] == 0.0 and got[15, 15, 0] == 1.0
    np.testing.assert_allclose(read_texture(tmp_path / "ramp.png", "linear"), img / 255.0, rtol=0, atol=1e-7)
    grey = read_texture(tmp_path / "ramp.png")  # RGB stays RGB
    iio.imwrite(tmp_path / "grey.png", values)
    np.testing.assert_array_equal(read_texture(tmp_path / "grey.png"), np.repeat(grey[:, :, :1], 3, axis=2))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_is_decoded_at_full_precision(tmp_path, channels):
    rng = np.random.default_rng(channels)
    img = rng.integers(0, 65536, size=(9, 11, channels), dtype=np.uint16)
    img[0, 0] = 0
    img[1, 1] = 65535
    (tmp_path / "deep.png").write_bytes(png16_bytes(img))
    got = read_texture(tmp_path / "deep.png")
    rgb = img[..., :3] if channels >= 3 else np.repeat(img[..., :1], 3, axis=2)
    np.testing.assert_allclose(got, srgb_decode(rgb / 65535.0), rtol=0, atol=2e-7)
    np.testing.assert_allclose(read_texture(tmp_path / "deep.png", "linear"), rgb / 65535.0, rtol=0, atol=1e-7)


# --------------------------------------------------------------------------- image lookups
def test_quad_albedo_is_the_bilinear_texel_at_the_pixel_uv_with_every_wrap_mode(tmp_path):
    """Four quads (one per image quadrant): a 4 x 4 sRGB checker at uv in [0, 1], and a random
    4 x 4 image at uv * 3 - 1 (uv in [-1, 2]) with wrap repeat, clamp and mirror."""
    checker = np.where((np.add.outer(np.arange(4), np.arange(4)) % 2 == 0)[..., None], 200, 40)
    checker = np.repeat(checker, 3, axis=2).astype(np.uint8)
    checker[..., 2] = 90
    iio.imwrite(tmp_path / "checker.png", checker)
    noise = np.random.default_rng(0).integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "random.png", noise)
    size = 0.9
    specs = [  # (centre, file, texels, wrap, scale, offset)
        ((-0.5, 0.5), "checker.png", checker, "repeat", (1.0, 1.0), (0.0, 0.0)),
        ((0.5, 0.5), "random.png", noise, "repeat", (3.0, 3.0), (-1.0, -1.0)),
        ((-0.5, -0.5), "random.png", noise, "clamp", (3.0, 3.0), (-1.0, -1.0)),
        ((0.5, -0.5), "random.png", noise, "mirror", (3.0, 3.0), (-1.0, -1.0)),
    ]
    objects = [quad(c, size, {"type": "diffuse", "texture": {
        "type": "image", "file": str(tmp_path / name), "wrap": wrap, "scale": list(s), "offset": list(o)}})
        for c, name, _, wrap, s, o in specs]
    out = render({"objects": objects})
    hit = pixel_rays() * 2.0   # points on the plane z = -2
    checked = 0
    for k, (c, _, texels, wrap, s, o) in enumerate(specs):
        mask = out["instance"] == k + 1
        assert mask.sum() >= 150, f"quad {k} covers {mask.sum()} pixels"
        u = (hit[..., 0] - c[0]) / size + 0.5
        v = (hit[..., 1] - c[1]) / size + 0.5
        assert u[mask].min() >= -1e-9 and u[mask].max() <= 1 + 1e-9
        want = bilinear(srgb_decode(texels / 255.0), u * s[0] + o[0], v * s[1] + o[1], wrap)
        np.testing.assert_allclose(out["albedo"][mask], want[mask], rtol=0, atol=2e-5, err_msg=wrap)
        checked += mask.sum()
    assert checked == (out["instance"] > 0).sum()
    # the three wrap modes really differ outside [0, 1] and agree inside it
    u = np.linspace(-1, 2, 61)
    tex = srgb_decode(noise / 255.0)
    looks = {m: bilinear(tex, u, np.full_like(u, 0.3), m) for m in ("repeat", "clamp", "mirror")}
    inside = (u > 0.13) & (u < 0.87)
    for a in looks:
        for b in looks:
            assert np.allclose(looks[a][inside], looks[b][inside])
            if a != b:
                assert not np.allclose(looks[a][~inside], looks[b][~inside])


def test_rgb_of_a_lit_textured_quad_follows_the_albedo(tmp_path):
    """Under a uniform white environment, radiance leaving a diffuse quad is albedo times the
    visible sky; the texture must shade the rgb layer, not only the albedo label."""
    img = np.zeros((2, 2, 3), dtype=np.uint8)
    img[:, 0] = (255, 0, 0)
    img[:, 1] = (0, 0, 255)
    iio.imwrite(tmp_path / "two.png", img)
    out = raysynth.render({
        "camera": camera(), "render": {"spp": 16, "max_depth": 2, "seed": 1},
        "objects": [quad((0, 0), 1.5, {"type": "diffuse", "texture": {"type": "image", "file": str(tmp_path / "two.png"),
                                                                       "wrap": "clamp"}})],
        "lights": [{"type": "environment", "color": [1, 1, 1]}]}, labels=False)
    left = out["rgb"][12:20, 4:8]
    right = out["rgb"][12:20, 24:28]
    assert left[..., 0].mean() > 0.5 and left[..., 2].mean() < 0.02
    assert right[..., 2].mean() > 0.5 and right[..., 0].mean() < 0.02


# --------------------------------------------------------------------------- uv of shapes
def test_sphere_and_box_uv(tmp_path):
    """Sphere turned so that its object +x axis faces the camera (the centre pixel sees the +x
    direction: uv = (0, 1/2) on the seam), and a box's +z face: uv checked per pixel."""
    iio.imwrite(tmp_path / "probe.png", probe_image())
    tex = probe_image() / 255.0
    mat = {"type": "diffuse", "albedo": {"type": "image", "file": str(tmp_path / "probe.png"), "colorspace": "linear"}}
    cc = 16.5   # pixel (16, 16) centre on the optical axis
    rot = np.array([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])   # Ry(-90): object +x -> world +z
    scene = {"camera": camera(c=cc),
             "objects": [{"type": "sphere", "radius": 1.0, "material": mat,
                          "transform": {"translate": [0, 0, -4], "rotate": [0, -90, 0]}}]}
    out = render(scene)
    np.testing.assert_allclose(out["albedo"][16, 16], [0.5, 0.5, 0.0], atol=2e-4)
    # every pixel: ray-sphere in float64, object point, longitude/latitude, probe lookup
    d = pixel_rays(c=cc)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    centre = np.array([0, 0, -4.0])
    b = d @ centre
    disc = b ** 2 - (centre @ centre - 1.0)
    hit = disc > 0
    t = b - np.sqrt(np.where(hit, disc, 0))
    q = (d * t[..., None] - centre) @ rot   # world -> object: R^T p
    u = np.mod(np.arctan2(q[..., 1], q[..., 0]) / (2 * np.pi), 1.0)
    v = 0.5 + np.arcsin(np.clip(q[..., 2], -1, 1)) / np.pi
    mask = hit & (out["instance"] == 1) & (np.abs(q[..., 2]) < 0.9) & (disc > 0.05)
    assert mask.sum() > 60
    np.testing.assert_allclose(out["albedo"][mask], bilinear(tex, u, v, "repeat")[mask], atol=2e-3)
    # just above and below the centre: longitudes just above 0 (object +y) and just below 2 pi
    assert 0.0 < u[15, 16] < 0.05 and 0.95 < u[17, 16] < 1.0
    np.testing.assert_allclose(out["albedo"][[15, 17], 16], bilinear(tex, u[[15, 17], 16], v[[15, 17], 16], "repeat"),
                               atol=2e-3)

    # box: its +z face (size 1.2, centre z = -3 + 0.5) seen head-on: u = (x + 1) / 2 over the face
    box = {"camera": camera(), "objects": [{"type": "box", "size": [1.2, 1.0, 1.0], "material": mat,
                                            "transform": {"translate": [0.1, 0, -3]}}]}
    out = render(box)
    p = pixel_rays() * 2.5
    u = (p[..., 0] - 0.1) / 1.2 + 0.5
    v = p[..., 1] / 1.0 + 0.5
    mask = out["instance"] == 1
    assert mask.sum() > 60
    np.testing.assert_allclose(out["albedo"][mask], bilinear(tex, u, v, "repeat")[mask], atol=1e-4)


# --------------------------------------------------------------------------- meshes, MTL
OBJ_SQUARE = """\
mtllib parts.mtl
v -0.5 -0.5 0
v 0 -0.5 0
v 0.5 -0.5 0
v -0.5 0.5 0
v 0 0.5 0
v 0.5 0.5 0
vt 0 0
vt 0.5 0
vt 1 0
vt 0 1
vt 0.5 1
vt 1 1
usemtl red
f 1/1 2/2 5/5
f 1/1 5/5 4/4
usemtl pattern
f 2/2 3/3 6/6
f 2/2 6/6 5/5
"""
MTL = """\
newmtl red
Kd 0.7 0.1 0.1
newmtl pattern
Kd 0.3 0.3 0.3
map_Kd checker.png
"""


def test_mesh_uvs_and_mtl_materials(tmp_path):
    """Top left: a fan of 4 triangles whose uvs are an affine map of position (so interpolation
    is exact) with the probe image; the other quadrants: one OBJ with two usemtl materials (Kd
    red, map_Kd checker), with no material (MTL used), an explicit material (MTL ignored) and an
    explicit material with use_mtl true (MTL used again). The scene is a file: relative paths."""
    iio.imwrite(tmp_path / "probe.png", probe_image())
    checker = np.where((np.add.outer(np.arange(4), np.arange(4)) % 2 == 0)[..., None], 230, 20)
    checker = np.repeat(checker, 3, axis=2).astype(np.uint8)
    iio.imwrite(tmp_path / "checker.png", checker)
    corners = np.array([[-0.45, -0.45], [0.45, -0.45], [0.45, 0.45], [-0.45, 0.45], [0.0, 0.0]])
    A = np.array([[0.6, 0.2], [-0.15, 0.8]])
    b = np.array([0.45, 0.5])
    uvs = corners @ A.T + b
    lines = [f"v {x} {y} 0" for x, y in corners] + [f"vt {s} {t}" for s, t in uvs]
    lines += [f"f {i}/{i} {j}/{j} 5/5" for i, j in ((1, 2), (2, 3), (3, 4), (4, 1))]
    (tmp_path / "fan.obj").write_text("\n".join(lines) + "\n")
    (tmp_path / "square.obj").write_text(OBJ_SQUARE)
    (tmp_path / "parts.mtl").write_text(MTL)
    green = {"type": "diffuse", "albedo": [0.1, 0.9, 0.1]}
    scene = {
        "camera": camera(), "render": {"spp": 1, "max_depth": 1},
        "objects": [
            {"type": "mesh", "file": "fan.obj", "transform": {"translate": [-0.5, 0.5, -2]},
             "material": {"type": "diffuse", "texture": {"type": "image", "file": "probe.png", "colorspace": "linear",
                                                         "wrap": "clamp"}}},
            {"type": "mesh", "file": "square.obj", "transform": {"translate": [0.5, 0.5, -2], "scale": 0.9}},
            {"type": "mesh", "file": "square.obj", "material": green, "transform": {"translate": [-0.5, -0.5, -2],
                                                                                  "scale": 0.9}},
            {"type": "mesh", "file": "square.obj", "material": green, "use_mtl": True,
             "transform": {"translate": [0.5, -0.5, -2], "scale": 0.9}},
        ],
    }
    (tmp_path / "scene.json").write_text(json.dumps(scene))
    out = raysynth.render(tmp_path / "scene.json", labels=False)
    p = pixel_rays() * 2.0

    mask = out["instance"] == 1
    assert mask.sum() > 100
    local = np.stack([p[..., 0] + 0.5, p[..., 1] - 0.5], axis=-1)
    uv = local @ A.T + b
    want = bilinear(probe_image() / 255.0, uv[..., 0], uv[..., 1], "clamp")
    np.testing.assert_allclose(out["albedo"][mask], want[mask], atol=1e-4)

    tex = srgb_decode(checker / 255.0)
    for k, cx, cy, uses_mtl in ((2, 0.5, 0.5, True), (3, -0.5, -0.5, False), (4, 0.5, -0.5, True)):
        mask = out["instance"] == k
        assert mask.sum() > 100
        x = (p[..., 0] - cx) / 0.9   # object space of the square, [-0.5, 0.5]^2
        y = (p[..., 1] - cy) / 0.9
        got = out["albedo"]
        if not uses_mtl:
            np.testing.assert_allclose(got[mask], np.broadcast_to([0.1, 0.9, 0.1], got[mask].shape), atol=1e-7)
            continue
        left = mask & (x < -0.02)
        right = mask & (x > 0.02)
        np.testing.assert_allclose(got[left], np.broadcast_to(np.float32([0.7, 0.1, 0.1]), got[left].shape), atol=0)
        want = bilinear(tex, x + 0.5, y + 0.5, "repeat")
        np.testing.assert_allclose(got[right], want[right], atol=1e-4)


# --------------------------------------------------------------------------- noise
def test_noise_is_deterministic_in_range_object_space_and_seeded():
    a, b = [0.9, 0.2, 0.1], [0.1, 0.3, 0.8]

    def noise(seed, basis="gradient"):
        return {"type": "diffuse", "albedo": {"type": "noise", "color_a": a, "color_b": b, "scale": 3.0,
                                              "octaves": 4, "seed": seed, "basis": basis}}

    # quadrants: TL seed 0, TR seed 1, BL value noise seed 0, BR seed 0 again (same pattern as TL)
    objects = [quad((-0.5, 0.5), 1.0, noise(0)), quad((0.5, 0.5), 1.0, noise(1)),
               quad((-0.5, -0.5), 1.0, noise(0, "value")), quad((0.5, -0.5), 1.0, noise(0))]
    first = render({"objects": objects})
    again = render({"objects": objects})
    np.testing.assert_array_equal(first["albedo"], again["albedo"])
    np.testing.assert_array_equal(first["rgb"], again["rgb"])
    alb = first["albedo"]
    lo = np.minimum(a, b) - 1e-6
    hi = np.maximum(a, b) + 1e-6
    assert (first["instance"] > 0).all()
    assert ((alb >= lo) & (alb <= hi)).all()
    # a blend of the two colours: (c - a) / (b - a) is the same for every channel
    k = (alb - np.float32(a)) / (np.float32(b) - np.float32(a))
    np.testing.assert_allclose(k[..., 0], k[..., 2], atol=1e-5)
    quads = {"tl": alb[:16, :16], "tr": alb[:16, 16:], "bl": alb[16:, :16], "br": alb[16:, 16:]}
    for name, q in quads.items():
        assert q[..., 0].std() > 0.02, f"{name} is flat"
    np.testing.assert_allclose(quads["tl"], quads["br"], atol=1e-4)       # object space, same seed
    assert np.abs(quads["tl"] - quads["tr"]).max() > 0.1                   # another seed
    assert np.abs(quads["tl"] - quads["bl"]).max() > 0.1                   # another basis


# --------------------------------------------------------------------------- environment image
def test_environment_image_background(tmp_path):
    """64 x 32 equirectangular image of 4 x 2 uniform blocks; a 90-degree camera along -z (the
    image centre) sees blocks (row, column) (0, 1) top left, (0, 2) top right, (1, 1), (1, 2)
    below; turned by 180 degrees about up it sees columns 3 and 0."""
    colours = np.array([[[10, 20, 30], [40, 50, 60], [70, 80, 90], [100, 110, 120]],
                        [[130, 140, 150], [160, 170, 180], [190, 200, 210], [220, 230, 240]]], dtype=np.uint8)
    img = np.repeat(np.repeat(colours, 16, axis=0), 16, axis=1)
    iio.imwrite(tmp_path / "sky.png", img)
    far = {"type": "sphere", "radius": 0.1, "transform": {"translate": [0, 0, 50]}}   # behind the camera
    env = {"type": "environment", "image": str(tmp_path / "sky.png"), "colorspace": "linear", "intensity": 2.0}
    ys, xs = np.mgrid[0:H, 0:W]
    away = (np.abs(xs + 0.5 - 16) > 3) & (np.abs(ys + 0.5 - 16) > 3)
    for rotation, cols in ((0.0, (1, 2)), (180.0, (3, 0))):
        out = render({"camera": camera(f=16.0), "objects": [far], "lights": [{**env, "rotation": rotation}]})
        assert (out["instance"] == 0).all()
        want = np.zeros((H, W, 3))
        for row, ysl in ((0, slice(0, 16)), (1, slice(16, 32))):
            for col, xsl in zip(cols, (slice(0, 16), slice(16, 32))):
                want[ysl, xsl] = 2.0 * colours[row, col] / 255.0
        np.testing.assert_allclose(out["rgb"][away], want[away], atol=1e-5, err_msg=f"rotation {rotation}")


# --------------------------------------------------------------------------- errors
def _error(scene) -> str:
    with pytest.raises(SceneError) as info:
        prepare(scene)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_or_unreadable_image_names_the_field(tmp_path):
    missing = str(tmp_path / "nope.png")
    obj = {"type": "sphere", "material": {"type": "diffuse", "texture": {"type": "image", "file": missing}}}
    msg = _error({"objects": [obj]})
    assert msg.startswith("objects[0].material.texture.file: ") and "nope.png" in msg and "not found" in msg
    msg = _error({"materials": {"wood": {"type": "diffuse", "albedo": {"type": "image", "file": missing}}},
                  "objects": [{"type": "sphere", "material": "wood"}]})
    assert msg.startswith("materials.wood.albedo.file: ")
    msg = _error({"objects": [{"type": "sphere"}], "lights": [{"type": "point"}, {"type": "environment", "image": missing}]})
    assert msg.startswith("lights[1].image: ")
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    obj["material"]["texture"]["file"] = str(tmp_path / "junk.png")
    msg = _error({"objects": [obj]})
    assert msg.startswith("objects[0].material.texture.file: ") and "cannot read image" in msg
    # a map_Kd image that is missing: the mesh's file field
    (tmp_path / "square.obj").write_text(OBJ_SQUARE)
    (tmp_path / "parts.mtl").write_text(MTL)
    msg = _error({"objects": [{"type": "mesh", "file": str(tmp_path / "square.obj")}]})
    assert msg.startswith("objects[0].file") and "checker.png" in msg and "not found" in msg
    # ... unless the object ignores its MTL materials
    prepare({"objects": [{"type": "mesh", "file": str(tmp_path / "square.obj"), "use_mtl": False}]})


def test_texture_spec_errors_are_one_line_with_the_field_path():
    def check(material, start):
        with pytest.raises(SceneError) as info:
            prepare({"objects": [{"type": "sphere", "material": material}]})
        assert str(info.value).startswith(start), str(info.value)

    check({"type": "diffuse", "texture": {"type": "image"}}, "objects[0].material.texture.file: required")
    check({"type": "diffuse", "texture": {"type": "marble"}}, "objects[0].material.texture: a texture needs")
    check({"type": "diffuse", "texture": {"type": "image", "file": "a.png", "wrap": "tile"}},
          "objects[0].material.texture.wrap:")
    check({"type": "diffuse", "albedo": {"type": "noise", "octaves": 0}}, "objects[0].material.albedo.octaves:")
    check({"type": "diffuse", "texture": {"type": "noise"}, "checker": {}}, "objects[0].material: give only one")


def test_scenes_without_textures_carry_tiny_tables():
    arrays = prepare({"objects": [{"type": "sphere"}, {"type": "mesh", "procedural": {"kind": "cube"}}]}).arrays
    assert arrays.tex_info.shape == (0, 8) and arrays.tex_params.shape == (0, 8) and arrays.texels.shape == (0,)
    assert arrays.tri_uvs.shape == (0, 6) and arrays.tri_material.shape == (0,)
    assert (arrays.obj_mtl == -1).all() and (arrays.mat_params[:, 14] == -1).all()
