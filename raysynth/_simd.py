"""Vector code Numba does not write by itself: LLVM IR intrinsics for the kernels.

Numba leaves LLVM's SLP vectorizer off, and its loop vectorizer does not take short fixed
loops, so the slab tests of a wide BVH record compile to scalar code: about 30 instructions
per child. ``entry_distances`` does a record's ``WIDTH`` (8) tests as vector operations on its
axis-by-axis bounds (``accel/layout.py``), with, lane by lane, the very comparisons and selects
of ``kernels.traverse._enter_child``: the same values, bit for bit (tested). ``entered_mask``
turns the results into a bit mask of the children entered, ``lowest_bit`` picks the next one
(a count of trailing zeros), and ``lane`` reads its entry distance without Numba's tuple
indexing by a variable, which compiles to a switch with an out-of-range error path.
``prefetch_record`` and ``prefetch_triangles`` start loading what a pushed child will need
before it is popped (records and triangles of a large mesh miss the caches).

The IR is plain LLVM (vector loads, arithmetic, compares, selects), which NVVM accepts too
(the CUDA kernels' PTX compiles). Numba's CUDA simulator runs kernels as Python, where an
intrinsic cannot run: there ``VECTOR_BOXES`` is False and the traversal uses the scalar tests.
"""
from llvmlite import ir
from numba import config, types
from numba.core.cpu import CPUContext
from numba.extending import intrinsic

from .accel.layout import WIDTH

#: Whether the traversal uses ``entry_distances`` (everywhere but in the CUDA simulator).
VECTOR_BOXES = not config.ENABLE_CUDASIM

_LANES = ir.VectorType(ir.FloatType(), WIDTH)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _splat(builder, x, vector=_LANES):
    """A WIDTH-lane vector (<WIDTH x float> unless ``vector`` says otherwise) with x in every lane."""
    v = ir.Constant(vector, ir.Undefined)
    for k in range(WIDTH):
        v = builder.insert_element(v, x, ir.Constant(_I32, k))
    return v


def _row_start(context, builder, array_type, array, row_type, row):
    """Address (i64) of row ``row`` of a C-contiguous 2D Numba array."""
    rows = context.make_array(array_type)(context, builder, array)
    index = context.cast(builder, row, row_type, types.uint64)
    return builder.add(builder.ptrtoint(rows.data, _I64), builder.mul(index, builder.extract_value(rows.strides, 0)))


def _max(builder, a, b):
    """Numba's ``max(a, b)`` of floats, lane by lane: b if b > a else a."""
    return builder.select(builder.fcmp_ordered(">", b, a), b, a)


def _min(builder, a, b):
    """Numba's ``min(a, b)`` of floats, lane by lane: b if b < a else a."""
    return builder.select(builder.fcmp_ordered("<", b, a), b, a)


@intrinsic
def entry_distances(typingctx, boxes, row, ox, oy, oz, ix, iy, iz, cols, tmax):
    """Entry distances of a ray into the WIDTH child boxes of wide record ``row`` (-1 where it
    misses within (0, tmax)), as a WIDTH-tuple of float32.

    boxes : (k, WIDE_WORDS) float32 wide records; row : uint64; (ox, oy, oz) float32 ray origin;
    (ix, iy, iz) float32 reciprocal direction; cols : 6-tuple of uint64, the columns of child 0's
    near and far bound per axis (``traverse._near_far_columns``); tmax : float32.
    """
    sig = types.UniTuple(types.float32, WIDTH)(boxes, row, ox, oy, oz, ix, iy, iz, cols, tmax)

    def codegen(context, builder, signature, args):
        boxes_v, row_v, ox_v, oy_v, oz_v, ix_v, iy_v, iz_v, cols_v, tmax_v = args
        row_start = _row_start(context, builder, signature.args[0], boxes_v, signature.args[1], row_v)

        def bounds(k):
            # the children's bound in columns cols[k] .. cols[k] + WIDTH - 1 (one vector load)
            column = builder.mul(builder.extract_value(cols_v, k), ir.Constant(_I64, 4))
            return builder.load(builder.inttoptr(builder.add(row_start, column), _LANES.as_pointer()), align=4)

        origin = (_splat(builder, ox_v), _splat(builder, oy_v), _splat(builder, oz_v))
        inverse = (_splat(builder, ix_v), _splat(builder, iy_v), _splat(builder, iz_v))
        t = [builder.fmul(builder.fsub(bounds(k), origin[k % 3]), inverse[k % 3]) for k in range(6)]
        zero = ir.Constant(_LANES, [0.0] * WIDTH)
        t_near = _max(builder, _max(builder, t[0], t[1]), _max(builder, t[2], zero))
        t_far = _min(builder, _min(builder, t[3], t[4]), _min(builder, t[5], _splat(builder, tmax_v)))
        entered = builder.fcmp_ordered("<=", t_near, t_far)
        result = builder.select(entered, t_near, ir.Constant(_LANES, [-1.0] * WIDTH))
        out = context.get_constant_undef(signature.return_type)
        for k in range(WIDTH):
            out = builder.insert_value(out, builder.extract_element(result, ir.Constant(_I32, k)), k)
        return out

    return sig, codegen


def _as_vector(builder, values):
    """A WIDTH-tuple of float32 as one <WIDTH x float> (free when it came from a vector)."""
    v = ir.Constant(_LANES, ir.Undefined)
    for k in range(WIDTH):
        v = builder.insert_element(v, builder.extract_value(values, k), ir.Constant(_I32, k))
    return v


@intrinsic
def lane(typingctx, values, c):
    """``values[c]`` of a WIDTH-tuple of float32 (c an integer in 0..WIDTH-1), as one vector
    lane read."""
    sig = types.float32(values, c)

    def codegen(context, builder, signature, args):
        values_v, c_v = args
        return builder.extract_element(_as_vector(builder, values_v), c_v)

    return sig, codegen


@intrinsic
def entered_mask(typingctx, values):
    """Bit c set where ``values[c] >= 0`` (a child the ray enters), as a uint32; ``values`` a
    WIDTH-tuple of float32 (``entry_distances``)."""
    sig = types.uint32(values)

    def codegen(context, builder, signature, args):
        bits = builder.fcmp_ordered(">=", _as_vector(builder, args[0]), ir.Constant(_LANES, [0.0] * WIDTH))
        mask = builder.bitcast(bits, ir.IntType(WIDTH))
        return builder.zext(mask, _I32)

    return sig, codegen


@intrinsic
def lowest_bit(typingctx, mask):
    """Index (uint32) of the lowest set bit of a nonzero unsigned integer below 2**32."""
    sig = types.uint32(mask)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.cttz", [_I32], ir.FunctionType(_I32, [_I32, ir.IntType(1)]))
        value = args[0]
        if value.type.width > 32:
            value = builder.trunc(value, _I32)
        return builder.call(fn, [value, ir.Constant(ir.IntType(1), 1)])

    return sig, codegen


_BYTE_POINTER = ir.IntType(8).as_pointer()
_PREFETCH = ir.FunctionType(ir.VoidType(), [_BYTE_POINTER, _I32, _I32, _I32])


def _prefetch_rows(lines):
    """An intrinsic ``prefetch(array, row)``: ask the CPU to start loading the first ``lines``
    64-byte lines of row ``row`` of a C-contiguous 2D array into its caches (``llvm.prefetch``,
    read, high locality). Values are untouched; other targets (CUDA) get no code."""

    @intrinsic
    def prefetch(typingctx, array, row):
        sig = types.void(array, row)

        def codegen(context, builder, signature, args):
            if not isinstance(context, CPUContext):
                return context.get_dummy_value()
            start = _row_start(context, builder, signature.args[0], args[0], signature.args[1], args[1])
            hint = builder.module.globals.get("llvm.prefetch.p0")
            if hint is None:
                hint = ir.Function(builder.module, _PREFETCH, "llvm.prefetch.p0")
            read, high_locality, data_cache = (ir.Constant(_I32, v) for v in (0, 3, 1))
            for line in range(lines):
                address = builder.inttoptr(builder.add(start, ir.Constant(_I64, 64 * line)), _BYTE_POINTER)
                builder.call(hint, [address, read, high_locality, data_cache])
            return context.get_dummy_value()

        return sig, codegen

    return prefetch


#: ``prefetch_record(boxes, record)``: the four lines of a wide record (256 bytes)
prefetch_record = _prefetch_rows(4)
#: ``prefetch_triangles(tri_geom, row)``: the five lines of a triangle block (288 bytes)
prefetch_triangles = _prefetch_rows(5)


_INF = float("inf")


@intrinsic
def closest_in_triangle_block(typingctx, blocks, first_row, count, shear, tmax):
    """The watertight test of ``kernels.intersect.intersect_triangle_sheared`` on the ``count``
    (1..WIDTH) triangles of one block, as WIDTH-lane vector operations, lane by lane the same
    operations in the same order (the same t, u, v, bit for bit; tested).

    blocks : (k, 9) float32 triangle blocks (``compile.triangle_blocks``): WIDTH consecutive
    rows hold one block's corners component by component, word ``WIDTH * j + lane`` for
    component j (v0 x, y, z, v1 x, y, z, v2 x, y, z); first_row : the block's first row, a
    multiple of WIDTH; count : triangles in it; shear : ``intersect.ray_shear`` of the ray;
    tmax : float32, hits must lie in (0, tmax).

    Returns (t, lane, u, v): the hit of smallest t (the lowest lane at equal t), or t = -1.
    """
    sig = types.Tuple((types.float32, types.uint32, types.float32, types.float32))(
        blocks, first_row, count, shear, tmax)

    def codegen(context, builder, signature, args):
        blocks_v, first_v, count_v, shear_v, tmax_v = args
        start = _row_start(context, builder, signature.args[0], blocks_v, signature.args[1], first_v)
        shear_types = signature.args[3]
        kx, ky, kz = (context.cast(builder, builder.extract_value(shear_v, k), shear_types[k], types.int64)
                      for k in range(3))
        sx, sy, sz, okx, oky, okz = (builder.extract_value(shear_v, k) for k in range(3, 9))

        def component(corner, axis):
            # word WIDTH * (3 * corner + axis) of the block: one vector load
            index = builder.add(ir.Constant(_I64, 3 * corner), axis)
            address = builder.add(start, builder.mul(index, ir.Constant(_I64, 4 * WIDTH)))
            return builder.load(builder.inttoptr(address, _LANES.as_pointer()), align=4)

        def sheared(corner):
            # intersect._sheared: (p[kx] - okx) + sx * z, (p[ky] - oky) + sy * z, z = p[kz] - okz
            z = builder.fsub(component(corner, kz), _splat(builder, okz))
            x = builder.fadd(builder.fsub(component(corner, kx), _splat(builder, okx)),
                             builder.fmul(_splat(builder, sx), z))
            y = builder.fadd(builder.fsub(component(corner, ky), _splat(builder, oky)),
                             builder.fmul(_splat(builder, sy), z))
            return x, y, z

        (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = sheared(0), sheared(1), sheared(2)
        e0 = builder.fsub(builder.fmul(x1, y2), builder.fmul(y1, x2))
        e1 = builder.fsub(builder.fmul(x2, y0), builder.fmul(y2, x0))
        e2 = builder.fsub(builder.fmul(x0, y1), builder.fmul(y0, x1))
        zero = ir.Constant(_LANES, [0.0] * WIDTH)

        def any_of(op, a, b, c):
            return builder.or_(builder.or_(builder.fcmp_ordered(op, a, zero), builder.fcmp_ordered(op, b, zero)),
                               builder.fcmp_ordered(op, c, zero))

        outside = builder.and_(any_of("<", e0, e1, e2), any_of(">", e0, e1, e2))
        det = builder.fadd(builder.fadd(e0, e1), e2)
        t_scaled = builder.fmul(builder.fadd(builder.fadd(builder.fmul(e0, z0), builder.fmul(e1, z1)),
                                             builder.fmul(e2, z2)), _splat(builder, sz))
        inv_det = builder.fdiv(ir.Constant(_LANES, [1.0] * WIDTH), det)
        t = builder.fmul(t_scaled, inv_det)
        lanes = ir.Constant(ir.VectorType(_I32, WIDTH), list(range(WIDTH)))
        count32 = context.cast(builder, count_v, signature.args[2], types.int32)
        in_block = builder.icmp_signed("<", lanes, _splat(builder, count32, ir.VectorType(_I32, WIDTH)))
        hit = builder.and_(builder.and_(builder.not_(outside), builder.fcmp_unordered("!=", det, zero)),
                           builder.and_(builder.fcmp_ordered(">", t, zero),
                                        builder.fcmp_ordered("<", t, _splat(builder, tmax_v))))
        hit = builder.and_(hit, in_block)
        # the smallest t among the hits, then the lowest lane holding it
        t_hit = builder.select(hit, t, ir.Constant(_LANES, [_INF] * WIDTH))
        t_min = t_hit
        for shift in _halvings():
            swapped = builder.shuffle_vector(t_min, t_min, ir.Constant(ir.VectorType(_I32, WIDTH),
                                                                        [(k + shift) % WIDTH for k in range(WIDTH)]))
            t_min = _min(builder, t_min, swapped)
        best = builder.and_(hit, builder.fcmp_ordered("==", t_hit, t_min))
        mask = builder.zext(builder.bitcast(best, ir.IntType(WIDTH)), _I32)
        cttz = builder.module.declare_intrinsic("llvm.cttz", [_I32], ir.FunctionType(_I32, [_I32, ir.IntType(1)]))
        lane_v = builder.call(cttz, [mask, ir.Constant(ir.IntType(1), 0)])   # WIDTH when no lane hit
        found = builder.icmp_unsigned("!=", mask, ir.Constant(_I32, 0))
        pick = builder.select(found, lane_v, ir.Constant(_I32, 0))
        t_out = builder.select(found, builder.extract_element(t, pick), ir.Constant(ir.FloatType(), -1.0))
        u_out = builder.fmul(builder.extract_element(e1, pick), builder.extract_element(inv_det, pick))
        v_out = builder.fmul(builder.extract_element(e2, pick), builder.extract_element(inv_det, pick))
        out = context.get_constant_undef(signature.return_type)
        for k, value in enumerate((t_out, pick, u_out, v_out)):
            out = builder.insert_value(out, value, k)
        return out

    return sig, codegen


def _halvings():
    """Lane rotations that bring every lane's minimum to every lane: WIDTH / 2, ..., 1."""
    shifts = []
    k = WIDTH // 2
    while k >= 1:
        shifts.append(k)
        k //= 2
    return shifts
