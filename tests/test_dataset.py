"""raysynth generate / merge / verify: reproducible, shardable, resumable datasets.

Images are tiny (32x24, 2 spp) so each costs milliseconds; what is tested is bookkeeping:
identical bytes whatever the worker count, shard split or order, resume after a kill, and
exports that agree with the per-image labels.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from raysynth.dataset import completed, generate, merge, verify

CONFIG = {
    "objects": [
        {"shape": "sphere", "label": "ball", "params": {"radius": 0.3}, "count": [1, 2]},
        {"shape": "box", "label": "crate", "params": {"size": [0.5, 0.4, 0.5]}, "count": [1, 2]},
        {"shape": "cylinder", "label": "can", "params": {"radius": 0.2, "height": 0.5}, "count": [0, 2]},
        {"shape": "disk", "distractor": True, "params": {"radius": 0.3}, "count": [0, 1]},
    ],
    "placement": {"mode": "ground", "area": {"x": [-1.5, 1.5], "z": [-1.5, 1.5]}},
    "camera": {"distance": [4, 5], "elevation": [25, 45], "width": 32, "height": 24,
               "min_visible_objects": 1, "min_visibility": 0.1, "max_attempts": 10},
    "render": {"spp": 2, "max_depth": 3},
}
COUNT = 6


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    path.write_text(json.dumps(CONFIG))
    return path


def hashes(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["images"]


@pytest.fixture(scope="module")
def serial(config_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial")
    generate(config_file, out, COUNT, seed=11, quiet=True)
    return out


def test_dataset_layout_and_exports_agree_with_labels(serial):
    from pycocotools.coco import COCO

    manifest = json.loads((serial / "manifest.json").read_text())
    assert manifest["count"] == COUNT and manifest["seed"] == 11
    assert {"raysynth", "numba", "numpy"} <= set(manifest["versions"])
    for k in range(COUNT):
        record = manifest["images"][f"{k:06d}"]
        assert f"images/{k:06d}.png" in record["files"]
    coco = COCO(str(serial / "coco" / "annotations.json"))
    assert len(coco.getImgIds()) >= 1
    import imageio.v3 as iio

    n_checked = 0
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann["image_id"])[0]
        stem = Path(img["file_name"]).stem
        labels = json.loads((serial / "labels" / f"{stem}.json").read_text())
        obj = next(o for o in labels["objects"] if o["instance_id"] == ann["instance_id"])
        instance = iio.imread(serial / "layers" / stem / "instance.png")
        mask = instance == obj["instance_id"]
        assert (coco.annToMask(ann) == mask).all()
        assert ann["area"] == obj["visible_pixels"] == int(mask.sum())
        assert ann["bbox"] == obj["bbox_visible"]
        assert ann["category_id"] == obj["class_id"]
        n_checked += 1
    assert n_checked >= COUNT
    assert (serial / "yolo" / "data.yaml").exists()
    assert (serial / "bop" / "train_pbr" / "000000" / "scene_gt.json").exists()


def test_two_workers_give_identical_bytes(serial, config_file, tmp_path):
    out = tmp_path / "two"
    generate(config_file, out, COUNT, seed=11, workers=2, quiet=True)
    assert hashes(out) == hashes(serial)
    for name in ("coco/annotations.json", "manifest.json"):
        assert (out / name).read_bytes() == (serial / name).read_bytes(), name


def test_shards_merged_equal_one_run(serial, config_file, tmp_path):
    a, b, merged = tmp_path / "a", tmp_path / "b", tmp_path / "merged"
    generate(config_file, a, COUNT, seed=11, shard=(1, 2), quiet=True)   # out of order on purpose
    generate(config_file, b, COUNT, seed=11, shard=(0, 2), quiet=True)
    assert sorted(completed(a, range(COUNT))) == [1, 3, 5]
    merge(merged, [a, b], quiet=True)
    assert hashes(merged) == hashes(serial)
    assert (merged / "coco/annotations.json").read_bytes() == (serial / "coco/annotations.json").read_bytes()


def test_one_image_alone_has_identical_bytes(serial, config_file, tmp_path):
    from raysynth.dataset import JobSpec, make_image
    from raysynth.randomize.config import load_config

    spec = JobSpec(config=json.loads(load_config(config_file).model_dump_json()), base_dir=None,
                   seed=11, out=str(tmp_path))
    record = make_image(spec, 4)
    assert record["files"] == hashes(serial)["000004"]["files"]


def test_different_seed_different_images(serial, config_file, tmp_path):
    generate(config_file, tmp_path / "s12", 2, seed=12, quiet=True, formats=())
    other = json.loads((tmp_path / "s12" / "done" / "000000.json").read_text())["files"]
    assert other["images/000000.png"] != hashes(serial)["000000"]["files"]["images/000000.png"]


def test_min_visibility_filters_exports_only(serial, tmp_path):
    """Re-exporting with a visibility threshold drops exactly the objects below it."""
    import shutil

    from raysynth.dataset import finish

    copy = tmp_path / "vis"
    shutil.copytree(serial, copy)
    finish(copy, formats=("coco",), min_visibility=0.9, quiet=True)
    kept = json.loads((copy / "coco" / "annotations.json").read_text())["annotations"]
    want = 0
    for path in sorted((serial / "labels").glob("*.json")):
        for o in json.loads(path.read_text())["objects"]:
            want += o["annotated"] and o["visible_pixels"] > 0 and o["visibility"] >= 0.9
    assert len(kept) == want and all(a["visibility"] >= 0.9 for a in kept)
    assert hashes(copy) == hashes(serial)


def test_verify_detects_tampering(serial, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(serial, copy)
    assert verify(copy, sample=2) == []
    labels = copy / "manifest.json"
    manifest = json.loads(labels.read_text())
    manifest["images"]["000001"]["files"]["images/000001.png"] = "0" * 64
    labels.write_text(json.dumps(manifest))
    assert "images/000001.png" in verify(copy)


def test_resume_after_sigkill_is_complete_and_identical(serial, config_file, tmp_path):
    out = tmp_path / "killed"
    count = 24
    cmd = [sys.executable, "-m", "raysynth.cli", "generate", str(config_file), "--out", str(out),
           "--count", str(count), "--seed", "11", "--quiet", "--formats", "coco"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # kill once a few images are done (mid-way through the run)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "done").glob("*.json")) if (out / "done").exists() else []) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(list((out / "done").glob("*.json")))
    assert 0 < n_before < count, "the run was not killed mid-way"
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr      # refuses to mix runs silently
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    full = hashes(out)
    assert sorted(full) == [f"{k:06d}" for k in range(count)]
    for k in range(COUNT):   # the first images equal the uninterrupted run's
        assert full[f"{k:06d}"] == hashes(serial)[f"{k:06d}"]
    assert verify(out, sample=3) == []
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_memory_is_flat_across_images(config_file, tmp_path):
    """RSS after 50 more images stays within a few MB of RSS after the first 10."""
    import resource  # noqa: F401

    from raysynth.dataset import JobSpec, make_image
    from raysynth.randomize.config import load_config

    def rss_mb():
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    config = load_config(config_file)
    spec = JobSpec(config=json.loads(config.model_dump_json()), base_dir=None, seed=3, out=str(tmp_path))
    for k in range(10):
        make_image(spec, k, config)
    before = rss_mb()
    for k in range(10, 60):
        make_image(spec, k, config)
    after = rss_mb()
    assert after - before < 15, f"RSS grew {after - before:.1f} MB over 50 images"


def test_dask_local_cluster_matches(serial, config_file, tmp_path):
    out = tmp_path / "dask"
    generate(config_file, out, COUNT, seed=11, scheduler="local:2", quiet=True)
    assert hashes(out) == hashes(serial)


def test_bad_requests_are_one_line_errors(config_file, tmp_path):
    cases = [
        (["--count", "0"], "--count"),
        (["--count", "2", "--shard", "2/2"], "--shard"),
        (["--count", "2", "--formats", "voc"], "voc"),
        (["--count", "2", "--min-visibility", "1.5"], "--min-visibility"),
    ]
    for extra, needle in cases:
        r = subprocess.run([sys.executable, "-m", "raysynth.cli", "generate", str(config_file),
                            "--out", str(tmp_path / "x"), *extra], capture_output=True, text=True)
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    bad = dict(CONFIG, objects=[{"shape": "sphere", "label": "ball", "count": [3, 1]}])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    r = subprocess.run([sys.executable, "-m", "raysynth.cli", "generate", str(path), "--out", str(tmp_path / "y"),
                        "--count", "1"], capture_output=True, text=True)
    assert r.returncode == 2 and "objects[0].count" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "y").exists()
