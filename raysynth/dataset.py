"""Datasets: ``raysynth generate`` / ``merge`` / ``verify``.

Image k of a dataset is a pure function of (config, dataset seed, k): its scene is sampled from
``derive_seed(seed, k, attempt)``, so it renders to the same bytes alone, in any shard, on any
worker or machine. The folder layout::

    DIR/images/{k:06d}.png          8-bit sRGB
    DIR/labels/{k:06d}.json         labels record (raysynth.labels)
    DIR/layers/{k:06d}/...          depth.npy, normals.npy, instance.png, class.png, part.png, albedo.png,
                                    coverage.npy, soft_ids.npy, soft_weight.npy, edge.png, meta.json
    DIR/done/{k:06d}.json           completion record: the SHA-256 of every file of image k,
                                    written last (atomically), so an image without one is redone
    DIR/dataset.json                the run's config, seed and count (checked on --resume / merge)
    DIR/manifest.json               config, seeds, versions, every file's SHA-256 (written at the end)
    DIR/coco/annotations.json, DIR/yolo/..., DIR/bop/train_pbr/000000/...   exports, built from labels/ at the end

Every file is written to a temporary name and renamed, so a run killed at any point leaves only
whole files, and ``--resume`` redoes exactly the images without a completion record.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from . import __version__
from .errors import RaysynthError
from .io import atomic_write_bytes, encode_layers

#: Layer files kept per image (besides images/ and labels/).
DATASET_LAYERS = (
    "depth.npy", "normals.npy", "instance.png", "class.png", "part.png", "albedo.png", "coverage.npy",
    "soft_ids.npy", "soft_weight.npy", "edge.png", "meta.json",
)
EXPORT_FORMATS = ("coco", "yolo", "bop")


def stem(index: int) -> str:
    return f"{index:06d}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_files(index: int) -> dict:
    """Relative paths of image ``index``'s files, by layer-file name."""
    s = stem(index)
    files = {"rgb.png": f"images/{s}.png", "labels.json": f"labels/{s}.json"}
    files.update({name: f"layers/{s}/{name}" for name in DATASET_LAYERS})
    return files


# ----------------------------------------------------------------------------- one image
@dataclass
class JobSpec:
    """What a worker needs to make images: plain data, picklable, identical on every worker."""

    config: dict          # the validated randomizer config, as JSON data
    base_dir: Optional[str]
    seed: int
    out: str
    threads: Optional[int] = None
    backend: str = "cpu"  # "cpu" or "cuda" (raysynth.render.BACKENDS)


def _load(spec: JobSpec):
    from .randomize.config import load_config

    return load_config(spec.config, base_dir=spec.base_dir)


def sample_accepted_scene(config, seed: int, index: int, base_dir=None, threads=None, backend: str = "cpu"):
    """The scene of image ``index``: the first camera that sees enough objects.

    Returns (scene dict, attempt). Visibility comes from the pixel-centre labels, which do not
    depend on spp, so candidates are checked with a labels-only render (spp 0)."""
    from .randomize.sample import derive_seed, sample_scene
    from .render import render

    need = config.camera.min_visible_objects
    attempts = config.camera.max_attempts
    scene_seed = derive_seed(seed, index, 0)
    for attempt in range(attempts):
        # attempt 0 is the scene's own view; later attempts redraw only the camera
        camera_seed = None if attempt == 0 else derive_seed(seed, index, attempt)
        scene = sample_scene(config, scene_seed, base_dir=base_dir, camera_seed=camera_seed)
        if need <= 0:
            return scene, attempt
        probe = render(scene, spp=0, max_depth=1, threads=threads, backend=backend)
        seen = sum(
            1 for o in probe["labels"]["objects"]
            if o["annotated"] and o["visible_pixels"] > 0 and o["visibility"] >= config.camera.min_visibility
        )
        if seen >= need:
            return scene, attempt
    raise RaysynthError(
        f"camera: image {index}: no view with {need} objects at visibility >= "
        f"{config.camera.min_visibility} in {attempts} attempts; lower camera.min_visible_objects "
        f"or raise camera.max_attempts"
    )


def make_image(spec: JobSpec, index: int, config=None) -> dict:
    """Render image ``index`` into ``spec.out``; returns its completion record."""
    from .render import render

    config = config if config is not None else _load(spec)
    scene, attempt = sample_accepted_scene(config, spec.seed, index, spec.base_dir, spec.threads, spec.backend)
    layers = render(scene, threads=spec.threads, backend=spec.backend)
    layers["labels"]["image"]["rgb"] = f"images/{stem(index)}.png"
    layers["labels"]["image"]["index"] = index
    layers["labels"]["image"]["attempt"] = attempt
    encoded = encode_layers(layers)
    out = Path(spec.out)
    hashes = {}
    for name, rel in image_files(index).items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, encoded[name])
        hashes[rel] = sha256(encoded[name])
    record = {"index": index, "attempt": attempt, "files": hashes}
    (out / "done").mkdir(exist_ok=True)
    atomic_write_bytes(out / "done" / f"{stem(index)}.json", _json(record))
    return record


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


# ----------------------------------------------------------------------------- workers
_WORKER = {}


def _worker_init(spec: JobSpec):
    _WORKER["spec"] = spec
    _WORKER["config"] = _load(spec)


def _worker_make(index: int) -> dict:
    return make_image(_WORKER["spec"], index, _WORKER["config"])


def _dask_make(spec: JobSpec, index: int) -> dict:
    return make_image(spec, index)


def _run_local(spec: JobSpec, todo: list, workers: int, on_done) -> None:
    if workers <= 1:
        config = _load(spec)
        for index in todo:
            on_done(make_image(spec, index, config))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # 'spawn': Numba's threading layers are not fork-safe; workers load kernels from the disk
    # cache that the parent warmed, so compiling happens once.
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=_worker_init, initargs=(spec,)) as pool:
        futures = [pool.submit(_worker_make, index) for index in todo]
        for future in as_completed(futures):
            on_done(future.result())


def _run_dask(spec: JobSpec, todo: list, scheduler: str, on_done) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise RaysynthError("--scheduler needs Dask: pip install 'raysynth[dask]'") from None
    cluster = None
    if scheduler.startswith("local"):
        n = int(scheduler.split(":", 1)[1]) if ":" in scheduler else 2
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as err:
            raise RaysynthError(f"--scheduler: cannot reach {scheduler} ({err})") from None
    try:
        futures = [client.submit(_dask_make, spec, index, pure=False, key=f"raysynth-image-{index}") for index in todo]
        for future in as_completed(futures):
            on_done(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------------------- generate
def _shard_indices(count: int, shard: tuple) -> list:
    i, n = shard
    return [k for k in range(count) if k % n == i]


def completed(out: Path, indices: Iterable[int]) -> dict:
    """Completion records of the given images whose files all exist with the recorded hashes."""
    done = {}
    for index in indices:
        path = out / "done" / f"{stem(index)}.json"
        if not path.exists():
            continue
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue
        if all((out / rel).exists() and sha256((out / rel).read_bytes()) == h for rel, h in record["files"].items()):
            done[index] = record
    return done


def _dataset_record(config_data: dict, seed: int, count: int) -> dict:
    return {"config": config_data, "seed": seed, "count": count}


def _same_dataset(a: dict, b: dict) -> bool:
    """Same config, seed and count (the folder the config was read from may differ)."""
    return all(a.get(key) == b.get(key) for key in ("config", "seed", "count"))


def generate(config_path, out, count: int, seed: int = 0, workers: int = 1, shard=(0, 1),
             resume: bool = False, scheduler: Optional[str] = None, formats=EXPORT_FORMATS,
             min_visibility: float = 0.0,
             threads: Optional[int] = None, quiet: bool = False, backend: str = "cpu") -> dict:
    """Make images ``k`` in [0, count) with ``k % N == i`` for ``shard = (i, N)``; then, when the
    shard is the whole dataset, the exports and the manifest. Returns the manifest (or a
    summary for a partial shard)."""
    from .randomize.config import load_config
    from .render import backend_module

    backend_module(backend)  # an unknown backend, or cuda without a GPU: one-line error before any work
    config = load_config(config_path)
    base_dir = str(Path(config_path).resolve().parent) if isinstance(config_path, (str, os.PathLike)) else None
    config_data = json.loads(config.model_dump_json())
    out = Path(out)
    record = _dataset_record(config_data, seed, count)
    header = out / "dataset.json"
    if header.exists():
        previous = json.loads(header.read_text())
        if not _same_dataset(previous, record):
            raise RaysynthError(
                f"--out: {out} holds a dataset made with a different config, seed or count; "
                f"use another folder"
            )
        if not resume and any((out / "done").glob("*.json")):
            raise RaysynthError(f"--out: {out} already holds images; pass --resume to finish it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RaysynthError(f"--out: cannot create folder {out} ({err.strerror})") from None
    atomic_write_bytes(header, _json({**record, "config_dir": base_dir}))

    indices = _shard_indices(count, shard)
    if resume:
        _remove_stale_temporaries(out)
    done = completed(out, indices) if resume else {}
    todo = [k for k in indices if k not in done]
    spec = JobSpec(config=config_data, base_dir=base_dir, seed=seed, out=str(out),
                   threads=threads if workers <= 1 else max(1, (threads or os.cpu_count() or 1) // workers),
                   backend=backend)
    if todo and (workers > 1 or scheduler):
        _warm_compile_cache()

    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(indices), initial=len(done), unit="img", desc="generate", file=sys.stderr,
                   dynamic_ncols=True)
    t0 = time.perf_counter()

    def on_done(rec):
        done[rec["index"]] = rec
        if bar is not None:
            bar.update(1)

    try:
        if scheduler:
            _run_dask(spec, todo, scheduler, on_done)
        else:
            _run_local(spec, todo, workers, on_done)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    if tuple(shard) != (0, 1):
        return {"shard": list(shard), "images": len(done), "seconds": seconds}
    return finish(out, formats=formats, min_visibility=min_visibility, quiet=quiet, seconds=seconds,
                  rendered=len(todo))


def _remove_stale_temporaries(out: Path) -> None:
    """Delete the temporary files (``.NAME.XXXX.tmp``, see io.atomic_write_bytes) that a killed
    run left behind; the files they were to replace are whole, old or absent."""
    for path in out.rglob(".*.tmp"):
        try:
            path.unlink()
        except OSError:
            pass


def _warm_compile_cache() -> None:
    """Compile (or load) the kernels once in this process so that workers load them from the
    on-disk cache instead of each compiling them."""
    from .render import render

    render({"objects": [{"type": "sphere"}], "camera": {"width": 2, "height": 2}}, spp=1)


# ----------------------------------------------------------------------------- finish / merge
def finish(out: Path, formats=EXPORT_FORMATS, min_visibility: float = 0.0, quiet: bool = False,
           seconds: float = 0.0, rendered: int = 0) -> dict:
    """Check every image is complete, write the exports and manifest.json.

    ``min_visibility``: objects below this visible fraction get no export annotation (their
    labels stay in labels/)."""
    if not 0.0 <= min_visibility <= 1.0:
        raise RaysynthError(f"--min-visibility: must be in [0, 1] (got {min_visibility})")
    out = Path(out)
    header = json.loads((out / "dataset.json").read_text())
    count = header["count"]
    done = completed(out, range(count))
    missing = [k for k in range(count) if k not in done]
    if missing:
        shown = ", ".join(str(k) for k in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise RaysynthError(f"{out}: {len(missing)} of {count} images are missing or damaged ({shown}); "
                            f"run generate with --resume")
    _export(out, formats, min_visibility)
    manifest = {
        "config": header["config"],
        "seed": header["seed"],
        "count": count,
        "versions": _versions(),
        "images": {stem(k): {"attempt": done[k]["attempt"], "files": done[k]["files"]} for k in range(count)},
    }
    atomic_write_bytes(out / "manifest.json", _json(manifest))
    if not quiet and rendered:
        print(f"raysynth: {rendered} images in {seconds:.1f} s ({rendered / max(seconds, 1e-9) * 3600:.0f} "
              f"images/hour) -> {out}", file=sys.stderr)
    return manifest


def _versions() -> dict:
    import numba
    import numpy

    return {"raysynth": __version__, "numba": numba.__version__, "numpy": numpy.__version__,
            "python": sys.version.split()[0]}


def _export(out: Path, formats, min_visibility: float = 0.0) -> None:
    """Exports from the labels records on disk (see raysynth.labels)."""
    if not formats:
        return
    from .labels import bop, coco, yolo

    entries = coco.load_dataset_entries(out)
    if "coco" in formats:
        coco.write_coco(out / "coco" / "annotations.json", entries, min_visibility=min_visibility)
    if "yolo" in formats:
        yolo.write_yolo(out / "yolo", entries, min_visibility=min_visibility, segments=True)
    if "bop" in formats:
        bop.write_bop_scene(out / "bop" / "train_pbr" / "000000", entries, min_visibility=min_visibility)


def merge(out, shard_dirs: list, formats=EXPORT_FORMATS, min_visibility: float = 0.0, quiet: bool = False) -> dict:
    """Join shard folders of one dataset (same config, seed and count) into ``out``."""
    import shutil

    out = Path(out)
    headers = []
    for d in shard_dirs:
        path = Path(d) / "dataset.json"
        if not path.exists():
            raise RaysynthError(f"merge: {d} is not a raysynth dataset folder (no dataset.json)")
        headers.append(json.loads(path.read_text()))
    if any(not _same_dataset(h, headers[0]) for h in headers[1:]):
        raise RaysynthError("merge: the folders were made with different configs, seeds or counts")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "dataset.json", _json(headers[0]))
    count = headers[0]["count"]
    for d in map(Path, shard_dirs):
        if d.resolve() == out.resolve():
            continue
        for index, record in completed(d, range(count)).items():
            for rel in [*record["files"], f"done/{stem(index)}.json"]:
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.merge")
                shutil.copyfile(d / rel, tmp)
                os.replace(tmp, target)
    return finish(out, formats=formats, min_visibility=min_visibility, quiet=quiet)


# ----------------------------------------------------------------------------- verify
def verify(out, sample: Optional[int] = None, threads: Optional[int] = None) -> list:
    """Re-render ``sample`` images (all when None; a fixed spread otherwise) into a temporary
    folder and compare every file's SHA-256 with the manifest. Returns the mismatching paths."""
    import tempfile

    import numpy as np

    out = Path(out)
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        raise RaysynthError(f"verify: {out} has no manifest.json (is the dataset finished?)")
    manifest = json.loads(manifest_path.read_text())
    count = manifest["count"]
    if sample is None or sample >= count:
        chosen = list(range(count))
    else:
        chosen = sorted(np.random.default_rng(count).choice(count, size=sample, replace=False).tolist())
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        header = json.loads((out / "dataset.json").read_text())
        spec = JobSpec(config=manifest["config"], base_dir=header.get("config_dir"), seed=manifest["seed"],
                       out=tmp, threads=threads)
        config = _load(spec)
        for index in chosen:
            record = make_image(spec, index, config)
            want = manifest["images"][stem(index)]["files"]
            bad += [rel for rel, h in want.items() if record["files"].get(rel) != h]
    return bad
