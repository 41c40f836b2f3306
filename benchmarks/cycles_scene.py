#!/usr/bin/env python3
"""Render one raysynth scene file with Blender Cycles (CPU) and time it.

Runs INSIDE the Cycles virtual environment (the ``bpy`` wheel, Python 3.11), not raysynth's::

    .peers/venv_cycles/bin/python benchmarks/cycles_scene.py SCENE.json --out-dir DIR [--name NAME]
        [--passes] [--threads N] [--spp N] [--bounces 8] [--sphere-segments 64] [--no-warmup]

The scene is a raysynth scene dict as JSON (README "Scene files", raysynth/spec/scene.py), e.g.
one drawn by ``raysynth.randomize.sample_scene``. Mesh files must be absolute paths (or relative
to the scene file). ``procedural`` meshes are generated with raysynth's own generator
(``raysynth/assets/procedural.py``, numpy only), imported from ``--raysynth-root`` without running
``raysynth/__init__`` (which needs Numba): the triangles are the ones raysynth renders.

Scene translation (raysynth -> Blender); coordinates are used as they are (Blender's z-up
convention only matters for the world shader, which takes the sky's `up` vector explicitly):

- camera: position/look_at/up -> camera matrix (Blender cameras look along local -z, +y up);
  `fov` is the vertical field of view (sensor_fit VERTICAL); `intrinsics` -> vertical angle
  from fy plus lens shift for (cx, cy) (fx != fy is not representable: fy wins);
  `aperture_radius`/`focus_distance` -> depth of field with the equivalent f-stop.
- transforms: M = T R S (Euler degrees R = Rz Ry Rx, or quaternion w,x,y,z, or `matrix`) is set as
  the object's world matrix, the shape is built in object space, so Object texture coordinates
  equal raysynth's object space (checkers line up). A sheared `matrix` loses its shear.
- shapes are tessellated: sphere -> UV sphere (--sphere-segments x segments/2, smooth with the
  analytic normals), box -> 12 triangles, quad -> 2, disk -> fan (--sphere-segments), cylinder ->
  smooth side + flat caps; meshes keep their triangles, with their vertex normals as custom
  normals when `smooth` (flat shading otherwise).
- materials: diffuse -> Diffuse BSDF (Lambert, roughness 0); checker -> Checker Texture on Object
  coordinates (same cells: parity of floor(x s) + floor(y s) + floor(z s)); conductor -> Metallic
  BSDF, F82 with white edge tint (= Schlick with F0 = color), single-scatter GGX, Blender roughness
  = sqrt(alpha); dielectric -> Glass BSDF, GGX roughness 0, ior, colour = tint (Cycles tints
  reflection too); emissive -> Emission (radiance x intensity; back faces dark unless two_sided)
  plus Diffuse(albedo). Noise textures -> Blender Noise Texture (another noise function: same
  scale/octaves/gain/lacunarity, different pattern); image textures -> Image Texture on the mesh uvs
  (analytic shapes: Blender's generated coordinates). Procedural checkers are exact; the other two
  are approximations (not used by the bundled random_shapes config).
- lights: environment -> world Background colour x intensity (constant radiance; environment
  images -> Environment Texture, mapping `front`/`up`/`rotation` not reproduced); sky -> the exact
  raysynth gradient as world nodes: s = dot(direction, up); s < 0: ground, else
  mix(horizon, zenith, s), all x intensity; directional -> Sun, strength = max channel of the
  irradiance (W/m^2, Cycles' unit for sun strength), colour = irradiance / strength, angle =
  2 x angular_radius; point -> Point light, radius 0, power = 4 pi x intensity (Cycles: radiant
  intensity of a point light = power / (4 pi) W/sr), colour likewise normalised. With
  --area-lights, a one-sided emissive quad becomes an Area light (rectangle of its size, place
  and radiance: power = pi x world area x radiance) instead of an emissive mesh: Cycles' analytic
  light, faster; camera rays do not see it and its diffuse reflection is dropped.
- settings: --spp (default: the scene's spp), --bounces (default 8: max/diffuse/glossy/
  transmission/transparent; volume 0; note Cycles counts bounces after the camera hit, raysynth's
  max_depth counts segments with the camera ray, so 8 bounces = raysynth max_depth 10), no adaptive
  sampling, no denoising, no clamping, no glossy filter, box pixel filter 1 px, seed = scene seed
  mod 2^31 (or --seed), Standard view transform, no dither, scene exposure as view exposure.
  Threads: --threads (default all). --npy also writes the linear RGB image as NAME.npy.

Timed (each in this process; the render gated by contention.py from --peers-dir when found):
  import_bpy_s    ``import bpy``
  build_s         factory reset + scene build (mesh generation/tessellation, materials, lights)
  warmup_s        one 1-spp 64x48 render of the same scene first (unless --no-warmup), so the
                  timed render excludes per-process first-render set-up
  render_s        ``bpy.ops.render.render()`` at full size: scene sync, BVH build, path tracing
                  (+ passes with --passes)
  write_s         writing DIR/NAME.png (and DIR/NAME_passes.exr, multilayer, with --passes)
  seconds_per_image = build_s + render_s (what one more image costs a long-running process)
With --passes the view layer adds z, normal, position, object index (= raysynth instance id),
diffuse colour (albedo) and object cryptomatte (4 levels: the analogue of soft_ids/soft_weight).
The result record is written to DIR/NAME.json (and printed as the last line of stdout). NAME
defaults to the scene file's stem + "_cycles", so the outputs never replace the scene file.
"""
import argparse
import json
import math
import os
import sys
import time
import types
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)  # Blender 5: use_nodes is always on

T_START = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))

#: Things the Blender scene does differently from raysynth; copied into the result record.
APPROXIMATIONS = [
    "analytic shapes tessellated (UV spheres, fans, cylinder sides) instead of exact intersection",
    "Cycles bounces count after the camera hit: 8 bounces = raysynth max_depth 10 (path segments)",
    "Cycles glass tints reflection too; raysynth tints transmission only",
    "Cycles uses its own light sampling (light tree, MIS, world importance map) and Russian roulette",
]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scene", help="raysynth scene JSON")
    ap.add_argument("--out-dir", required=True, help="folder for NAME.png / NAME.json (/ NAME_passes.exr)")
    ap.add_argument("--name", help="output stem (default: the scene file's stem + '_cycles')")
    ap.add_argument("--passes", action="store_true", help="also render z, normal, position, object index, "
                    "diffuse colour and object cryptomatte (multilayer EXR)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    ap.add_argument("--spp", type=int, help="samples per pixel (default: the scene's render.spp)")
    ap.add_argument("--bounces", type=int, default=8, help="Cycles max bounces (default 8)")
    ap.add_argument("--width", type=int, help="override the image width (height scales along)")
    ap.add_argument("--sphere-segments", type=int, default=64,
                    help="segments around spheres, disks and cylinders (spheres get half as many rings)")
    ap.add_argument("--seed", type=int, help="sampling seed (default: the scene's render.seed)")
    ap.add_argument("--npy", action="store_true", help="also write the linear RGB image as NAME.npy "
                    "((H, W, 3) float32, rows from the top, before any view transform)")
    ap.add_argument("--area-lights", action="store_true", help="one-sided emissive quads as Cycles area "
                    "lights (analytic: Cycles' fast path) instead of emissive meshes; their own diffuse "
                    "reflection is dropped")
    ap.add_argument("--no-warmup", action="store_true", help="skip the 1-spp warm-up render")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for an idle machine before rendering")
    ap.add_argument("--raysynth-root", default=os.path.dirname(HERE),
                    help="raysynth checkout, for procedural and file meshes (default: this script's repo)")
    ap.add_argument("--peers-dir", default=os.environ.get("PEERS_SCRIPTS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers")),
                    help="folder with contention.py (idle-machine gating); skipped when absent")
    return ap.parse_args(argv)


ARGS = parse_args()
if ARGS.no_wait:
    os.environ["PEERS_NO_WAIT"] = "1"
try:
    sys.path.insert(0, ARGS.peers_dir)
    import contention  # noqa: E402
except ImportError:  # no gating: time once, as is
    contention = None
finally:
    sys.path.remove(ARGS.peers_dir)

import numpy as np  # noqa: E402  (bpy's venv has numpy)

if contention is not None:
    contention.wait_idle()
_t = time.perf_counter()
import bpy  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

T_IMPORT_BPY = time.perf_counter() - _t


# ----------------------------------------------------------------------------- raysynth assets
def raysynth_assets():
    """raysynth.assets.{procedural,mesh_io} without running raysynth/__init__ (Numba, pydantic):
    a bare package module whose __path__ points into the checkout."""
    if "raysynth.assets.procedural" not in sys.modules:
        pkg = os.path.join(os.path.abspath(ARGS.raysynth_root), "raysynth")
        if not os.path.isfile(os.path.join(pkg, "assets", "procedural.py")):
            raise SystemExit(f"cycles_scene: no raysynth checkout at {ARGS.raysynth_root} (--raysynth-root)")
        if "raysynth" not in sys.modules:
            stub = types.ModuleType("raysynth")
            stub.__path__ = [pkg]
            sys.modules["raysynth"] = stub
        import raysynth.assets.mesh_io  # noqa: F401
        import raysynth.assets.procedural  # noqa: F401
    return sys.modules["raysynth.assets.procedural"], sys.modules["raysynth.assets.mesh_io"]


# ----------------------------------------------------------------------------- math helpers
def rotation_matrix(transform):
    """3x3 R of a raysynth transform: quaternion (w, x, y, z) or Euler degrees R = Rz Ry Rx."""
    q = transform.get("quaternion")
    if q is not None:
        w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
        return np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ])
    ax, ay, az = np.radians(transform.get("rotate", (0.0, 0.0, 0.0)))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def object_matrix(transform):
    """4x4 object-to-world M = T R S (or the given `matrix`)."""
    transform = transform or {}
    if transform.get("matrix") is not None:
        return np.asarray(transform["matrix"], dtype=np.float64)
    scale = transform.get("scale", (1.0, 1.0, 1.0))
    if isinstance(scale, (int, float)):
        scale = (scale, scale, scale)
    m = np.eye(4)
    m[:3, :3] = rotation_matrix(transform) @ np.diag(np.asarray(scale, dtype=np.float64))
    m[:3, 3] = transform.get("translate", (0.0, 0.0, 0.0))
    return m


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


# ----------------------------------------------------------------------------- tessellation
# Every builder returns (vertices (n,3), triangles (m,3), vertex normals (n,3) or None, uvs or None)
# in the shape's object space; flat parts get their own (split) vertices with the face normal.
def _grid_triangles(rows, cols, offset=0):
    """Triangles of a (rows+1) x (cols+1) vertex grid, row-major."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    a = offset + r * (cols + 1) + c
    b, d = a + 1, a + cols + 1
    e = d + 1
    return np.concatenate([np.stack([a, b, e], -1).reshape(-1, 3), np.stack([a, e, d], -1).reshape(-1, 3)])


def sphere(radius, segments):
    rings = max(segments // 2, 2)
    theta = np.linspace(0.0, math.pi, rings + 1)            # from +z (north pole) down
    phi = np.linspace(0.0, 2 * math.pi, segments + 1)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    n = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    # rows run north to south, so the grid's winding faces inwards: flip it (Cycles' glass needs
    # outward geometric normals to tell entering from leaving)
    tri = _grid_triangles(rings, segments)[:, [0, 2, 1]]
    uv = np.stack([p / (2 * math.pi), 1 - t / math.pi], -1).reshape(-1, 2)
    return n * radius, tri, n, uv


def box(size):
    h = np.asarray(size, dtype=np.float64) / 2
    verts, normals, tris = [], [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            u, v = (axis + 1) % 3, (axis + 2) % 3   # (u, v, axis) is right-handed
            nrm = np.zeros(3)
            nrm[axis] = sign
            base = len(verts)
            for cu, cv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[u], p[v] = sign * h[axis], cu * h[u], cv * h[v]
                verts.append(p)
                normals.append(nrm)
            quad = [(base, base + 1, base + 2), (base, base + 2, base + 3)]
            tris += quad if sign > 0 else [t[::-1] for t in quad]
    return np.array(verts), np.array(tris), np.array(normals), None


def quad(size):
    hx, hy = size[0] / 2, size[1] / 2
    v = np.array([[-hx, -hy, 0], [hx, -hy, 0], [hx, hy, 0], [-hx, hy, 0]], dtype=np.float64)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
    return v, np.array([[0, 1, 2], [0, 2, 3]]), np.tile([0.0, 0.0, 1.0], (4, 1)), uv


def disk(radius, segments, z=0.0, up=True):
    a = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    rim = np.stack([radius * np.cos(a), radius * np.sin(a), np.full_like(a, z)], -1)
    v = np.vstack([[0.0, 0.0, z], rim])
    i = np.arange(segments)
    tri = np.stack([np.zeros(segments, dtype=np.int64), 1 + i, 1 + (i + 1) % segments], -1)
    if not up:
        tri = tri[:, ::-1]
    n = np.tile([0.0, 0.0, 1.0 if up else -1.0], (len(v), 1))
    return v, tri, n, None


def cylinder(radius, height, caps, segments):
    a = np.linspace(0.0, 2 * math.pi, segments + 1)
    c, s = np.cos(a), np.sin(a)
    side_n = np.stack([c, s, np.zeros_like(a)], -1)
    bottom = np.stack([radius * c, radius * s, np.full_like(a, -height / 2)], -1)
    top = bottom + [0.0, 0.0, height]
    v, n = np.vstack([bottom, top]), np.vstack([side_n, side_n])
    tri = _grid_triangles(1, segments)
    parts = [(v, tri, n)]
    if caps:
        parts += [disk(radius, segments, height / 2, True)[:3], disk(radius, segments, -height / 2, False)[:3]]
    verts, tris, normals, off = [], [], [], 0
    for pv, pt, pn in parts:
        verts.append(pv)
        tris.append(pt + off)
        normals.append(pn)
        off += len(pv)
    return np.vstack(verts), np.vstack(tris), np.vstack(normals), None


def shape_geometry(obj, scene_dir):
    """(vertices, triangles, normals or None, uvs or None, smooth) of a scene object."""
    seg = ARGS.sphere_segments
    kind = obj.get("type", "sphere")
    if kind == "sphere":
        return (*sphere(obj.get("radius", 1.0), seg), True)
    if kind == "box":
        return (*box(obj.get("size", (1.0, 1.0, 1.0))), True)
    if kind == "quad":
        return (*quad(obj.get("size", (1.0, 1.0))), True)
    if kind == "disk":
        return (*disk(obj.get("radius", 1.0), seg), True)
    if kind == "cylinder":
        return (*cylinder(obj.get("radius", 0.5), obj.get("height", 1.0), obj.get("caps", True), seg), True)
    if kind != "mesh":
        raise SystemExit(f"cycles_scene: unknown object type {kind!r}")
    smooth = obj.get("smooth", True)
    if obj.get("procedural") is not None:
        procedural, _ = raysynth_assets()
        spec = dict(obj["procedural"])
        m = procedural.make(spec.pop("kind"), **spec)
        return m.vertices, m.faces, m.normals, m.uvs, smooth
    if obj.get("file") is not None:
        _, mesh_io = raysynth_assets()
        path = obj["file"] if os.path.isabs(obj["file"]) else os.path.join(scene_dir, obj["file"])
        m = mesh_io.read_mesh(path)
        return m.vertices, m.faces, m.normals, m.uvs, smooth
    normals = obj.get("normals")
    return (np.asarray(obj["vertices"], dtype=np.float64), np.asarray(obj["faces"], dtype=np.int64),
            None if normals is None else np.asarray(normals, dtype=np.float64), None, smooth)


def blender_mesh(name, vertices, triangles, normals, uvs, smooth):
    """A Blender mesh from triangle arrays (numpy fast path), custom normals when smooth."""
    v = np.ascontiguousarray(vertices, dtype=np.float32)
    t = np.ascontiguousarray(triangles, dtype=np.int32)
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(v))
    me.vertices.foreach_set("co", v.ravel())
    me.loops.add(3 * len(t))
    me.loops.foreach_set("vertex_index", t.ravel())
    me.polygons.add(len(t))
    me.polygons.foreach_set("loop_start", np.arange(0, 3 * len(t), 3, dtype=np.int32))
    if uvs is not None:
        layer = me.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", np.ascontiguousarray(np.asarray(uvs, dtype=np.float32)[t.ravel()]).ravel())
    me.update(calc_edges=True)
    me.validate(clean_customdata=False)
    if smooth and normals is not None:
        me.shade_smooth()
        me.normals_split_custom_set_from_vertices(np.asarray(normals, dtype=np.float32).tolist())
    else:
        me.shade_flat()
    return me


# ----------------------------------------------------------------------------- materials
def _socket(node, identifier):
    return next(s for s in node.inputs if s.identifier == identifier)


def _rgba(c):
    return (float(c[0]), float(c[1]), float(c[2]), 1.0)


def _new_tree(mat):
    try:
        mat.use_nodes = True  # deprecated in Blender 5 (always on), required before 4.x
    except Exception:
        pass
    nt = mat.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)
    return nt, nt.nodes.new("ShaderNodeOutputMaterial")


def _texture_node(nt, tex, scene_dir):
    """Colour output socket of a raysynth texture spec (checker / noise / image)."""
    kind = tex.get("type", "checker")
    coords = nt.nodes.new("ShaderNodeTexCoord")
    if kind == "checker":
        # Cycles: odd parity of floor(x s) + floor(y s) + floor(z s) -> Color1 (raysynth: color_b)
        n = nt.nodes.new("ShaderNodeTexChecker")
        nt.links.new(coords.outputs["Object"], n.inputs["Vector"])
        n.inputs["Color1"].default_value = _rgba(tex.get("color_b", (0.2, 0.2, 0.2)))
        n.inputs["Color2"].default_value = _rgba(tex.get("color_a", (0.8, 0.8, 0.8)))
        n.inputs["Scale"].default_value = tex.get("scale", 4.0)
        return n.outputs["Color"]
    if kind == "noise":
        n = nt.nodes.new("ShaderNodeTexNoise")
        nt.links.new(coords.outputs["Object"], n.inputs["Vector"])
        n.inputs["Scale"].default_value = tex.get("scale", 4.0)
        n.inputs["Detail"].default_value = tex.get("octaves", 4) - 1
        n.inputs["Roughness"].default_value = tex.get("gain", 0.5)
        n.inputs["Lacunarity"].default_value = tex.get("lacunarity", 2.0)
        mix = nt.nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        nt.links.new(n.outputs["Fac"], _socket(mix, "Factor_Float"))
        _socket(mix, "A_Color").default_value = _rgba(tex.get("color_a", (0.8, 0.8, 0.8)))
        _socket(mix, "B_Color").default_value = _rgba(tex.get("color_b", (0.2, 0.2, 0.2)))
        return next(s for s in mix.outputs if s.identifier == "Result_Color")
    path = tex["file"] if os.path.isabs(tex["file"]) else os.path.join(scene_dir, tex["file"])
    n = nt.nodes.new("ShaderNodeTexImage")
    n.image = bpy.data.images.load(path, check_existing=True)
    n.image.colorspace_settings.name = "sRGB" if tex.get("colorspace", "srgb") == "srgb" else "Non-Color"
    n.extension = {"repeat": "REPEAT", "clamp": "EXTEND", "mirror": "MIRROR"}[tex.get("wrap", "repeat")]
    mapping = nt.nodes.new("ShaderNodeMapping")
    sx, sy = tex.get("scale", (1.0, 1.0))
    ox, oy = tex.get("offset", (0.0, 0.0))
    mapping.inputs["Scale"].default_value = (sx, sy, 1.0)
    mapping.inputs["Location"].default_value = (ox, oy, 0.0)
    nt.links.new(coords.outputs["UV"], mapping.inputs["Vector"])
    nt.links.new(mapping.outputs["Vector"], n.inputs["Vector"])
    return n.outputs["Color"]


def make_material(name, spec, scene_dir):
    """A Blender material from a raysynth material dict (see the module docstring)."""
    mat = bpy.data.materials.new(name)
    nt, out = _new_tree(mat)
    kind = spec.get("type", "diffuse")
    if kind == "diffuse":
        bsdf = nt.nodes.new("ShaderNodeBsdfDiffuse")
        bsdf.inputs["Roughness"].default_value = 0.0
        albedo = spec.get("albedo", (0.8, 0.8, 0.8))
        tex = spec.get("texture") or spec.get("checker") or (albedo if isinstance(albedo, dict) else None)
        if tex is not None:
            nt.links.new(_texture_node(nt, tex, scene_dir), bsdf.inputs["Color"])
        else:
            bsdf.inputs["Color"].default_value = _rgba(albedo)
    elif kind == "conductor":
        bsdf = nt.nodes.new("ShaderNodeBsdfMetallic")
        bsdf.fresnel_type = "F82"
        bsdf.distribution = "GGX"
        bsdf.inputs["Base Color"].default_value = _rgba(spec.get("color", (0.9, 0.9, 0.9)))
        bsdf.inputs["Edge Tint"].default_value = (1.0, 1.0, 1.0, 1.0)
        bsdf.inputs["Roughness"].default_value = math.sqrt(spec.get("roughness", 0.2))  # alpha = r^2
    elif kind == "dielectric":
        bsdf = nt.nodes.new("ShaderNodeBsdfGlass")
        bsdf.distribution = "GGX"
        bsdf.inputs["Roughness"].default_value = 0.0
        bsdf.inputs["IOR"].default_value = spec.get("ior", 1.5)
        bsdf.inputs["Color"].default_value = _rgba(spec.get("color", (1.0, 1.0, 1.0)))
    elif kind == "emissive":
        emit = nt.nodes.new("ShaderNodeEmission")
        emit.inputs["Color"].default_value = _rgba(spec.get("radiance", (1.0, 1.0, 1.0)))
        strength = float(spec.get("intensity", 1.0))
        if spec.get("two_sided", False):
            emit.inputs["Strength"].default_value = strength
        else:  # strength x (1 - backfacing)
            geo = nt.nodes.new("ShaderNodeNewGeometry")
            front = nt.nodes.new("ShaderNodeMath")
            front.operation = "MULTIPLY_ADD"
            nt.links.new(geo.outputs["Backfacing"], front.inputs[0])
            front.inputs[1].default_value = -strength
            front.inputs[2].default_value = strength
            nt.links.new(front.outputs["Value"], emit.inputs["Strength"])
        diffuse = nt.nodes.new("ShaderNodeBsdfDiffuse")
        diffuse.inputs["Color"].default_value = _rgba(spec.get("albedo", (0.0, 0.0, 0.0)))
        bsdf = nt.nodes.new("ShaderNodeAddShader")
        nt.links.new(emit.outputs["Emission"], bsdf.inputs[0])
        nt.links.new(diffuse.outputs["BSDF"], bsdf.inputs[1])
        nt.links.new(bsdf.outputs["Shader"], out.inputs["Surface"])
        return mat
    else:
        raise SystemExit(f"cycles_scene: unknown material type {kind!r}")
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


# ----------------------------------------------------------------------------- world and lights
def make_world(lights, scene_dir):
    """World shader of the scene's environment or sky (black without one)."""
    world = bpy.data.worlds.new("world")
    try:
        world.use_nodes = True
    except Exception:
        pass
    nt = world.node_tree
    bg = next(n for n in nt.nodes if n.type == "BACKGROUND")
    bg.inputs["Strength"].default_value = 1.0
    env = next((lt for lt in lights if lt.get("type") in ("environment", "sky")), None)
    if env is None:
        bg.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
        bg.inputs["Strength"].default_value = 0.0
    elif env["type"] == "environment":
        bg.inputs["Color"].default_value = _rgba(np.asarray(env.get("color", (1, 1, 1))) * env.get("intensity", 1.0))
        if env.get("image"):
            path = env["image"] if os.path.isabs(env["image"]) else os.path.join(scene_dir, env["image"])
            tex = nt.nodes.new("ShaderNodeTexEnvironment")
            tex.image = bpy.data.images.load(path, check_existing=True)
            tint = nt.nodes.new("ShaderNodeMix")
            tint.data_type = "RGBA"
            tint.blend_type = "MULTIPLY"
            _socket(tint, "Factor_Float").default_value = 1.0
            nt.links.new(tex.outputs["Color"], _socket(tint, "A_Color"))
            _socket(tint, "B_Color").default_value = bg.inputs["Color"].default_value[:]
            nt.links.new(next(s for s in tint.outputs if s.identifier == "Result_Color"), bg.inputs["Color"])
    else:
        k = env.get("intensity", 1.0)
        zenith = np.asarray(env.get("zenith", (0.25, 0.45, 0.9))) * k
        horizon = np.asarray(env.get("horizon", (0.9, 0.9, 1.0))) * k
        ground = np.asarray(env.get("ground", (0.3, 0.28, 0.25))) * k
        coords = nt.nodes.new("ShaderNodeTexCoord")         # world "Generated" = ray direction
        dot = nt.nodes.new("ShaderNodeVectorMath")
        dot.operation = "DOT_PRODUCT"
        nt.links.new(coords.outputs["Generated"], dot.inputs[0])
        dot.inputs[1].default_value = tuple(unit(env.get("up", (0.0, 1.0, 0.0))))
        sky = nt.nodes.new("ShaderNodeMix")                 # horizon -> zenith, factor clamped s
        sky.data_type = "RGBA"
        sky.clamp_factor = True
        nt.links.new(dot.outputs["Value"], _socket(sky, "Factor_Float"))
        _socket(sky, "A_Color").default_value = _rgba(horizon)
        _socket(sky, "B_Color").default_value = _rgba(zenith)
        below = nt.nodes.new("ShaderNodeMath")
        below.operation = "LESS_THAN"
        nt.links.new(dot.outputs["Value"], below.inputs[0])
        below.inputs[1].default_value = 0.0
        full = nt.nodes.new("ShaderNodeMix")                # ground below the horizon
        full.data_type = "RGBA"
        nt.links.new(below.outputs["Value"], _socket(full, "Factor_Float"))
        nt.links.new(next(s for s in sky.outputs if s.identifier == "Result_Color"), _socket(full, "A_Color"))
        _socket(full, "B_Color").default_value = _rgba(ground)
        nt.links.new(next(s for s in full.outputs if s.identifier == "Result_Color"), bg.inputs["Color"])
    return world


def _light_colour(rgb):
    rgb = np.asarray(rgb, dtype=np.float64)
    peak = float(rgb.max())
    return (tuple(rgb / peak) if peak > 0 else (1.0, 1.0, 1.0)), peak


def add_lights(scene, lights):
    for i, lt in enumerate(lights):
        kind = lt.get("type")
        if kind == "directional":
            data = bpy.data.lights.new(f"sun_{i}", type="SUN")
            data.color, data.energy = _light_colour(lt.get("irradiance", (3.0, 3.0, 3.0)))
            data.angle = math.radians(2.0 * lt.get("angular_radius", 0.0))
            ob = bpy.data.objects.new(f"sun_{i}", data)
            # a sun shines along its local -z
            d = unit(lt.get("direction", (0.0, -1.0, 0.0)))
            ob.rotation_euler = Vector(tuple(d)).to_track_quat("-Z", "Y").to_euler()
        elif kind == "point":
            data = bpy.data.lights.new(f"point_{i}", type="POINT")
            colour, intensity = _light_colour(lt.get("intensity", (10.0, 10.0, 10.0)))
            data.color, data.energy = colour, 4.0 * math.pi * intensity   # I = P / (4 pi)
            data.shadow_soft_size = 0.0
            ob = bpy.data.objects.new(f"point_{i}", data)
            ob.location = lt.get("position", (0.0, 5.0, 0.0))
        else:
            continue  # environment / sky: the world shader
        scene.collection.objects.link(ob)


def add_camera(scene, cam, width, height):
    pos = np.asarray(cam.get("position", (0.0, 0.0, 5.0)), dtype=np.float64)
    fwd = unit(np.asarray(cam.get("look_at", (0.0, 0.0, 0.0))) - pos)
    right = unit(np.cross(fwd, cam.get("up", (0.0, 1.0, 0.0))))
    up = np.cross(right, fwd)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -fwd, pos  # Blender camera: -z forward, +y up
    data = bpy.data.cameras.new("camera")
    data.sensor_fit = "VERTICAL"
    src_w, src_h = cam.get("width", 320), cam.get("height", 240)
    k = cam.get("intrinsics")
    if k is not None:
        fy, cx, cy = k["fy"] * height / src_h, k["cx"] * width / src_w, k["cy"] * height / src_h
        data.angle = 2.0 * math.atan(0.5 * height / fy)
        data.shift_x = (0.5 * width - cx) / height      # shifts are in units of the fitted (vertical) size
        data.shift_y = (cy - 0.5 * height) / height
    else:
        data.angle = math.radians(cam.get("fov", 40.0))
    if cam.get("aperture_radius", 0.0) > 0:
        data.dof.use_dof = True
        look = np.asarray(cam.get("look_at", (0.0, 0.0, 0.0))) - pos
        data.dof.focus_distance = cam.get("focus_distance") or float(np.linalg.norm(look))
        data.dof.aperture_fstop = (data.lens / 1000.0) / (2.0 * cam["aperture_radius"])  # lens in mm
    ob = bpy.data.objects.new("camera", data)
    ob.matrix_world = Matrix(m.tolist())
    scene.collection.objects.link(ob)
    scene.camera = ob


def add_area_light(scene, name, obj, spec):
    """A one-sided emissive quad as a rectangular area light of the same place, size and
    radiance: Cycles' area lights emit along local -z (the quad along +z: turned about x), and a
    power P gives radiance P / (pi * world area) (checked against the emissive mesh: image means
    agree)."""
    sx, sy = obj.get("size", (1.0, 1.0))
    matrix = np.asarray(object_matrix(obj.get("transform")), dtype=float)
    area = float(np.linalg.norm(np.cross(matrix[:3, 0] * sx, matrix[:3, 1] * sy)))
    radiance = np.asarray(spec.get("radiance", (1.0, 1.0, 1.0)), dtype=float) * float(spec.get("intensity", 1.0))
    peak = float(radiance.max())
    light = bpy.data.lights.new(name, type="AREA")
    light.shape = "RECTANGLE"
    light.size, light.size_y = sx, sy
    light.color = tuple(radiance / peak)
    light.energy = peak * math.pi * area
    ob = bpy.data.objects.new(name, light)
    ob.matrix_world = Matrix((matrix @ np.diag([1.0, -1.0, -1.0, 1.0])).tolist())
    scene.collection.objects.link(ob)


# ----------------------------------------------------------------------------- scene
def build_scene(doc, scene_dir, spp, width, height):
    """Factory-reset Blender and build the scene; returns (bpy scene, triangle count)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    named = {name: make_material(name, spec, scene_dir) for name, spec in doc.get("materials", {}).items()}
    triangles = 0
    for i, obj in enumerate(doc["objects"]):
        name = obj.get("name") or f"object_{i}"
        ref = obj.get("material", {"type": "diffuse"})
        spec = doc.get("materials", {}).get(ref, {}) if isinstance(ref, str) else ref
        if (ARGS.area_lights and obj.get("type") == "quad" and spec.get("type") == "emissive"
                and not spec.get("two_sided", False)):
            add_area_light(scene, name, obj, spec)
            continue
        v, t, n, uv, smooth = shape_geometry(obj, scene_dir)
        triangles += len(t)
        me = blender_mesh(name, v, t, n, uv, smooth)
        me.materials.append(named[ref] if isinstance(ref, str) else make_material(f"{name}_mat", ref, scene_dir))
        ob = bpy.data.objects.new(name, me)
        ob.matrix_world = Matrix(object_matrix(obj.get("transform")).tolist())
        ob.pass_index = i + 1   # = raysynth instance id
        scene.collection.objects.link(ob)
    lights = doc.get("lights", [])
    add_lights(scene, lights)
    scene.world = make_world(lights, scene_dir)
    add_camera(scene, doc.get("camera", {}), width, height)

    settings = doc.get("render", {})
    r = scene.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y, r.resolution_percentage = width, height, 100
    r.threads_mode = "FIXED"
    r.threads = ARGS.threads or os.cpu_count() or 1
    r.use_persistent_data = False
    r.dither_intensity = 0.0
    r.film_transparent = False
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = float(settings.get("exposure", 0.0))
    c = scene.cycles
    c.device = "CPU"
    c.samples = spp
    c.use_adaptive_sampling = False
    c.use_denoising = False
    c.max_bounces = c.diffuse_bounces = c.glossy_bounces = ARGS.bounces
    c.transmission_bounces = c.transparent_max_bounces = ARGS.bounces
    c.volume_bounces = 0
    c.sample_clamp_direct = c.sample_clamp_indirect = 0.0
    c.blur_glossy = 0.0  # "Filter Glossy" (default 1) trades bias for less noise: off, as in raysynth
    c.pixel_filter_type = "BOX"
    c.filter_width = 1.0
    c.seed = int(settings.get("seed", 0) if ARGS.seed is None else ARGS.seed) % (1 << 31)
    return scene, triangles


def set_passes(scene, on):
    vl = scene.view_layers[0]
    for name in ("z", "normal", "position", "object_index", "diffuse_color", "cryptomatte_object"):
        setattr(vl, f"use_pass_{name}", on)
    if on:
        vl.pass_cryptomatte_depth = 4


def set_format(scene, fmt):
    ims = scene.render.image_settings
    if "media_type" in ims.bl_rna.properties:  # Blender >= 5.0
        ims.media_type = "MULTI_LAYER_IMAGE" if fmt == "exr" else "IMAGE"
    if fmt == "exr":
        ims.file_format = "OPEN_EXR_MULTILAYER"
        ims.color_depth = "32"
    else:
        ims.file_format = "PNG"
        ims.color_mode = "RGB"
        ims.color_depth = "8"


def linear_rgb(scene, result, exr_path):
    """The render result's combined pass as (H, W, 3) float32, rows from the top: written as a
    single-layer 32-bit EXR (scene-linear, no view transform) and read back through bpy."""
    ims = scene.render.image_settings
    if "media_type" in ims.bl_rna.properties:  # Blender >= 5.0
        ims.media_type = "IMAGE"
    ims.file_format = "OPEN_EXR"
    ims.color_mode = "RGB"
    ims.color_depth = "32"
    result.save_render(exr_path, scene=scene)
    image = bpy.data.images.load(exr_path)
    width, height = image.size
    rgba = np.array(image.pixels[:], dtype=np.float32).reshape(height, width, image.channels)
    bpy.data.images.remove(image)
    os.remove(exr_path)
    return np.ascontiguousarray(rgba[::-1, :, :3])


def timed(fn):
    """(wall seconds, foreign cores, tries, cpu seconds) of fn(), gated when contention.py is found."""
    if contention is None:
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        return time.perf_counter() - w0, None, 1, time.process_time() - c0
    _, wall, foreign, tries = contention.measure(fn, max_foreign=0.15, tries=2)
    return wall, foreign, tries, contention.LAST.get("cpu")


def main():
    with open(ARGS.scene) as f:
        doc = json.load(f)
    scene_dir = os.path.dirname(os.path.abspath(ARGS.scene))
    name = ARGS.name or os.path.splitext(os.path.basename(ARGS.scene))[0] + "_cycles"
    os.makedirs(ARGS.out_dir, exist_ok=True)
    if os.path.abspath(os.path.join(ARGS.out_dir, f"{name}.json")) == os.path.abspath(ARGS.scene):
        raise SystemExit("cycles_scene: --name would overwrite the scene file")
    cam = doc.get("camera", {})
    width = ARGS.width or cam.get("width", 320)
    height = round(width * cam.get("height", 240) / cam.get("width", 320)) if ARGS.width else cam.get("height", 240)
    spp = ARGS.spp or doc.get("render", {}).get("spp", 64)

    t0 = time.perf_counter()
    scene, triangles = build_scene(doc, scene_dir, spp, width, height)
    build_s = time.perf_counter() - t0
    set_passes(scene, ARGS.passes)

    warmup_s = None
    if not ARGS.no_warmup:  # first render of the process: a 1-spp thumbnail of the same scene
        t0 = time.perf_counter()
        scene.render.resolution_percentage = 10
        scene.cycles.samples = 1
        bpy.ops.render.render(write_still=False)
        scene.render.resolution_percentage = 100
        scene.cycles.samples = spp
        warmup_s = time.perf_counter() - t0

    render_s, foreign, tries, cpu_s = timed(lambda: bpy.ops.render.render(write_still=False))

    t0 = time.perf_counter()
    result = bpy.data.images["Render Result"]
    png = os.path.join(ARGS.out_dir, f"{name}.png")
    set_format(scene, "png")
    result.save_render(png, scene=scene)
    exr = None
    if ARGS.passes:
        exr = os.path.join(ARGS.out_dir, f"{name}_passes.exr")
        set_format(scene, "exr")
        result.save_render(exr, scene=scene)
    write_s = time.perf_counter() - t0
    npy = None
    if ARGS.npy:
        npy = os.path.join(ARGS.out_dir, f"{name}.npy")
        np.save(npy, linear_rgb(scene, result, os.path.join(ARGS.out_dir, f"{name}_linear.exr")))

    threads = scene.render.threads
    record = {
        "renderer": "cycles", "bpy": bpy.app.version_string, "python": sys.version.split()[0],
        "scene": os.path.abspath(ARGS.scene), "width": width, "height": height, "spp": spp,
        "bounces": ARGS.bounces, "passes": ARGS.passes, "threads": threads, "objects": len(doc["objects"]),
        "triangles": triangles, "sphere_segments": ARGS.sphere_segments,
        "import_bpy_s": T_IMPORT_BPY, "build_s": build_s, "warmup_s": warmup_s, "render_s": render_s,
        "render_cpu_s": cpu_s, "render_foreign_cores": foreign, "render_tries": tries, "write_s": write_s,
        "seconds_per_image": build_s + render_s,  # writing excluded, as on the raysynth side
        "Msamples_per_s": width * height * spp / render_s / 1e6,
        "png": png, "exr": exr, "npy": npy, "seed": scene.cycles.seed, "approximations": APPROXIMATIONS,
        "process_wall_s": time.perf_counter() - T_START,
    }
    with open(os.path.join(ARGS.out_dir, f"{name}.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
