"""Process-wide effects of raysynth's Numba setup (raysynth/_jit.py)."""
import gc

from numba import njit
from numba.core import event

from raysynth import _jit


class _ThresholdProbe(event.Listener):
    """Records the collector's thresholds when each compile starts, by function name."""

    def __init__(self):
        self.seen = {}

    def on_start(self, ev):
        self.seen[ev.data["dispatcher"].py_func.__name__] = gc.get_threshold()

    def on_end(self, ev):
        pass


def test_gc_thresholds_raised_only_while_compiling_raysynth_functions():
    def helper(x):
        return x + 1

    def outer(x):
        return inner(x) * 2

    def plain(x):
        return x - 1

    inner = njit(helper)
    outer.__module__ = "raysynth._probe"   # a raysynth function: its compile, and nested ones
    compiled_outer, compiled_plain = njit(outer), njit(plain)
    before = gc.get_threshold()
    probe = _ThresholdProbe()
    with event.install_listener("numba:compile", probe):
        assert compiled_outer(3) == 8
        assert compiled_plain(3) == 2
    assert probe.seen["helper"] == _jit._FewerCollectionsWhileCompiling.THRESHOLDS   # nested
    assert probe.seen["plain"] == before          # user code compiles with the process's own
    assert gc.get_threshold() == before           # restored when the compile ended
