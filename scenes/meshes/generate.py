"""Regenerate the bundled demo meshes (deterministic): python scenes/meshes/generate.py

- torus_knot.obj: a (2, 3) torus knot tube with vertex normals (OBJ, groups 'knot').
- blob.ply: an ASCII PLY icosphere displaced by smooth noise, with vertex normals.
"""
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def torus_knot(p=2, q=3, segments=160, sides=10, radius=0.09):
    t = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    def curve(t):
        r = 0.35 * (2 + np.cos(q * t))
        return np.stack([r * np.cos(p * t), 0.35 * np.sin(q * t), r * np.sin(p * t)], axis=-1)
    c = curve(t)
    tangent = curve(t + 1e-4) - curve(t - 1e-4)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.cross(tangent, [0.0, 1.0, 0.0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    binormal = np.cross(tangent, normal)
    a = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = np.cos(a)[None, :, None] * normal[:, None] + np.sin(a)[None, :, None] * binormal[:, None]
    verts = (c[:, None] + radius * ring).reshape(-1, 3)
    norms = ring.reshape(-1, 3)
    faces = []
    for i in range(segments):
        for j in range(sides):
            a0 = i * sides + j
            a1 = i * sides + (j + 1) % sides
            b0 = ((i + 1) % segments) * sides + j
            b1 = ((i + 1) % segments) * sides + (j + 1) % sides
            faces.append((a0, b0, b1, a1))
    return verts, norms, np.array(faces)


def write_obj(path, verts, norms, quads):
    lines = ["# raysynth demo mesh: (2, 3) torus knot, quads with vertex normals", "o knot"]
    lines += [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in verts]
    lines += [f"vn {x:.5f} {y:.5f} {z:.5f}" for x, y, z in norms]
    lines += ["f " + " ".join(f"{i + 1}//{i + 1}" for i in quad) for quad in quads]
    path.write_text("\n".join(lines) + "\n")


def icosphere(level=3):
    t = (1 + 5 ** 0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
         (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11),
         (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, float) / np.linalg.norm(p) for p in v]
    for _ in range(level):
        cache, new_faces = {}, []
        def mid(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]
        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new_faces += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        f = new_faces
    return np.array(verts), np.array(f)


def blob():
    verts, faces = icosphere(3)
    rng = np.random.default_rng(7)
    waves = rng.normal(size=(6, 3)) * 2.0
    h = sum(np.sin(verts @ w + k) for k, w in enumerate(waves)) / 6
    verts = verts * (1 + 0.18 * h)[:, None] * 0.5
    normals = np.zeros_like(verts)
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    for k in range(3):
        np.add.at(normals, faces[:, k], fn)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return verts, normals, faces


def write_ply(path, verts, norms, faces):
    head = ["ply", "format ascii 1.0", "comment raysynth demo mesh: displaced icosphere",
            f"element vertex {len(verts)}", "property float x", "property float y", "property float z",
            "property float nx", "property float ny", "property float nz",
            f"element face {len(faces)}", "property list uchar int vertex_indices", "end_header"]
    body = [f"{x:.5f} {y:.5f} {z:.5f} {a:.4f} {b:.4f} {c:.4f}" for (x, y, z), (a, b, c) in zip(verts, norms)]
    body += [f"3 {a} {b} {c}" for a, b, c in faces]
    path.write_text("\n".join(head + body) + "\n")


if __name__ == "__main__":
    write_obj(HERE / "torus_knot.obj", *torus_knot())
    write_ply(HERE / "blob.ply", *blob())
