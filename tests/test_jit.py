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


def _fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


fib = njit(_fib)   # recursive: its copy in a caller's module cannot be inlined away


def _defined_linkage(ir, name_part):
    """Linkage words of the definitions in LLVM IR text whose symbol contains name_part."""
    return [line.split("@")[0].split()[1:] for line in ir.splitlines()
            if line.startswith("define") and name_part in line.split("@")[1].split("(")[0]]


def test_linked_copies_are_private_only_in_raysynth_modules():
    """raysynth's modules get private copies of their callees (LLVM may change their
    arguments); user code keeps Numba's linkonce_odr copies, and calls its own: the user
    function here is compiled and run after the raysynth one, which crashed while the copies
    were merely internal (their symbol names were still visible to Numba's JIT linker)."""
    def outer(n):
        return fib(n) + 1

    def user_outer(n):
        return fib(n) + 1

    outer.__module__ = "raysynth._probe"   # its module defines a raysynth function
    compiled_outer, compiled_user = njit(outer), njit(user_outer)
    assert compiled_outer(10) == 56
    assert compiled_user(10) == 56
    ours = compiled_outer.inspect_llvm(compiled_outer.signatures[0])
    theirs = compiled_user.inspect_llvm(compiled_user.signatures[0])
    # the linked copy of fib: private to the raysynth module, Numba's linkonce_odr elsewhere
    assert _defined_linkage(ours, "_fib") and all("private" in words for words in _defined_linkage(ours, "_fib"))
    assert any("linkonce_odr" in words for words in _defined_linkage(theirs, "_fib"))
    # the module's own function stays external: callers in other modules link to it
    assert all(not ({"private", "internal", "linkonce_odr"} & set(words)) for words in _defined_linkage(ours, "outer"))



def test_kernel_libraries_hold_no_machine_code_yet_link_and_run():
    """A raysynth kernel's own library gets no machine code (only its environment pointers go
    to the JIT engine; ``_jit._no_machine_code_for_linked_only_libraries``); its callers, ours
    and user code compiled afterwards, run their linked copies of it."""
    def scaled(x):
        return 3 * x + 1

    def outer(x):
        return kernel_fn(x) * 2

    def user_outer(x):
        return kernel_fn(x) - 1

    scaled.__module__ = outer.__module__ = "raysynth._probe"
    kernel_fn = _jit.kernel(scaled)
    compiled_outer, compiled_user = njit(outer), njit(user_outer)
    assert compiled_outer(4) == 26
    assert compiled_user(4) == 12

    library = compiled_outer.overloads[compiled_outer.signatures[0]].library
    kernel_library = next(lib for lib in library._linking_libraries if lib.name.endswith("scaled"))
    engine = library.codegen._engine
    kernel_module = kernel_library._final_module          # kept whole: callers link it
    own = [fn.name for fn in kernel_module.functions if not fn.is_declaration and "scaled" in fn.name]
    assert own and _jit.is_linked_only(kernel_module)
    assert not any(engine.is_symbol_defined(name) for name in own)   # no machine code for it
    envs = [gv.name for gv in kernel_module.global_variables if gv.name.startswith("_ZN08NumbaEnv")]
    assert envs and all(engine.get_global_value_address(name) for name in envs)
    # entry points keep theirs: Python calls them through their wrappers
    assert not _jit.is_linked_only(library._final_module)
    assert any(engine.is_symbol_defined(fn.name) for fn in library._final_module.functions
               if fn.name.startswith("_ZN7cpython") and not fn.is_declaration)


def test_kernel_cache_entries_are_keyed_by_the_callers_flags(tmp_path, monkeypatch):
    """A kernel compiled under a caller with reference counting and under one without gets
    two cache entries: loading one for the other would run code made for other flags."""
    import numba
    from numba.core import caching

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))

    def doubled(x):
        return 2 * x

    def counted(x):
        return kernel_fn(x) + 1

    def uncounted(x):
        return kernel_fn(x) + 2

    doubled.__module__ = counted.__module__ = uncounted.__module__ = "raysynth._probe_cache"
    kernel_fn = _jit.kernel(doubled)
    assert njit(counted)(3) == 7
    assert njit(_nrt=False)(uncounted)(3) == 8
    keys = list(caching.FunctionCache(doubled)._cache_file._load_index())
    assert len(keys) == 2
    assert keys[0][0] == keys[1][0]                         # one signature,
    assert {"nrt=True" in key[-1] for key in keys} == {True, False}   # two callers' flags


def test_cache_data_is_loaded_only_for_its_own_key(tmp_path, monkeypatch):
    """Two processes saving different entries of one function at once can both write the
    same data file; an entry whose file holds another key's data is a miss, not that data."""
    import shutil

    import numba
    from numba.core import caching

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))

    def probe(x):
        return x

    def user_probe(x):
        return x

    probe.__module__ = "raysynth._probe_cache"
    cache_file = caching.FunctionCache(probe)._cache_file
    cache_file.save(("first",), "machine code of the first")
    cache_file.save(("second",), "machine code of the second")
    assert cache_file.load(("first",)) == "machine code of the first"
    index = cache_file._load_index()
    shutil.copyfile(cache_file._data_path(index[("second",)]), cache_file._data_path(index[("first",)]))
    assert cache_file.load(("first",)) is None
    assert cache_file.load(("second",)) == "machine code of the second"
    # user functions keep Numba's own cache files
    assert type(caching.FunctionCache(user_probe)._cache_file) is caching.IndexDataCacheFile


_PROBE_MODULE = '''
from raysynth._jit import cpu_launcher, kernel


@kernel
def scaled(x):
    return 3 * x + 1


@cpu_launcher
def first(x):
    return scaled(x) * 2


@cpu_launcher
def second(x):
    return scaled(x) - 1
'''

_PROBE_RUN = '''
import sys
from numba.core import event
from raysynth_probe_kernels import first, second

compiled = []


class Record(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__name__)

    def on_end(self, ev):
        pass


with event.install_listener("numba:compile", Record()):
    result = (first if sys.argv[1] == "first" else second)(4)
print(result, ",".join(compiled))
'''


def test_a_kernel_compiled_in_one_process_is_loaded_by_another(tmp_path):
    """The second process's launcher links the kernel the first process compiled and saved,
    compiling only itself (what lets the label launchers reuse the render launcher's kernels)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "raysynth_probe_kernels.py").write_text(_PROBE_MODULE)
    (tmp_path / "run_probe.py").write_text(_PROBE_RUN)
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(tmp_path), root, os.environ.get("PYTHONPATH", "")]))

    def run(which):
        return subprocess.run([sys.executable, str(tmp_path / "run_probe.py"), which], env=env,
                              capture_output=True, text=True, check=True).stdout.split()

    assert run("first") == ["26", "first,scaled"]
    assert run("second") == ["12", "second"]
