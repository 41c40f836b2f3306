"""The ``raysynth`` command line.

    raysynth render SCENE --out DIR [--spp N] [--seed S] [--width W --height H] [--threads T] [--quiet]
    raysynth schema

Bad input (scene, mesh files, options) prints one line ``raysynth: error: ...`` to stderr and
exits with status 2, without a traceback; nothing is written.
"""
from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="raysynth", description="Render labelled synthetic images with a path tracer.")
    parser.add_argument("--version", action="version", version=f"raysynth {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    render = sub.add_parser("render", help="render one scene file into a folder of layers")
    render.add_argument("scene", help="scene JSON file")
    render.add_argument("--out", required=True, help="output folder (created if missing)")
    render.add_argument("--spp", type=_positive, help="samples per pixel (overrides the scene)")
    render.add_argument("--seed", type=_non_negative, help="random seed (overrides the scene)")
    render.add_argument("--width", type=_positive, help="image width in pixels (overrides the scene)")
    render.add_argument("--height", type=_positive, help="image height in pixels (overrides the scene)")
    render.add_argument("--max-depth", type=_positive, help="maximum path length (overrides the scene)")
    render.add_argument("--threads", type=_positive, help="CPU threads (default: all cores)")
    render.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    sub.add_parser("schema", help="print the JSON Schema of scene files")
    return parser


def _cmd_render(args) -> int:
    from .io import write_layers
    from .render import prepare, render

    t0 = time.perf_counter()
    overrides = dict(spp=args.spp, seed=args.seed, width=args.width, height=args.height, max_depth=args.max_depth)
    compiled = prepare(args.scene, **overrides)  # validates everything before any work
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=compiled.width * compiled.height, unit="px", unit_scale=True,
                   desc="render", file=sys.stderr, dynamic_ncols=True)
    try:
        layers = render(compiled, threads=args.threads, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    written = write_layers(layers, args.out)
    if not args.quiet:
        seconds = time.perf_counter() - t0
        samples = compiled.width * compiled.height * compiled.spp
        render_s = layers["timings"]["render_s"]
        print(
            f"raysynth: {compiled.width}x{compiled.height} at {compiled.spp} spp in {seconds:.2f} s "
            f"({samples / render_s / 1e6:.2f} Msamples/s rendering); {len(written)} files in {args.out}",
            file=sys.stderr,
        )
    return 0


def _cmd_schema(args) -> int:
    from .spec.scene import Scene

    print(json.dumps(Scene.model_json_schema(), indent=2))
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "render":
            return _cmd_render(args)
        return _cmd_schema(args)
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
