"""Tests for raysynth.assets.mesh_io: OBJ/PLY readers against trimesh, errors, fuzzing."""
from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raysynth.assets import mesh_io
from raysynth.assets.mesh_io import (
    Mesh,
    MeshFormatError,
    mesh_from_arrays,
    read_mesh,
    read_mtl,
    read_obj,
    read_ply,
)

trimesh = pytest.importorskip("trimesh")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _canon_tri(tri: tuple) -> tuple:
    """Rotate a triangle's corners so the smallest comes first (winding kept)."""
    k = min(range(3), key=lambda i: tri[i])
    return tri[k:] + tri[:k]


def tri_set(corners: np.ndarray, decimals: int = 4) -> Counter:
    """Multiset of triangles given per-corner data of shape (m, 3, d)."""
    c = np.round(np.asarray(corners, dtype=np.float64), decimals) + 0.0  # no -0.0
    return Counter(_canon_tri(tuple(tuple(p) for p in tri)) for tri in c.tolist())


def mesh_tris(m: Mesh, normals: bool = False) -> Counter:
    data = m.vertices[m.faces]
    if normals:
        data = np.concatenate([data, m.normals[m.faces]], axis=2)
    return tri_set(data)


def trimesh_tris(path: Path, normals: bool = False) -> Counter:
    if not normals:
        t = trimesh.load(str(path), process=False, force="mesh")
        return tri_set(t.vertices[t.faces])
    # force='mesh' drops file normals; read them from the (possibly several) geometries
    loaded = trimesh.load(str(path), process=False)
    geoms = list(loaded.geometry.values()) if isinstance(loaded, trimesh.Scene) else [loaded]
    out: Counter = Counter()
    for g in geoms:
        out += tri_set(np.concatenate([g.vertices[g.faces], g.vertex_normals[g.faces]], axis=2))
    return out


_ST = {"char": "b", "uchar": "B", "short": "h", "ushort": "H", "int": "i", "uint": "I",
       "float": "f", "double": "d", "int8": "b", "uint8": "B", "int16": "h",
       "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}


def make_ply(fmt: str, elements: list, comments=("written by test_mesh_io",)) -> bytes:
    """Build a PLY file.

    elements: list of (name, props, rows); a prop is (name, type) or
    (name, 'list', count_type, item_type); rows are tuples, list values as sequences.
    """
    head = ["ply", f"format {fmt} 1.0"] + [f"comment {c}" for c in comments]
    head.append("obj_info generated")
    for name, props, rows in elements:
        head.append(f"element {name} {len(rows)}")
        for p in props:
            if len(p) == 4:
                head.append(f"property list {p[2]} {p[3]} {p[0]}")
            else:
                head.append(f"property {p[1]} {p[0]}")
    head.append("end_header")
    out = ("\n".join(head) + "\n").encode()
    if fmt == "ascii":
        lines = []
        for _, props, rows in elements:
            for row in rows:
                toks = []
                for p, v in zip(props, row):
                    if len(p) == 4:
                        toks.append(str(len(v)))
                        toks.extend(repr(x) for x in v)
                    else:
                        toks.append(repr(v))
                lines.append(" ".join(toks))
        return out + ("\n".join(lines) + "\n").encode()
    o = "<" if fmt == "binary_little_endian" else ">"
    buf = bytearray(out)
    for _, props, rows in elements:
        for row in rows:
            for p, v in zip(props, row):
                if len(p) == 4:
                    buf += struct.pack(o + _ST[p[2]], len(v))
                    buf += struct.pack(o + _ST[p[3]] * len(v), *v)
                else:
                    buf += struct.pack(o + _ST[p[1]], v)
    return bytes(buf)


FORMATS = ["ascii", "binary_little_endian", "binary_big_endian"]

# a small non-planar "house": square base, a roof pentagon, side quads, triangles
HOUSE_V = [
    (0.0, 0.0, 0.0), (2.0, 0.0, 0.0), (2.0, 2.0, 0.0), (0.0, 2.0, 0.0),
    (0.0, 0.0, 1.5), (2.0, 0.0, 1.5), (2.0, 2.0, 1.5), (0.0, 2.0, 1.5),
    (1.0, 0.0, 2.5), (1.0, 2.0, 2.5),
]
HOUSE_F = [
    (0, 3, 2, 1),            # floor quad
    (0, 1, 5, 8, 4),         # front pentagon
    (3, 7, 9, 6, 2),         # back pentagon
    (1, 2, 6, 5),            # right wall quad
    (0, 4, 7, 3),            # left wall quad
    (4, 8, 9), (4, 9, 7),    # roof triangles
    (5, 6, 9), (5, 9, 8),
]


def _unit_normals(n: int, seed: int = 0) -> list[tuple[float, float, float]]:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return [tuple(float(x) for x in r) for r in v.astype(np.float32)]


def house_ply(fmt: str, extra: bool = True, uv: bool = True) -> bytes:
    nrm = _unit_normals(len(HOUSE_V))
    vprops = [("x", "float"), ("y", "double"), ("z", "float"),
              ("nx", "float"), ("ny", "float"), ("nz", "float"),
              ("u", "float"), ("v", "float"),
              ("red", "uchar"), ("green", "uchar"), ("blue", "uchar"), ("alpha", "uchar")]
    vrows = []
    for i, (p, n) in enumerate(zip(HOUSE_V, nrm)):
        vrows.append(p + n + (i / 16.0, 1.0 - i / 16.0) + (i * 20, 255 - i * 20, 7, 255))
    if not uv:
        del vprops[6:8]
        vrows = [r[:6] + r[8:] for r in vrows]
    fprops = [("vertex_indices", "list", "uchar", "int")]
    frows = [(f,) for f in HOUSE_F]
    elements = [("vertex", vprops, vrows), ("face", fprops, frows)]
    if extra:
        fprops.insert(0, ("flags", "short"))
        fprops.append(("texcoord", "list", "uchar", "float"))
        elements[1] = ("face", fprops, [(3, f, [0.5] * (2 * len(f))) for f in HOUSE_F])
        elements.insert(1, ("edge", [("vertex1", "int"), ("names", "list", "int", "uchar"),
                                     ("vertex2", "int")],
                            [(0, [1, 2, 3], 1), (2, [], 3), (4, [9] * 7, 5)]))
        elements.append(("material", [("ambient_red", "uchar"), ("coeff", "float")],
                         [(1, 0.5), (2, 0.25)]))
    return make_ply(fmt, elements)


def check_one_line(err: MeshFormatError, *fragments: str) -> str:
    msg = str(err)
    assert "\n" not in msg and len(msg.splitlines()) == 1, msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


def check_mesh_invariants(m: Mesh) -> None:
    assert m.vertices.dtype == np.float32 and m.vertices.ndim == 2 and m.vertices.shape[1] == 3
    assert m.faces.dtype == np.int32 and m.faces.ndim == 2 and m.faces.shape[1] == 3
    assert m.faces.shape[0] >= 1
    assert m.faces.min() >= 0 and m.faces.max() < m.vertices.shape[0]
    assert np.all(np.isfinite(m.vertices))
    n, k = m.vertices.shape[0], m.faces.shape[0]
    if m.normals is not None:
        assert m.normals.shape == (n, 3) and m.normals.dtype == np.float32
        assert np.allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-5)
    if m.uvs is not None:
        assert m.uvs.shape == (n, 2) and m.uvs.dtype == np.float32
    if m.colors is not None:
        assert m.colors.shape == (n, 3) and m.colors.dtype == np.float32
        assert m.colors.min() >= 0.0 and m.colors.max() <= 1.0
    assert m.face_groups.shape == (k,) and m.face_groups.dtype == np.int32
    assert m.face_materials.shape == (k,) and m.face_materials.dtype == np.int32
    assert 0 <= m.face_groups.min() and m.face_groups.max() < len(m.group_names)
    assert 0 <= m.face_materials.min() and m.face_materials.max() < len(m.material_names)


# --------------------------------------------------------------------------------------
# OBJ
# --------------------------------------------------------------------------------------

OBJ_FULL = """\
# a house with quads, pentagons, negative indices, vt/vn and groups
mtllib house.mtl
v 0 0 0
v 2 0 0
v 2 2 0
v 0 2 0
v 0 0 1.5
v 2 0 1.5
v 2 2 1.5
v 0 2 1.5
v 1 0 2.5
v 1 2 2.5
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vt 0.5 0.5
vn 0 0 -1
vn 0 -1 0
vn 0 1 0
vn 1 0 0
vn -1 0 0
vn -0.7071068 0 0.7071068
vn 0.7071068 0 0.7071068
o body
usemtl wall
f 1/1/1 4/2/1 3/3/1 2/4/1
f 1/1/2 2/2/2 6/3/2 9/5/2 5/4/2
s 1
f -7/1/3 -3/2/3 -1/5/3 -4/3/3 -8/4/3
f 2/1/4 3/2/4 7/3/4 6/4/4
f 1/1/5 5/2/5 8/3/5 4/4/5
g roof
usemtl tiles
f 5/1/6 9/2/6 10/3/6
f 5/1/6 10/3/6 8/4/6
f 6/1/7 7/2/7 10/3/7
f -5/1/-1 -1/3/-1 -2/2/-1
l 1 2
p 3
vp 0.5
"""


def test_obj_matches_trimesh(tmp_path):
    path = tmp_path / "house.obj"
    path.write_text(OBJ_FULL)
    m = read_obj(path)
    check_mesh_invariants(m)
    assert m.faces.shape == (16, 3)  # 2 + 3 + 3 + 2 + 2 quads/pentagons + 4 triangles
    assert mesh_tris(m) == trimesh_tris(path)
    assert m.normals is not None
    assert mesh_tris(m, normals=True) == trimesh_tris(path, normals=True)
    assert m.source == str(path)


def test_obj_groups_materials_and_uvs(tmp_path):
    path = tmp_path / "house.obj"
    path.write_text(OBJ_FULL)
    (tmp_path / "house.mtl").write_text(
        "# materials\nnewmtl wall\nKd 0.5 0.25 1\nmap_Kd -s 1 1 1 -o 0 0 brick.png\n"
        "newmtl tiles\nKd 0.3\n"
    )
    m = read_mesh(path)
    assert m.group_names == ("body", "roof")
    assert m.material_names == ("wall", "tiles")
    assert np.array_equal(m.face_groups, [0] * 12 + [1] * 4)
    assert np.array_equal(m.face_materials, [0] * 12 + [1] * 4)
    assert set(m.materials) == {"wall", "tiles"}
    assert np.allclose(m.materials["wall"]["Kd"], [0.5, 0.25, 1.0])
    assert m.materials["wall"]["map_Kd"] == str(tmp_path / "brick.png")
    assert np.allclose(m.materials["tiles"]["Kd"], [0.3, 0.3, 0.3])
    assert m.materials["tiles"]["map_Kd"] is None
    # first triangle: corners 1/1, 4/2, 3/3 -> uv (0,0), (1,0), (1,1)
    assert np.allclose(m.uvs[m.faces[0]], [[0, 0], [1, 0], [1, 1]])
    assert np.allclose(m.vertices[m.faces[0]], [[0, 0, 0], [0, 2, 0], [2, 2, 0]])
    # the floor uses normal 1 = (0, 0, -1) everywhere
    assert np.allclose(m.normals[m.faces[:2]], [0, 0, -1])


def test_obj_fan_triangulation_and_negative_indices(tmp_path):
    path = tmp_path / "fan.obj"
    path.write_text(
        "v 0 0 0\nv 1 0 0\nv 2 1 0\nv 1 2 0\nv 0 1 0\nv 5 5 5\n"
        "f 1 2 3 4 5\n"
        "f -5 -1 -4\n"
    )
    m = read_obj(path)
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4], [1, 5, 2]]
    assert m.vertices.shape == (6, 3)  # no vt/vn: the file's vertex list, in order
    assert m.normals is None and m.uvs is None and m.colors is None
    assert m.group_names == ("default",) and m.material_names == ("default",)
    assert np.array_equal(m.face_groups, [0, 0, 0, 0])
    assert mesh_tris(m) == trimesh_tris(path)


def test_obj_splits_vertices_with_different_uvs(tmp_path):
    path = tmp_path / "split.obj"
    path.write_text(
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\n"
        "vt 0 0\nvt 1 0\nvt 0 1\nvt 0.5 0.5\n"
        "f 1/1 2/2 3/3\n"
        "f 2/4 4/2 3/3\n"
    )
    m = read_obj(path)
    # position 2 is used with vt 2 and vt 4 -> two output vertices; 3/3 is shared
    assert m.vertices.shape == (5, 3)
    assert m.faces[0, 2] == m.faces[1, 2]
    assert m.faces[0, 1] != m.faces[1, 0]
    assert np.allclose(m.vertices[m.faces[0, 1]], m.vertices[m.faces[1, 0]])
    assert np.allclose(m.uvs[m.faces[1, 0]], [0.5, 0.5])
    assert np.allclose(m.uvs[m.faces[0, 1]], [1.0, 0.0])
    assert mesh_tris(m) == trimesh_tris(path)


def test_obj_partial_normals_are_dropped_and_normals_normalized(tmp_path):
    path = tmp_path / "partial.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nvn 0 0 3\nf 1//1 2//1 3//1\nf 2 4 3\n")
    m = read_obj(path)
    assert m.normals is None
    assert m.faces.shape == (2, 3)
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 3\nvn 3 0 4\nf 1//1 2//2 3//1\n")
    m = read_obj(path)
    assert np.allclose(m.normals[m.faces[0]], [[0, 0, 1], [0.6, 0, 0.8], [0, 0, 1]])


def test_obj_vertex_colors_w_continuation_comments(tmp_path):
    path = tmp_path / "colors.obj"
    path.write_text(
        "# comment line\n\n"
        "v 0 0 0 1 0 0\n"
        "v 1 0 0 0 1 0   # trailing comment\n"
        "v 0 1 \\\n  0 0 0 1\n"
        "v 1 1 0 0.5 0.5 0.5\r\n"
        "s off\n"
        "f 1 2 \\\n 3\n"
        "f 2 4 3\n"
    )
    m = read_obj(path)
    assert m.faces.tolist() == [[0, 1, 2], [1, 3, 2]]
    assert np.allclose(m.colors, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]])
    path.write_text("v 0 0 0 1\nv 1 0 0 1\nv 0 1 0 1\nf 1 2 3\n")  # w is accepted
    m = read_obj(path)
    assert m.colors is None and m.vertices.shape == (3, 3)


def test_obj_degenerate_triangles_kept_and_missing_mtl_ok(tmp_path):
    path = tmp_path / "degen.obj"
    path.write_text("mtllib nowhere.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 1 2\nf 1 2 3\n")
    m = read_obj(path)
    assert m.faces.tolist() == [[0, 0, 1], [0, 1, 2]]
    assert m.materials == {}


def test_read_mesh_dispatch(tmp_path):
    obj = tmp_path / "UPPER.OBJ"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    assert read_mesh(obj).faces.shape == (1, 3)
    assert read_mesh(str(obj)).faces.shape == (1, 3)
    ply = tmp_path / "Mixed.Ply"
    ply.write_bytes(house_ply("ascii", extra=False))
    assert read_mesh(ply).faces.shape[0] == 16
    other = tmp_path / "mesh.stl"
    other.write_bytes(b"solid x\nendsolid x\n")
    with pytest.raises(MeshFormatError) as ei:
        read_mesh(other)
    check_one_line(ei.value, "mesh.stl", "unsupported")


def test_read_mtl(tmp_path):
    path = tmp_path / "m.mtl"
    path.write_text("newmtl a\nKd 0.1 0.2 0.3\nmap_Kd tex/a b.png\nnewmtl b\n")
    mats = read_mtl(path)
    assert np.allclose(mats["a"]["Kd"], [0.1, 0.2, 0.3])
    assert mats["a"]["map_Kd"] == str(tmp_path / "tex/a b.png")
    assert mats["b"]["map_Kd"] is None and mats["b"]["Kd"].shape == (3,)
    path.write_text("newmtl a\nKd 0.1 x 0.3\n")
    with pytest.raises(MeshFormatError) as ei:
        read_mtl(path)
    check_one_line(ei.value, "m.mtl:2:")
    with pytest.raises(MeshFormatError) as ei:
        read_mtl(tmp_path / "missing.mtl")
    check_one_line(ei.value, "missing.mtl", "file not found")


def test_obj_malformed_mtl_is_reported(tmp_path):
    (tmp_path / "bad.mtl").write_text("newmtl a\n\nKd 1 2\n")
    path = tmp_path / "m.obj"
    path.write_text("mtllib bad.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(MeshFormatError) as ei:
        read_obj(path)
    check_one_line(ei.value, "bad.mtl:3:")


# --------------------------------------------------------------------------------------
# PLY
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_ply_matches_trimesh(tmp_path, fmt):
    """Mixed triangles/quads/pentagons with normals, uvs and colours.

    trimesh cannot read binary PLY with mixed polygon sizes, so the reference is trimesh
    reading the ASCII file with the same content.
    """
    path = tmp_path / f"house_{fmt}.ply"
    path.write_bytes(house_ply(fmt, extra=False))
    ref = tmp_path / "house_ref_ascii.ply"
    ref.write_bytes(house_ply("ascii", extra=False))
    m = read_ply(path)
    check_mesh_invariants(m)
    assert m.vertices.shape == (10, 3)
    assert m.faces.shape == (16, 3)
    assert mesh_tris(m) == trimesh_tris(ref)
    assert mesh_tris(m, normals=True) == trimesh_tris(ref, normals=True)
    t = trimesh.load(str(ref), process=False)
    assert np.allclose(m.uvs, t.visual.uv)
    # trimesh keeps vertex colours only when there are no uvs
    path_rgb = tmp_path / f"house_rgb_{fmt}.ply"
    path_rgb.write_bytes(house_ply(fmt, extra=False, uv=False))
    ref_rgb = tmp_path / "house_rgb_ref_ascii.ply"
    ref_rgb.write_bytes(house_ply("ascii", extra=False, uv=False))
    m_rgb = read_ply(path_rgb)
    assert m_rgb.uvs is None
    t = trimesh.load(str(ref_rgb), process=False)
    assert np.allclose(m_rgb.colors, t.visual.vertex_colors[:, :3] / 255.0)
    assert np.allclose(m_rgb.colors, m.colors)


CUBE_V = [(x, y, z) for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)]
CUBE_Q = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ply_quads_match_trimesh_directly(tmp_path, fmt):
    """All-quad faces (the vectorized binary path) against trimesh reading the same file."""
    nrm = _unit_normals(8, seed=3)
    vprops = [("x", "float"), ("y", "float"), ("z", "float"),
              ("nx", "float"), ("ny", "float"), ("nz", "float"),
              ("red", "uchar"), ("green", "uchar"), ("blue", "uchar")]
    vrows = [p + n + (30 * i, 10 * i, 255) for i, (p, n) in enumerate(zip(CUBE_V, nrm))]
    fprops = [("vertex_indices", "list", "uchar", "uint")]
    path = tmp_path / f"cube_{fmt}.ply"
    path.write_bytes(make_ply(fmt, [("vertex", vprops, vrows),
                                    ("face", fprops, [(q,) for q in CUBE_Q])]))
    m = read_ply(path)
    check_mesh_invariants(m)
    assert m.faces.shape == (12, 3)
    assert mesh_tris(m) == trimesh_tris(path)
    assert mesh_tris(m, normals=True) == trimesh_tris(path, normals=True)
    t = trimesh.load(str(path), process=False)
    assert np.allclose(m.colors, t.visual.vertex_colors[:, :3] / 255.0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_ply_attributes_and_skipped_elements(tmp_path, fmt):
    path = tmp_path / f"house_extra_{fmt}.ply"
    path.write_bytes(house_ply(fmt, extra=True))
    m = read_ply(path)
    check_mesh_invariants(m)
    assert np.allclose(m.vertices, HOUSE_V)
    assert np.allclose(m.normals, _unit_normals(len(HOUSE_V)), atol=1e-6)
    i = np.arange(len(HOUSE_V))
    assert np.allclose(m.uvs, np.stack([i / 16.0, 1.0 - i / 16.0], axis=1))
    assert np.allclose(m.colors[:, 0], i * 20 / 255.0)
    assert np.allclose(m.colors[:, 1], (255 - i * 20) / 255.0)
    assert np.allclose(m.colors[:, 2], 7 / 255.0)
    expected = []
    for f in HOUSE_F:
        expected += [(f[0], f[k], f[k + 1]) for k in range(1, len(f) - 1)]
    assert m.faces.tolist() == [list(t) for t in expected]
    # same triangles as the plain file read by trimesh
    plain = tmp_path / "plain_ascii.ply"
    plain.write_bytes(house_ply("ascii", extra=False))
    assert mesh_tris(m) == trimesh_tris(plain)


@pytest.mark.parametrize("fmt", FORMATS)
def test_ply_types_names_and_uniform_faces(tmp_path, fmt):
    # int coordinates, s/t uvs, float colours, 'vertex_index' with ushort count / short index
    vprops = [("x", "int"), ("y", "short"), ("z", "double"), ("s", "double"), ("t", "float"),
              ("red", "float"), ("green", "float"), ("blue", "float")]
    vrows = [(0, 0, 0.0, 0.0, 0.0, 0.0, 0.5, 2.0), (4, 0, 0.0, 1.0, 0.0, 1.0, 0.25, 0.0),
             (0, 3, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5), (4, 3, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0)]
    fprops = [("vertex_index", "list", "ushort", "short")]
    frows = [((0, 1, 2),), ((1, 3, 2),), ((2, 2, 3),)]
    path = tmp_path / f"types_{fmt}.ply"
    path.write_bytes(make_ply(fmt, [("face", fprops, frows), ("vertex", vprops, vrows)]))
    m = read_ply(path)
    check_mesh_invariants(m)
    assert m.faces.tolist() == [[0, 1, 2], [1, 3, 2], [2, 2, 3]]
    assert np.allclose(m.vertices, [r[:3] for r in vrows])
    assert np.allclose(m.uvs, [r[3:5] for r in vrows])
    assert np.allclose(m.colors, np.clip([r[5:8] for r in vrows], 0, 1))
    assert m.normals is None


def test_ply_binary_triangles_are_vectorized(tmp_path, monkeypatch):
    """200k triangles, all the same size: read without the per-face Python loop."""
    rng = np.random.default_rng(1)
    nv, nf = 100_000, 200_000
    vdt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("nx", "<f4"), ("ny", "<f4"),
                    ("nz", "<f4")])
    verts = np.zeros(nv, dtype=vdt)
    pos = rng.normal(size=(nv, 3)).astype(np.float32)
    for k, c in enumerate("xyz"):
        verts[c] = pos[:, k]
        verts["n" + c] = pos[:, k] + 0.01
    fdt = np.dtype([("n", "u1"), ("i", "<i4", (3,))])
    faces = np.zeros(nf, dtype=fdt)
    faces["n"] = 3
    faces["i"] = rng.integers(0, nv, size=(nf, 3))
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {nv}\nproperty float x\nproperty float y\nproperty float z\n"
        "property float nx\nproperty float ny\nproperty float nz\n"
        f"element face {nf}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    path = tmp_path / "big.ply"
    path.write_bytes(header + verts.tobytes() + faces.tobytes())

    def no_loop(*args, **kwargs):
        raise AssertionError("per-face loop used for an all-triangle binary PLY")

    monkeypatch.setattr(mesh_io, "_read_binary_element_loop", no_loop)
    m = read_ply(path)
    assert m.faces.shape == (nf, 3)
    assert np.array_equal(m.faces, faces["i"])
    assert np.allclose(m.vertices, pos)
    assert m.normals is not None


def test_ply_mixed_binary_faces_use_loop(tmp_path, monkeypatch):
    path = tmp_path / "mixed.ply"
    path.write_bytes(house_ply("binary_little_endian", extra=False))
    calls = []
    orig = mesh_io._read_binary_element_loop
    monkeypatch.setattr(mesh_io, "_read_binary_element_loop",
                        lambda *a, **k: calls.append(a[2].name) or orig(*a, **k))
    assert read_ply(path).faces.shape == (16, 3)
    assert calls == ["face"]


# --------------------------------------------------------------------------------------
# mesh_from_arrays
# --------------------------------------------------------------------------------------


def test_mesh_from_arrays_valid():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float64)
    m = mesh_from_arrays(v, [[0, 1, 2]], normals=[[0, 0, 2]] * 3, uvs=np.zeros((3, 2)))
    check_mesh_invariants(m)
    assert m.source == ""
    assert np.allclose(m.normals, [[0, 0, 1]] * 3)
    assert m.group_names == ("default",) and m.material_names == ("default",)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(vertices=np.zeros((30, 3)),
              faces=np.vstack([np.zeros((12, 3), int), [[0, 40, 1]]])),
         "faces[12][1] = 40 is out of range for 30 vertices"),
        (dict(vertices=np.zeros((3, 3)), faces=[[0, -1, 2]]), "faces[0][1] = -1 is out of range"),
        (dict(vertices=np.zeros((3, 2)), faces=[[0, 1, 2]]), "vertices must have shape (n, 3)"),
        (dict(vertices=np.zeros((3, 3)), faces=[[0, 1]]), "faces must have shape (m, 3)"),
        (dict(vertices=np.zeros((3, 3)), faces=np.zeros((0, 3), int)), "no faces"),
        (dict(vertices=[[0, 0, 0], [1, np.nan, 0], [0, 1, 0]], faces=[[0, 1, 2]]),
         "vertices[1][1]"),
        (dict(vertices=np.zeros((3, 3)), faces=[[0, 1.5, 2]]), "faces[0][1]"),
        (dict(vertices=np.zeros((3, 3)), faces=[["a", "b", "c"]]), "faces must be an integer"),
        (dict(vertices=np.zeros((3, 3)), faces=[[0, 1, 2]], normals=[[0, 0, 1]] * 2),
         "normals must have shape (3, 3)"),
        (dict(vertices=np.zeros((3, 3)), faces=[[0, 1, 2]],
              normals=[[0, 0, 1], [0, 0, 0], [0, 0, 1]]), "normals[1] has zero length"),
        (dict(vertices=np.zeros((3, 3)), faces=[[0, 1, 2]], uvs=np.zeros((3, 3))),
         "uvs must have shape (3, 2)"),
        (dict(vertices=np.zeros((3, 3)), faces=[[0, 1, 2]], uvs=[[0, 0], [0, np.inf], [0, 0]]),
         "uvs[1][1]"),
    ],
)
def test_mesh_from_arrays_errors(kwargs, fragment):
    with pytest.raises(MeshFormatError) as ei:
        mesh_from_arrays(**kwargs)
    check_one_line(ei.value, fragment)


# --------------------------------------------------------------------------------------
# malformed files
# --------------------------------------------------------------------------------------

TRI = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"

OBJ_ERRORS = [
    # (content, line, message fragment)
    ("v 0 0 0\nv 1 x 0\nv 0 1 0\nf 1 2 3\n", 2, "not a number"),
    (TRI + "f 1 2 0\n", 4, "index 0"),
    (TRI + "# c\nf 1 2 4\n", 5, "out of range"),
    (TRI + "f 1 2 3\nf 3 2 1 7\n", 5, "out of range"),
    (TRI + "f -1 -2 -4\n", 4, "out of range"),
    (TRI + "f 1 2\n", 4, "need at least 3"),
    (TRI + "f\n", 4, "need at least 3"),
    ("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", 1, "not finite"),
    ("v 0 0 0\nv 1 inf 0\nv 0 1 0\nf 1 2 3\n", 2, "not finite"),
    ("v 0 0 0\nv 1 1e39 0\nv 0 1 0\nf 1 2 3\n", 2, "float32"),
    (TRI, 3, "no faces"),
    (TRI + "\n# the end", 5, "no faces"),
    ("", 1, "no faces"),
    (TRI + "vn 0 0 0\nf 1//1 2//1 3//1\n", 4, "zero-length normal"),
    (TRI + "vt 0 0\nf 1/1 2/2 3/1\n", 5, "texture coordinate index 2 is out of range"),
    (TRI + "vn 0 0 1\nf 1//1 2//1 3//2\n", 5, "normal index 2 is out of range"),
    (TRI + "f 1/1/1/1 2 3\n", 4, "more than 3"),
    (TRI + "f 1 2 x\n", 4, "not an integer"),
    (TRI + "f /1 2 3\n", 4, "no vertex index"),
    ("v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", 1, "got 2 values"),
    (TRI + "vt\nf 1 2 3\n", 4, "'vt'"),
    (TRI + "vn 1 0\nf 1 2 3\n", 4, "'vn'"),
    ("v 0 0 0\nv 1 \\\n0 0\nv 0 1 q\nf 1 2 3\n", 4, "not a number"),  # after continuation
    (TRI + "f 1 2 99999999999999999999999\n", 4, "out of range"),
]


@pytest.mark.parametrize("content, line, fragment", OBJ_ERRORS)
def test_obj_errors(tmp_path, content, line, fragment):
    path = tmp_path / "broken.obj"
    path.write_text(content)
    with pytest.raises(MeshFormatError) as ei:
        read_mesh(path)
    check_one_line(ei.value, f"broken.obj:{line}: ", fragment)


def test_obj_not_utf8(tmp_path):
    path = tmp_path / "latin.obj"
    path.write_bytes(TRI.encode() + b"g caf\xe9\nf 1 2 3\n")
    with pytest.raises(MeshFormatError) as ei:
        read_obj(path)
    check_one_line(ei.value, "latin.obj:4: ", "UTF-8")


def test_missing_and_directory(tmp_path):
    for name in ("nothing.obj", "nothing.ply"):
        with pytest.raises(MeshFormatError) as ei:
            read_mesh(tmp_path / name)
        check_one_line(ei.value, name, "file not found")
    d = tmp_path / "dir.obj"
    d.mkdir()
    with pytest.raises(MeshFormatError) as ei:
        read_mesh(d)
    check_one_line(ei.value, "dir.obj")


PLY_HEAD = (
    "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
    "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
)  # 9 header lines; vertices on lines 10-12, the face on line 13
PLY_OK_BODY = "0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"

PLY_TEXT_ERRORS = [
    # (content, line, message fragments)
    ("plx\n" + PLY_HEAD[4:] + PLY_OK_BODY, 1, ["not a PLY file"]),
    (PLY_HEAD.replace("ascii", "utf16") + PLY_OK_BODY, 2, ["unknown format"]),
    (PLY_HEAD.replace("1.0", "2.0") + PLY_OK_BODY, 2, ["version"]),
    (PLY_HEAD.replace("format ascii 1.0\n", "") + PLY_OK_BODY, 8, ["no 'format'"]),
    (PLY_HEAD.replace("property float y", "property real y") + PLY_OK_BODY, 5,
     ["unknown property type"]),
    (PLY_HEAD.replace("list uchar int", "list float int") + PLY_OK_BODY, 8, ["count type"]),
    (PLY_HEAD.replace("element vertex 3", "elemnt vertex 3") + PLY_OK_BODY, 3,
     ["unknown header keyword"]),
    (PLY_HEAD.replace("element vertex 3", "element vertex -3") + PLY_OK_BODY, 3,
     ["element count"]),
    (PLY_HEAD.replace("element vertex 3", "element vertex three") + PLY_OK_BODY, 3,
     ["element count"]),
    ("ply\nformat ascii 1.0\nproperty float x\nend_header\n", 3, ["before any 'element'"]),
    ("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n", 5, ["end_header"]),
    (PLY_HEAD.replace("property float z\n", "") .replace("end_header", "comment\nend_header")
     + PLY_OK_BODY, 3, ["no scalar property 'z'"]),
    (PLY_HEAD.replace("vertex_indices", "corners") + PLY_OK_BODY, 7, ["vertex_indices"]),
    (PLY_HEAD.split("element face")[0] + "end_header\n0 0 0\n1 0 0\n0 1 0\n", 7, ["no faces"]),
    (PLY_HEAD.replace("element face 1", "element face 0") + PLY_OK_BODY[:-8], 7, ["no faces"]),
    # body (line numbers of the offending element)
    (PLY_HEAD + "0 0 0\n1 zero 0\n0 1 0\n3 0 1 2\n", 11, ["element vertex #1", "not a number"]),
    (PLY_HEAD + "0 0 0\n1 0 0\n0 1 nan\n3 0 1 2\n", 12, ["element vertex #2", "non-finite"]),
    (PLY_HEAD + "0 0 0\n1 0 0\n0 1 0\n2 0 1\n", 13, ["element face #0", "at least 3"]),
    (PLY_HEAD + "0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", 13, ["element face #0", "out of range"]),
    (PLY_HEAD + "0 0 0\n1 0 0\n0 1 0\n3 0 1 -1\n", 13, ["element face #0", "out of range"]),
    (PLY_HEAD + "0 0 0\n1 0 0\n0 1 0\n3 0 1 1.5\n", 13, ["element face #0", "integer"]),
    (PLY_HEAD + "0 0 0\n1 0 0\n0 1 0\n", 12, ["element face #0", "unexpected end"]),
    (PLY_HEAD + "0 0 0\n1 0 0\n", 11, ["element vertex #2", "unexpected end"]),
    (PLY_HEAD.replace("vertex 3", "vertex 0") + "3 0 1 2\n", 10,
     ["element face #0", "out of range for 0 vertices"]),
    (PLY_HEAD.replace("element face 1", "element face 2") + PLY_OK_BODY + "3 0 1\n", 14,
     ["element face #1", "unexpected end"]),
    (PLY_HEAD + PLY_OK_BODY + "\n  \n1 2\n", 16, ["extra data after the last element"]),
]


@pytest.mark.parametrize("content, line, fragments", PLY_TEXT_ERRORS)
def test_ply_ascii_and_header_errors(tmp_path, content, line, fragments):
    path = tmp_path / "broken.ply"
    path.write_text(content)
    with pytest.raises(MeshFormatError) as ei:
        read_mesh(path)
    check_one_line(ei.value, f"broken.ply:{line}: ", *fragments)


def test_ply_ascii_not_utf8(tmp_path):
    path = tmp_path / "bytes.ply"
    path.write_bytes((PLY_HEAD + "0 0 0\n1 0 0\n").encode() + b"0 1 \xff\n3 0 1 2\n")
    with pytest.raises(MeshFormatError) as ei:
        read_ply(path)
    check_one_line(ei.value, "bytes.ply:12: ", "UTF-8")


def test_ply_ascii_token_stream(tmp_path):
    """Instances split over lines / sharing a line are read as one token stream."""
    path = tmp_path / "stream.ply"
    path.write_text(PLY_HEAD.replace("element face 1", "element face 2")
                    + "0 0 0 1 0\n0\n0 1 0\n\n3 0 1\n2 3 2 1 0\n")
    m = read_ply(path)
    assert m.faces.tolist() == [[0, 1, 2], [2, 1, 0]]
    assert np.allclose(m.vertices, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])


def _binary_tri_ply(fmt: str = "binary_little_endian", **vertex_overrides) -> bytes:
    vprops = [("x", "float"), ("y", "float"), ("z", "float"),
              ("nx", "float"), ("ny", "float"), ("nz", "float")]
    vrows = [(0.0, 0.0, 0.0, 0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 0.0, 0.0, 1.0),
             (0.0, 1.0, 0.0, 0.0, 0.0, 1.0), (1.0, 1.0, 0.0, 0.0, 0.0, 1.0)]
    for i, row in vertex_overrides.items():
        vrows[int(i[1:])] = row
    fprops = [("vertex_indices", "list", "uchar", "int")]
    frows = [((0, 1, 2),), ((1, 3, 2),), ((0, 1, 3, 2),)]
    return make_ply(fmt, [("vertex", vprops, vrows), ("face", fprops, frows)])


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian"])
def test_ply_binary_errors(tmp_path, fmt):
    path = tmp_path / "bin.ply"
    good = _binary_tri_ply(fmt)
    path.write_bytes(good)
    assert read_ply(path).faces.shape == (4, 3)

    def expect(data: bytes, *fragments: str) -> None:
        path.write_bytes(data)
        with pytest.raises(MeshFormatError) as ei:
            read_mesh(path)
        check_one_line(ei.value, "bin.ply: ", *fragments)

    o = "<" if fmt == "binary_little_endian" else ">"
    body = good.index(b"end_header\n") + len(b"end_header\n")
    face_start = body + 4 * 24
    expect(good[:body + 50], "element vertex #2", "truncated")
    expect(good[:face_start + 13 + 13 + 10], "element face #2", "truncated")
    expect(good[:-1], "element face #2", "truncated")
    expect(good.replace(b"element vertex 4", b"element vertex 99999999999999"), "truncated")
    expect(good.replace(b"element face 3", b"element face 99999999999999999999999"), "truncated")
    no_vertices = good.replace(b"element vertex 4", b"element vertex 0")
    expect(no_vertices[:body] + no_vertices[body + 4 * 24:], "element face #0",
           "out of range for 0 vertices")
    expect(_binary_tri_ply(fmt, r1=(1.0, float("nan"), 0.0, 0.0, 0.0, 1.0)),
           "element vertex #1", "non-finite")
    expect(_binary_tri_ply(fmt, r3=(1.0, 1.0, 0.0, 0.0, 0.0, 0.0)),
           "element vertex #3", "zero-length normal")
    bad_index = bytearray(good)
    struct.pack_into(o + "i", bad_index, face_start + 13 + 1 + 4, 4)  # face #1, corner 1
    expect(bytes(bad_index), "element face #1", "vertex index 4 is out of range for 4 vertices")
    short_poly = bytearray(good)
    short_poly[face_start + 13] = 2  # face #1 has 2 corners (the rest shifts)
    expect(bytes(short_poly), "element face #")
    huge_list = bytearray(good)
    huge_list[face_start + 13 + 13] = 255  # face #2 claims 255 corners
    expect(bytes(huge_list), "element face #2", "truncated")


# --------------------------------------------------------------------------------------
# fuzzing: nothing but MeshFormatError, ever
# --------------------------------------------------------------------------------------

FUZZ_SETTINGS = settings(max_examples=200, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _read_only_format_errors(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        m = read_mesh(path)
    except MeshFormatError as exc:
        msg = str(exc)
        assert "\n" not in msg and len(msg.splitlines()) == 1
        assert path.name in msg
    else:
        check_mesh_invariants(m)


def _mutate(data: bytes, ops: list) -> bytes:
    b = bytearray(data)
    for kind, pos, val, junk in ops:
        if not b:
            b = bytearray(junk)
            continue
        i = pos % (len(b) + 1)
        if kind == "truncate":
            del b[i:]
        elif kind == "flip":
            if i < len(b):
                b[i] = val
        elif kind == "insert":
            b[i:i] = junk
        elif kind == "line":  # insert a junk line at a line start
            starts = [0] + [k + 1 for k, c in enumerate(b) if c == 10]
            j = starts[pos % len(starts)]
            b[j:j] = junk + b"\n"
    return bytes(b)


_JUNK_LINES = st.one_of(
    st.binary(max_size=24),
    st.sampled_from([b"f 1 2", b"f 0 1 2", b"f 1 2 99", b"v nan 0 0", b"vn 0 0 0",
                     b"element vertex 99999999999", b"property list uchar int foo",
                     b"property float", b"f -9 -8 -7", b"v 1e40 0 0", b"end_header",
                     b"3 0 1 999", b"comment \xff\xfe", b"mtllib /", b"usemtl", b"g",
                     b"element vertex 0", b"element face 0", b"element vertex 1",
                     b"property list int uchar vertex_indices", b"property uint x",
                     b"format binary_big_endian 1.0", b"format ascii 1.0"]),
)
_OPS = st.lists(
    st.tuples(st.sampled_from(["truncate", "flip", "insert", "line"]),
              st.integers(min_value=0, max_value=10**6), st.integers(0, 255), _JUNK_LINES),
    min_size=1, max_size=4,
)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=512), suffix=st.sampled_from([".obj", ".ply"]))
def test_fuzz_random_bytes(fuzz_dir, data, suffix):
    _read_only_format_errors(fuzz_dir / f"random{suffix}", data)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=256))
def test_fuzz_random_bytes_after_ply_header(fuzz_dir, data):
    for fmt in FORMATS:
        _read_only_format_errors(fuzz_dir / "after_header.ply",
                                 PLY_HEAD.replace("ascii", fmt).encode() + data)


@FUZZ_SETTINGS
@given(ops=_OPS)
def test_fuzz_mutated_obj(fuzz_dir, ops):
    _read_only_format_errors(fuzz_dir / "mutated.obj", _mutate(OBJ_FULL.encode(), ops))


_VALID_BINARY_PLY = house_ply("binary_little_endian", extra=True)
_VALID_BINARY_PLY_BE = _binary_tri_ply("binary_big_endian")


@FUZZ_SETTINGS
@given(ops=_OPS, big_endian=st.booleans())
def test_fuzz_mutated_binary_ply(fuzz_dir, ops, big_endian):
    base = _VALID_BINARY_PLY_BE if big_endian else _VALID_BINARY_PLY
    _read_only_format_errors(fuzz_dir / "mutated.ply", _mutate(base, ops))


@FUZZ_SETTINGS
@given(ops=_OPS)
def test_fuzz_mutated_ascii_ply(fuzz_dir, ops):
    _read_only_format_errors(fuzz_dir / "mutated_ascii.ply",
                             _mutate(house_ply("ascii", extra=True), ops))
