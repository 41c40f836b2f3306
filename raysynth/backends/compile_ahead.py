"""``python -m raysynth.backends.compile_ahead INDEX``: compile the CPU render launcher into
Numba's on-disk cache and exit. Started by :func:`raysynth.backends.cpu.compile_ahead` while the
first process builds its scene; INDEX is the cache index file the first process reads."""
import sys


def main(argv) -> int:
    from raysynth.backends.cpu import compile_render_launcher

    return compile_render_launcher(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
