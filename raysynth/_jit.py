"""Every Numba option of the project, in one place.

- ``kernel``: decorator for target-free kernel functions in ``raysynth/kernels``. They are
  compiled for whichever target calls them (CPU ``njit`` launcher or a CUDA launcher).
- ``host_jit``: decorator for host-side compiled helpers (BVH build, label passes): CPU only,
  cached on disk.
- ``parallel_host_jit``: host-side compiled helpers that use ``prange``, cached on disk.
- ``cpu_launcher``: the CPU launchers of the shared kernels: a plain call of a kernel loop over a
  run of tiles or rays, made from one Python thread per core (``backends.cpu.run_guided``).
- ``CUDA_LAUNCHER``: the options of the CUDA launchers (``numba.cuda.jit``).

Options chosen once for all code:
- ``error_model="numpy"``: 1/0 gives inf instead of raising, the same on CPU and CUDA.
- ``no_cfunc_wrapper=True``: no C-callable wrapper is generated next to each compiled function
  (nothing here takes a function's address). Numba otherwise builds, optimizes and generates
  machine code for one per function, kernels included, and links it into every caller: a
  cold compile spent about 15 % of its time on them.
- no ``fastmath``: it makes ``isnan``/``isinf`` always false and measured no faster here.
- ``_nrt=False`` on launchers: without Numba's reference-counting runtime, passing arrays to
  the (non-inlined) kernel functions costs no atomic incref/decref; with it, two threads
  sharing the scene arrays fought over their reference counts and ran 2.7x slower. Launchers
  therefore allocate nothing: scratch (traversal stacks) comes in as arguments.
- ``cache=True``: the compiled machine code is kept on disk (``NUMBA_CACHE_DIR`` moves it), so
  a second process starts in a fraction of a second; the CPU kernels' compiled IR too, so a
  launcher compiled later, or in another process, links them without compiling them again.
  The cache entries are stamped with a hash of the whole package source, so editing any
  kernel invalidates every launcher that uses it.
"""
import gc
import hashlib
from pathlib import Path

from llvmlite.binding import Linkage
from numba import config, njit
from numba.core import event
from numba.core.codegen import CPUCodeLibrary
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.extending import overload, register_jitable

_COMMON = dict(error_model="numpy", fastmath=False, no_cfunc_wrapper=True)


def package_source_hash() -> str:
    """SHA-256 over every .py file of the raysynth package (names and contents)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _is_raysynth_function(py_func) -> bool:
    return (getattr(py_func, "__module__", "") or "").startswith("raysynth")


def _stamp_cache_with_package_source() -> None:
    """Make Numba's on-disk cache of raysynth functions depend on the whole package source.

    Numba checks only the stamp of the file that defines a cached function, so a launcher in
    backends/ would keep running stale machine code after a kernel in kernels/ changed. The
    locators installed here (in front of Numba's own, for raysynth functions only) add a hash
    of every raysynth source file to that stamp.
    """
    try:
        from numba.core import caching

        bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator)
        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl   # Numba renamed _CacheImpl
    except (ImportError, AttributeError):  # another Numba layout: keep Numba's behaviour
        return
    if any(getattr(cls, "_raysynth", False) for cls in impl._locator_classes):
        return
    stamp = package_source_hash()

    def make(base):
        def get_source_stamp(self):
            return (base.get_source_stamp(self), stamp)

        def from_function(cls, py_func, py_file):
            if not _is_raysynth_function(py_func):
                return None
            return base.from_function.__func__(cls, py_func, py_file)

        return type(f"Raysynth{base.__name__}", (base,), {
            "_raysynth": True, "get_source_stamp": get_source_stamp, "from_function": classmethod(from_function),
        })

    impl._locator_classes[:0] = [make(base) for base in bases]


_stamp_cache_with_package_source()


def _key_cache_entries_by_caller_flags() -> None:
    """Add the calling function's compile flags to the on-disk cache key of raysynth functions.

    Kernels are cached on disk too (``kernel``), and a kernel compiled as a callee takes some
    flags from its caller (Numba's reference counting, for one: off under the launchers, on
    under the host helpers). Numba keys a cache entry by signature, CPU and bytecode only, so
    a kernel compiled under one caller could be loaded under another. The caller's flags are
    on Numba's configuration stack both when an entry is looked up and when it is saved (a
    function compiled from Python has none, and its key is Numba's own)."""
    try:
        from numba.core import caching, targetconfig

        index_key = caching.FunctionCache._index_key
    except (ImportError, AttributeError):   # another Numba layout: kernels are not cached
        return
    if getattr(index_key, "_raysynth", False):
        return

    def _index_key(self, sig, codegen):
        key = index_key(self, sig, codegen)
        caller = targetconfig.ConfigStack.top_or_none()
        if caller is not None and _is_raysynth_function(self._py_func):
            key = key + (getattr(caller, "summary", caller.__repr__)(),)   # non-default flags
        return key

    _index_key._raysynth = True
    caching.FunctionCache._index_key = _index_key


def _check_cache_data_against_key() -> None:
    """Store each raysynth cache entry's key in its data file and load only a matching one.

    Numba names a new entry's data file after the first number free in the function's index,
    so two processes that save different entries of one function at once (the render
    launcher's compile in the second process and the label launchers' in the first both save
    kernels) can both pick the same file; the index then points one key at the other's
    machine code. With the key inside, such an entry is a cache miss, compiled again."""
    try:
        from numba.core import caching

        cache_init = caching.Cache.__init__
        base = caching.IndexDataCacheFile
    except (ImportError, AttributeError):   # another Numba layout: Numba's own files
        return
    if getattr(cache_init, "_raysynth", False):
        return

    class KeyCheckedCacheFile(base):
        def save(self, key, data):
            super().save(key, (key, data))

        def load(self, key):
            entry = super().load(key)
            if not (isinstance(entry, tuple) and len(entry) == 2 and entry[0] == key):
                return None
            return entry[1]

    def __init__(self, py_func, *args, **kwargs):
        cache_init(self, py_func, *args, **kwargs)
        if _is_raysynth_function(py_func) and type(getattr(self, "_cache_file", None)) is base:
            self._cache_file.__class__ = KeyCheckedCacheFile

    __init__._raysynth = True
    caching.Cache.__init__ = __init__


_key_cache_entries_by_caller_flags()
_check_cache_data_against_key()


class _FewerCollectionsWhileCompiling(event.Listener):
    """Raise Python's garbage-collector thresholds while Numba compiles a raysynth function.

    A cold start creates millions of short-lived objects (Numba's IR, types, LLVM wrappers) next
    to some 300 000 that stay (its registries). With the default thresholds (700, 10, 10) the
    collector ran 14 full collections over those during the 16 x 16 Cornell render's compile,
    2.2 s of it in all; with (50 000, 100, 100) while compiling it spends 0.9-1.3 s, and the
    peak memory grows from 314 to 332 MB (with no collections at all: 470 MB).
    The thresholds are restored when the outermost compile ends, so rendering and user code
    run with whatever the process had. A cache hit triggers no compile event and no change.
    """

    THRESHOLDS = (50_000, 100, 100)

    def __init__(self):
        self.depth = 0
        self.saved = None

    def on_start(self, ev):
        self.depth += 1
        if self.depth == 1:
            if _is_raysynth_function(getattr(ev.data.get("dispatcher"), "py_func", None)):
                self.saved = gc.get_threshold()
                gc.set_threshold(*self.THRESHOLDS)

    def on_end(self, ev):
        self.depth -= 1
        if self.depth == 0 and self.saved is not None:
            gc.set_threshold(*self.saved)
            self.saved = None


event.register("numba:compile", _FewerCollectionsWhileCompiling())


_RAYSYNTH_SYMBOL = "_ZN8raysynth"   # Numba's mangled names of functions in the raysynth package


def make_linked_copies_private(module) -> int:
    """Make the linked-in copies of other compiled functions private to an LLVM module that
    defines raysynth functions; returns how many were changed.

    Numba compiles every function into a library of its own and links a copy of each callee
    into its callers' modules with ``linkonce_odr`` linkage: a definition that another module
    may replace, so LLVM must keep its signature. And Numba passes each array as 7-9 scalars
    (meminfo, parent, size, item size, data, shape, strides), a SceneArrays as 223: a call of
    the traversal passed about 90 scalars, pushed on the stack one by one, of which it reads a
    dozen. A private copy belongs to the module alone, so LLVM's module passes drop the unused
    arguments, pass the rest in registers where they fit and inline a copy called once.
    Private, not internal: an internal function keeps its name in the object file's symbols,
    and Numba's JIT linker resolves a call to the ``linkonce_odr`` copy in any later module by
    name, so user code compiled afterwards would call raysynth's copy with the wrong arguments
    (tested). The library's own functions (what dispatchers and callers in other modules
    call) stay external. Measured: Cornell box 1.25-1.56x faster, labels-only pass 1.2x, the
    same bytes.
    """
    defined = [fn for fn in module.functions if not fn.is_declaration]
    if not any(fn.name.startswith(_RAYSYNTH_SYMBOL) for fn in defined):
        return 0
    copies = [fn for fn in defined if fn.linkage == Linkage.linkonce_odr]
    for fn in copies:
        fn.linkage = "private"
    return len(copies)


def _optimize_linked_copies_as_private() -> None:
    """Run ``make_linked_copies_private`` on every raysynth library's final module just before
    Numba optimizes it (a wrapper around ``CPUCodeLibrary._optimize_final_module``). The
    module is linked and not yet optimized there; a Numba without that method keeps its own
    behaviour (the same bytes, only slower).

    A kernel's own library (``is_linked_only``) gets no module optimization at all: its
    functions had Numba's per-function passes when they were added, and the module passes run
    in every module it is linked into, up to the launcher's, which optimizes what it links
    together in one go. Measured on the render launcher's cold compile: module optimization
    3.7-4.0 -> 2.2 s, every layer the same bytes, renders within noise."""
    optimize = getattr(CPUCodeLibrary, "_optimize_final_module", None)
    if optimize is None or getattr(optimize, "_raysynth", False):
        return

    def _optimize_final_module(self, *args, **kwargs):
        make_linked_copies_private(self._final_module)
        if is_linked_only(self._final_module):
            return None
        return optimize(self, *args, **kwargs)

    _optimize_final_module._raysynth = True
    CPUCodeLibrary._optimize_final_module = _optimize_final_module


_optimize_linked_copies_as_private()


def is_linked_only(module) -> bool:
    """Whether a library's final module (linked, optimized or not) is a raysynth kernel's
    own: every function it defines for others (external linkage) is a raysynth function and
    none is an entry point (Numba's Python or C wrappers). Such a library's code only ever runs as a copy linked into its
    callers (private there), never from its own machine code."""
    own = [fn.name for fn in module.functions if not fn.is_declaration and fn.linkage == Linkage.external]
    return bool(own) and all(name.startswith(_RAYSYNTH_SYMBOL) for name in own)


def environment_stub(module):
    """A module that defines only ``module``'s environment pointers (Numba's ``NumbaEnv``
    globals, ``common``, null until Numba sets them), each as ``module`` prints it (so in
    the pointer syntax of whichever LLVM this is): what the JIT engine must hold for a
    linked-only library, in place of its functions."""
    from llvmlite import binding

    lines = [str(gv) for gv in module.global_variables if gv.name.startswith("_ZN08NumbaEnv")]
    stub = binding.parse_assembly("\n".join(lines))
    stub.name, stub.triple, stub.data_layout = module.name, module.triple, module.data_layout
    return stub


def _no_machine_code_for_linked_only_libraries() -> None:
    """Generate no machine code for a raysynth kernel's own library (``is_linked_only``): hand
    the JIT engine ``environment_stub`` of its final module instead of the module (a wrapper
    around ``CPUCodeLibrary._finalize_final_module``, which adds the module to the engine and
    generates its code). The library keeps its final module, which is what callers link in;
    Numba still finds the environment pointer it sets. The kernels' machine code was never
    called: launchers and host helpers run their own private copies. Measured: 2.0-2.2 s of
    the render launcher's cold compile was code generation for its 120 kernel libraries.
    A Numba without that method keeps its own behaviour."""
    finalize = getattr(CPUCodeLibrary, "_finalize_final_module", None)
    if finalize is None or getattr(finalize, "_raysynth", False):
        return

    def _finalize_final_module(self, *args, **kwargs):
        module = self._final_module
        if not is_linked_only(module):
            return finalize(self, *args, **kwargs)
        try:
            stub = environment_stub(module)
        except RuntimeError:   # LLVM did not parse it: generate the machine code after all
            return finalize(self, *args, **kwargs)
        self._final_module = stub
        try:
            return finalize(self, *args, **kwargs)
        finally:
            self._final_module = module

    _finalize_final_module._raysynth = True
    CPUCodeLibrary._finalize_final_module = _finalize_final_module


_no_machine_code_for_linked_only_libraries()


class _CompilerWithoutSSA(CompilerBase):
    """Numba's nopython pipeline without SSA reconstruction (``Flags.enable_ssa = False``), the
    form in which Numba itself prepares a function's IR for inlining. The reconstruction walks
    every block once per variable assigned more than once: 1.4 s of a cold start for
    ``trace_path`` alone (a loop with ``sample_light`` and ``surface_at_hit`` compiled into it).
    Without it, images and labels are the same bytes and renders as fast (within 1 %). Callees
    compile as usual (they see the caller's flags as they were before this pipeline was built)."""

    def define_pipelines(self):
        self.state.flags.enable_ssa = False
        return [DefaultPassBuilder.define_nopython_pipeline(self.state)]


#: Names for a kernel factory's ``inline`` argument (the kernel-source rules ask for names):
#: ``_make_x(CALLED)`` gives a function of its own, ``_make_x(INLINED)`` one compiled into callers.
CALLED = False
INLINED = True


def kernel(fn=None, *, inline: bool = False, ssa: bool = True):
    """Target-free kernel function, compiled for whichever launcher calls it (CPU or CUDA).

    ``@kernel``: a function of its own, called by its callers (LLVM may still inline small
    ones). ``@kernel(inline=True)``: its Numba IR is inlined into every caller. Use it where a
    call would cost more than the body: a call passes every argument as scalars, and a
    SceneArrays argument alone is 223 of them (27 arrays of 7 or 9 fields each), a few hundred
    cycles per call (``surface_at_hit`` and ``surface_color``, called for every hit, are inlined
    for that reason: the labels-only pass 1.6x and the Cornell box 1.27x faster). Since the
    linked copies are private (``make_linked_copies_private``) a plain call passes only what the
    callee reads, yet the inlined kernels still measured faster (Cornell 10 %, labels pass 35 %).
    The inlined form is an ``njit(inline="always")`` function, inlined before typing: an
    overload with ``inline="always"`` would also be compiled on its own, in full, just to find
    its signature (seconds of a cold start for ``render_pixel``).

    ``@kernel(ssa=False)``: on the CPU, compiled without Numba's SSA reconstruction (see
    ``_CompilerWithoutSSA``), for a large function whose reconstruction costs seconds (a
    kernel of its own only: an inlined one is typed inside its callers).

    On the CPU a kernel of its own is cached on disk like the launchers (keyed by its caller's
    flags as well, ``_key_cache_entries_by_caller_flags``), so a process compiling one launcher
    loads the kernels another process compiled for another: on a cold start the label
    launchers find most of the traversal and surface kernels the render launcher's compile in
    the second process saved (``backends.cpu.compile_ahead``).
    """
    if fn is None:
        return lambda f: kernel(f, inline=inline, ssa=ssa)
    if not inline:
        # the CPU compiles its own overload (cached), which wins over the generic one below
        cpu_options = dict(_COMMON, cache=True)
        if not ssa:
            cpu_options["pipeline_class"] = _CompilerWithoutSSA
        overload(fn, target="cpu", jit_options=cpu_options, strict=False)(lambda *args: fn)
    if inline and not config.ENABLE_CUDASIM:
        # (Numba's CUDA simulator runs kernels as Python: there an njit function would be
        # called with simulated device arrays, which it cannot type; a plain call is right)
        return njit(inline="always", **_COMMON)(fn)
    return register_jitable(**_COMMON)(fn)


#: Host-side compiled helper, single-threaded, cached.
host_jit = njit(cache=True, nogil=True, **_COMMON)

#: Host-side compiled helper that uses ``prange``, cached.
parallel_host_jit = njit(cache=True, nogil=True, parallel=True, **_COMMON)

#: CPU launcher of the shared kernels: a serial call over one run of the work, made from Python
#: threads (it releases the GIL), cached, no reference counting (see above). Not a ``prange``:
#: Numba's parallel lowering optimizes and generates machine code for everything the loop calls
#: several more times (gufunc, its wrapper, the launcher), seconds of a cold start, for no
#: speed: the tiles are independent, and the threads claim runs of them as they finish.
cpu_launcher = njit(cache=True, nogil=True, _nrt=False, **_COMMON)

#: Options of the CUDA launchers (``cuda.jit(**CUDA_LAUNCHER)`` in backends/cuda.py, built only
#: when that backend is used). No fastmath, as on the CPU; CUDA kernels never raise on 1/0 (no
#: error-model option there). No on-disk cache: numba-cuda's cache locators are not the ones
#: stamped above, so a cached launcher would not see kernel edits; the render kernel compiles
#: in a few seconds once per process.
CUDA_LAUNCHER = dict(fastmath=False)
