"""Triangle mesh readers for Wavefront OBJ (+ MTL) and Stanford PLY files.

Pure Python + NumPy. Every reader returns a :class:`Mesh` of plain arrays (``float32``
positions, ``int32`` triangles) ready for BVH building, and every malformed input raises
:class:`MeshFormatError` with a one-line message that names the file and where the problem
is:

- text formats (OBJ, MTL, ASCII PLY): ``'<file>:<line>: <problem>'``
- binary PLY bodies: ``'<file>: element <name> #<i>: <problem>'``
- whole-file problems (missing file, unsupported suffix): ``'<file>: <problem>'``

No other exception type escapes the readers for any byte input.

Polygons with more than three corners are triangulated as a fan ``(0, i, i + 1)``; the
winding of the file is kept (counter-clockwise = front). Degenerate triangles (a repeated
index) are kept.
"""
from __future__ import annotations

import functools
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

__all__ = [
    "Mesh",
    "MeshFormatError",
    "mesh_from_arrays",
    "read_mesh",
    "read_mtl",
    "read_obj",
    "read_ply",
]

_F32_MAX = float(np.finfo(np.float32).max)
_I32_MAX = 2**31 - 1


# --------------------------------------------------------------------------------------
# public types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Mesh:
    """An indexed triangle mesh with optional per-vertex attributes and per-face labels.

    ``eq=False``: meshes compare by identity (array fields have no single truth value).

    Attributes
    ----------
    vertices : numpy.ndarray, shape (n, 3), float32
        Object-space vertex positions.
    faces : numpy.ndarray, shape (m, 3), int32
        Triangle vertex indices into ``vertices``; counter-clockwise winding is the front.
    normals : numpy.ndarray, shape (n, 3), float32, or None
        Unit vertex normals, or ``None`` when the file has none (or only some faces had them).
    uvs : numpy.ndarray, shape (n, 2), float32, or None
        Texture coordinates, or ``None``.
    colors : numpy.ndarray, shape (n, 3), float32, or None
        Vertex colours in ``[0, 1]`` (PLY ``red``/``green``/``blue``: integer types are
        scaled by the type's maximum, e.g. ``uchar / 255``; OBJ ``v x y z r g b``), or ``None``.
    face_groups : numpy.ndarray, shape (m,), int32
        Part id per triangle, an index into ``group_names``; all 0 when the file has no groups.
    group_names : tuple of str
        Part names (OBJ ``o``/``g`` names); ``('default',)`` when the file has none.
    face_materials : numpy.ndarray, shape (m,), int32
        Material id per triangle, an index into ``material_names`` (OBJ ``usemtl``).
    material_names : tuple of str
        Material names; ``('default',)`` when the file has none.
    source : str
        The path the mesh was read from, ``''`` for inline arrays.
    materials : Mapping[str, dict]
        Material records from the OBJ's ``mtllib`` files (see :func:`read_mtl`), keyed by
        material name; empty when there are none. Extra field, defaulted.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray | None
    uvs: np.ndarray | None
    colors: np.ndarray | None
    face_groups: np.ndarray
    group_names: tuple[str, ...]
    face_materials: np.ndarray
    material_names: tuple[str, ...]
    source: str
    materials: Mapping[str, dict] = field(default_factory=dict)

    @property
    def n_vertices(self) -> int:
        """int: Number of vertices ``n``."""
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        """int: Number of triangles ``m``."""
        return int(self.faces.shape[0])

    def __repr__(self) -> str:
        extras = [k for k in ("normals", "uvs", "colors") if getattr(self, k) is not None]
        return (
            f"Mesh({self.n_vertices} vertices, {self.n_faces} triangles, "
            f"attributes={extras}, groups={list(self.group_names)}, "
            f"materials={list(self.material_names)}, source={self.source!r})"
        )


# characters that str.splitlines() treats as line breaks
_LINE_BREAKS = {c: " " for c in (10, 11, 12, 13, 28, 29, 30, 0x85, 0x2028, 0x2029)}


class MeshFormatError(ValueError):
    """A mesh file (or inline mesh array) is malformed.

    The message is always a single line: ``'<file>:<line>: <problem>'`` for text formats,
    ``'<file>: element <name> #<i>: <problem>'`` for binary PLY bodies and
    ``'<file>: <problem>'`` for whole-file problems. Line breaks in the message (for
    example from a file name) are replaced by spaces.
    """

    def __init__(self, message: str) -> None:
        super().__init__(str(message).translate(_LINE_BREAKS))


# --------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------


def _short(tok: str, limit: int = 40) -> str:
    """repr() of a token, truncated so that messages stay short."""
    return repr(tok if len(tok) <= limit else tok[:limit] + "...")


def _guarded(reader: Callable[[str], Mesh]) -> Callable[[Any], Mesh]:
    """Wrap a ``_parse(src) -> Mesh`` so that only MeshFormatError can escape."""

    def wrapper(path: Any) -> Any:
        try:
            src = os.fspath(path)
            if isinstance(src, bytes):
                src = os.fsdecode(src)
        except Exception as exc:  # not a path at all
            raise MeshFormatError(f"{path!r}: not a file path ({type(exc).__name__})") from None
        try:
            return reader(src)
        except MeshFormatError:
            raise
        except MemoryError:
            raise MeshFormatError(f"{src}: out of memory while reading the file") from None
        except RecursionError:
            raise MeshFormatError(f"{src}: file too deeply nested to read") from None
        except Exception as exc:  # safety net: a bug here must still look like a format error
            raise MeshFormatError(
                f"{src}: cannot read mesh ({type(exc).__name__}: {exc})"
            ) from exc

    return functools.wraps(reader)(wrapper)


def _read_bytes(src: str) -> bytes:
    """Whole file as bytes; OS errors become MeshFormatError."""
    try:
        with open(src, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise MeshFormatError(f"{src}: file not found") from None
    except IsADirectoryError:
        raise MeshFormatError(f"{src}: is a directory, not a file") from None
    except PermissionError:
        raise MeshFormatError(f"{src}: permission denied") from None
    except OSError as exc:
        raise MeshFormatError(f"{src}: cannot read file ({exc.strerror or exc})") from None


def _decode_text(data: bytes, src: str, first_line: int = 1) -> str:
    """Decode UTF-8 (a leading BOM is dropped); errors name the line of the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise MeshFormatError(
            f"{src}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from None


def _last_line(lines: list[str], first_line: int = 1) -> int:
    """Number of the last line of ``text.split('\\n')`` (a final newline starts no line)."""
    n = len(lines)
    if n > 1 and lines[-1].strip() == "":
        n -= 1
    return first_line + max(n, 1) - 1


def _fan(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fan-triangulate polygons stored back to back in one flat corner array.

    Parameters
    ----------
    lengths : numpy.ndarray, shape (p,), int
        Corner count of each polygon; every entry must be >= 3.

    Returns
    -------
    tri : numpy.ndarray, shape (t, 3), int64
        Flat corner indices of each triangle ``(0, i, i + 1)`` of its polygon.
    poly : numpy.ndarray, shape (t,), int64
        Polygon index of each triangle.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.zeros(lengths.shape[0], dtype=np.int64)
    if lengths.shape[0] > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    ntri = lengths - 2
    poly = np.repeat(np.arange(lengths.shape[0], dtype=np.int64), ntri)
    tri_start = np.cumsum(ntri) - ntri
    j = np.arange(poly.shape[0], dtype=np.int64) - tri_start[poly]
    base = offsets[poly]
    tri = np.stack([base, base + j + 1, base + j + 2], axis=1)
    return tri, poly


def _polygon_of(lengths: np.ndarray, corner: int) -> int:
    """Index of the polygon that holds flat corner ``corner``."""
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    return int(np.searchsorted(ends, corner, side="right"))


def _normalize_rows(v: np.ndarray) -> tuple[np.ndarray, int]:
    """Normalize rows of a float64 (k, 3) array; returns (unit rows, first zero row or -1)."""
    lens = np.sqrt(np.einsum("ij,ij->i", v, v))
    bad = np.flatnonzero(~(lens > 0.0) | ~np.isfinite(lens))
    if bad.size:
        return v, int(bad[0])
    return v / lens[:, None], -1


# --------------------------------------------------------------------------------------
# read_mesh
# --------------------------------------------------------------------------------------


def read_mesh(path: str | os.PathLike) -> Mesh:
    """Read a triangle mesh, choosing the reader from the file suffix.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.obj`` or ``.ply`` file (suffix compared case-insensitively).

    Returns
    -------
    Mesh
        The triangulated mesh; see :func:`read_obj` and :func:`read_ply`.

    Raises
    ------
    MeshFormatError
        Unsupported suffix, missing file, or any malformed content.
    """
    try:
        src = os.fspath(path)
        if isinstance(src, bytes):
            src = os.fsdecode(src)
    except Exception:
        raise MeshFormatError(f"{path!r}: not a file path") from None
    suffix = os.path.splitext(src)[1].lower()
    if suffix == ".obj":
        return read_obj(src)
    if suffix == ".ply":
        return read_ply(src)
    raise MeshFormatError(
        f"{src}: unsupported mesh format {suffix or '(no suffix)'!r} (expected .obj or .ply)"
    )


# --------------------------------------------------------------------------------------
# MTL
# --------------------------------------------------------------------------------------

# map_* options and how many arguments they take (-o/-s/-t take 1 to 3 numbers)
_MAP_OPTS = {
    "-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1,
    "-imfchan": 1, "-texres": 1, "-type": 1, "-mm": 2, "-o": 3, "-s": 3, "-t": 3,
}
_DEFAULT_KD = (0.8, 0.8, 0.8)


def read_mtl(path: str | os.PathLike) -> dict[str, dict]:
    """Read the diffuse colour and texture of each material of a Wavefront MTL file.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.mtl`` file.

    Returns
    -------
    dict[str, dict]
        Material name -> ``{'Kd': numpy.ndarray shape (3,) float64, 'map_Kd': str or None}``.
        ``Kd`` defaults to ``(0.8, 0.8, 0.8)`` when a material has none; a single value
        means grey. ``map_Kd`` is the texture path, joined to the MTL file's folder when it
        is relative; ``map_*`` options (``-s 1 1 1`` ...) are skipped. Other statements are
        ignored.

    Raises
    ------
    MeshFormatError
        ``'<file>:<line>: <problem>'`` for a missing file, non-UTF-8 text, a non-numeric
        or non-finite ``Kd``, or ``newmtl`` without a name.
    """
    return _read_mtl_guarded(path)


def _read_mtl_impl(src: str) -> dict[str, dict]:
    text = _decode_text(_read_bytes(src), src)
    base = os.path.dirname(src)
    out: dict[str, dict] = {}
    cur: dict | None = None
    for lineno, raw in enumerate(text.split("\n"), start=1):
        h = raw.find("#")
        if h >= 0:
            raw = raw[:h]
        toks = raw.split()
        if not toks:
            continue
        kw = toks[0]
        if kw == "newmtl":
            if len(toks) < 2:
                raise MeshFormatError(f"{src}:{lineno}: 'newmtl' without a material name")
            name = " ".join(toks[1:])
            cur = {"Kd": np.array(_DEFAULT_KD), "map_Kd": None}
            out[name] = cur
        elif kw == "Kd":
            args = toks[1:]
            if args and args[0] == "spectral":
                continue  # spectral curves are not supported; keep the default
            if args and args[0] == "xyz":
                args = args[1:]
            if len(args) not in (1, 3):
                raise MeshFormatError(
                    f"{src}:{lineno}: 'Kd' needs 1 or 3 numbers, got {len(args)}"
                )
            vals = []
            for tok in args:
                try:
                    x = float(tok)
                except ValueError:
                    raise MeshFormatError(
                        f"{src}:{lineno}: 'Kd' value {_short(tok)} is not a number"
                    ) from None
                if not math.isfinite(x):
                    raise MeshFormatError(f"{src}:{lineno}: 'Kd' value {_short(tok)} is not finite")
                vals.append(x)
            if len(vals) == 1:
                vals *= 3
            if cur is not None:
                cur["Kd"] = np.array(vals, dtype=np.float64)
        elif kw == "map_Kd":
            args = toks[1:]
            i = 0
            while i < len(args) and args[i].startswith("-") and args[i] in _MAP_OPTS:
                nmax = _MAP_OPTS[args[i]]
                i += 1
                taken = 0
                while taken < nmax and i < len(args) - 1:
                    if args[i].startswith("-") and args[i] in _MAP_OPTS:
                        break
                    i += 1
                    taken += 1
            name = " ".join(args[i:])
            if not name:
                raise MeshFormatError(f"{src}:{lineno}: 'map_Kd' without a file name")
            if cur is not None:
                cur["map_Kd"] = name if os.path.isabs(name) else os.path.join(base, name)
    return out


_read_mtl_guarded = _guarded(_read_mtl_impl)


# --------------------------------------------------------------------------------------
# OBJ
# --------------------------------------------------------------------------------------


@_guarded
def read_obj(path: str | os.PathLike) -> Mesh:
    """Read a Wavefront OBJ file into a triangle mesh.

    Supported statements: ``v x y z [w]`` (``w`` ignored) and ``v x y z r g b`` (vertex
    colours), ``vt u [v [w]]``, ``vn x y z``, ``f`` with corners ``i``, ``i/j``, ``i//k``,
    ``i/j/k`` (1-based, negative = relative to the end of the list so far), ``o``/``g``
    (part names), ``usemtl``, ``mtllib`` (read with :func:`read_mtl` when the file exists;
    a missing MTL is skipped). Comments (``#``), blank lines, ``\\`` line continuations and
    unknown statements (``s``, ``l``, ``p``, ``vp``, ...) are ignored.

    Polygons are fan-triangulated. When a position is used with different texture
    coordinates or normals, the vertex is split: every output vertex is one distinct
    ``(v, vt, vn)`` corner. If not every face corner has a ``vt`` (``vn``), ``uvs``
    (``normals``) is ``None``. A face's part is the name of the latest ``o`` or ``g``
    statement.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.obj`` file.

    Returns
    -------
    Mesh
        ``vertices`` (n, 3) float32, ``faces`` (m, 3) int32, ``normals`` (n, 3) float32
        unit or None, ``uvs`` (n, 2) float32 or None, ``colors`` (n, 3) float32 or None,
        ``face_groups``/``face_materials`` (m,) int32 with their name tuples, ``materials``
        from the MTL files. Without ``vt``/``vn`` in the faces the vertices are the file's
        ``v`` list, in order; otherwise only the corners that faces use, in first-use order.

    Raises
    ------
    MeshFormatError
        ``'<file>:<line>: <problem>'``: missing file, not UTF-8, non-numeric or non-finite
        number, wrong number of values, face index 0 or out of range, fewer than 3
        corners, zero-length normal, no faces at all, malformed MTL.
    """
    return _parse_obj(path)


def _obj_floats(toks: list[str], src: str, lineno: int, what: str) -> list[float]:
    out = []
    for tok in toks:
        try:
            x = float(tok)
        except ValueError:
            raise MeshFormatError(
                f"{src}:{lineno}: {what} value {_short(tok)} is not a number"
            ) from None
        if not math.isfinite(x):
            raise MeshFormatError(f"{src}:{lineno}: {what} value {_short(tok)} is not finite")
        if abs(x) > _F32_MAX:
            raise MeshFormatError(
                f"{src}:{lineno}: {what} value {_short(tok)} is out of float32 range"
            )
        out.append(x)
    return out


def _obj_index(tok: str, count: int, what: str, src: str, lineno: int) -> int:
    """0-based index of an OBJ face index token (positive ones checked later)."""
    try:
        idx = int(tok)
    except ValueError:
        raise MeshFormatError(
            f"{src}:{lineno}: {what} index {_short(tok)} is not an integer"
        ) from None
    if idx > 0:
        if idx > _I32_MAX:
            raise MeshFormatError(f"{src}:{lineno}: {what} index {idx} is out of range")
        return idx - 1
    if idx == 0:
        raise MeshFormatError(
            f"{src}:{lineno}: {what} index 0 is invalid (OBJ indices start at 1)"
        )
    r = count + idx
    if r < 0:
        raise MeshFormatError(
            f"{src}:{lineno}: relative {what} index {idx} is out of range "
            f"(only {count} defined so far)"
        )
    return r


def _parse_obj(src: str) -> Mesh:
    text = _decode_text(_read_bytes(src), src)
    base = os.path.dirname(src)

    pos: list[float] = []
    col: list[float] = []
    n_col = 0
    tex: list[float] = []
    nrm: list[list[float]] = []
    nrm_line: list[int] = []
    cv: list[int] = []
    ct: list[int] = []
    cn: list[int] = []
    missing_t = 0
    missing_n = 0
    plen: list[int] = []
    pline: list[int] = []
    pgroup: list[int] = []
    pmat: list[int] = []
    group_ids: dict[str, int] = {}
    mat_ids: dict[str, int] = {}
    cur_group = "default"
    cur_mat = "default"
    gid = -1  # id of cur_group, resolved lazily at its first face
    mid = -1
    materials: dict[str, dict] = {}

    lines = text.split("\n")
    nlines = len(lines)
    i = 0
    while i < nlines:
        lineno = i + 1
        s = lines[i].rstrip()
        i += 1
        while s.endswith("\\"):
            s = s[:-1]
            if i < nlines:
                s = s + " " + lines[i].rstrip()
                i += 1
        h = s.find("#")
        if h >= 0:
            s = s[:h]
        toks = s.split()
        if not toks:
            continue
        kw = toks[0]
        if kw == "v":
            n = len(toks) - 1
            if n not in (3, 4, 6, 7):
                raise MeshFormatError(
                    f"{src}:{lineno}: 'v' needs x y z [w] or x y z r g b, got {n} values"
                )
            vals = _obj_floats(toks[1:], src, lineno, "vertex")
            pos.extend(vals[:3])
            if n >= 6:
                col.extend(vals[3:6])
                n_col += 1
        elif kw == "f":
            n = len(toks) - 1
            if n < 3:
                raise MeshFormatError(
                    f"{src}:{lineno}: face has {n} corner{'s' if n != 1 else ''} "
                    f"(need at least 3)"
                )
            nv = len(pos) // 3
            nt = len(tex) // 2
            nn = len(nrm)
            for tok in toks[1:]:
                parts = tok.split("/")
                if len(parts) > 3:
                    raise MeshFormatError(
                        f"{src}:{lineno}: face corner {_short(tok)} has more than 3 indices"
                    )
                if parts[0] == "":
                    raise MeshFormatError(
                        f"{src}:{lineno}: face corner {_short(tok)} has no vertex index"
                    )
                cv.append(_obj_index(parts[0], nv, "vertex", src, lineno))
                if len(parts) > 1 and parts[1] != "":
                    ct.append(_obj_index(parts[1], nt, "texture coordinate", src, lineno))
                else:
                    ct.append(-1)
                    missing_t += 1
                if len(parts) > 2 and parts[2] != "":
                    cn.append(_obj_index(parts[2], nn, "normal", src, lineno))
                else:
                    cn.append(-1)
                    missing_n += 1
            if gid < 0:
                gid = group_ids.setdefault(cur_group, len(group_ids))
            if mid < 0:
                mid = mat_ids.setdefault(cur_mat, len(mat_ids))
            plen.append(n)
            pline.append(lineno)
            pgroup.append(gid)
            pmat.append(mid)
        elif kw == "vt":
            n = len(toks) - 1
            if n < 1 or n > 3:
                raise MeshFormatError(f"{src}:{lineno}: 'vt' needs 1 to 3 values, got {n}")
            vals = _obj_floats(toks[1:], src, lineno, "texture coordinate")
            tex.append(vals[0])
            tex.append(vals[1] if n > 1 else 0.0)
        elif kw == "vn":
            n = len(toks) - 1
            if n != 3:
                raise MeshFormatError(f"{src}:{lineno}: 'vn' needs 3 values, got {n}")
            vals = _obj_floats(toks[1:], src, lineno, "normal")
            if vals[0] == 0.0 and vals[1] == 0.0 and vals[2] == 0.0:
                raise MeshFormatError(f"{src}:{lineno}: zero-length normal")
            nrm.append(vals)
            nrm_line.append(lineno)
        elif kw in ("o", "g"):
            cur_group = " ".join(toks[1:]) or "default"
            gid = -1
        elif kw == "usemtl":
            cur_mat = " ".join(toks[1:]) or "default"
            mid = -1
        elif kw == "mtllib":
            for mtl in _mtl_candidates(toks[1:], base):
                materials.update(read_mtl(mtl))
        # anything else (s, l, p, vp, cstype, ...) is ignored

    if not plen:
        raise MeshFormatError(
            f"{src}:{_last_line(lines)}: no faces (the file has no 'f' statements)"
        )

    nv = len(pos) // 3
    nt = len(tex) // 2
    nn = len(nrm)
    lengths = np.asarray(plen, dtype=np.int64)
    av = np.asarray(cv, dtype=np.int64)
    at = np.asarray(ct, dtype=np.int64)
    an = np.asarray(cn, dtype=np.int64)
    for arr, count, what in ((av, nv, "vertex"), (at, nt, "texture coordinate"),
                             (an, nn, "normal")):
        bad = np.flatnonzero(arr >= count)
        if bad.size:
            k = int(bad[0])
            line = pline[_polygon_of(lengths, k)]
            raise MeshFormatError(
                f"{src}:{line}: {what} index {int(arr[k]) + 1} is out of range "
                f"({count} defined)"
            )

    use_t = missing_t == 0
    use_n = missing_n == 0
    positions = np.asarray(pos, dtype=np.float64).reshape(nv, 3)
    colors_all = np.asarray(col, dtype=np.float64).reshape(-1, 3) if n_col == nv else None

    if use_t or use_n:
        keys = np.stack(
            [av, at if use_t else np.zeros_like(av), an if use_n else np.zeros_like(av)],
            axis=1,
        )
        _, first, inv = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.shape[0])
        corner_vertex = rank[inv]
        ukeys = keys[first[order]]
        vertices = positions[ukeys[:, 0]]
        colors = colors_all[ukeys[:, 0]] if colors_all is not None else None
        uvs = np.asarray(tex, dtype=np.float64).reshape(nt, 2)[ukeys[:, 1]] if use_t else None
        if use_n:
            normals, _ = _normalize_rows(np.asarray(nrm, dtype=np.float64)[ukeys[:, 2]])
        else:
            normals = None
    else:
        corner_vertex = av
        vertices = positions
        colors = colors_all
        uvs = None
        normals = None

    tri, poly = _fan(lengths)
    faces = corner_vertex[tri]
    return Mesh(
        vertices=np.ascontiguousarray(vertices, dtype=np.float32),
        faces=np.ascontiguousarray(faces, dtype=np.int32),
        normals=None if normals is None else np.ascontiguousarray(normals, dtype=np.float32),
        uvs=None if uvs is None else np.ascontiguousarray(uvs, dtype=np.float32),
        colors=None if colors is None
        else np.ascontiguousarray(np.clip(colors, 0.0, 1.0), dtype=np.float32),
        face_groups=np.asarray(pgroup, dtype=np.int32)[poly],
        group_names=tuple(group_ids),
        face_materials=np.asarray(pmat, dtype=np.int32)[poly],
        material_names=tuple(mat_ids),
        source=src,
        materials=materials,
    )


def _mtl_candidates(args: list[str], base: str) -> list[str]:
    """Existing MTL files named by an ``mtllib`` statement (missing ones are skipped)."""
    if not args:
        return []
    whole = os.path.join(base, " ".join(args))
    if len(args) > 1 and os.path.isfile(whole):
        return [whole]
    out = []
    for a in args:
        p = os.path.join(base, a)
        if os.path.isfile(p):
            out.append(p)
    return out


# --------------------------------------------------------------------------------------
# PLY
# --------------------------------------------------------------------------------------

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_PLY_FORMATS = {"ascii": "", "binary_little_endian": "<", "binary_big_endian": ">"}
_INT_RANGE = {c: (int(np.iinfo(c).min), int(np.iinfo(c).max))
              for c in ("i1", "u1", "i2", "u2", "i4", "u4")}
_UV_NAMES = (("u", "v"), ("s", "t"), ("texture_u", "texture_v"), ("texture_s", "texture_t"))
_RGB_NAMES = (("red", "green", "blue"), ("diffuse_red", "diffuse_green", "diffuse_blue"),
              ("r", "g", "b"))


@dataclass
class _Prop:
    name: str
    code: str               # numpy type code of the value ('f4', 'u1', ...)
    count_code: str | None  # numpy type code of the list count, None for scalars
    line: int


@dataclass
class _Elem:
    name: str
    count: int
    line: int
    props: list[_Prop] = field(default_factory=list)


@dataclass
class _Cols:
    """Values of one element: scalar props -> array (count,), list props -> (flat, lengths)."""

    values: list[Any]
    lines: np.ndarray | None  # ASCII: line of each instance; binary: None


@_guarded
def read_ply(path: str | os.PathLike) -> Mesh:
    """Read a Stanford PLY file (ascii, binary_little_endian or binary_big_endian).

    The ``vertex`` element needs ``x``, ``y``, ``z`` (any numeric type) and may have
    ``nx``/``ny``/``nz``, texture coordinates (``u``/``v``, ``s``/``t``,
    ``texture_u``/``texture_v``) and colours (``red``/``green``/``blue``; integer types
    scaled by the type's maximum, floats clipped to [0, 1]). The ``face`` element needs a
    ``vertex_indices`` (or ``vertex_index``) list of any count and index type; polygons are
    fan-triangulated. Other elements and properties, including list properties, are
    skipped; ``comment`` and ``obj_info`` header lines are ignored.

    Binary elements without list properties, and list elements whose lists all have the
    same length (the usual all-triangle face list), are read with NumPy structured dtypes
    in one ``np.frombuffer``; mixed polygon sizes fall back to a per-face loop.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.ply`` file.

    Returns
    -------
    Mesh
        ``vertices`` (n, 3) float32 (the file's vertex list, in order), ``faces`` (m, 3)
        int32, optional ``normals`` (n, 3) float32 unit, ``uvs`` (n, 2) float32,
        ``colors`` (n, 3) float32; one group and one material named ``'default'``.

    Raises
    ------
    MeshFormatError
        Header problems as ``'<file>:<line>: <problem>'``; body problems as
        ``'<file>: element <name> #<i>: <problem>'`` (ASCII bodies also give the line):
        missing file, bad magic/format/keyword/type, truncated data, non-numeric or
        non-finite values, polygon with fewer than 3 corners, index out of range,
        zero-length normal, no faces.
    """
    return _parse_ply(path)


def _parse_ply_header(data: bytes, src: str) -> tuple[str, list[_Elem], int, int]:
    """Returns (byte order '' / '<' / '>', elements, body offset, number of header lines)."""
    if not (data.startswith(b"ply\n") or data.startswith(b"ply\r\n")):
        raise MeshFormatError(f"{src}:1: not a PLY file (first line must be 'ply')")
    pos = data.index(b"\n") + 1
    lineno = 1
    fmt: str | None = None
    elems: list[_Elem] = []
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise MeshFormatError(f"{src}:{lineno + 1}: header does not end with 'end_header'")
        raw = data[pos:nl]
        pos = nl + 1
        lineno += 1
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            if raw.split(b" ", 1)[0].strip() in (b"comment", b"obj_info"):
                continue
            raise MeshFormatError(f"{src}:{lineno}: header line is not ASCII text") from None
        toks = line.split()
        if not toks:
            continue
        kw = toks[0]
        if kw in ("comment", "obj_info"):
            continue
        if kw == "format":
            if len(toks) != 3 or toks[1] not in _PLY_FORMATS:
                raise MeshFormatError(
                    f"{src}:{lineno}: unknown format {_short(' '.join(toks[1:]))} (expected "
                    f"'ascii', 'binary_little_endian' or 'binary_big_endian' and a version)"
                )
            if toks[2] not in ("1.0", "1"):
                raise MeshFormatError(f"{src}:{lineno}: unsupported PLY version {_short(toks[2])}")
            fmt = _PLY_FORMATS[toks[1]]
        elif kw == "element":
            if len(toks) != 3:
                raise MeshFormatError(f"{src}:{lineno}: 'element' needs a name and a count")
            try:
                count = int(toks[2])
            except ValueError:
                count = -1
            if count < 0:
                raise MeshFormatError(
                    f"{src}:{lineno}: element count {_short(toks[2])} is not a "
                    f"non-negative integer"
                )
            elems.append(_Elem(toks[1], count, lineno))
        elif kw == "property":
            if not elems:
                raise MeshFormatError(f"{src}:{lineno}: 'property' before any 'element'")
            if len(toks) >= 2 and toks[1] == "list":
                if len(toks) != 5:
                    raise MeshFormatError(
                        f"{src}:{lineno}: 'property list' needs a count type, an item type "
                        f"and a name"
                    )
                cc = _PLY_TYPES.get(toks[2])
                ic = _PLY_TYPES.get(toks[3])
                if cc is None or cc[0] == "f":
                    raise MeshFormatError(
                        f"{src}:{lineno}: bad list count type {_short(toks[2])} "
                        f"(must be an integer type)"
                    )
                if ic is None:
                    raise MeshFormatError(f"{src}:{lineno}: unknown property type {_short(toks[3])}")
                elems[-1].props.append(_Prop(toks[4], ic, cc, lineno))
            else:
                if len(toks) != 3:
                    raise MeshFormatError(f"{src}:{lineno}: 'property' needs a type and a name")
                code = _PLY_TYPES.get(toks[1])
                if code is None:
                    raise MeshFormatError(f"{src}:{lineno}: unknown property type {_short(toks[1])}")
                elems[-1].props.append(_Prop(toks[2], code, None, lineno))
        elif kw == "end_header":
            break
        else:
            raise MeshFormatError(f"{src}:{lineno}: unknown header keyword {_short(kw)}")
    if fmt is None:
        raise MeshFormatError(f"{src}:{lineno}: header has no 'format' line")
    return fmt, elems, pos, lineno


def _empty_cols(props: list[_Prop], lines: np.ndarray | None) -> _Cols:
    """Columns of an element with no instances."""
    return _Cols([np.zeros(0, dtype=p.code) if p.count_code is None
                  else (np.zeros(0, dtype=p.code), np.zeros(0, dtype=np.int64))
                  for p in props], lines)


def _find_prop(elem: _Elem, name: str) -> int:
    for k, p in enumerate(elem.props):
        if p.name == name:
            return k
    return -1


def _parse_ply(src: str) -> Mesh:
    data = _read_bytes(src)
    order, elems, body, header_lines = _parse_ply_header(data, src)
    end_line = header_lines

    # validate the interesting elements before reading the body
    velem = next((e for e in elems if e.name == "vertex"), None)
    felem = next((e for e in elems if e.name == "face"), None)
    if velem is None:
        raise MeshFormatError(f"{src}:{end_line}: header declares no 'vertex' element")
    if felem is None:
        raise MeshFormatError(
            f"{src}:{end_line}: no faces (header declares no 'face' element)"
        )
    xyz = [_find_prop(velem, c) for c in "xyz"]
    for c, k in zip("xyz", xyz):
        if k < 0 or velem.props[k].count_code is not None:
            raise MeshFormatError(
                f"{src}:{velem.line}: element 'vertex' has no scalar property {c!r}"
            )
    fk = _find_prop(felem, "vertex_indices")
    if fk < 0:
        fk = _find_prop(felem, "vertex_index")
    if fk < 0 or felem.props[fk].count_code is None:
        raise MeshFormatError(
            f"{src}:{felem.line}: element 'face' has no list property 'vertex_indices'"
        )
    if felem.count == 0:
        raise MeshFormatError(f"{src}:{felem.line}: no faces (element 'face' has count 0)")

    results: dict[int, _Cols] = {}
    if order == "":
        text = _decode_text(data[body:], src, header_lines + 1)
        cur = _AsciiCursor(text.split("\n"), header_lines + 1)
        for elem in elems:
            cols = _read_ascii_element(cur, elem, src)
            if elem is velem or elem is felem:
                results[id(elem)] = cols
        if cur.next() is not None:
            raise MeshFormatError(
                f"{src}:{cur.lineno}: extra data after the last element "
                f"(header and data disagree)"
            )
    else:
        p = body
        for elem in elems:
            cols, p = _read_binary_element(data, p, elem, order, src)
            if elem is velem or elem is felem:
                results[id(elem)] = cols
    return _assemble_ply(src, velem, felem, results[id(velem)], results[id(felem)], xyz, fk)


def _elem_error(src: str, elem: _Elem, i: int, cols: _Cols | None, msg: str) -> MeshFormatError:
    if cols is not None and cols.lines is not None and 0 <= i < cols.lines.shape[0]:
        return MeshFormatError(f"{src}:{int(cols.lines[i])}: element {elem.name} #{i}: {msg}")
    return MeshFormatError(f"{src}: element {elem.name} #{i}: {msg}")


def _first_bad_row(ok: np.ndarray) -> int:
    """Index of the first row where a (k,) or (k, c) boolean array is False, or -1."""
    if ok.ndim > 1:
        ok = ok.all(axis=1)
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else -1


def _assemble_ply(src: str, velem: _Elem, felem: _Elem, vc: _Cols, fc: _Cols,
                  xyz: list[int], fk: int) -> Mesh:
    n = velem.count

    def scalar_block(idx: list[int], what: str) -> np.ndarray:
        with np.errstate(all="ignore"):
            arr = np.stack([vc.values[k].astype(np.float64) for k in idx], axis=1)
            ok = np.isfinite(arr) & (np.abs(arr) <= _F32_MAX)
        i = _first_bad_row(ok)
        if i >= 0:
            raise _elem_error(src, velem, i, vc, f"non-finite or out-of-range {what}")
        return arr

    positions = scalar_block(xyz, "coordinate").reshape(n, 3)

    normals = None
    nk = [_find_prop(velem, c) for c in ("nx", "ny", "nz")]
    if all(k >= 0 and velem.props[k].count_code is None for k in nk):
        normals, bad = _normalize_rows(scalar_block(nk, "normal"))
        if bad >= 0:
            raise _elem_error(src, velem, bad, vc, "zero-length normal")

    uvs = None
    for a, b in _UV_NAMES:
        uk = [_find_prop(velem, a), _find_prop(velem, b)]
        if all(k >= 0 and velem.props[k].count_code is None for k in uk):
            uvs = scalar_block(uk, "texture coordinate")
            break

    colors = None
    for names in _RGB_NAMES:
        ck = [_find_prop(velem, c) for c in names]
        if all(k >= 0 and velem.props[k].count_code is None for k in ck):
            chans = []
            for k in ck:
                code = velem.props[k].code
                v = vc.values[k].astype(np.float64)
                if code[0] in "iu":
                    v = v / float(_INT_RANGE[code][1])
                chans.append(v)
            arr = np.stack(chans, axis=1)
            i = _first_bad_row(np.isfinite(arr))
            if i >= 0:
                raise _elem_error(src, velem, i, vc, "non-finite colour")
            colors = np.clip(arr, 0.0, 1.0)
            break

    flat, lengths = fc.values[fk]
    lengths = np.asarray(lengths, dtype=np.int64)
    short = np.flatnonzero(lengths < 3)
    if short.size:
        i = int(short[0])
        raise _elem_error(src, felem, i, fc,
                          f"polygon has {int(lengths[i])} corners (need at least 3)")
    flat = np.asarray(flat)
    if flat.dtype.kind == "f":
        with np.errstate(all="ignore"):
            ok = np.isfinite(flat) & (flat == np.floor(flat))
        k = _first_bad_row(ok)
        if k >= 0:
            i = _polygon_of(lengths, k)
            raise _elem_error(src, felem, i, fc,
                              f"vertex index {float(flat[k])!r} is not an integer")
    with np.errstate(all="ignore"):
        ok = (flat >= 0) & (flat < n)
    k = _first_bad_row(ok)
    if k >= 0:
        i = _polygon_of(lengths, k)
        val = flat[k]
        val = int(val) if flat.dtype.kind in "iu" else float(val)
        raise _elem_error(src, felem, i, fc,
                          f"vertex index {val} is out of range for {n} vertices")
    tri, _ = _fan(lengths)
    faces = flat.astype(np.int64)[tri]
    m = faces.shape[0]
    return Mesh(
        vertices=np.ascontiguousarray(positions, dtype=np.float32),
        faces=np.ascontiguousarray(faces, dtype=np.int32),
        normals=None if normals is None else np.ascontiguousarray(normals, dtype=np.float32),
        uvs=None if uvs is None else np.ascontiguousarray(uvs, dtype=np.float32),
        colors=None if colors is None else np.ascontiguousarray(colors, dtype=np.float32),
        face_groups=np.zeros(m, dtype=np.int32),
        group_names=("default",),
        face_materials=np.zeros(m, dtype=np.int32),
        material_names=("default",),
        source=src,
    )


# ---- binary body ---------------------------------------------------------------------

_STRUCT_CODES = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I",
                 "f4": "f", "f8": "d"}


def _read_binary_element(data: bytes, pos: int, elem: _Elem, order: str,
                         src: str) -> tuple[_Cols, int]:
    """Read ``elem.count`` instances from ``data[pos:]``; returns (columns, next offset)."""
    props = elem.props
    count = elem.count
    avail = len(data) - pos
    if not props or count == 0:
        return _empty_cols(props, None), pos
    min_size = sum(np.dtype(p.count_code if p.count_code else p.code).itemsize for p in props)
    if count * min_size > avail:  # guard before any allocation or loop
        raise MeshFormatError(
            f"{src}: element {elem.name} #{avail // min_size}: truncated data "
            f"(the file is too short for {count} elements)"
        )

    if all(p.count_code is None for p in props):
        dt = np.dtype([(f"p{k}", order + p.code) for k, p in enumerate(props)])
        arr = np.frombuffer(data, dtype=dt, count=count, offset=pos)
        vals = [arr[f"p{k}"].astype(p.code) for k, p in enumerate(props)]
        return _Cols(vals, None), pos + count * dt.itemsize

    # lists: try "every list has the length of instance 0" with one frombuffer
    fields = []
    lens0 = []
    p = pos
    for k, prop in enumerate(props):
        if prop.count_code is None:
            fields.append((f"p{k}", order + prop.code))
            p += np.dtype(prop.code).itemsize
        else:
            cst = struct.Struct(order + _STRUCT_CODES[prop.count_code])
            if p + cst.size > len(data):
                raise MeshFormatError(f"{src}: element {elem.name} #0: truncated data")
            L = cst.unpack_from(data, p)[0]
            if L < 0:
                raise MeshFormatError(f"{src}: element {elem.name} #0: negative list length {L}")
            isz = np.dtype(prop.code).itemsize
            if p + cst.size + L * isz > len(data):
                raise MeshFormatError(f"{src}: element {elem.name} #0: truncated data")
            fields.append((f"c{k}", order + prop.count_code))
            if L > 0:
                fields.append((f"p{k}", order + prop.code, (L,)))
            lens0.append(L)
            p += cst.size + L * isz
    dt = np.dtype(fields)
    if count * dt.itemsize <= avail:
        arr = np.frombuffer(data, dtype=dt, count=count, offset=pos)
        uniform = True
        li = 0
        for k, prop in enumerate(props):
            if prop.count_code is not None:
                if not np.all(arr[f"c{k}"] == lens0[li]):
                    uniform = False
                    break
                li += 1
        if uniform:
            vals: list[Any] = []
            li = 0
            for k, prop in enumerate(props):
                if prop.count_code is None:
                    vals.append(arr[f"p{k}"].astype(prop.code))
                else:
                    L = lens0[li]
                    li += 1
                    if L > 0:
                        flat = arr[f"p{k}"].astype(prop.code).reshape(-1)
                    else:
                        flat = np.zeros(0, dtype=prop.code)
                    vals.append((flat, np.full(count, L, dtype=np.int64)))
            return _Cols(vals, None), pos + count * dt.itemsize

    return _read_binary_element_loop(data, pos, elem, order, src)


def _read_binary_element_loop(data: bytes, pos: int, elem: _Elem, order: str,
                              src: str) -> tuple[_Cols, int]:
    """Per-instance walk for list elements whose lists differ in length."""
    props = elem.props
    end = len(data)
    nprops = len(props)
    sizes = [np.dtype(p.code).itemsize for p in props]
    counters = [struct.Struct(order + _STRUCT_CODES[p.count_code]) if p.count_code else None
                for p in props]
    starts: list[list[int]] = [[] for _ in props]
    lens: list[list[int]] = [[] for _ in props]
    p = pos
    name = elem.name
    for i in range(elem.count):
        for k in range(nprops):
            cst = counters[k]
            if cst is None:
                if p + sizes[k] > end:
                    raise MeshFormatError(f"{src}: element {name} #{i}: truncated data")
                starts[k].append(p)
                p += sizes[k]
            else:
                if p + cst.size > end:
                    raise MeshFormatError(f"{src}: element {name} #{i}: truncated data")
                L = cst.unpack_from(data, p)[0]
                if L < 0:
                    raise MeshFormatError(f"{src}: element {name} #{i}: negative list length {L}")
                p += cst.size
                nbytes = L * sizes[k]
                if p + nbytes > end:
                    raise MeshFormatError(f"{src}: element {name} #{i}: truncated data")
                starts[k].append(p)
                lens[k].append(L)
                p += nbytes
    u8 = np.frombuffer(data, dtype=np.uint8)
    vals: list[Any] = []
    for k, prop in enumerate(props):
        st = np.asarray(starts[k], dtype=np.int64)
        sz = sizes[k]
        if counters[k] is None:
            idx = st[:, None] + np.arange(sz, dtype=np.int64)[None, :]
            vals.append(u8[idx].reshape(-1).view(order + prop.code).astype(prop.code))
        else:
            ln = np.asarray(lens[k], dtype=np.int64)
            nb = ln * sz
            total = int(nb.sum())
            within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(nb) - nb, nb)
            idx = np.repeat(st, nb) + within
            flat = u8[idx].view(order + prop.code).astype(prop.code)
            vals.append((flat, ln))
    return _Cols(vals, None), p


# ---- ASCII body ----------------------------------------------------------------------


class _AsciiCursor:
    """Whitespace-separated tokens of the body, with the line each one came from."""

    def __init__(self, lines: list[str], first_line: int) -> None:
        self.lines = lines
        self.first_line = first_line
        self.li = 0          # next line to split
        self.buf: list[str] = []
        self.bi = 0          # next token in buf

    @property
    def lineno(self) -> int:
        """Line number of the most recently split line."""
        return self.first_line + max(self.li - 1, 0)

    def at_boundary(self) -> bool:
        return self.bi >= len(self.buf)

    def next(self) -> str | None:
        while self.bi >= len(self.buf):
            if self.li >= len(self.lines):
                return None
            self.buf = self.lines[self.li].split()
            self.bi = 0
            self.li += 1
        tok = self.buf[self.bi]
        self.bi += 1
        return tok


class _AsciiBad(Exception):
    """A bad token in an ASCII instance (message without location)."""


class _AsciiShort(Exception):
    """The tokens ran out before the instance was complete."""


def _ascii_value(tok: str, code: str) -> int | float:
    if code[0] == "f":
        try:
            return float(tok)
        except ValueError:
            raise _AsciiBad(f"value {_short(tok)} is not a number") from None
    try:
        v = int(tok)
    except ValueError:
        try:
            f = float(tok)
        except ValueError:
            raise _AsciiBad(f"value {_short(tok)} is not a number") from None
        if not f.is_integer():
            raise _AsciiBad(f"value {_short(tok)} is not an integer") from None
        v = int(f)
    lo, hi = _INT_RANGE[code]
    if not lo <= v <= hi:
        raise _AsciiBad(f"value {_short(tok)} is out of range for its type")
    return v


def _ascii_instance(get: Callable[[], str | None], props: list[_Prop],
                    scal: list[list], flats: list[list], lens: list[list]) -> None:
    """Parse one instance by pulling tokens from ``get`` (None = no more tokens)."""
    for k, prop in enumerate(props):
        if prop.count_code is None:
            tok = get()
            if tok is None:
                raise _AsciiShort()
            scal[k].append(_ascii_value(tok, prop.code))
        else:
            tok = get()
            if tok is None:
                raise _AsciiShort()
            L = _ascii_value(tok, prop.count_code)
            if L < 0:
                raise _AsciiBad(f"negative list length {L}")
            out = flats[k]
            for _ in range(int(L)):
                tok = get()
                if tok is None:
                    raise _AsciiShort()
                out.append(_ascii_value(tok, prop.code))
            lens[k].append(int(L))


def _uniform_block(arr: np.ndarray, props: list[_Prop]) -> list[Any] | None:
    """Columns of a (count, T) float64 block where every line is one instance, or None."""
    count, T = arr.shape
    c = 0
    vals: list[Any] = []
    with np.errstate(all="ignore"):
        for prop in props:
            if prop.count_code is None:
                if c >= T:
                    return None
                col = arr[:, c]
                c += 1
            else:
                if c >= T:
                    return None
                L = arr[0, c]
                if not (L >= 0 and L == int(L)) or not np.all(arr[:, c] == L):
                    return None
                lo, hi = _INT_RANGE[prop.count_code]
                L = int(L)
                if L > hi or c + 1 + L > T:
                    return None
                col = arr[:, c + 1:c + 1 + L]
                c += 1 + L
            if prop.code[0] in "iu":
                lo, hi = _INT_RANGE[prop.code]
                if not np.all((col == np.floor(col)) & (col >= lo) & (col <= hi)):
                    return None
            col = col.astype(prop.code)
            if prop.count_code is None:
                vals.append(col)
            else:
                vals.append((col.reshape(-1), np.full(count, L, dtype=np.int64)))
    if c != T:
        return None
    return vals


def _read_ascii_element(cur: _AsciiCursor, elem: _Elem, src: str) -> _Cols:
    props = elem.props
    count = elem.count
    if not props or count == 0:
        return _empty_cols(props, np.zeros(0, dtype=np.int64))

    # fast path: the next `count` lines are one instance each, all with the same token count
    if cur.at_boundary():
        block = cur.lines[cur.li:cur.li + count]
        if len(block) == count:
            rows = [ln.split() for ln in block]
            T = len(rows[0])
            if T > 0 and all(len(r) == T for r in rows):
                try:
                    arr = np.array(rows, dtype=np.float64)
                except (ValueError, OverflowError):
                    arr = None
                vals = _uniform_block(arr, props) if arr is not None else None
                if vals is not None:
                    lines = cur.first_line + cur.li + np.arange(count, dtype=np.int64)
                    cur.li += count
                    return _Cols(vals, lines)
            del rows

    # general path: one line per instance when possible, otherwise a token stream
    scal: list[list] = [[] for _ in props]
    flats: list[list] = [[] for _ in props]
    lens: list[list] = [[] for _ in props]
    inst_lines: list[int] = []
    lines = cur.lines
    nlines = len(lines)
    for i in range(count):
        err_line = None
        try:
            if cur.at_boundary():
                while cur.li < nlines and not lines[cur.li].strip():
                    cur.li += 1
                if cur.li >= nlines:
                    raise _AsciiShort()
                toks = lines[cur.li].split()
                err_line = cur.first_line + cur.li
                # try the whole line as exactly one instance
                snap = ([len(x) for x in scal], [len(x) for x in flats], [len(x) for x in lens])
                it = iter(toks)
                try:
                    _ascii_instance(lambda: next(it, None), props, scal, flats, lens)
                    complete = next(it, None) is None
                except _AsciiShort:
                    complete = False
                if complete:
                    cur.li += 1
                    inst_lines.append(err_line)
                    continue
                for lists, sizes in zip((scal, flats, lens), snap):
                    for lst, n in zip(lists, sizes):
                        del lst[n:]
                cur.buf = toks
                cur.bi = 0
                cur.li += 1
            err_line = None
            inst_lines.append(cur.lineno)
            _ascii_instance(cur.next, props, scal, flats, lens)
        except _AsciiBad as exc:
            line = err_line if err_line is not None else cur.lineno
            raise MeshFormatError(f"{src}:{line}: element {elem.name} #{i}: {exc}") from None
        except _AsciiShort:
            last = _last_line(lines, cur.first_line)
            raise MeshFormatError(
                f"{src}:{last}: element {elem.name} #{i}: unexpected end of data "
                f"({count} declared)"
            ) from None

    vals: list[Any] = []
    for k, prop in enumerate(props):
        if prop.count_code is None:
            vals.append(np.asarray(scal[k], dtype=np.float64 if prop.code[0] == "f"
                                   else np.int64).astype(prop.code))
        else:
            flat = np.asarray(flats[k], dtype=np.float64 if prop.code[0] == "f" else np.int64)
            vals.append((flat.astype(prop.code), np.asarray(lens[k], dtype=np.int64)))
    return _Cols(vals, np.asarray(inst_lines, dtype=np.int64))


# --------------------------------------------------------------------------------------
# inline arrays
# --------------------------------------------------------------------------------------


def _as_float_array(x: Any, name: str, cols: int, n: int | None, where: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise MeshFormatError(f"{where}: {name} is not an array ({type(exc).__name__})") from None
    if arr.dtype.kind not in "biuf" or arr.dtype.kind == "b":
        raise MeshFormatError(f"{where}: {name} must be a real numeric array, got dtype {arr.dtype}")
    want = f"({'n' if n is None else n}, {cols})"
    if arr.ndim != 2 or arr.shape[1] != cols or (n is not None and arr.shape[0] != n):
        raise MeshFormatError(f"{where}: {name} must have shape {want}, got {arr.shape}")
    arr = arr.astype(np.float64)
    with np.errstate(all="ignore"):
        ok = np.isfinite(arr) & (np.abs(arr) <= _F32_MAX)
    bad = np.argwhere(~ok)
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise MeshFormatError(
            f"{where}: {name}[{r}][{c}] = {arr[r, c]!r} is not finite (or exceeds float32)"
        )
    return arr


def _as_index_array(x: Any, name: str, shape_desc: str, ndim: int, where: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise MeshFormatError(f"{where}: {name} is not an array ({type(exc).__name__})") from None
    if arr.ndim != ndim:
        raise MeshFormatError(f"{where}: {name} must have shape {shape_desc}, got {arr.shape}")
    if arr.dtype.kind in "iu":
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > 2**62:
            bad = np.argwhere(arr > 2**62)[0]
            pos = "".join(f"[{int(v)}]" for v in bad)
            raise MeshFormatError(f"{where}: {name}{pos} = {int(arr[tuple(bad)])} is out of range")
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        with np.errstate(all="ignore"):
            ok = np.isfinite(arr) & (arr == np.floor(arr)) & (np.abs(arr) < 2.0**62)
        bad = np.argwhere(~ok)
        if bad.size:
            pos = "".join(f"[{int(v)}]" for v in bad[0])
            raise MeshFormatError(
                f"{where}: {name}{pos} = {arr[tuple(bad[0])]!r} is not an integer index"
            )
        return arr.astype(np.int64)
    raise MeshFormatError(f"{where}: {name} must be an integer array, got dtype {arr.dtype}")


def mesh_from_arrays(vertices: Any, faces: Any, normals: Any = None, uvs: Any = None, *,
                     colors: Any = None, face_groups: Any = None,
                     group_names: tuple[str, ...] | None = None,
                     face_materials: Any = None,
                     material_names: tuple[str, ...] | None = None,
                     source: str = "") -> Mesh:
    """Validate inline arrays and build a :class:`Mesh`.

    Parameters
    ----------
    vertices : array_like, shape (n, 3), real
        Vertex positions; finite and within float32 range.
    faces : array_like, shape (m, 3), integer (or integral floats)
        Triangle indices in ``[0, n)``, counter-clockwise = front; ``m >= 1``.
    normals : array_like, shape (n, 3), optional
        Vertex normals; normalized here, zero-length rows are an error.
    uvs : array_like, shape (n, 2), optional
        Texture coordinates.
    colors : array_like, shape (n, 3), optional, keyword-only
        Vertex colours in ``[0, 1]``.
    face_groups : array_like, shape (m,), optional, keyword-only
        Part id per triangle; defaults to all 0.
    group_names : tuple of str, optional, keyword-only
        Part names; defaults to ``('default',)`` or ``('group0', 'group1', ...)`` when
        only ``face_groups`` is given.
    face_materials, material_names : optional, keyword-only
        Material id per triangle and material names, like the groups.
    source : str, keyword-only
        Recorded in :attr:`Mesh.source` and used to prefix error messages.

    Returns
    -------
    Mesh
        ``vertices`` float32 (n, 3), ``faces`` int32 (m, 3), ``normals``/``uvs``/``colors``
        float32 or None, ``face_groups``/``face_materials`` int32 (m,).

    Raises
    ------
    MeshFormatError
        One-line message naming what is wrong, e.g.
        ``'<arrays>: faces[12][1] = 40 is out of range for 30 vertices'``.
    """
    where = source or "<arrays>"
    v = _as_float_array(vertices, "vertices", 3, None, where)
    n = v.shape[0]
    f = _as_index_array(faces, "faces", "(m, 3)", 2, where)
    if f.shape[1] != 3:
        raise MeshFormatError(f"{where}: faces must have shape (m, 3), got {f.shape}")
    if f.shape[0] == 0:
        raise MeshFormatError(f"{where}: no faces (faces has shape {f.shape})")
    bad = np.argwhere((f < 0) | (f >= n))
    if bad.size:
        r, c = (int(x) for x in bad[0])
        raise MeshFormatError(
            f"{where}: faces[{r}][{c}] = {int(f[r, c])} is out of range for {n} vertices"
        )
    m = f.shape[0]

    nrm = None
    if normals is not None:
        nrm = _as_float_array(normals, "normals", 3, n, where)
        nrm, badrow = _normalize_rows(nrm)
        if badrow >= 0:
            raise MeshFormatError(f"{where}: normals[{badrow}] has zero length")
    uv = None if uvs is None else _as_float_array(uvs, "uvs", 2, n, where)
    col = None
    if colors is not None:
        col = _as_float_array(colors, "colors", 3, n, where)
        bad = np.argwhere((col < 0.0) | (col > 1.0))
        if bad.size:
            r, c = (int(x) for x in bad[0])
            raise MeshFormatError(f"{where}: colors[{r}][{c}] = {col[r, c]!r} is outside [0, 1]")

    def labels(ids: Any, names: tuple[str, ...] | None, what: str,
               prefix: str) -> tuple[np.ndarray, tuple[str, ...]]:
        if ids is None:
            ids_arr = np.zeros(m, dtype=np.int64)
        else:
            ids_arr = _as_index_array(ids, what, "(m,)", 1, where)
            if ids_arr.shape[0] != m:
                raise MeshFormatError(
                    f"{where}: {what} must have shape ({m},), got {ids_arr.shape}"
                )
        if names is None:
            k = int(ids_arr.max()) + 1 if ids_arr.size else 1
            names = ("default",) if ids is None else tuple(f"{prefix}{i}" for i in range(max(k, 1)))
        names = tuple(str(s) for s in names)
        badi = np.flatnonzero((ids_arr < 0) | (ids_arr >= len(names)))
        if badi.size:
            i = int(badi[0])
            raise MeshFormatError(
                f"{where}: {what}[{i}] = {int(ids_arr[i])} is out of range for "
                f"{len(names)} names"
            )
        return ids_arr.astype(np.int32), names

    fg, gn = labels(face_groups, group_names, "face_groups", "group")
    fm, mn = labels(face_materials, material_names, "face_materials", "material")
    return Mesh(
        vertices=np.ascontiguousarray(v, dtype=np.float32),
        faces=np.ascontiguousarray(f, dtype=np.int32),
        normals=None if nrm is None else np.ascontiguousarray(nrm, dtype=np.float32),
        uvs=None if uv is None else np.ascontiguousarray(uv, dtype=np.float32),
        colors=None if col is None else np.ascontiguousarray(col, dtype=np.float32),
        face_groups=fg,
        group_names=gn,
        face_materials=fm,
        material_names=mn,
        source=source,
    )
