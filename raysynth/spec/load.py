"""Reading scene files: JSON text -> validated :class:`Scene`, with one-line errors naming the field."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

from pydantic import ValidationError

from ..errors import SceneError
from .scene import Scene

# Tags pydantic inserts into error locations for tagged unions; they are not field names.
_UNION_TAGS = {
    "material-name", "material-inline", "sphere", "box", "quad", "disk", "cylinder", "mesh", "diffuse", "conductor",
    "dielectric", "emissive", "point", "directional", "environment", "sky",
    # procedural mesh kinds
    "icosphere", "uv_sphere", "torus", "cone", "capsule", "torus_knot", "blob", "terrain",
    "tetrahedron", "cube", "octahedron", "dodecahedron", "icosahedron",
    # textures (spec/scene.py: Texture, AlbedoValue)
    "texture-image", "texture-noise", "texture-checker", "albedo-color", "albedo-texture",
}


def _field_path(loc: tuple) -> str:
    """('objects', 3, 'sphere', 'radius') -> 'objects[3].radius' (union tags dropped)."""
    path = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part in _UNION_TAGS:
            continue  # the tag of a tagged union, not a field
        elif isinstance(part, str) and part.startswith(("function-", "tagged-union", "union")):
            continue
        else:
            path += ("." if path else "") + str(part)
    return path or "scene"


def format_validation_error(err: ValidationError, source: str = "") -> str:
    """The first error of a pydantic ValidationError as one line: 'source: field.path: message'."""
    first = err.errors(include_url=False)[0]
    loc = tuple(first.get("loc", ()))
    msg = first.get("msg", "invalid value")
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        msg = "unknown field"
    elif kind == "missing":
        msg = "required field is missing"
    elif kind == "union_tag_invalid":
        ctx = first.get("ctx", {})
        msg = f"unknown type {ctx.get('tag')!r} (expected one of {ctx.get('expected_tags')})"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    if kind not in ("missing", "extra_forbidden", "value_error") and "input" in first:
        shown = repr(first["input"])
        if len(shown) <= 60:
            msg += f" (got {shown})"
    path = _field_path(loc)
    if kind == "value_error" and msg.split(":")[0].replace("[", "").replace("]", "").replace(".", "").isidentifier() and ":" in msg:
        line = msg  # the validator already named the full path (cross-field checks)
    else:
        line = f"{path}: {msg}"
    if len(err.errors()) > 1:
        line += f" (and {len(err.errors()) - 1} more error(s))"
    return f"{source}: {line}" if source else line


def parse_scene(data: Union[dict, Scene], source: str = "") -> Scene:
    """Validate a scene dictionary (or pass a Scene through); raise SceneError with one line."""
    if isinstance(data, Scene):
        return data
    if not isinstance(data, dict):
        raise SceneError(f"{source + ': ' if source else ''}a scene must be a JSON object, got {type(data).__name__}")
    try:
        return Scene.model_validate(data)
    except ValidationError as err:
        raise SceneError(format_validation_error(err, source)) from None


def read_scene_file(path: Union[str, os.PathLike]) -> tuple[Scene, Path]:
    """Read and validate a scene JSON file.

    Returns
    -------
    scene : Scene
    base_dir : Path
        The file's folder; mesh paths in the scene are relative to it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SceneError(f"{path}: scene file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SceneError(f"{path}: cannot read scene file ({err.__class__.__name__}: {err})") from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as err:
        raise SceneError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    return parse_scene(data, str(path)), path.resolve().parent
