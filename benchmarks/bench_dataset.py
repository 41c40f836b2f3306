#!/usr/bin/env python3
"""Labelled images per hour: ``raysynth generate`` at 640x480, 64 spp, 20 objects, all labels.

    python benchmarks/bench_dataset.py [--count 4] [--workers 1] [--config scenes/random_shapes.json]

The bundled random_shapes config with exactly 20 pool objects per image, 640x480, 64 spp, max
depth 8; every label layer, the amodal pass and COCO/YOLO/BOP exports included. The kernels are
compiled (or loaded from the cache) before timing, so the figure is steady-state throughput.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "scenes" / "random_shapes.json"))
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()

    from raysynth.dataset import _warm_compile_cache, generate

    config = json.loads(Path(args.config).read_text())
    config["num_objects"] = [20, 20]
    config["camera"].update(width=640, height=480)
    config["render"] = {"spp": 64, "max_depth": 8}
    _warm_compile_cache()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        t0 = time.perf_counter()
        generate(path, Path(tmp) / "out", args.count, seed=1, workers=args.workers, quiet=True)
        seconds = time.perf_counter() - t0
    result = {"images": args.count, "seconds": seconds, "seconds_per_image": seconds / args.count,
              "images_per_hour": args.count / seconds * 3600, "width": 640, "height": 480, "spp": 64,
              "objects": 20, "workers": args.workers}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
