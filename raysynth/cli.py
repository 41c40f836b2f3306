"""The ``raysynth`` command line.

    raysynth render SCENE --out DIR [--spp N] [--seed S] [--width W --height H] [--threads T]
                    [--backend cpu|cuda] [--quiet]
    raysynth schema
    raysynth generate CONFIG --out DIR --count N [--seed S] [--workers K] [--shard i/N] [--resume]
                      [--scheduler ADDRESS] [--formats coco,yolo,bop] [--threads T]
                      [--backend cpu|cuda] [--quiet]
    raysynth merge SHARD_DIR... --out DIR
    raysynth verify DIR [--sample K]
    raysynth show DIR [--out OUT] [--max-images N] [--quiet]

Bad input (scene, mesh files, options) prints one line ``raysynth: error: ...`` to stderr and
exits with status 2, without a traceback; nothing is written.
"""
from __future__ import annotations

import argparse
import atexit
import gc
import json
import sys
import time

from . import __version__
from .errors import RaysynthError

EXIT_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_INPUT, f"raysynth: error: {message}\n")


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer (got {text!r})") from None


def _positive(text):
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (got {value})")
    return value


def _non_negative(text):
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {value})")
    return value


def _shard(text):
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be i/N, e.g. 0/4 (got {text!r})") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"needs 0 <= i < N (got {text!r})")
    return (i, n)


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1] (got {text!r})") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1] (got {text!r})")
    return value


def _formats(text):
    if text.strip().lower() == "none":
        return ()
    names = tuple(t.strip().lower() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in ("coco", "yolo", "bop")]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown format {unknown[0]!r} (choose from coco, yolo, bop, none)")
    return names


def _cmd_generate(args) -> int:
    from .dataset import generate

    result = generate(args.config, args.out, args.count, seed=args.seed, workers=args.workers,
                      shard=args.shard, resume=args.resume, scheduler=args.scheduler,
                      formats=args.formats, min_visibility=args.min_visibility, threads=args.threads,
                      quiet=args.quiet, backend=args.backend)
    if not args.quiet and "shard" in result:
        print(f"raysynth: shard {args.shard[0]}/{args.shard[1]}: {result['images']} images in {args.out}; "
              f"join the shards with raysynth merge", file=sys.stderr)
    return 0


def _cmd_merge(args) -> int:
    from .dataset import merge

    manifest = merge(args.out, args.folders, formats=args.formats, min_visibility=args.min_visibility,
                     quiet=args.quiet)
    if not args.quiet:
        print(f"raysynth: merged {manifest['count']} images into {args.out}", file=sys.stderr)
    return 0


def _cmd_verify(args) -> int:
    from .dataset import verify

    bad = verify(args.folder, sample=args.sample, threads=args.threads)
    if bad:
        print(f"raysynth: verify: {len(bad)} files differ from the manifest, first: {bad[0]}", file=sys.stderr)
        return 1
    print(f"raysynth: verify: {args.folder}: every re-rendered file matches the manifest", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="raysynth", description="Render labelled synthetic images with a path tracer.")
    parser.add_argument("--version", action="version", version=f"raysynth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    render = sub.add_parser("render", help="render one scene file into a folder of layers")
    render.add_argument("scene", help="scene JSON file")
    render.add_argument("--out", required=True, help="output folder (created if missing)")
    render.add_argument("--spp", type=_non_negative,
                        help="samples per pixel (overrides the scene); 0: label layers only")
    render.add_argument("--seed", type=_non_negative, help="random seed (overrides the scene)")
    render.add_argument("--width", type=_positive, help="image width in pixels (overrides the scene)")
    render.add_argument("--height", type=_positive, help="image height in pixels (overrides the scene)")
    render.add_argument("--max-depth", type=_positive, help="maximum path length (overrides the scene)")
    render.add_argument("--threads", type=_positive, help="CPU threads (default: all cores)")
    render.add_argument("--backend", choices=("cpu", "cuda"), default="cpu",
                        help="cpu (default) or cuda (NVIDIA GPU; pip install 'raysynth[cuda]')")
    render.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    sub.add_parser("schema", help="print the JSON Schema of scene files")

    gen = sub.add_parser("generate", help="make a labelled dataset from a randomizer config")
    gen.add_argument("config", help="randomizer config JSON file")
    gen.add_argument("--out", required=True, help="dataset folder")
    gen.add_argument("--count", type=_positive, required=True, help="number of images in the dataset")
    gen.add_argument("--seed", type=_non_negative, default=0, help="dataset seed (default 0)")
    gen.add_argument("--workers", type=_positive, default=1, help="worker processes on this machine")
    gen.add_argument("--shard", type=_shard, default=(0, 1), help="make only images k with k %% N == i (i/N)")
    gen.add_argument("--resume", action="store_true", help="finish a dataset folder (after a crash or kill)")
    gen.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT, or local[:N] for a local cluster")
    gen.add_argument("--formats", type=_formats, default="coco,yolo,bop",
                     help="exports to write at the end (comma list of coco, yolo, bop; 'none')")
    gen.add_argument("--min-visibility", type=_fraction, default=0.0,
                     help="leave objects less visible than this fraction out of the exports (default 0)")
    gen.add_argument("--threads", type=_positive, help="CPU threads per process")
    gen.add_argument("--backend", choices=("cpu", "cuda"), default="cpu",
                     help="cpu (default) or cuda (NVIDIA GPU; pip install 'raysynth[cuda]')")
    gen.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    merge = sub.add_parser("merge", help="join shard folders of one dataset and write the exports")
    merge.add_argument("folders", nargs="+", help="shard folders")
    merge.add_argument("--out", required=True, help="merged dataset folder")
    merge.add_argument("--formats", type=_formats, default="coco,yolo,bop", help="exports to write")
    merge.add_argument("--min-visibility", type=_fraction, default=0.0, help="as for generate")
    merge.add_argument("--quiet", action="store_true", help="no summary")

    ver = sub.add_parser("verify", help="re-render images of a dataset and compare their hashes")
    ver.add_argument("folder", help="dataset folder with manifest.json")
    ver.add_argument("--sample", type=_positive, help="number of images to check (default: all)")
    ver.add_argument("--threads", type=_positive, help="CPU threads")

    show = sub.add_parser("show", help="draw labels over images: overlays, depth, normals, amodal masks")
    show.add_argument("dir", help="a render folder (labels.json) or a dataset folder (labels/NNNNNN.json)")
    show.add_argument("--out", help="output folder (default: DIR/show)")
    show.add_argument("--max-images", type=_positive, default=16, help="dataset images shown (default 16)")
    show.add_argument("--quiet", action="store_true", help="no summary")
    return parser


def _cmd_render(args) -> int:
    from .io import write_layers
    from .compile import compile_scene
    from .render import backend_module, load_scene, render

    launcher = backend_module(args.backend)  # no GPU for --backend cuda: one-line error before any work
    t0 = time.perf_counter()
    overrides = dict(spp=args.spp, seed=args.seed, width=args.width, height=args.height, max_depth=args.max_depth)
    scene, base_dir = load_scene(args.scene)  # validates the scene before any work
    if args.backend == "cpu":
        launcher.compile_ahead()   # cold cache: the render launcher compiles while the scene is built
    compiled = compile_scene(scene, base_dir, **overrides)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=compiled.width * compiled.height, unit="px", unit_scale=True,
                   desc="render", file=sys.stderr, dynamic_ncols=True)
    try:
        layers = render(compiled, threads=args.threads, backend=args.backend, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    written = write_layers(layers, args.out)
    if not args.quiet:
        seconds = time.perf_counter() - t0
        samples = compiled.width * compiled.height * max(compiled.spp, 1)   # spp 0: the centre rays
        render_s = layers["timings"]["render_s"]
        what = f"{compiled.spp} spp" if compiled.spp else "labels only (spp 0)"
        print(
            f"raysynth: {compiled.width}x{compiled.height} at {what} in {seconds:.2f} s "
            f"({samples / render_s / 1e6:.2f} Msamples/s rendering); {len(written)} files in {args.out}",
            file=sys.stderr,
        )
    return 0


def _cmd_schema(args) -> int:
    from .spec.scene import Scene

    print(json.dumps(Scene.model_json_schema(), indent=2))
    return 0


def _cmd_show(args) -> int:
    from .show import show_folder

    written = show_folder(args.dir, args.out, max_images=args.max_images)
    if not args.quiet:
        print(f"raysynth: {len(written)} pictures in {written[0].parent}", file=sys.stderr)
    return 0


def _spare_the_garbage_collector() -> None:
    """Keep Python's cyclic garbage collector off objects that live as long as the process.

    Importing raysynth leaves some 65 000 objects that stay until exit, and loading the first
    compiled kernel adds some 250 000 more (Numba's typing and lowering registries). Full
    collections walk them again and again: about 45 ms of a 16 x 16 render, and about 0.25 s
    more in the final collection at interpreter shutdown, to free memory that the OS takes
    back anyway. ``gc.freeze`` moves the objects alive at that moment out of the collector's
    reach: once when the command starts and once at exit. Garbage made by the command is still
    collected, and frozen objects are still freed by reference counting; output files are
    closed when written.
    """
    gc.freeze()
    if not getattr(_spare_the_garbage_collector, "at_exit", False):
        atexit.register(gc.freeze)
        _spare_the_garbage_collector.at_exit = True


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    _spare_the_garbage_collector()
    try:
        commands = {"render": _cmd_render, "schema": _cmd_schema, "generate": _cmd_generate,
                    "merge": _cmd_merge, "verify": _cmd_verify, "show": _cmd_show}
        return commands[args.command](args)
    except RaysynthError as err:
        print(f"raysynth: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as err:
        print(f"raysynth: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("raysynth: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
