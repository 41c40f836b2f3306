"""Every Numba option of the project, in one place.

- ``kernel``: decorator for target-free kernel functions in ``raysynth/kernels``. They are
  compiled for whichever target calls them (CPU ``njit`` launcher or a CUDA launcher).
- ``host_jit``: decorator for host-side compiled helpers (BVH build, label passes): CPU only,
  cached on disk.
- ``cpu_parallel_jit``: decorator for the CPU launcher (``prange`` over pixels), cached on disk.

Options chosen once for all code:
- ``error_model="numpy"``: 1/0 gives inf instead of raising, the same on CPU and CUDA.
- no ``fastmath``: it makes ``isnan``/``isinf`` always false and measured no faster here.
- ``_nrt=False`` on launchers: without Numba's reference-counting runtime, passing arrays to
  the (non-inlined) kernel functions costs no atomic incref/decref; with it, two threads
  sharing the scene arrays fought over their reference counts and ran 2.7x slower. Launchers
  therefore allocate nothing: scratch (traversal stacks) comes in as arguments.
- ``cache=True``: the compiled machine code is kept on disk (``NUMBA_CACHE_DIR`` moves it), so
  a second process starts in a fraction of a second.
"""
from numba import njit
from numba.extending import register_jitable

_COMMON = dict(error_model="numpy", fastmath=False)

#: Target-free kernel function (compiled inline into whichever launcher calls it).
kernel = register_jitable(**_COMMON)

#: Host-side compiled helper, single-threaded, cached.
host_jit = njit(cache=True, nogil=True, **_COMMON)

#: Host-side compiled helper that uses ``prange``, cached.
parallel_host_jit = njit(cache=True, nogil=True, parallel=True, **_COMMON)

#: CPU launcher of the shared kernels: ``prange``, cached, no reference counting (see above).
cpu_launcher = njit(cache=True, nogil=True, parallel=True, _nrt=False, **_COMMON)
