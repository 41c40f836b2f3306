"""The public rendering API: load a scene, compile it, render every layer."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional, Union

import numpy as np

from . import __version__
from .compile import CompiledScene, compile_scene
from .errors import RaysynthError
from .frame import empty_frame
from .spec.load import parse_scene, read_scene_file
from .spec.scene import Scene

SceneSource = Union[str, os.PathLike, dict, Scene, CompiledScene]

#: The layers returned by :func:`render` (and written by ``raysynth render``).
LAYERS = ("rgb", "depth", "distance", "normals", "instance", "class", "albedo", "position", "coverage",
          "soft_ids", "soft_weight", "part")


def load_scene(source: SceneSource) -> tuple[Scene, Optional[Path]]:
    """A validated Scene and the folder its relative mesh paths refer to.

    ``source`` is a path to a JSON scene file, a scene dictionary or a Scene.
    Raises :class:`raysynth.errors.SceneError` (one line, with the field path) on bad input.
    """
    if isinstance(source, (str, os.PathLike)):
        return read_scene_file(source)
    return parse_scene(source), None


def prepare(source: SceneSource, **overrides) -> CompiledScene:
    """Load and compile a scene; ``overrides`` are spp, seed, width, height, max_depth.

    A CompiledScene passes through unchanged (overrides must then be None)."""
    if isinstance(source, CompiledScene):
        if any(v is not None for v in overrides.values()):
            raise RaysynthError("overrides cannot be applied to an already compiled scene")
        return source
    scene, base_dir = load_scene(source)
    return compile_scene(scene, base_dir, **overrides)


def scene_meta(compiled: CompiledScene) -> dict:
    """The meta.json record of a compiled scene (camera matrices, settings, objects)."""
    return {
        "raysynth_version": __version__,
        "width": compiled.width,
        "height": compiled.height,
        "spp": compiled.spp,
        "seed": compiled.seed,
        "max_depth": compiled.max_depth,
        "exposure": compiled.exposure,
        "camera": {
            "K": compiled.K.tolist(),
            "world_to_camera": compiled.world_to_camera.tolist(),
            "convention": "OpenCV: x right, y down, z forward; pixel centres at integer + 0.5",
        },
        "classes": {str(i): name for i, name in enumerate(compiled.class_names)},
        "objects": compiled.objects,
    }


#: Backends accepted by :func:`render` (``backend=``) and the CLI (``--backend``).
BACKENDS = ("cpu", "cuda")


def backend_module(backend: str):
    """The launcher module of ``backend`` (``render_frame``, ``amodal_pass``, ``cast_rays``).

    "cuda" raises a one-line :class:`RaysynthError` when numba-cuda, a CUDA driver or a device
    is missing (the CUDA simulator, NUMBA_ENABLE_CUDASIM=1, needs none of them)."""
    if backend == "cpu":
        from .backends import cpu
        return cpu
    if backend == "cuda":
        from .backends import cuda
        cuda.require_cuda()
        return cuda
    raise RaysynthError(f"backend: unknown backend '{backend}' (available: {', '.join(BACKENDS)})")


def render(
    scene: SceneSource,
    *,
    spp: Optional[int] = None,
    seed: Optional[int] = None,
    width: Optional[int] = None,
    height: Optional[int] = None,
    max_depth: Optional[int] = None,
    threads: Optional[int] = None,
    backend: str = "cpu",
    labels: bool = True,
    progress=None,
) -> dict:
    """Render a scene and return every layer as named arrays.

    Parameters
    ----------
    scene : path to a JSON scene file, a scene dict, a :class:`Scene`, or the result of
        :func:`prepare` (then without overrides)
    spp, seed, width, height, max_depth : override the scene's settings
    threads : CPU threads (default: all)
    backend : "cpu" (Numba threads) or "cuda" (an NVIDIA GPU through numba-cuda: ``pip install
        'raysynth[cuda]'``; a one-line RaysynthError when it, a driver or a device is missing).
        Labels geometry (keypoint occlusion rays) runs on the CPU with either.
    labels : also run the amodal pass and build the labels record (``amodal``, ``labels``)
    progress : None, or a callable taking the number of pixels just finished

    Returns
    -------
    dict with
        rgb : (H, W, 3) float32, linear RGB radiance, times 2**exposure
        depth : (H, W) float32, z-depth of the pixel-centre hit along the optical axis, scene
            units; 0 where nothing is hit
        distance : (H, W) float32, camera-centre-to-hit distance; 0 where nothing is hit
        normals : (H, W, 3) float32, unit shading normal in camera space (OpenCV: x right, y
            down, z forward), facing the camera; 0 where nothing is hit
        instance : (H, W) int32, instance id (object index + 1; 0 = background)
        class : (H, W) int32, class id (0 = background or unlabelled)
        part : (H, W) int32, mesh part id + 1 of the pixel-centre hit (index into the object's
            ``parts`` in meta["objects"]); 0 = background or an analytic shape
        albedo : (H, W, 3) float32, material base colour at the hit, linear RGB
        position : (H, W, 3) float32, world-space hit point
        coverage : (H, W) float32 in [0, 1], fraction of the pixel's camera samples whose first
            hit is the centre ray's instance
        soft_ids : (H, W, 4) int32, the instances (0 = background) first hit by the pixel's
            camera samples, by decreasing share
        soft_weight : (H, W, 4) float32, the share of the samples of each (0 for unused slots)
        amodal : (H, W, ceil(objects / 32)) uint32 bit sets of the objects each pixel-centre ray
            crosses anywhere (``labels.annotate.amodal_mask`` reads one); only with ``labels``
        labels : dict, the labels record (``raysynth.labels``: per-object masks, boxes,
            visibility, pose, 3D box, keypoints); only with ``labels``
        meta : dict, the meta.json record (camera K and world_to_camera, objects, settings)
        timings : dict, seconds spent compiling the scene and rendering
    """
    launcher = backend_module(backend)  # imports Numba and the kernels; cuda: checks for a device
    if backend == "cpu":
        launcher.compile_ahead(labels=labels)   # cold cache: the render launcher compiles meanwhile

    t0 = time.perf_counter()
    compiled = prepare(scene, spp=spp, seed=seed, width=width, height=height, max_depth=max_depth)
    t1 = time.perf_counter()
    frame = empty_frame(compiled.height, compiled.width)
    launcher.render_frame(compiled.arrays, frame, threads=threads, progress=progress)
    t2 = time.perf_counter()
    extra = {}
    if labels:
        extra = annotate(compiled, frame, threads=threads, backend=backend)
    t3 = time.perf_counter()
    rgb = frame.rgb
    if compiled.exposure != 0.0:
        rgb = (rgb * np.float32(2.0 ** compiled.exposure)).astype(np.float32)
    return {
        "rgb": rgb,
        "depth": frame.depth,
        "distance": frame.distance,
        "normals": frame.normal,
        "instance": frame.instance,
        "class": frame.class_id,
        "albedo": frame.albedo,
        "position": frame.position,
        "coverage": frame.coverage,
        "soft_ids": frame.soft_ids,
        "soft_weight": frame.soft_weight,
        "part": frame.part,
        **extra,
        "meta": scene_meta(compiled),
        "timings": {"prepare_s": t1 - t0, "render_s": t2 - t1, "labels_s": t3 - t2},
    }


def annotate(compiled: CompiledScene, frame, threads: Optional[int] = None, backend: str = "cpu") -> dict:
    """The amodal pass and the labels record of a rendered frame: {"amodal", "labels"}."""
    from .labels.annotate import build_labels

    amodal_pass = backend_module(backend).amodal_pass
    bits = amodal_pass(compiled.arrays, compiled.width, compiled.height, len(compiled.objects), threads=threads)
    from .labels.geometry import object_geometry

    geometry = object_geometry(compiled)
    layers = {"instance": frame.instance, "soft_weight": frame.soft_weight, "part": frame.part}
    return {"amodal": bits, "labels": build_labels(compiled, layers, bits, geometry)}
