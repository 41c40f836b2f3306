"""The ``raysynth`` command line: one-line errors for bad input, the schema, and a render of every
bundled scene whose outputs are checked for shape, type and geometric consistency.

The CLI runs in subprocesses (``python -m raysynth.cli``) that inherit NUMBA_CACHE_DIR, so the
render kernel compiles at most once.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Randomizer configs (raysynth generate) live beside the scene files; they have a `placement`.
SCENES = sorted(p for p in (ROOT / "scenes").glob("*.json") if "placement" not in json.loads(p.read_text()))
OUTPUT_FILES = (
    "rgb.png", "rgb.npy", "depth.npy", "distance.npy", "normals.npy", "position.npy",
    "coverage.npy", "instance.png", "class.png", "albedo.png", "meta.json",
    "soft_ids.npy", "soft_weight.npy", "edge.png", "labels.json", "part.png",
)
W, H = 32, 24


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raysynth.cli", *map(str, args)],
        capture_output=True, text=True, env=dict(os.environ), cwd=cwd, timeout=600,
    )


def valid_scene() -> dict:
    return {
        "camera": {"position": [0, 0, 5], "look_at": [0, 0, 0], "width": 16, "height": 12},
        "render": {"spp": 1},
        "materials": {"grey": {"type": "diffuse", "albedo": [0.5, 0.5, 0.5]}},
        "objects": [{"type": "sphere", "radius": 1.0, "material": "grey", "transform": {"translate": [0, 0, 0]}}],
        "lights": [{"type": "environment"}],
    }


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under folder (relative name -> bytes), or None when it does not exist."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} | {
        str(p.relative_to(folder)) + "/": b"" for p in folder.rglob("*") if p.is_dir()
    }


# --------------------------------------------------------------------------- bad input
def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _scene_with(tmp: Path, edit) -> Path:
    scene = valid_scene()
    edit(scene)
    return _write(tmp, "scene.json", json.dumps(scene, indent=2))


def _set(path, value):
    def edit(scene):
        node = scene
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def case_unknown_field(tmp):
    return _scene_with(tmp, _set(["objects", 0, "radus"], 2.0)), [], ["objects[0].radus", "unknown field"]


def case_wrong_type(tmp):
    return _scene_with(tmp, _set(["objects", 0, "radius"], "big")), [], ["objects[0].radius"]


def case_negative_radius(tmp):
    return _scene_with(tmp, _set(["objects", 0, "radius"], -1.0)), [], ["objects[0].radius", "greater than 0"]


def case_nan_in_transform(tmp):
    scene = valid_scene()
    scene["objects"][0]["transform"]["translate"] = [0.0, float("nan"), 0.0]
    text = json.dumps(scene, indent=2)  # Python's json writes the NaN literal
    assert "NaN" in text
    return _write(tmp, "scene.json", text), [], ["objects[0].transform.translate[1]", "finite"]


def case_unknown_material_name(tmp):
    return _scene_with(tmp, _set(["objects", 0, "material"], "gold")), [], ["objects[0].material", "gold"]


def case_unknown_shape_type(tmp):
    return _scene_with(tmp, _set(["objects", 0, "type"], "torus")), [], ["objects[0]", "torus"]


def case_unknown_light_type(tmp):
    return _scene_with(tmp, _set(["lights", 0, "type"], "spot")), [], ["lights[0]", "spot"]


def case_malformed_json(tmp):
    text = '{\n  "objects": [\n    {"type": "sphere",, "radius": 1}\n  ]\n}\n'
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        line, col = err.lineno, err.colno
    assert line == 3
    path = _write(tmp, "scene.json", text)
    return path, [], [f"{path}:{line}:{col}", "invalid JSON"]


def case_not_an_object(tmp):
    return _write(tmp, "scene.json", "[1, 2, 3]\n"), [], ["scene.json", "JSON object"]


def case_not_utf8(tmp):
    path = tmp / "scene.json"
    path.write_bytes(b'{"objects": [{"type": "sphere", "name": "\xff\xfe"}]}')
    return path, [], ["scene.json"]


def case_missing_scene_file(tmp):
    return tmp / "nope.json", [], ["nope.json", "not found"]


def case_missing_mesh_file(tmp):
    scene = valid_scene()
    scene["objects"][0] = {"type": "mesh", "file": "meshes/missing.obj"}
    return _write(tmp, "scene.json", json.dumps(scene)), [], ["objects[0].file", "missing.obj", "not found"]


def case_malformed_mesh_file(tmp):
    obj = "# a triangle with a broken face\nv 0 0 0\nv 1 0 0\nv 0 1 0\n\nf 1 2 x\n"
    (tmp / "bad.obj").write_text(obj)
    scene = valid_scene()
    scene["objects"][0] = {"type": "mesh", "file": "bad.obj"}
    return _write(tmp, "scene.json", json.dumps(scene)), [], ["objects[0].file", "bad.obj:6"]


def case_empty_scene(tmp):
    return _scene_with(tmp, _set(["objects"], [])), [], ["objects", "empty"]


def case_spp_negative(tmp):
    return _scene_with(tmp, lambda s: None), ["--spp", "-4"], ["--spp"]


def case_spp_not_a_number(tmp):
    return _scene_with(tmp, lambda s: None), ["--spp", "many"], ["--spp", "must be an integer", "'many'"]


def case_width_zero(tmp):
    return _scene_with(tmp, lambda s: None), ["--width", "0"], ["--width"]


def case_unknown_option(tmp):
    return _scene_with(tmp, lambda s: None), ["--bogus", "3"], ["--bogus"]


BAD_INPUT = [
    case_unknown_field, case_wrong_type, case_negative_radius, case_nan_in_transform,
    case_unknown_material_name, case_unknown_shape_type, case_unknown_light_type, case_malformed_json,
    case_not_an_object, case_not_utf8, case_missing_scene_file, case_missing_mesh_file,
    case_malformed_mesh_file, case_empty_scene, case_spp_negative, case_spp_not_a_number,
    case_width_zero, case_unknown_option,
]


def check_one_line_error(proc: subprocess.CompletedProcess, expect: list[str]) -> str:
    everything = proc.stdout + proc.stderr
    assert "Traceback" not in everything, f"traceback printed:\n{everything}"
    assert proc.returncode == 2, f"exit status {proc.returncode}, expected 2; stderr: {proc.stderr!r}"
    lines = proc.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].strip(), f"expected one line on stderr, got {proc.stderr!r}"
    line = lines[0]
    assert line.startswith("raysynth: error: "), line
    for part in expect:
        assert part in line, f"error message does not name {part!r}: {line}"
    assert proc.stdout == "", f"unexpected stdout {proc.stdout!r}"
    return line


@pytest.mark.parametrize("make_case", BAD_INPUT, ids=lambda f: f.__name__.removeprefix("case_"))
@pytest.mark.parametrize("out_state", ["missing", "existing"])
def test_bad_input_gives_one_line_error_and_writes_nothing(make_case, out_state, tmp_path):
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    scene, extra, expect = make_case(case_dir)
    out = tmp_path / "out"
    if out_state == "existing":
        out.mkdir()
        (out / "rgb.npy").write_bytes(b"previous render, must survive")
        (out / "notes.txt").write_text("keep me\n")
    before = snapshot(out)
    proc = cli("render", scene, "--out", out, "--quiet", *extra)
    check_one_line_error(proc, expect)
    after = snapshot(out)
    if out_state == "missing":
        assert after is None, f"--out folder was created: {sorted(after or {})}"
    else:
        assert after == before, "the existing --out folder was modified"


def test_unknown_command_is_one_line_error():
    proc = cli("paint")
    check_one_line_error(proc, ["paint"])


def test_out_is_an_existing_file(tmp_path):
    """--out naming a file: one-line error, the file is left alone."""
    scene = _write(tmp_path, "scene.json", json.dumps(valid_scene()))
    out = tmp_path / "out"
    out.write_bytes(b"not a folder")
    proc = cli("render", scene, "--out", out, "--quiet")
    check_one_line_error(proc, ["--out"])
    assert out.read_bytes() == b"not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "scene.json"]


# --------------------------------------------------------------------------- schema
def test_schema_is_documented_json_schema():
    proc = cli("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    defs = schema["$defs"]
    for name in ("Sphere", "Box", "Quad", "Disk", "Cylinder", "Mesh", "Transform", "Camera", "RenderSettings",
                 "Diffuse", "Conductor", "Dielectric", "Emissive", "Checker", "Intrinsics",
                 "PointLight", "DirectionalLight", "Environment", "Sky"):
        assert name in defs, f"$defs lacks {name}"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert defs["Sphere"]["properties"]["radius"]["exclusiveMinimum"] == 0
    missing = []
    for model, node in [("Scene", schema)] + sorted(defs.items()):
        assert node.get("description"), f"{model} has no description"
        required = set(node.get("required", ()))
        for prop, spec in node.get("properties", {}).items():
            if not spec.get("description"):
                missing.append(f"{model}.{prop}: description")
            if prop not in required and "default" not in spec:
                missing.append(f"{model}.{prop}: default")
    assert not missing, "schema properties without a description or a default: " + ", ".join(missing)


def test_bundled_scenes_validate_against_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(cli("schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in SCENES:
        jsonschema.validate(json.loads(path.read_text()), schema)


# --------------------------------------------------------------------------- bundled scenes
def test_there_are_bundled_scenes():
    assert SCENES, "no scenes/*.json"


@pytest.fixture(scope="module", params=SCENES, ids=lambda p: p.stem)
def rendered(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param.stem) / "out"
    proc = cli("render", request.param, "--out", out, "--width", W, "--height", H, "--spp", 2, "--quiet")
    assert proc.returncode == 0, f"{request.param.name}: exit {proc.returncode}: {proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    return request.param, out


def test_bundled_scene_writes_every_file(rendered):
    scene, out = rendered
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(OUTPUT_FILES), f"{scene.name}: files {names}"

    rgb = np.load(out / "rgb.npy")
    assert rgb.dtype == np.float32 and rgb.shape == (H, W, 3)
    assert np.isfinite(rgb).all() and rgb.min() >= 0.0
    assert rgb.mean() > 1e-3, f"{scene.name}: black image"
    for name in ("depth", "distance", "coverage"):
        a = np.load(out / f"{name}.npy")
        assert a.dtype == np.float32 and a.shape == (H, W), name
        assert np.isfinite(a).all()
    for name in ("normals", "position"):
        a = np.load(out / f"{name}.npy")
        assert a.dtype == np.float32 and a.shape == (H, W, 3), name
        assert np.isfinite(a).all()
    for name in ("instance", "class"):
        img = iio.imread(out / f"{name}.png")
        assert img.dtype == np.uint16 and img.shape == (H, W), f"{name}.png is {img.dtype} {img.shape}"
    for name in ("rgb", "albedo"):
        img = iio.imread(out / f"{name}.png")
        assert img.dtype == np.uint8 and img.shape == (H, W, 3), f"{name}.png is {img.dtype} {img.shape}"
    coverage = np.load(out / "coverage.npy")
    assert coverage.min() >= 0.0 and coverage.max() <= 1.0


def test_bundled_scene_meta(rendered):
    scene, out = rendered
    meta = json.loads((out / "meta.json").read_text())
    source = json.loads(scene.read_text())
    assert meta["width"] == W and meta["height"] == H and meta["spp"] == 2
    K = np.asarray(meta["camera"]["K"], dtype=np.float64)
    w2c = np.asarray(meta["camera"]["world_to_camera"], dtype=np.float64)
    assert K.shape == (3, 3) and w2c.shape == (4, 4)
    assert K[2].tolist() == [0.0, 0.0, 1.0] and K[1, 0] == 0.0
    np.testing.assert_allclose(w2c[3], [0, 0, 0, 1])
    np.testing.assert_allclose(w2c[:3, :3] @ w2c[:3, :3].T, np.eye(3), atol=1e-9)  # a rigid motion
    assert np.linalg.det(w2c[:3, :3]) > 0
    # the camera centre maps to the origin
    cam = np.asarray(source.get("camera", {}).get("position", [0, 0, 5]), dtype=np.float64)
    np.testing.assert_allclose(w2c[:3, :3] @ cam + w2c[:3, 3], 0.0, atol=1e-9)

    objects = meta["objects"]
    assert len(objects) == len(source["objects"])
    classes = {int(k): v for k, v in meta["classes"].items()}
    for i, (rec, obj) in enumerate(zip(objects, source["objects"])):
        for key in ("instance_id", "class_id", "class_name", "name", "object_to_world"):
            assert key in rec, f"meta objects[{i}] lacks {key}"
        assert rec["instance_id"] == i + 1
        assert rec["name"] == obj.get("name")
        assert rec["class_name"] == obj.get("label")
        assert np.asarray(rec["object_to_world"]).shape == (4, 4)
        if obj.get("label") is None:
            assert rec["class_id"] == 0
        else:
            assert classes[rec["class_id"]] == obj["label"]

    instance = iio.imread(out / "instance.png").astype(np.int64)
    class_img = iio.imread(out / "class.png").astype(np.int64)
    ids = set(np.unique(instance).tolist())
    assert ids <= {0} | {o["instance_id"] for o in objects}
    assert len(ids - {0}) >= 1, "no object visible"
    # class ids per pixel agree with the instance's class in meta
    lut = np.zeros(len(objects) + 1, np.int64)
    for rec in objects:
        lut[rec["instance_id"]] = rec["class_id"]
    assert np.array_equal(class_img, lut[instance]), "class.png disagrees with instance.png + meta classes"


def test_bundled_scene_geometry_is_consistent(rendered):
    """K and world_to_camera from meta.json reproject position.npy onto the pixel centres, and
    depth, distance and normals agree with the positions."""
    scene, out = rendered
    meta = json.loads((out / "meta.json").read_text())
    K = np.asarray(meta["camera"]["K"], dtype=np.float64)
    w2c = np.asarray(meta["camera"]["world_to_camera"], dtype=np.float64)
    instance = iio.imread(out / "instance.png").astype(np.int64)
    position = np.load(out / "position.npy").astype(np.float64)
    depth = np.load(out / "depth.npy").astype(np.float64)
    distance = np.load(out / "distance.npy").astype(np.float64)
    normals = np.load(out / "normals.npy").astype(np.float64)
    hit = instance > 0
    assert hit.sum() >= 10, f"{scene.name}: only {hit.sum()} pixels hit something"

    cam = position @ w2c[:3, :3].T + w2c[:3, 3]            # (H, W, 3) camera space
    proj = cam @ K.T
    assert (cam[hit][:, 2] > 0).all(), "hit points behind the camera"
    u = proj[..., 0] / np.where(hit, proj[..., 2], 1.0)
    v = proj[..., 1] / np.where(hit, proj[..., 2], 1.0)
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    err = np.hypot(u - jj, v - ii)[hit]
    worst = float(err.max())
    assert worst < 1e-3, f"{scene.name}: position reprojects {worst:.2e} px away from the pixel centre"

    # depth is camera-space z; distance is |p - camera centre|
    np.testing.assert_allclose(depth[hit], cam[hit][:, 2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(distance[hit], np.linalg.norm(cam[hit], axis=1), rtol=1e-4, atol=1e-5)
    assert (depth[~hit] == 0).all() and (distance[~hit] == 0).all()
    # normals: unit, in camera space, facing the camera (against the viewing ray)
    n = normals[hit]
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-4)
    assert ((n * cam[hit]).sum(axis=1) <= 1e-5).all(), "normals do not face the camera"
    assert (normals[~hit] == 0).all()


def test_spp_zero_writes_labels_with_black_rgb(tmp_path):
    """`--spp 0`: the label layers only; rgb is black, depth and masks are there."""
    scene = _write(tmp_path, "scene.json", json.dumps(valid_scene()))
    proc = cli("render", scene, "--out", tmp_path / "out", "--spp", "0")
    assert proc.returncode == 0, proc.stderr
    assert "labels only (spp 0)" in proc.stderr
    rgb = iio.imread(tmp_path / "out" / "rgb.png")
    instance = iio.imread(tmp_path / "out" / "instance.png")
    assert (rgb == 0).all() and (instance == 1).sum() > 20
    depth = np.load(tmp_path / "out" / "depth.npy")
    assert ((depth > 0) == (instance > 0)).all()
