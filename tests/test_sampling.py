"""Statistical tests of the sampling code: BSDF importance sampling, the warps, the smooth
dielectric and the random numbers.

The chi-square goodness-of-fit tests follow Mitsuba 3's ``chi2.py``: the sphere of directions is
binned in (cos theta, phi) (for BSDFs: cells uniform in theta and phi over the upper hemisphere,
so narrow lobes span several cells); each cell's expected count is the density (the ``pdf`` that
``bsdf_eval`` returns, or a warp's own density function) integrated over the cell by adaptive
tensor Gauss-Legendre quadrature (cos theta and phi are area coordinates: d omega = d cos d phi;
cells whose q- and 2q-point results disagree are split until they agree);
cells with an expected count below 5 are pooled; the p-value must exceed
``ALPHA / N_STAT_TESTS`` (a Bonferroni bound over every statistical test in this file, so one
run fails by chance with probability below ALPHA). Every test uses fixed random numbers, so
results are reproducible.

Sampling that fails (zero weight: a microfacet reflection below the horizon) is counted in an
extra "failed" bin whose expected count is the mass that the pdf leaves outside the upper
hemisphere, ``1 - integral(pdf)``.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import stats

from raysynth.kernels import tags as T
from raysynth.kernels.materials import bsdf_eval, bsdf_sample
from raysynth.kernels.rng import (
    DIM_BOUNCE,
    DIMS_PER_BOUNCE,
    STRATA_BOUNCE,
    STRATA_CHUNK,
    STRATA_PER_BOUNCE,
    STRATA_ROWS,
    STRATIFIED_BOUNCES,
    cmj_2d,
    dimension_key,
    fill_strata,
    permute,
    sample_key,
    stratified_1d,
    uniform,
)
from raysynth.kernels.sampling import (
    concentric_disk,
    sincos_quarter,
    cosine_hemisphere,
    cosine_hemisphere_pdf,
    uniform_cone,
    uniform_cone_pdf,
    uniform_sphere,
    uniform_sphere_pdf,
    uniform_triangle,
)

F32 = np.float32

# ------------------------------------------------------------------------- test parameters
DIFFUSE_ANGLES = (0.0, 45.0, 89.0)
GGX_ALPHAS = (0.05, 0.3, 0.8)
GGX_ANGLES = (0.0, 30.0, 60.0, 80.0, 89.0)   # incident angle of wo from the normal, degrees
CONE_COS = (0.3, 0.995)
WARPS = ("cosine_hemisphere", "uniform_sphere", "cone_0", "cone_1", "concentric_disk", "uniform_triangle")
DIELECTRIC_CASES = [(ior, entering, angle) for ior in (1.5, 1.33) for entering in (True, False)
                    for angle in (0.0, 30.0, 40.0, 70.0)]
N_UNIFORM_DIMS = 8

#: every statistical test in this file (chi-square, binomial, KS), for the Bonferroni bound
N_STAT_TESTS = (
    len(DIFFUSE_ANGLES)
    + len(GGX_ALPHAS) * len(GGX_ANGLES)
    + len(WARPS)
    + len(DIELECTRIC_CASES)
    + N_UNIFORM_DIMS
    + 1  # the 2-D uniformity check of rng.uniform
)
ALPHA = 0.01
P_MIN = ALPHA / N_STAT_TESTS

N_BSDF_SAMPLES = 1_000_000
N_WARP_SAMPLES = 400_000


# ------------------------------------------------------------------------- numba wrappers
@numba.njit(cache=False)  # not cached: the cache would not notice edits to raysynth kernels
def _sample_bsdf_many(mat_params, m, color, wo, entering, u):
    """bsdf_sample for each row of u (n, 3) float32 [u_lobe, u1, u2]; float32 like the renderer."""
    n = u.shape[0]
    wi = np.zeros((n, 3), np.float32)
    weight = np.zeros((n, 3), np.float32)
    pdf = np.zeros(n, np.float32)
    delta = np.zeros(n, np.bool_)
    for i in range(n):
        d, w, p, isd = bsdf_sample(mat_params, m, color, wo, entering, u[i, 0], u[i, 1], u[i, 2])
        for c in range(3):
            wi[i, c] = d[c]
            weight[i, c] = w[c]
        pdf[i] = p
        delta[i] = isd
    return wi, weight, pdf, delta


@numba.njit(cache=False)  # not cached: the cache would not notice edits to raysynth kernels
def _eval_bsdf_many(mat_params, m, color, wo, wi):
    """bsdf_eval at each row of wi (n, 3); returns value (n, 3) and pdf (n,) in wi's float type."""
    n = wi.shape[0]
    value = np.zeros((n, 3), wi.dtype)
    pdf = np.zeros(n, wi.dtype)
    for i in range(n):
        f, p = bsdf_eval(mat_params, m, color, wo, (wi[i, 0], wi[i, 1], wi[i, 2]))
        for c in range(3):
            value[i, c] = f[c]
        pdf[i] = p
    return value, pdf


@numba.njit(cache=False)  # not cached: the cache would not notice edits to raysynth kernels
def _warp_many(which, u, cos_max):
    """Apply a warp to each row of u (n, 2) float32. which: 0 cosine hemisphere, 1 uniform
    sphere, 2 uniform cone, 3 concentric disk (z = 0), 4 uniform triangle (b0, b1, 0)."""
    n = u.shape[0]
    out = np.zeros((n, 3), np.float32)
    for i in range(n):
        if which == 0:
            d = cosine_hemisphere(u[i, 0], u[i, 1])
        elif which == 1:
            d = uniform_sphere(u[i, 0], u[i, 1])
        elif which == 2:
            d = uniform_cone(u[i, 0], u[i, 1], cos_max)
        elif which == 3:
            x, y = concentric_disk(u[i, 0], u[i, 1])
            d = (x, y, F32(0.0))
        else:
            b0, b1 = uniform_triangle(u[i, 0], u[i, 1])
            d = (b0, b1, F32(0.0))
        for c in range(3):
            out[i, c] = d[c]
    return out


@numba.njit(cache=False)  # not cached: the cache would not notice edits to raysynth kernels
def _warp_pdf_many(which, dirs, cos_max):
    """The module's density of warp `which` (0 cosine, 1 sphere, 2 cone) at each direction."""
    n = dirs.shape[0]
    out = np.zeros(n, np.float64)
    for i in range(n):
        z = dirs[i, 2]
        if which == 0:
            out[i] = cosine_hemisphere_pdf(F32(z)) if z > 0.0 else 0.0
        elif which == 1:
            out[i] = uniform_sphere_pdf()
        else:
            out[i] = uniform_cone_pdf(cos_max) if z >= cos_max else 0.0
    return out


@numba.njit(cache=False)  # not cached: the cache would not notice edits to raysynth kernels
def _strat_points(n, key):
    out = np.zeros(n, np.float64)
    for s in range(n):
        out[s] = stratified_1d(s, n, key)
    return out


@numba.njit(cache=False)  # not cached: the cache would not notice edits to raysynth kernels
def _cmj_points(n, key):
    out = np.zeros((n, 2), np.float64)
    for s in range(n):
        x, y = cmj_2d(s, n, key)
        out[s, 0] = x
        out[s, 1] = y
    return out


@numba.njit(cache=False)  # not cached: the cache would not notice edits to raysynth kernels
def _uniform_table(seed, n_pixels, n_samples, n_dims):
    """uniform(sample_key(seed, pixel, sample), dim) for every (pixel, sample) row and dim."""
    out = np.zeros((n_pixels * n_samples, n_dims), np.float64)
    for p in range(n_pixels):
        for s in range(n_samples):
            key = sample_key(seed, p, s)
            for d in range(n_dims):
                out[p * n_samples + s, d] = uniform(key, d)
    return out


# ------------------------------------------------------------------------- helpers
def material_table(kind, color=(0.9, 0.9, 0.9), roughness=0.0, ior=1.5):
    mp = np.zeros((1, T.MAT_COLUMNS), np.float32)
    mp[0, T.MAT_KIND] = kind
    mp[0, T.MAT_COLOR:T.MAT_COLOR + 3] = color
    mp[0, T.MAT_ROUGHNESS] = roughness
    mp[0, T.MAT_IOR] = ior
    return mp


def uniforms(n, dims, seed):
    """(n, dims) float32 uniforms in [0, 1) with 24 random bits, as raysynth.kernels.rng.uniform."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 1 << 24, size=(n, dims)) * (1.0 / (1 << 24))).astype(np.float32)


def direction(theta_deg, phi_deg=0.0):
    """Unit local direction at polar angle theta (from +z) and azimuth phi, rounded to float32;
    returned as the float32 tuple and the same values as float64."""
    t, p = math.radians(theta_deg), math.radians(phi_deg)
    v = np.array([math.sin(t) * math.cos(p), math.sin(t) * math.sin(p), math.cos(t)], np.float32)
    v /= np.float32(np.linalg.norm(v.astype(np.float64)))
    return tuple(F32(c) for c in v), tuple(float(c) for c in v)


def as_tuple32(c):
    return tuple(F32(x) for x in c)


def hemisphere_edges(n_theta=32, n_phi=64):
    """Cell edges covering the upper hemisphere: uniform in theta (fine near the pole, so narrow
    lobes at normal incidence span several cells), uniform in phi. cos edges ascend."""
    theta = np.linspace(0.0, 0.5 * np.pi, n_theta + 1)
    cos_edges = np.cos(theta)[::-1].copy()
    cos_edges[0], cos_edges[-1] = 0.0, 1.0
    return cos_edges, np.linspace(0.0, 2.0 * np.pi, n_phi + 1)


def sphere_edges(n_cos=20, n_phi=40):
    return np.linspace(-1.0, 1.0, n_cos + 1), np.linspace(0.0, 2.0 * np.pi, n_phi + 1)


def _gauss_legendre_cells(pdf_fn, c0, c1, p0, p1, q):
    """Integral of pdf_fn over each cell [c0, c1] x [p0, p1] in (cos theta, phi) (arrays of k
    cells) with a q x q Gauss-Legendre rule. d omega = d cos theta d phi, so no Jacobian."""
    x, w = np.polynomial.legendre.leggauss(q)
    hc, mc = 0.5 * (c1 - c0), 0.5 * (c1 + c0)
    hp, mp = 0.5 * (p1 - p0), 0.5 * (p1 + p0)
    cc = mc[:, None, None] + hc[:, None, None] * x[None, :, None]      # (k, q, 1)
    pp = mp[:, None, None] + hp[:, None, None] * x[None, None, :]      # (k, 1, q)
    cc, pp = np.broadcast_arrays(cc, pp)
    s = np.sqrt(np.maximum(0.0, 1.0 - cc * cc))
    dirs = np.stack([s * np.cos(pp), s * np.sin(pp), cc], axis=-1).reshape(-1, 3)
    dens = pdf_fn(np.ascontiguousarray(dirs)).reshape(cc.shape)
    return (dens * w[None, :, None] * w[None, None, :]).sum(axis=(1, 2)) * hc * hp


def _adaptive_cells(pdf_fn, c0, c1, p0, p1, q, rtol, atol, depth):
    coarse = _gauss_legendre_cells(pdf_fn, c0, c1, p0, p1, q)
    fine = _gauss_legendre_cells(pdf_fn, c0, c1, p0, p1, 2 * q)
    bad = np.abs(fine - coarse) > atol + rtol * np.abs(fine)
    if not bad.any():
        return fine
    assert depth < 12, (f"reference quadrature did not converge in {int(bad.sum())} cell(s) "
                        f"(first: cos [{c0[bad][0]:.6g}, {c1[bad][0]:.6g}], phi [{p0[bad][0]:.6g}, {p1[bad][0]:.6g}])")
    # split the unconverged cells into 2 x 2 and integrate those adaptively
    b0, b1, a0, a1 = c0[bad], c1[bad], p0[bad], p1[bad]
    bm, am = 0.5 * (b0 + b1), 0.5 * (a0 + a1)
    sub = _adaptive_cells(
        pdf_fn,
        np.concatenate([b0, b0, bm, bm]), np.concatenate([bm, bm, b1, b1]),
        np.concatenate([a0, am, a0, am]), np.concatenate([am, a1, am, a1]),
        q, rtol, atol, depth + 1,
    )
    fine[bad] = sub.reshape(4, -1).sum(axis=0)
    return fine


def converged_masses(pdf_fn, cos_edges, phi_edges, q=8, rtol=1e-6, atol=1e-11):
    """Integral of pdf_fn (unit directions (k, 3) float64 -> (k,) density per steradian) over
    each (cos theta, phi) cell, shape (n_cos, n_phi). Adaptive: a cell whose q x q and 2q x 2q
    Gauss-Legendre results differ is split in four, recursively, so the reference counts are
    accurate even for very narrow lobes (a failing chi-square test is then about the sampler)."""
    ce = np.asarray(cos_edges, np.float64)
    pe = np.asarray(phi_edges, np.float64)
    C0, P0 = np.meshgrid(ce[:-1], pe[:-1], indexing="ij")
    C1, P1 = np.meshgrid(ce[1:], pe[1:], indexing="ij")
    masses = _adaptive_cells(pdf_fn, C0.ravel(), C1.ravel(), P0.ravel(), P1.ravel(), q, rtol, atol, 0)
    return masses.reshape(C0.shape)


def histogram_directions(dirs, cos_edges, phi_edges):
    """Counts of unit directions per (cos theta, phi) cell; directions outside the cos range
    are returned separately."""
    z = np.clip(dirs[:, 2].astype(np.float64), -1.0, 1.0)
    phi = np.mod(np.arctan2(dirs[:, 1].astype(np.float64), dirs[:, 0].astype(np.float64)), 2.0 * np.pi)
    inside = (z >= cos_edges[0]) & (z <= cos_edges[-1])
    hist, _, _ = np.histogram2d(z[inside], phi[inside], bins=[cos_edges, phi_edges])
    return hist, int((~inside).sum())


def chi2_pvalue(observed, expected, what=""):
    """Pearson chi-square p-value with Mitsuba's pooling of cells whose expected count is < 5.

    A cell (or extra bin) with essentially zero expected count and observed samples fails at
    once: samples where the density is zero.
    """
    observed = np.asarray(observed, np.float64).ravel()
    expected = np.asarray(expected, np.float64).ravel()
    total = observed.sum()
    assert abs(expected.sum() - total) < 1e-6 * total + 1e-6, f"{what}: expected counts do not sum to N"
    impossible = (expected < 1e-6 * 5) & (observed > 0)
    if impossible.any():
        k = int(np.argmax(impossible))
        pytest.fail(f"{what}: {int(observed[impossible].sum())} sample(s) in cells where the pdf is zero "
                    f"(first: cell {k}, observed {observed[k]:.0f}, expected {expected[k]:.3g})")
    order = np.argsort(expected, kind="stable")
    obs_s, exp_s = observed[order], expected[order]
    pooled_obs, pooled_exp = [], []
    acc_o = acc_e = 0.0
    for o, e in zip(obs_s, exp_s):
        if e >= 5.0 and acc_e == 0.0:
            pooled_obs.append(o)
            pooled_exp.append(e)
            continue
        acc_o += o
        acc_e += e
        if acc_e >= 5.0:
            pooled_obs.append(acc_o)
            pooled_exp.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0.0 or acc_o > 0.0:
        if pooled_exp:  # leftover below 5: merge into the last (largest) pooled cell
            pooled_obs[-1] += acc_o
            pooled_exp[-1] += acc_e
        else:
            pooled_obs.append(acc_o)
            pooled_exp.append(acc_e)
    o = np.asarray(pooled_obs)
    e = np.asarray(pooled_exp)
    dof = len(e) - 1
    if dof < 1:
        return 1.0
    stat = float(((o - e) ** 2 / e).sum())
    return float(stats.chi2.sf(stat, dof))


def _worst_cells(observed, expected, k=3):
    o, e = observed.ravel(), expected.ravel()
    z = (o - e) / np.sqrt(np.maximum(e, 1e-12))
    idx = np.argsort(-np.abs(z))[:k]
    return ", ".join(f"cell {i}: observed {o[i]:.0f} expected {e[i]:.1f}" for i in idx)


# ------------------------------------------------------------------------- BSDF chi-square
def bsdf_chi2(mp, theta_o_deg, n=N_BSDF_SAMPLES, seed=1, phi_o_deg=37.0):
    """Sample the BSDF from wo, chi-square the successful samples against the pdf from
    bsdf_eval (with a 'failed' bin), check weight = value / pdf at every sampled direction.
    Returns (p-value, integral of the pdf over the hemisphere, failure fraction)."""
    wo32, wo64 = direction(theta_o_deg, phi_o_deg)
    color = (0.9, 0.6, 0.3)
    color32 = as_tuple32(color)
    u = uniforms(n, 3, seed)
    wi, weight, pdf, delta = _sample_bsdf_many(mp, 0, color32, wo32, True, u)
    assert not delta.any(), "a non-delta BSDF reported a delta sample"
    ok = (weight > 0).any(axis=1)
    # failed samples must be marked consistently: zero weight <=> zero pdf
    assert np.all(pdf[~ok] == 0), "failed samples (zero weight) must return pdf 0"
    assert np.all(pdf[ok] > 0), "samples with a non-zero weight must have pdf > 0"
    assert np.all(wi[ok, 2] > 0), "a successful reflection sample points below the surface"
    assert np.allclose(np.linalg.norm(wi[ok].astype(np.float64), axis=1), 1.0, atol=1e-5)

    # weight == f cos / pdf and the returned pdf == bsdf_eval's pdf, at the sampled directions
    value, pdf_eval = _eval_bsdf_many(mp, 0, color32, wo32, wi[ok])
    np.testing.assert_allclose(pdf[ok], pdf_eval, rtol=2e-3, err_msg="bsdf_sample pdf != bsdf_eval pdf")
    expected_weight = value.astype(np.float64) / pdf_eval.astype(np.float64)[:, None]
    np.testing.assert_allclose(weight[ok], expected_weight, rtol=2e-3, atol=1e-6,
                               err_msg="bsdf_sample weight != bsdf_eval value / pdf")

    # chi-square of the successful directions against the pdf mass per cell
    cos_edges, phi_edges = hemisphere_edges()

    def pdf_fn(dirs):
        return _eval_bsdf_many(mp, 0, color, wo64, dirs)[1]

    mass = converged_masses(pdf_fn, cos_edges, phi_edges)
    total = float(mass.sum())
    hist, below = histogram_directions(wi[ok], cos_edges, phi_edges)
    assert below == 0
    n_failed = int((~ok).sum())
    observed = np.append(hist.ravel(), n_failed)
    expected = np.append(mass.ravel() * n, max(0.0, 1.0 - total) * n)
    expected *= n / expected.sum()  # quadrature rounding (|1 - sum| < 1e-6)
    p = chi2_pvalue(observed, expected, "bsdf")
    assert p > P_MIN, (f"chi-square test failed (p = {p:.3g} < {P_MIN:.3g}); pdf integral {total:.6f}, "
                       f"failures {n_failed / n:.6f}; worst: {_worst_cells(observed, expected)}")
    return p, total, n_failed / n


@pytest.mark.parametrize("theta_o", DIFFUSE_ANGLES)
def test_diffuse_sampling_matches_pdf(theta_o):
    mp = material_table(T.DIFFUSE, color=(0.9, 0.6, 0.3))
    p, total, failed = bsdf_chi2(mp, theta_o, seed=10 + int(theta_o))
    assert abs(total - 1.0) < 1e-6, f"diffuse pdf integrates to {total}, not 1"
    assert failed == 0.0, "cosine sampling should never fail"


@pytest.mark.parametrize("alpha", GGX_ALPHAS)
@pytest.mark.parametrize("theta_o", GGX_ANGLES)
def test_ggx_conductor_sampling_matches_pdf(alpha, theta_o):
    mp = material_table(T.CONDUCTOR, roughness=alpha)
    p, total, failed = bsdf_chi2(mp, theta_o, seed=100 + int(alpha * 100) + int(theta_o))
    assert total <= 1.0 + 1e-6, f"GGX pdf integrates to {total} > 1"
    if theta_o == 0.0:
        # at normal incidence wi is below the horizon exactly when tan(theta_h) > 1, which the
        # GGX distribution of normals gives with probability alpha^2 / (1 + alpha^2)
        alpha32 = float(np.float32(alpha))
        assert abs(total - 1.0 / (1.0 + alpha32 ** 2)) < 1e-5, f"GGX pdf integrates to {total} at normal incidence"
        assert abs(failed - alpha32 ** 2 / (1.0 + alpha32 ** 2)) < 5 * math.sqrt(failed / N_BSDF_SAMPLES) + 1e-4


def test_ggx_weight_is_f_g2_over_g1():
    """For visible-normal sampling, weight = F * G2 / G1(wo) <= F: never above F0-Fresnel 1."""
    mp = material_table(T.CONDUCTOR, color=(1.0, 1.0, 1.0), roughness=0.5)
    for theta in (0.0, 50.0, 85.0):
        wo32, _ = direction(theta)
        _, weight, _, _ = _sample_bsdf_many(mp, 0, (F32(1), F32(1), F32(1)), wo32, True, uniforms(20000, 3, 7))
        assert weight.max() <= 1.0 + 1e-5, "a white conductor's sampling weight exceeds 1 (energy gain)"


def test_mirror_conductor_is_delta():
    mp = material_table(T.CONDUCTOR, color=(0.5, 0.7, 0.9), roughness=0.0)
    wo32, wo64 = direction(50.0, 20.0)
    wi, weight, pdf, delta = _sample_bsdf_many(mp, 0, as_tuple32((0.5, 0.7, 0.9)), wo32, True, uniforms(100, 3, 3))
    assert delta.all() and np.all(pdf == 0)
    np.testing.assert_allclose(wi, np.tile([-wo64[0], -wo64[1], wo64[2]], (100, 1)), atol=1e-7)
    c = wo64[2]
    schlick = np.array([0.5, 0.7, 0.9]) + (1 - np.array([0.5, 0.7, 0.9])) * (1 - c) ** 5
    np.testing.assert_allclose(weight, np.tile(schlick, (100, 1)), rtol=1e-5)
    # no non-delta part: eval is zero
    value, p = _eval_bsdf_many(mp, 0, (0.5, 0.7, 0.9), wo64, np.array([[-wo64[0], -wo64[1], wo64[2]]]))
    assert np.all(value == 0) and np.all(p == 0)


def test_eval_is_zero_below_the_surface():
    dirs = np.array([[0.3, 0.1, -0.9], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    for mp in (material_table(T.DIFFUSE), material_table(T.CONDUCTOR, roughness=0.3)):
        value, pdf = _eval_bsdf_many(mp, 0, (0.8, 0.8, 0.8), (0.0, 0.6, 0.8), dirs)
        assert np.all(value == 0) and np.all(pdf == 0)


def test_ggx_eval_is_reciprocal():
    """f(wo, wi) = f(wi, wo) (value / cos(wi))."""
    mp = material_table(T.CONDUCTOR, roughness=0.4)
    rng = np.random.default_rng(5)
    for _ in range(200):
        a = rng.normal(size=3)
        b = rng.normal(size=3)
        a[2], b[2] = abs(a[2]) + 0.05, abs(b[2]) + 0.05
        a /= np.linalg.norm(a)
        b /= np.linalg.norm(b)
        fab, _ = _eval_bsdf_many(mp, 0, (0.7, 0.7, 0.7), tuple(a), b[None])
        fba, _ = _eval_bsdf_many(mp, 0, (0.7, 0.7, 0.7), tuple(b), a[None])
        np.testing.assert_allclose(fab[0] / b[2], fba[0] / a[2], rtol=1e-4)


# ------------------------------------------------------------------------- warps
def _warp_case(name):
    if name == "cosine_hemisphere":
        return 0, 0.0
    if name == "uniform_sphere":
        return 1, 0.0
    if name.startswith("cone_"):
        return 2, CONE_COS[int(name[-1])]
    return {"concentric_disk": 3, "uniform_triangle": 4}[name], 0.0


@pytest.mark.parametrize("name", WARPS)
def test_warp_matches_density(name):
    which, cos_max = _warp_case(name)
    n = N_WARP_SAMPLES
    u = uniforms(n, 2, seed=1000 + WARPS.index(name))
    out = _warp_many(which, u, F32(cos_max)).astype(np.float64)

    if which == 3:  # concentric disk: uniform on the unit disk; cells equal-area in (r^2, phi)
        r2 = (out[:, :2] ** 2).sum(axis=1)
        assert r2.max() <= 1.0 + 1e-6, "concentric_disk left the unit disk"
        phi = np.mod(np.arctan2(out[:, 1], out[:, 0]), 2 * np.pi)
        hist, _, _ = np.histogram2d(np.minimum(r2, 1.0), phi, bins=[10, 20], range=[[0, 1], [0, 2 * np.pi]])
        expected = np.full(hist.shape, n / hist.size)
    elif which == 4:  # triangle: U = 1 - (1 - b0)^2, V = b1 / (1 - b0) are iid uniform
        b0, b1 = out[:, 0], out[:, 1]
        assert b0.min() >= 0 and b1.min() >= 0 and (b0 + b1).max() <= 1.0 + 1e-6, "barycentrics outside the triangle"
        uu = 1.0 - (1.0 - b0) ** 2
        vv = np.clip(b1 / np.maximum(1.0 - b0, 1e-30), 0.0, 1.0)
        hist, _, _ = np.histogram2d(uu, vv, bins=[10, 10], range=[[0, 1], [0, 1]])
        expected = np.full(hist.shape, n / hist.size)
    else:
        assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5), "warp returned non-unit directions"
        if which == 2:
            assert out[:, 2].min() >= cos_max - 1e-5, "uniform_cone returned a direction outside the cone"
            theta_max = math.acos(cos_max)
            cos_edges = np.cos(np.linspace(0.0, theta_max, 21))[::-1].copy()
            cos_edges[0] = cos_max
            cos_edges[-1] = 1.0
            phi_edges = np.linspace(0.0, 2 * np.pi, 33)
            out[:, 2] = np.maximum(out[:, 2], cos_max)  # float32 rounding at the rim
        else:
            cos_edges, phi_edges = sphere_edges()
            if which == 0:
                assert out[:, 2].min() >= 0.0

        def pdf_fn(dirs):
            return _warp_pdf_many(which, dirs, F32(cos_max))

        mass = converged_masses(pdf_fn, cos_edges, phi_edges)
        assert abs(mass.sum() - 1.0) < 2e-6, f"{name}: density integrates to {mass.sum()}, not 1"
        hist, outside = histogram_directions(out, cos_edges, phi_edges)
        assert outside == 0
        expected = mass * n
        expected *= n / expected.sum()
    p = chi2_pvalue(hist, expected, name)
    assert p > P_MIN, f"{name}: chi-square p = {p:.3g} < {P_MIN:.3g}; worst: {_worst_cells(hist, expected)}"


# ------------------------------------------------------------------------- smooth dielectric
def fresnel_reference(cos_i, eta):
    """Exact unpolarized Fresnel reflectance, light from index 1 at cos_i onto relative index eta."""
    sin2_t = (1.0 - cos_i * cos_i) / (eta * eta)
    if sin2_t >= 1.0:
        return 1.0
    cos_t = math.sqrt(1.0 - sin2_t)
    rs = (cos_i - eta * cos_t) / (cos_i + eta * cos_t)
    rp = (eta * cos_i - cos_t) / (eta * cos_i + cos_t)
    return 0.5 * (rs * rs + rp * rp)


@pytest.mark.parametrize("ior,entering,theta", DIELECTRIC_CASES)
def test_dielectric_reflect_refract(ior, entering, theta):
    n = 40000
    tint = (0.9, 0.7, 0.5)
    mp = material_table(T.DIELECTRIC, color=tint, ior=ior)
    wo32, wo64 = direction(theta, 110.0)
    wi, weight, pdf, delta = _sample_bsdf_many(mp, 0, as_tuple32(tint), wo32, entering, uniforms(n, 3, 77 + int(theta)))
    assert delta.all() and np.all(pdf == 0), "smooth glass must be a delta BSDF with pdf 0"
    eta = ior if entering else 1.0 / ior   # index on wi's side over index on wo's side
    cos_i = wo64[2]
    F = fresnel_reference(cos_i, eta)
    refl = wi[:, 2] > 0
    wi64 = wi.astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(wi64, axis=1), 1.0, atol=1e-5)

    # reflection: mirror direction, weight exactly 1 (F / F)
    if refl.any():
        np.testing.assert_allclose(wi64[refl], np.tile([-wo64[0], -wo64[1], wo64[2]], (refl.sum(), 1)), atol=1e-6)
        np.testing.assert_allclose(weight[refl], 1.0, rtol=1e-6)
    # refraction: Snell's law, in the plane of incidence on the other side, weight tint / eta^2
    if (~refl).any():
        t = wi64[~refl]
        sin_i = math.sqrt(max(0.0, 1 - cos_i * cos_i))
        sin_t = np.sqrt(np.maximum(0.0, 1 - t[:, 2] ** 2))
        np.testing.assert_allclose(sin_t * eta, sin_i, atol=1e-5, err_msg="refraction violates Snell's law")
        if sin_i > 1e-6:
            # tangential components point opposite to wo's: wi_xy = -wo_xy / eta
            np.testing.assert_allclose(t[:, :2], np.tile([-wo64[0] / eta, -wo64[1] / eta], (len(t), 1)), atol=1e-6)
        np.testing.assert_allclose(weight[~refl], np.tile(np.array(tint) / eta ** 2, (len(t), 1)), rtol=1e-5)

    # reflection frequency = Fresnel reflectance (exact binomial test)
    k = int(refl.sum())
    if F >= 1.0:
        assert k == n, "total internal reflection expected"
    else:
        p = stats.binomtest(k, n, F).pvalue
        assert p > P_MIN, f"reflected {k}/{n} = {k / n:.4f}, Fresnel reflectance {F:.4f} (p = {p:.3g})"

    # energy: P(refl) * w_refl + P(trans) * w_trans * eta^2 estimates F + (1 - F) * tint
    # (eta^2 undoes the radiance scaling across the interface: flux is conserved)
    est = (weight[refl].sum(axis=0) + (weight[~refl].astype(np.float64) * eta ** 2).sum(axis=0)) / n
    want = F + (1 - F) * np.array(tint)
    sd = math.sqrt(F * (1 - F) / n) + 1e-9
    assert np.all(np.abs(est - want) < 6 * sd + 1e-6), f"energy {est} != {want}"


@pytest.mark.parametrize("ior", (1.5, 2.4))
def test_dielectric_total_internal_reflection(ior):
    critical = math.degrees(math.asin(1.0 / ior))
    mp = material_table(T.DIELECTRIC, color=(1, 1, 1), ior=ior)
    u = uniforms(5000, 3, 9)
    u[:10, 0] = np.float32(0.99999994)  # the largest u_lobe: still reflect
    for theta in (critical + 0.5, 0.5 * (critical + 90), 89.5):
        wo32, wo64 = direction(theta, 15.0)
        wi, weight, _, _ = _sample_bsdf_many(mp, 0, (F32(1), F32(1), F32(1)), wo32, False, u)
        assert np.all(wi[:, 2] > 0), f"refraction from inside at {theta:.1f} deg > critical {critical:.1f} deg"
        np.testing.assert_allclose(weight, 1.0)
    # just below the critical angle (and from outside at the same angle) some light refracts
    wo32, _ = direction(critical - 3.0, 15.0)
    wi, _, _, _ = _sample_bsdf_many(mp, 0, (F32(1), F32(1), F32(1)), wo32, False, u)
    assert (wi[:, 2] < 0).any(), "no refraction below the critical angle"
    wo32, _ = direction(critical + 20.0, 15.0)
    wi, _, _, _ = _sample_bsdf_many(mp, 0, (F32(1), F32(1), F32(1)), wo32, True, u)
    assert (wi[:, 2] < 0).mean() > 0.5, "entering glass is not subject to total internal reflection"


def test_dielectric_refraction_is_reversible():
    """Refract into glass, then trace the reversed ray out: it leaves along the original direction,
    and the two radiance scalings (1/eta^2 in, eta^2 out) cancel."""
    ior = 1.5
    mp = material_table(T.DIELECTRIC, color=(1, 1, 1), ior=ior)
    white = (F32(1), F32(1), F32(1))
    u = np.array([[0.999, 0.5, 0.5]], np.float32)  # u_lobe near 1: refraction whenever F < 0.999
    for theta in (0.0, 20.0, 45.0, 75.0):
        wo32, wo64 = direction(theta, 200.0)
        wi, w_in, _, _ = _sample_bsdf_many(mp, 0, white, wo32, True, u)
        assert wi[0, 2] < 0
        back = tuple(F32(-c) for c in wi[0])   # the reversed ray, seen from inside (z > 0)
        wi2, w_out, _, _ = _sample_bsdf_many(mp, 0, white, back, False, u)
        assert wi2[0, 2] < 0, "the reversed ray did not refract out"
        np.testing.assert_allclose(-wi2[0].astype(np.float64), wo64, atol=2e-6)
        np.testing.assert_allclose(w_in[0].astype(np.float64) * w_out[0], 1.0, rtol=1e-5)


# ------------------------------------------------------------------------- random numbers
@pytest.mark.parametrize("n", [1, 2, 4, 6, 9, 12, 16, 20, 64, 100, 256])
def test_cmj_2d_is_stratified(n):
    """For n = m * ceil(n / m) (m = floor(sqrt(n))): one point in every 1/n stratum of x and of y,
    and one in every cell of the m x (n / m) grid."""
    m = int(math.isqrt(n))
    rows = -(-n // m)
    assert m * rows == n  # these counts fill the grid exactly
    for key in (0, 1, 0xDEADBEEF12345678, 2**63 + 12345):
        pts = _cmj_points(n, np.uint64(key))
        assert pts.min() >= 0.0 and pts.max() < 1.0
        xs = np.floor(pts[:, 0] * n).astype(int)
        ys = np.floor(pts[:, 1] * n).astype(int)
        assert sorted(xs) == list(range(n)), f"n={n}, key={key}: x strata {sorted(xs)}"
        assert sorted(ys) == list(range(n)), f"n={n}, key={key}: y strata {sorted(ys)}"
        cells = set(zip(np.floor(pts[:, 0] * m).astype(int), np.floor(pts[:, 1] * rows).astype(int)))
        assert len(cells) == n, f"n={n}: 2-D cells of the {m}x{rows} grid hold more than one point"


ANY_N = [2, 3, 5, 7, 8, 13, 32, 63, 128]


@pytest.mark.parametrize("n", ANY_N)
def test_cmj_2d_stratification_for_any_n(n):
    """Any n (m = floor(sqrt(n))): one point in each 1/n stratum of y; in x, one point in each of
    n of the m * ceil(n / m) strata; one point in each of n cells of an m x ceil(n / m) grid
    whose rows are m strata of y high (1/ceil(n/m) only when n = m * ceil(n / m): for n = 7 or
    13 a grid of equal rows has a cell with two points)."""
    m = int(math.isqrt(n))
    rows = -(-n // m)
    for key in (0, 1, 0xDEADBEEF12345678):
        pts = _cmj_points(n, np.uint64(key))
        assert pts.min() >= 0.0 and pts.max() < 1.0
        ys = np.floor(pts[:, 1] * n).astype(int)
        assert sorted(ys) == list(range(n)), f"n={n}, key={key}: y strata {sorted(ys)}"
        xs = np.floor(pts[:, 0] * (m * rows)).astype(int)
        assert len(set(xs)) == n, f"n={n}, key={key}: two points share an x stratum of width 1/{m * rows}"
        # 2-D: m columns of width 1/m, ceil(n / m) rows of height m/n (the last one shorter)
        cells = set(zip(np.floor(pts[:, 0] * m).astype(int), ys // m))
        assert len(cells) == n, f"n={n}: a cell of the {m}x{rows} grid holds more than one point"


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 64, 100])
def test_stratified_1d_has_one_value_per_stratum(n):
    """Every stratum [k/n, (k+1)/n) holds exactly one of the n values, and keys differ."""
    patterns = []
    for key in (0, 5, 0xDEADBEEF12345678):
        values = _strat_points(n, np.uint64(key))
        assert values.min() >= 0.0 and values.max() < 1.0
        assert sorted(np.floor(values * n).astype(int)) == list(range(n)), f"n={n}, key={key}"
        patterns.append(values)
    if n > 2:
        assert not np.array_equal(patterns[0], patterns[1])


def test_dimension_keys_decorrelate_dimensions():
    """Two dimensions of one pixel get different permutations of the strata."""
    n = 64
    with np.errstate(over="ignore"):   # plain-Python call of the kernel: uint64 arithmetic wraps
        key_a, key_b = dimension_key(np.uint64(99), 4), dimension_key(np.uint64(99), 7)
    a = _strat_points(n, key_a)
    b = _strat_points(n, key_b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.35


def test_cmj_2d_patterns_differ_between_keys():
    a = _cmj_points(16, np.uint64(1))
    b = _cmj_points(16, np.uint64(2))
    assert not np.array_equal(a, b)


def test_uniform_is_uniform_and_independent():
    n_pixels, n_samples = 2000, 16
    table = _uniform_table(np.uint64(42), n_pixels, n_samples, N_UNIFORM_DIMS)
    assert table.min() >= 0.0 and table.max() < 1.0
    # 24-bit resolution: values are multiples of 2^-24
    assert np.all(table * (1 << 24) == np.floor(table * (1 << 24)))
    for d in range(N_UNIFORM_DIMS):
        p = stats.kstest(table[:, d], "uniform").pvalue
        assert p > P_MIN, f"dimension {d}: KS p = {p:.3g}"
    # independence across dimensions: correlation ~ 0 (|r| < 5 / sqrt(N)), including neighbouring
    # samples of one pixel and neighbouring pixels
    n = len(table)
    r = np.corrcoef(table, rowvar=False)
    off = r[~np.eye(N_UNIFORM_DIMS, dtype=bool)]
    assert np.abs(off).max() < 5 / math.sqrt(n), f"correlated dimensions: max |r| = {np.abs(off).max():.4f}"
    same_dim_next_sample = np.corrcoef(table[:-1, 0], table[1:, 0])[0, 1]
    assert abs(same_dim_next_sample) < 5 / math.sqrt(n)
    per_pixel = table.reshape(n_pixels, n_samples, N_UNIFORM_DIMS)
    next_pixel = np.corrcoef(per_pixel[:-1, 0, 0], per_pixel[1:, 0, 0])[0, 1]
    assert abs(next_pixel) < 5 / math.sqrt(n_pixels)
    # pairs of dimensions fill the unit square evenly (2-D chi-square on an 8 x 8 grid)
    hist, _, _ = np.histogram2d(table[:, 0], table[:, 1], bins=8, range=[[0, 1], [0, 1]])
    assert stats.chisquare(hist.ravel()).pvalue > P_MIN
    # a different seed gives different numbers
    assert not np.array_equal(_uniform_table(np.uint64(43), 4, 4, 2), _uniform_table(np.uint64(42), 4, 4, 2))


def _kensler_permute(i, n, p):
    """Kensler's permute (listing 3 of "Correlated Multi-Jittered Sampling") in Python integers,
    with the plain remainder at the end: the reference for ``rng.permute``."""
    mask32 = 0xFFFFFFFF
    w = n - 1
    for shift in (1, 2, 4, 8, 16):
        w |= w >> shift
    x = i
    while True:
        x ^= p
        x = (x * 0xE170893D) & mask32
        x ^= p >> 16
        x ^= (x & w) >> 4
        x ^= p >> 8
        x = (x * 0x0929EB3F) & mask32
        x ^= p >> 23
        x ^= (x & w) >> 1
        x = (x * (1 | (p >> 27))) & mask32
        x = (x * 0x6935FA69) & mask32
        x ^= (x & w) >> 11
        x = (x * 0x74DCB303) & mask32
        x ^= (x & w) >> 2
        x = (x * 0x9E501CC3) & mask32
        x ^= (x & w) >> 2
        x = (x * 0xC860A3DF) & mask32
        x &= w
        x ^= x >> 5
        if x < n:
            return (x + p) % n


@numba.njit(cache=False)
def _permutations(n, patterns):
    out = np.zeros((len(patterns), n), np.int64)
    for k in range(len(patterns)):
        for i in range(n):
            out[k, i] = permute(i, n, patterns[k])
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 16, 20, 64, 100, 128, 1024])
def test_permute_matches_kenslers_listing(n):
    """The compiled permutation gives Kensler's values for every index (and is a permutation)."""
    patterns = np.array([0, 1, 0x12345678, 0xDEADBEEF, 0xFFFFFFFF], np.uint64)
    compiled = _permutations(n, patterns)
    for k, p in enumerate(patterns):
        expected = [_kensler_permute(i, n, int(p)) for i in range(n)]
        assert compiled[k].tolist() == expected, f"n={n}, pattern={int(p):#x}"
        assert sorted(expected) == list(range(n))


@numba.njit(cache=False)
def _strata_both_ways(n, pattern):
    """A pixel's stratified values for n samples from ``fill_strata`` (chunk by chunk) and from
    the one-sample functions, in the row order ``fill_strata`` documents."""
    chunked = np.zeros((STRATA_ROWS, n), np.float32)
    table = np.full((STRATA_ROWS, STRATA_CHUNK), np.float32(-1.0))
    for first in range(0, n, STRATA_CHUNK):
        count = min(STRATA_CHUNK, n - first)
        fill_strata(table, first, count, n, pattern, STRATIFIED_BOUNCES)
        for k in range(count):
            for row in range(STRATA_ROWS):
                chunked[row, first + k] = table[row, k]
    single = np.zeros((STRATA_ROWS, n), np.float32)
    for s in range(n):
        single[0, s], single[1, s] = cmj_2d(s, n, pattern)
        for b in range(STRATIFIED_BOUNCES):
            dim = DIM_BOUNCE + b * DIMS_PER_BOUNCE
            row = STRATA_BOUNCE + b * STRATA_PER_BOUNCE
            single[row, s] = stratified_1d(s, n, dimension_key(pattern, dim))
            single[row + 1, s], single[row + 2, s] = cmj_2d(s, n, dimension_key(pattern, dim + 1))
            single[row + 3, s] = stratified_1d(s, n, dimension_key(pattern, dim + 3))
            single[row + 4, s], single[row + 5, s] = cmj_2d(s, n, dimension_key(pattern, dim + 4))
    return chunked, single


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 16, 17, 32, 64, 100, 128, 256, 1024])
def test_fill_strata_equals_one_sample_at_a_time(n):
    """The chunked, power-of-two fast path gives the values of cmj_2d / stratified_1d bit for
    bit (so images do not depend on how the values were computed), for any n and chunking."""
    for pattern in (0, 7, 0xDEADBEEF12345678, 2**64 - 1):
        chunked, single = _strata_both_ways(n, np.uint64(pattern))
        np.testing.assert_array_equal(chunked, single, err_msg=f"n={n}, pattern={pattern:#x}")


@numba.njit(cache=False)
def _strata_table(n, pattern, bounces):
    table = np.full((STRATA_ROWS, STRATA_CHUNK), np.float32(-1.0))
    fill_strata(table, 0, min(n, STRATA_CHUNK), n, pattern, bounces)
    return table


def test_fill_strata_fills_only_the_bounces_a_path_can_sample():
    """max depth 1 samples no bounce, max depth 2 one: their rows stay untouched, the rest
    equal the full table."""
    full = _strata_table(16, np.uint64(3), STRATIFIED_BOUNCES)
    assert (full >= 0).all()
    for bounces in range(STRATIFIED_BOUNCES):
        table = _strata_table(16, np.uint64(3), bounces)
        used = STRATA_BOUNCE + bounces * STRATA_PER_BOUNCE
        np.testing.assert_array_equal(table[:used], full[:used])
        assert (table[used:] == -1).all()


def test_sincos_quarter_is_within_two_ulp():
    """The concentric map's polynomial sin / cos on [-pi/4, pi/4] against float64 numpy: within
    2 float32 ulps of the true value everywhere (endpoints, zero, tiny angles included)."""
    x = np.concatenate([np.linspace(-np.pi / 4, np.pi / 4, 20001), [0.0, 1e-30, -1e-7, 3e-4]]).astype(F32)
    got = np.array([sincos_quarter(v) for v in x], dtype=np.float64)
    for k, exact in enumerate((np.sin(x.astype(np.float64)), np.cos(x.astype(np.float64)))):
        ulp = np.spacing(np.abs(exact).astype(F32)).astype(np.float64)
        assert (np.abs(got[:, k] - exact) <= 2 * ulp).all(), ("sin", "cos")[k]

