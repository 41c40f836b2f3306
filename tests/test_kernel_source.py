"""The one-kernel-source rule: raysynth/kernels/ holds target-free code only.

Every module in raysynth/kernels/ is parsed (ast, nothing is imported or compiled) and checked
for constructs that compile for one target and not the other (CPU ``njit`` launcher, CUDA
``cuda.jit`` launcher):

- ``prange``, ``numba.cuda`` / ``cuda.*`` anywhere in the module;
- inside ``@kernel`` functions: any call of a NumPy function other than the scalar type
  constructors (no allocation: ``np.empty``/``np.zeros``/..., and no ufuncs such as ``np.sqrt``,
  which numba-cuda does not provide as device functions: use ``math.*``), ``list``/``dict``/
  ``set``/... builtins, list/dict/set literals and comprehensions, generators, ``try``,
  ``raise``, ``assert``, ``with``, ``print``, ``global``/``nonlocal``, nested functions and
  lambdas;
- recursion, direct or through other kernel functions (across modules);
- module-level mutable state: globals bound to lists, dicts, sets, arrays or other calls than
  scalar constructors, and any function in kernels/ that is not a ``@kernel``. One pattern is
  allowed besides: a kernel factory, a plain function that only defines ``@kernel`` functions
  and returns one (``_walk = _make_walk(_leaf)`` specialises a traversal loop on a leaf
  function); its kernels are checked like the others and take part in the recursion check.

``check_sources({name: source})`` is the checker; the tests below also run it on deliberately
bad snippets to show that it catches each construct.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

KERNELS = Path(__file__).resolve().parents[1] / "raysynth" / "kernels"

#: NumPy names a kernel may call: scalar type constructors only.
NUMPY_SCALARS = {
    "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "bool_", "intp", "uintp",
}
#: Builtins that allocate or are host-only.
FORBIDDEN_BUILTINS = {
    "list", "dict", "set", "frozenset", "sorted", "bytearray", "bytes", "print", "open", "input",
    "iter", "next", "map", "filter", "zip", "enumerate", "reversed", "getattr", "setattr", "isinstance",
    "eval", "exec", "globals", "locals", "vars", "object", "super", "format", "repr", "str",
}
NUMPY_MODULES = {"np", "numpy"}
KERNEL_DECORATORS = {"kernel"}


def _dotted(node) -> str:
    """'a.b.c' for Name/Attribute chains, '' otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _is_kernel(func: ast.FunctionDef) -> bool:
    for dec in func.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if _dotted(target).split(".")[-1] in KERNEL_DECORATORS:
            return True
    return False


def _scalar_constants(tree: ast.Module) -> set:
    """Module names bound to NumPy scalar types (``F32 = np.float32``): calling them is fine."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if _dotted(node.value) in {f"{m}.{s}" for m in NUMPY_MODULES for s in NUMPY_SCALARS}:
                names.add(node.targets[0].id)
    return names


def _allowed_constant(node, scalar_names: set) -> bool:
    """An immutable module-level value: literals, names, tuples and scalar constructor calls."""
    if isinstance(node, (ast.Constant, ast.Name, ast.Attribute)):
        return True
    if isinstance(node, ast.Tuple):
        return all(_allowed_constant(e, scalar_names) for e in node.elts)
    if isinstance(node, (ast.UnaryOp,)):
        return _allowed_constant(node.operand, scalar_names)
    if isinstance(node, ast.BinOp):
        return _allowed_constant(node.left, scalar_names) and _allowed_constant(node.right, scalar_names)
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        head, _, tail = name.rpartition(".")
        ok = name in scalar_names or (head in NUMPY_MODULES and tail in NUMPY_SCALARS) \
            or head == "math" or name in {"int", "float", "bool"}
        return ok and not node.keywords and all(_allowed_constant(a, scalar_names) for a in node.args)
    return False


class _KernelBodyChecker(ast.NodeVisitor):
    def __init__(self, where: str, scalar_names: set, errors: list):
        self.where = where
        self.scalar_names = scalar_names
        self.errors = errors
        self.calls: set = set()
        self.depth = 0

    def _err(self, node, what):
        self.errors.append(f"{self.where}:{getattr(node, 'lineno', '?')}: {what}")

    def visit_FunctionDef(self, node):
        if self.depth > 0:
            self._err(node, f"nested function '{node.name}'")
            return
        self.depth += 1
        for stmt in node.body:
            self.visit(stmt)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._err(node, "lambda")

    def visit_Call(self, node):
        name = _dotted(node.func)
        head, _, tail = name.rpartition(".")
        root = name.split(".")[0]
        if name in ("prange", "numba.prange"):
            self._err(node, "prange")
        elif root == "cuda" or name.startswith("numba.cuda"):
            self._err(node, f"target-specific call {name}()")
        elif head in NUMPY_MODULES:
            if tail not in NUMPY_SCALARS:
                self._err(node, f"{name}() (allocation or NumPy function: only scalar constructors and math.*)")
        elif head and head.split(".")[0] in NUMPY_MODULES:
            self._err(node, f"{name}()")
        elif name in FORBIDDEN_BUILTINS:
            self._err(node, f"{name}()")
        elif isinstance(node.func, ast.Attribute) and node.func.attr in {"copy", "append", "astype", "reshape",
                                                                          "tolist", "fill", "view", "ravel"}:
            self._err(node, f".{node.func.attr}() (allocation or host-only method)")
        elif isinstance(node.func, ast.Name):
            self.calls.add(node.func.id)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if _dotted(node).startswith(("cuda.", "numba.cuda")):
            self._err(node, f"target-specific {_dotted(node)}")
            return
        self.generic_visit(node)

    def _forbid(what):
        def visit(self, node):
            self._err(node, what)
            self.generic_visit(node)
        return visit

    visit_List = _forbid("list literal")
    visit_Dict = _forbid("dict literal")
    visit_Set = _forbid("set literal")
    visit_ListComp = _forbid("list comprehension")
    visit_DictComp = _forbid("dict comprehension")
    visit_SetComp = _forbid("set comprehension")
    visit_GeneratorExp = _forbid("generator expression")
    visit_Try = _forbid("try/except")
    visit_Raise = _forbid("raise")
    visit_Assert = _forbid("assert")
    visit_With = _forbid("with")
    visit_Global = _forbid("global")
    visit_Nonlocal = _forbid("nonlocal")
    visit_Yield = _forbid("yield")
    visit_YieldFrom = _forbid("yield from")
    visit_Await = _forbid("await")
    if hasattr(ast, "TryStar"):
        visit_TryStar = _forbid("try/except*")


def _factory_kernels(func: ast.FunctionDef) -> list | None:
    """A kernel factory is a plain function whose body only defines @kernel functions and
    returns one (``def _make_walk(leaf): @kernel def walk(...): ...; return walk``): the
    nested kernels, or None when ``func`` is not such a factory."""
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]   # docstring
    nested = [n for n in body if isinstance(n, ast.FunctionDef)]
    rest = [n for n in body if not isinstance(n, ast.FunctionDef)]
    if not nested or not all(_is_kernel(n) for n in nested):
        return None
    if len(rest) != 1 or not isinstance(rest[0], ast.Return) or not isinstance(rest[0].value, ast.Name):
        return None
    return nested


def check_module(source: str, module: str = "<string>", scalar_names: set = frozenset()) -> tuple[list, dict, dict]:
    """Check one kernels/ module's source.

    ``scalar_names`` are names bound to NumPy scalar types anywhere in kernels/ (``F32``), which
    may be called like ``np.float32``. Returns (errors, calls, imports): errors are
    'module:line: what' strings; calls maps each kernel function (and each kernel made by a
    factory at module level) to the bare names it calls; imports maps names imported from
    sibling modules (``from .x import f``) to (module, name), for the recursion check."""
    tree = ast.parse(source)
    errors: list = []
    scalar_names = set(scalar_names) | _scalar_constants(tree)
    calls: dict = {}
    imports: dict = {}
    factories: dict = {}   # factory name -> (parameter names, names its kernels call)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod.startswith("numba.cuda") or (mod == "numba" and any(a.name in ("cuda", "prange") for a in node.names)):
                errors.append(f"{module}:{node.lineno}: import of {mod} {[a.name for a in node.names]}")
            if node.level == 1 and mod and "." not in mod:
                for a in node.names:
                    imports[a.asname or a.name] = (mod, a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("numba.cuda"):
                    errors.append(f"{module}:{node.lineno}: import {a.name}")
        elif isinstance(node, ast.Name) and node.id == "prange":
            errors.append(f"{module}:{node.lineno}: prange")
        elif isinstance(node, ast.Global):
            errors.append(f"{module}:{node.lineno}: global statement")
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if _is_kernel(node):
                checker = _KernelBodyChecker(module, scalar_names, errors)
                checker.visit(node)
                calls[node.name] = checker.calls
                continue
            nested = _factory_kernels(node) if isinstance(node, ast.FunctionDef) else None
            if nested is None:
                errors.append(f"{module}:{node.lineno}: function '{node.name}' is not a @kernel "
                              f"(nor a factory that only defines and returns @kernel functions)")
                continue
            called = set()
            for inner in nested:
                checker = _KernelBodyChecker(module, scalar_names, errors)
                checker.visit(inner)
                called |= checker.calls
            params = [a.arg for a in node.args.args]
            factories[node.name] = (params, called - {n.name for n in nested})
        elif isinstance(node, ast.ClassDef):
            errors.append(f"{module}:{node.lineno}: class '{node.name}' (no classes in kernels/)")
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            value = node.value
            if value is None or _allowed_constant(value, scalar_names):
                continue
            made = _dotted(value.func) if isinstance(value, ast.Call) else ""
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
            if made in factories and isinstance(target, ast.Name) and not value.keywords \
                    and all(isinstance(a, ast.Name) for a in value.args):
                # a kernel made by a factory: it calls what the factory's kernels call, with the
                # factory's parameters replaced by the arguments given here
                params, called = factories[made]
                bound = dict(zip(params, (a.id for a in value.args)))
                calls[target.id] = {bound.get(n, n) for n in called}
                continue
            errors.append(f"{module}:{node.lineno}: module-level mutable or computed state "
                          f"({ast.unparse(value)[:60]})")
        elif isinstance(node, (ast.For, ast.While, ast.If, ast.With, ast.Try)):
            errors.append(f"{module}:{node.lineno}: module-level {type(node).__name__} statement")
    return errors, calls, imports


def find_recursion(modules: dict) -> list:
    """Cycles in the call graph of kernel functions; modules maps name -> (calls, imports)."""
    graph = {}
    for mod, (calls, imports) in modules.items():
        for func, called in calls.items():
            edges = set()
            for name in called:
                if name in calls:
                    edges.add((mod, name))
                elif name in imports and imports[name][0] in modules:
                    edges.add(imports[name])
            graph[(mod, func)] = edges
    errors, state = [], {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
                errors.append("recursion: " + " -> ".join(f"{m}.{f}" for m, f in cycle))
            elif state.get(nxt) is None:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [node])
    return errors


def check_sources(sources: dict) -> list:
    """All errors for {module name: source} (the modules of one kernels/ package)."""
    scalar_names = set()
    for source in sources.values():
        scalar_names |= _scalar_constants(ast.parse(source))
    errors, modules = [], {}
    for name, source in sources.items():
        errs, calls, imports = check_module(source, name, scalar_names)
        errors += errs
        modules[name] = (calls, imports)
    return errors + find_recursion(modules)


def _kernel_sources() -> dict:
    return {p.stem: p.read_text() for p in sorted(KERNELS.glob("*.py"))}


def test_kernels_are_target_free():
    sources = _kernel_sources()
    assert {"integrator", "traverse", "intersect", "amodal"} <= set(sources)
    errors = check_sources(sources)
    assert not errors, "\n".join(errors)


GOOD = '''
import math
import numpy as np
from .._jit import kernel
F32 = np.float32
ONE = F32(1.0)
PAIR = (ONE, F32(2.0))

@kernel
def f(a, i):
    s = ONE
    for k in range(i):
        s = s * F32(math.sqrt(a[k])) + np.float32(k)
    return s, np.uint32(i)
'''

FACTORY = '''
from .._jit import kernel

def _make(leaf):
    """A kernel specialised on leaf."""
    @kernel
    def walk(x):
        return leaf(x) + 1
    return walk

@kernel
def _one(x):
    return x

walk_one = _make(_one)
'''

BAD_SNIPPETS = {
    "prange": "from numba import prange\n@kernel\ndef f(a):\n    for i in prange(3):\n        a[i] = 0\n",
    "cuda call": "@kernel\ndef f(a):\n    i = cuda.grid(1)\n",
    "cuda import": "from numba import cuda\n",
    "allocation": "import numpy as np\n@kernel\ndef f(n):\n    a = np.zeros(n)\n    return a\n",
    "np.empty": "import numpy as np\n@kernel\ndef f(n):\n    return np.empty((n, 3), np.float32)\n",
    "ufunc": "import numpy as np\n@kernel\ndef f(x):\n    return np.sqrt(x)\n",
    "list literal": "@kernel\ndef f(x):\n    a = [x, x]\n    return a[0]\n",
    "dict literal": "@kernel\ndef f(x):\n    return {1: x}\n",
    "set literal": "@kernel\ndef f(x):\n    return {x}\n",
    "comprehension": "@kernel\ndef f(x):\n    return sum([i for i in range(x)])\n",
    "try": "@kernel\ndef f(x):\n    try:\n        return 1 / x\n    except ZeroDivisionError:\n        return 0\n",
    "raise": "@kernel\ndef f(x):\n    if x < 0:\n        raise ValueError('x')\n    return x\n",
    "print": "@kernel\ndef f(x):\n    print(x)\n",
    "recursion": "@kernel\ndef f(x):\n    return f(x - 1) if x > 0 else 0\n",
    "mutual recursion": "@kernel\ndef f(x):\n    return g(x)\n@kernel\ndef g(x):\n    return f(x)\n",
    "global state": "COUNTS = []\n@kernel\ndef f(x):\n    return x\n",
    "global array": "import numpy as np\nTABLE = np.zeros(4)\n",
    "global statement": "N = 0\n@kernel\ndef f(x):\n    global N\n    N = x\n",
    "not a kernel": "def helper(x):\n    return x\n",
    "nested function": "@kernel\ndef f(x):\n    def g(y):\n        return y\n    return g(x)\n",
    "method allocation": "@kernel\ndef f(a):\n    return a.copy()\n",
}


def test_checker_accepts_good_kernel():
    assert check_sources({"good": GOOD}) == []


@pytest.mark.parametrize("name", sorted(BAD_SNIPPETS))
def test_checker_rejects_bad_snippet(name):
    errors = check_sources({"bad": BAD_SNIPPETS[name]})
    assert errors, f"{name}: not rejected"


def test_checker_accepts_kernel_factory():
    assert check_sources({"good": FACTORY}) == []
    # the kernel a factory makes takes part in the recursion check
    bad = FACTORY.replace("return x", "return walk_one(x)")
    assert any("recursion" in e for e in check_sources({"bad": bad}))
    # a factory that does anything else is rejected
    assert check_sources({"bad": FACTORY.replace("    return walk", "    CACHE = []\n    return walk")})


def test_checker_finds_recursion_across_modules():
    a = "from .b import g\n@kernel\ndef f(x):\n    return g(x)\n"
    b = "from .a import f\n@kernel\ndef g(x):\n    return f(x)\n"
    errors = check_sources({"a": a, "b": b})
    assert any("recursion" in e for e in errors), errors
    assert check_sources({"a": a, "b": "@kernel\ndef g(x):\n    return x\n"}) == []
