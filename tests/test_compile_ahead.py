"""Compiling the render launcher in a second process on a cold cache (backends/cpu.py,
``compile_ahead``): it must compile the very signatures the renderer calls, and an image
rendered with its machine code must be the bytes of one compiled in-process."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import raysynth
from raysynth.backends import cpu
from raysynth.compile import empty_scene_arrays
from raysynth.render import prepare

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "camera": {"position": [0, 0.5, 3], "look_at": [0, 0, 0], "fov": 40, "width": 12, "height": 10},
    "render": {"spp": 2, "max_depth": 3, "seed": 5},
    "classes": ["ball"],
    "objects": [
        {"type": "sphere", "radius": 0.5, "label": "ball", "material": {"type": "diffuse", "albedo": [0.8, 0.3, 0.2]}},
        {"type": "box", "size": [3, 0.1, 3], "transform": {"translate": [0, -0.55, 0]}},
    ],
    "lights": [{"type": "sky", "intensity": 1.0}],
}


def _digest(layers) -> str:
    digest = hashlib.sha256()
    for name in ("rgb", "depth", "normals", "instance", "albedo", "coverage", "amodal"):
        digest.update(np.ascontiguousarray(layers[name]).tobytes())
    digest.update(json.dumps(layers["labels"], sort_keys=True, default=str).encode())
    return digest.hexdigest()


@pytest.mark.parametrize("scene", ["cornell_box.json", "mesh_demo.json", "primitives.json"])
def test_empty_scene_arrays_have_the_type_of_compiled_scenes(scene):
    arrays = prepare(ROOT / "scenes" / scene, width=4, height=4).arrays
    assert numba.typeof(arrays) == numba.typeof(empty_scene_arrays())


def test_launchers_are_compiled_for_the_signatures_compiled_ahead():
    """After a labelled render, the types compiled ahead are among those the calls used: a
    change to how render_frame, amodal_pass or cast_rays pass arguments must show here."""
    raysynth.render(TINY, threads=1)
    raysynth.render(TINY, threads=1, spp=0)
    arrays = empty_scene_arrays()
    assert cpu._argument_types(cpu.render_launch_args(arrays)) in cpu._render_tiles.overloads
    for launcher, args in cpu.label_launch_args(arrays).items():
        assert cpu._argument_types(args) in launcher.overloads, launcher.py_func.__name__
    assert len(cpu._cast_rays_shared.overloads) == 1   # t_max given or not: one signature


def test_second_process_refuses_another_cache():
    assert cpu.compile_render_launcher(os.path.join(os.sep, "nowhere", "index.nbi")) == 2


_CHILD = """
import hashlib, json, sys
import numpy as np
import raysynth
from raysynth.backends import cpu
sys.path.insert(0, sys.argv[2])
from test_compile_ahead import TINY, _digest
layers = raysynth.render(TINY)
print(json.dumps({"digest": _digest(layers),
                  "loaded": sum(cpu._render_tiles.stats.cache_hits.values()),
                  "compiled": sum(cpu._render_tiles.stats.cache_misses.values())}))
"""


def test_cold_start_loads_the_render_launcher_compiled_ahead(tmp_path):
    """A fresh process on an empty cache: the render launcher comes from the second process
    (a cache hit here, no compile), and the image and labels are the bytes of this process's."""
    if cpu._cpus() < 2:
        pytest.skip("compile ahead needs a second core")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), RAYSYNTH_COMPILE_AHEAD="1")
    proc = subprocess.run([sys.executable, "-c", _CHILD, "", str(Path(__file__).parent)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (report["loaded"], report["compiled"]) == (1, 0)
    assert report["digest"] == _digest(raysynth.render(TINY))


def test_a_forked_child_forgets_the_parents_compile_ahead(monkeypatch):
    """The compile-ahead process is the parent's child: a forked process must neither wait for
    it nor stop it at exit, nor start another."""
    running = object()   # stands for the parent's running process
    monkeypatch.setitem(cpu._AHEAD, "process", running)
    pid = os.fork()
    if pid == 0:   # the child: report and leave at once
        os._exit(0 if cpu._AHEAD["process"] is None and cpu._AHEAD["tried"] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cpu._AHEAD["process"] is running
