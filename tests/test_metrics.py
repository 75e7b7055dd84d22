"""Known-answer tests for fiji_bridge.metrics (pure numpy, no Java)."""

from __future__ import annotations

import numpy as np
import pytest

from fiji_bridge import fourier as F
from fiji_bridge import metrics as m

SHAPES = [(16, 16), (15, 15), (17, 12), (12, 17), (8, 9)]
DTYPES = [np.float32, np.float64]
PI2_3 = np.pi**2 / 3


def _img(shape, dtype=np.float64, seed=0):
    """A smooth-ish random image with non-zero mean (so DC is defined)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 2.0).astype(dtype)


def _wrap(phi):
    """Wrap to (-pi, pi]."""
    w = np.angle(np.exp(1j * phi))
    return np.where(w <= -np.pi, np.pi, w)


def _circ_dist(a, b):
    """Circular distance between angles."""
    return np.abs(np.angle(np.exp(1j * (a - b))))


def _self_conjugate(shape):
    H, W = shape
    ky = np.arange(H)[:, None]
    kx = np.arange(W // 2 + 1)[None, :]
    return ((-ky) % H == ky) & ((-kx) % W == kx)


def _full_plane_rings(shape, n_rings):
    """Independent implementation of the ring rule on the full fft2 plane."""
    H, W = shape
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.fftfreq(W)[None, :]
    delta = 0.5 / n_rings
    return np.floor(np.hypot(fy, fx) / delta + 0.5).astype(int), fy, fx


# ------------------------------------------------------------------------------ pearson_cc
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cc_identical_and_negated(shape, dtype):
    a = _img(shape, dtype)
    assert isinstance(m.pearson_cc(a, a), float)
    assert m.pearson_cc(a, a) == pytest.approx(1.0, abs=1e-12)
    assert m.pearson_cc(a, -a) == pytest.approx(-1.0, abs=1e-12)
    # affine invariance
    assert m.pearson_cc(a, 3.0 * a + 7.0) == pytest.approx(1.0, abs=1e-6)


def test_cc_matches_numpy_corrcoef():
    a, b = _img((17, 12), seed=1), _img((17, 12), seed=2)
    assert m.pearson_cc(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], abs=1e-12)


def test_cc_float32_computed_in_float64():
    rng = np.random.default_rng(3)
    a = (1000.0 + rng.standard_normal((64, 64))).astype(np.float32)
    b = (a + 0.5 * rng.standard_normal((64, 64))).astype(np.float32)
    exact = np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1]
    assert m.pearson_cc(a, b) == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cc_stack(dtype):
    ref = _img((15, 15), dtype, seed=4)
    noise = _img((15, 15), dtype, seed=5)
    stack = np.stack([ref, -ref, noise, 2 * ref + 1]).astype(dtype)
    cc = m.pearson_cc(stack, ref)
    assert cc.shape == (4,) and cc.dtype == np.float64
    expected = [1.0, -1.0, m.pearson_cc(noise, ref), 1.0]
    np.testing.assert_allclose(cc, expected, atol=1e-6)
    np.testing.assert_allclose(m.pearson_cc(ref, stack), cc)  # either order


def test_cc_pure_noise_near_zero():
    rng = np.random.default_rng(6)
    shape = (128, 128)
    vals = [m.pearson_cc(rng.standard_normal(shape), rng.standard_normal(shape)) for _ in range(5)]
    assert np.all(np.abs(vals) < 5 / np.sqrt(np.prod(shape)))


def test_cc_errors():
    a = _img((8, 8))
    with pytest.raises(ValueError, match="constant.*undefined"):
        m.pearson_cc(a, np.full((8, 8), 0.1))
    with pytest.raises(ValueError, match="constant.*undefined"):
        m.pearson_cc(np.full((8, 8), 0.1), a)
    with pytest.raises(ValueError, match=r"slice\(s\) \[1\]"):
        m.pearson_cc(np.stack([a, np.ones((8, 8))]), a)
    with pytest.raises(ValueError, match="same shape|shapes differ"):
        m.pearson_cc(a, _img((8, 9)))
    with pytest.raises(ValueError, match="at most one may be a stack"):
        m.pearson_cc(np.stack([a, a]), np.stack([a, a]))


# ------------------------------------------------------------------------------ helpers
@pytest.mark.parametrize("shape", SHAPES + [(2, 2), (2, 3), (3, 2)])
@pytest.mark.parametrize("include_real", [False, True])
def test_independent_frequencies_count_and_no_duplicates(shape, include_real):
    H, W = shape
    sel = F.independent_frequencies(shape, include_real=include_real)
    assert sel.shape == (H, W // 2 + 1)
    assert not sel[0, 0]
    n_real = (1 + (H % 2 == 0)) * (1 + (W % 2 == 0))  # self-conjugate points incl. DC
    expected = (H * W - n_real) // 2 + ((n_real - 1) if include_real else 0)
    assert sel.sum() == expected
    # map every selected half-plane frequency to its full-plane pair {k, -k}; no pair twice, and
    # together with the mirrors they cover the full plane minus DC (minus real ones if excluded)
    ky, kx = np.nonzero(sel)
    pairs = {frozenset({(a, b), ((-a) % H, (-b) % W)}) for a, b in zip(ky, kx)}
    assert len(pairs) == sel.sum()
    covered = set().union(*pairs) if pairs else set()
    n_full = H * W - 1 - (0 if include_real else n_real - 1)
    assert len(covered) == n_full


def test_ring_bins_default():
    idx, f = F.ring_bins((16, 16))
    np.testing.assert_allclose(f, np.arange(1, 9) / 16)
    assert idx[0, 0] == 0
    assert idx[0, 3] == 3 and idx[5, 0] == 5 and idx[16 - 5, 0] == 5
    idx, f = F.ring_bins((17, 12), 4)
    assert f.shape == (4,) and f[-1] == pytest.approx(0.5)


# ------------------------------------------------------------------------------ phase error
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_phase_identical(shape, dtype):
    a = _img(shape, dtype)
    pe = m.phase_error(a, a)
    assert pe.shape == (shape[0], shape[1] // 2 + 1)
    assert np.all(pe == 0.0)
    assert m.phase_mse(a, a) == 0.0
    f, mse = m.phase_mse_by_ring(a, a)
    assert np.all(mse[~np.isnan(mse)] == 0.0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_phase_negated(shape, dtype):
    a = _img(shape, dtype)
    pe = m.phase_error(-a, a)
    np.testing.assert_allclose(np.abs(pe), np.pi, rtol=0, atol=1e-9)
    assert np.all(pe > -np.pi) and np.all(pe <= np.pi)  # range (-pi, pi]
    assert m.phase_mse(-a, a) == pytest.approx(np.pi**2, rel=1e-9)
    assert m.phase_mse(-a, a, include_real=True) == pytest.approx(np.pi**2, rel=1e-9)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [(1, 0), (0, 3), (2, -5), (7, 4)])
def test_phase_integer_cyclic_shift(shape, dtype, d):
    a = _img(shape, dtype, seed=7)
    y = np.roll(a, d, axis=(0, 1))  # y[p] = a[p - d]  ->  Y(k) = A(k) exp(-2pi i k.d)
    fy, fx = F.rfft_frequencies(shape)
    expected = _wrap(-2 * np.pi * (fy * d[0] + fx * d[1]))
    pe = m.phase_error(y, a)
    assert np.all(_circ_dist(pe, expected) < 1e-9)
    # MSE against the same formula, on the independent non-real frequencies
    sel = F.independent_frequencies(shape)
    assert m.phase_mse(y, a) == pytest.approx(np.mean(_wrap(expected[sel]) ** 2), abs=1e-9)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("d", [(0.3, -1.7), (2.5, 0.25)])
def test_phase_subpixel_shift(shape, d):
    """Sub-pixel Fourier shift: Δφ = wrap(-2π(fy dy + fx dx)) away from the Nyquist row/column
    (where a real image cannot carry a non-integer shift)."""
    a = _img(shape, seed=8)
    fy, fx = F.rfft_frequencies(shape)
    ramp = np.exp(-2j * np.pi * (fy * d[0] + fx * d[1]))
    y = np.fft.irfft2(np.fft.rfft2(a) * ramp, s=shape)
    expected = _wrap(-2 * np.pi * (fy * d[0] + fx * d[1]))
    ok = (np.abs(fy) < 0.5) & (np.abs(fx) < 0.5)
    ok = np.broadcast_to(ok, expected.shape)
    pe = m.phase_error(y, a)
    assert np.all(_circ_dist(pe[ok], expected[ok]) < 1e-8)


def test_phase_error_nan_where_undefined_and_range():
    a = _img((15, 15), seed=9)
    a0 = a - a.mean()  # DC exactly 0 -> undefined phase at DC
    a0 -= a0.mean()
    pe = m.phase_error(a0, a)
    X = np.fft.rfft2(a0)
    assert np.all(np.isnan(pe[X * np.conj(np.fft.rfft2(a)) == 0]))
    # phase_mse ignores DC anyway
    assert np.isfinite(m.phase_mse(a0, a))


@pytest.mark.parametrize("shape", [(64, 64), (63, 63), (67, 48)])
def test_phase_mse_pure_noise(shape):
    rng = np.random.default_rng(10)
    sel = F.independent_frequencies(shape)
    n = sel.sum()
    sd = np.sqrt(4 * np.pi**4 / 45 / n)  # std of the mean of U(-pi,pi]^2 over n frequencies
    vals = [m.phase_mse(rng.standard_normal(shape), rng.standard_normal(shape)) for _ in range(3)]
    for v in vals:
        assert abs(v - PI2_3) < 5 * sd
    # all independent non-DC frequencies (incl. real ones) still centred near pi^2/3
    v = m.phase_mse(rng.standard_normal(shape), rng.standard_normal(shape), include_real=True)
    assert abs(v - PI2_3) < 6 * sd
    # per ring: the unweighted mean over rings is ~pi^2/3 as well (its spread, ~0.11 at these
    # sizes, is dominated by the few frequencies of the innermost rings; tolerance ~5 sd)
    f, mse = m.phase_mse_by_ring(rng.standard_normal(shape), rng.standard_normal(shape))
    assert f[-1] == pytest.approx(0.5) and np.all(np.diff(f) > 0)
    assert abs(np.nanmean(mse) - PI2_3) < 0.55


def test_phase_mse_by_ring_known():
    shape = (17, 12)
    a = _img(shape, seed=11)
    d = (3, 2)
    y = np.roll(a, d, axis=(0, 1))
    f, mse = m.phase_mse_by_ring(y, a, n_rings=5)
    idx, f_ref = F.ring_bins(shape, 5)
    np.testing.assert_allclose(f, f_ref)
    fy, fx = F.rfft_frequencies(shape)
    dphi2 = _wrap(-2 * np.pi * (fy * d[0] + fx * d[1])) ** 2
    sel = F.independent_frequencies(shape)
    for i in range(1, 6):
        ring = sel & (idx == i)
        assert mse[i - 1] == pytest.approx(dphi2[ring].mean(), abs=1e-9)
    # more rings than frequencies -> some empty rings are NaN
    f, mse = m.phase_mse_by_ring(y, a, n_rings=100)
    assert np.isnan(mse).any() and np.isfinite(mse).any()


def test_phase_mse_mask_half_full_and_symmetric():
    shape = (16, 15)
    H, W = shape
    rng = np.random.default_rng(12)
    x, r = rng.standard_normal(shape), rng.standard_normal(shape)
    pe = m.phase_error(x, r)
    # a single frequency in column 0 selected through its Hermitian duplicate gives the same value
    mk = np.zeros((H, W // 2 + 1), bool)
    mk[3, 0] = True
    mk2 = np.zeros_like(mk)
    mk2[H - 3, 0] = True
    assert m.phase_mse(x, r, mask=mk) == pytest.approx(pe[3, 0] ** 2)
    assert m.phase_mse(x, r, mask=mk2) == pytest.approx(pe[3, 0] ** 2)
    # selecting both members counts the frequency once
    assert m.phase_mse(x, r, mask=mk | mk2) == pytest.approx(pe[3, 0] ** 2)
    # full-plane mask for k and for -k gives the same value
    full = np.zeros(shape, bool)
    full[2, W - 4] = True  # -> half-plane partner (H-2, 4)
    assert m.phase_mse(x, r, mask=full) == pytest.approx(pe[H - 2, 4] ** 2)
    # DC-only mask: nothing left
    dc = np.zeros_like(mk)
    dc[0, 0] = True
    with pytest.raises(ValueError, match="no frequency"):
        m.phase_mse(x, r, mask=dc)
    with pytest.raises(ValueError, match="mask has shape"):
        m.phase_mse(x, r, mask=np.ones((3, 3), bool))
    with pytest.raises(TypeError, match="boolean"):
        m.phase_mse(x, r, mask=np.ones((H, W // 2 + 1)))


# ------------------------------------------------------------------------------ magnitude groups
@pytest.mark.parametrize("shape", [(16, 16), (15, 15), (17, 12)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_magnitude_rank_groups(shape, dtype):
    r = _img(shape, dtype, seed=13)
    groups = m.magnitude_rank_groups(r, (0.01, 0.1, 0.5, 1.0))
    assert list(groups) == [0.01, 0.1, 0.5, 1.0]
    cand = F.independent_frequencies(shape)
    n = cand.sum()
    mag = np.abs(np.fft.rfft2(r.astype(np.float64)))
    prev = None
    for f, mask in groups.items():
        k = max(1, int(round(f * n)))
        assert mask.shape == cand.shape and mask.dtype == bool
        assert mask.sum() == k
        assert not mask[0, 0] and not np.any(mask & ~cand)  # no DC, no duplicates/real ones
        if k < n:
            # every selected magnitude >= every unselected candidate magnitude
            assert mag[mask].min() >= mag[cand & ~mask].max()
        if prev is not None:
            assert np.all(mask >= prev)  # nested
        prev = mask
    np.testing.assert_array_equal(groups[1.0], cand)
    # usable with phase_mse
    assert m.phase_mse(r, r, mask=groups[0.1]) == 0.0


def test_magnitude_rank_groups_known_components():
    H, W = 32, 32
    yy, xx = np.mgrid[:H, :W]
    r = 5 * np.cos(2 * np.pi * (3 * xx / W)) + 2 * np.sin(2 * np.pi * (5 * yy / H)) + 10.0
    r = r + 1e-3 * np.random.default_rng(14).standard_normal((H, W))
    n = F.independent_frequencies((H, W)).sum()
    g = m.magnitude_rank_groups(r, (2 / n,))[2 / n]
    assert set(zip(*np.nonzero(g))) == {(0, 3), (5, 0)}  # DC (the +10) excluded


def test_magnitude_rank_groups_include_real():
    r = _img((16, 16), seed=15)
    g = m.magnitude_rank_groups(r, (1.0,), include_real=True)[1.0]
    np.testing.assert_array_equal(g, F.independent_frequencies((16, 16), include_real=True))
    assert g[8, 0] and g[0, 8] and g[8, 8] and not g[0, 0]


def test_magnitude_rank_groups_errors():
    r = _img((8, 8))
    for bad in [(0.0,), (1.5,), ()]:
        with pytest.raises(ValueError, match="fractions"):
            m.magnitude_rank_groups(r, bad)
    for bad in [("a",), 0.5]:
        with pytest.raises(TypeError, match="fractions must be a sequence of numbers"):
            m.magnitude_rank_groups(r, bad)


# ------------------------------------------------------------------------------ FRC
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_frc_identical_and_negated(shape, dtype):
    a = _img(shape, dtype)
    f, v = m.frc(a, a)
    assert f.shape == v.shape == (min(shape) // 2,)
    assert f[-1] == pytest.approx(0.5)
    np.testing.assert_allclose(v, 1.0, atol=1e-12)
    _, v = m.frc(a, -2.0 * a)
    np.testing.assert_allclose(v, -1.0, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [(1, 0), (2, -3), (5, 5)])
@pytest.mark.parametrize("n_rings", [None, 3])
def test_frc_cyclic_shift_matches_full_plane_formula(shape, dtype, d, n_rings):
    """FRC(a, roll(a, d)) per ring = Σ|A|² cos(2π k·d) / Σ|A|², full fft2 plane."""
    a = _img(shape, dtype, seed=16)
    b = np.roll(a, d, axis=(0, 1))
    f, v = m.frc(a, b, n_rings=n_rings)
    n = min(shape) // 2 if n_rings is None else n_rings
    idx, fy, fx = _full_plane_rings(shape, n)
    P = np.abs(np.fft.fft2(a.astype(np.float64))) ** 2
    c = np.cos(2 * np.pi * (fy * d[0] + fx * d[1]))
    expected = [(P * c)[idx == i].sum() / P[idx == i].sum() for i in range(1, n + 1)]
    np.testing.assert_allclose(v, expected, atol=1e-9)
    np.testing.assert_allclose(f, 0.5 / n * np.arange(1, n + 1))


@pytest.mark.parametrize("shape", [(16, 16), (15, 15), (17, 12)])
def test_frc_matches_full_plane_definition(shape):
    rng = np.random.default_rng(17)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape) + 0.5 * rng.standard_normal(shape)
    b = b + a
    n = min(shape) // 2
    idx, _, _ = _full_plane_rings(shape, n)
    A, B = np.fft.fft2(a), np.fft.fft2(b)
    expected = [
        (A * B.conj())[idx == i].sum().real
        / np.sqrt((abs(A) ** 2)[idx == i].sum() * (abs(B) ** 2)[idx == i].sum())
        for i in range(1, n + 1)
    ]
    np.testing.assert_allclose(m.frc(a, b)[1], expected, atol=1e-12)


def test_frc_pure_noise():
    shape = (96, 80)
    rng = np.random.default_rng(18)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    f, v = m.frc(a, b)
    idx, _, _ = _full_plane_rings(shape, len(f))
    counts = np.array([(idx == i).sum() for i in range(1, len(f) + 1)])
    assert np.all(np.abs(v) < 5 / np.sqrt(counts))
    # FRC * sqrt(count) ~ N(0, 1) per ring: mean of squares over the 40 rings ~1 (sd ~0.21)
    assert np.mean(v**2 * counts) == pytest.approx(1.0, abs=1.0)
    assert abs(np.mean(v)) < 5 * np.sqrt(np.sum(1.0 / counts)) / len(v)


def test_frc_empty_ring_is_nan():
    a = _img((8, 8))
    _, v = m.frc(a, a, n_rings=50)
    assert np.isnan(v).any() and np.allclose(v[~np.isnan(v)], 1.0)


# ------------------------------------------------------------------------------ slope fit
def test_fit_loglog_slope_exact():
    n = np.array([10, 30, 100, 300, 1000, 5000])
    s, c = m.fit_loglog_slope(n, 3 * n**-1.0)
    assert s == pytest.approx(-1.0, abs=1e-12)
    assert c == pytest.approx(np.log10(3), abs=1e-12)
    s, c = m.fit_loglog_slope([1, 2, 4], [2.0, 2.0 * 2**0.5, 4.0])
    assert s == pytest.approx(0.5, abs=1e-12) and c == pytest.approx(np.log10(2), abs=1e-12)


def test_fit_loglog_slope_errors():
    with pytest.raises(ValueError, match="strictly positive"):
        m.fit_loglog_slope([1, 2, 3], [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="strictly positive"):
        m.fit_loglog_slope([1, 2, np.nan], [1.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="distinct"):
        m.fit_loglog_slope([5, 5], [1.0, 2.0])
    with pytest.raises(ValueError, match="points"):
        m.fit_loglog_slope([1, 2, 3], [1.0, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        m.fit_loglog_slope([[1, 2]], [[1.0, 2.0]])


# ------------------------------------------------------------------------------ bad inputs
BAD = [
    (np.zeros((4, 4, 4)), r"must be a 2-D image \(H, W\), got an array of shape \(4, 4, 4\)",
     ValueError),
    (np.zeros(16), r"got an array of shape \(16,\)", ValueError),
    (np.ones((4, 4), complex), "complex", TypeError),
    (np.array([["a", "b"], ["c", "d"]]), "real numbers", TypeError),
    (np.ones((4, 4), bool), "real numbers", TypeError),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "non-finite", ValueError),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "non-finite", ValueError),
    (np.zeros((1, 5)), "at least 2", ValueError),
]


@pytest.mark.parametrize("bad,msg,exc", BAD)
@pytest.mark.parametrize(
    "func",
    [m.phase_error, m.phase_mse, m.phase_mse_by_ring, m.frc],
)
def test_bad_inputs_fourier(func, bad, msg, exc):
    good = _img(bad.shape[-2:] if bad.ndim >= 2 else (4, 4))
    with pytest.raises(exc, match=msg) as e:
        func(bad, good)
    assert "Fix:" in str(e.value) and func.__name__ in str(e.value)
    with pytest.raises(exc, match=msg):
        func(good, bad)


@pytest.mark.parametrize("bad,msg,exc", [b for b in BAD if b[0].ndim != 3])
def test_bad_inputs_cc_and_groups(bad, msg, exc):
    good = _img(bad.shape[-2:] if bad.ndim >= 2 else (4, 4))
    with pytest.raises(exc, match=msg):
        m.pearson_cc(bad, good)
    with pytest.raises(exc, match=msg):
        m.magnitude_rank_groups(bad)


@pytest.mark.parametrize("func", [m.phase_error, m.phase_mse, m.phase_mse_by_ring, m.frc])
def test_shape_mismatch(func):
    with pytest.raises(ValueError, match="same shape"):
        func(_img((16, 16)), _img((16, 15)))


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                     (True, TypeError)])
def test_bad_n_rings(bad, exc):
    a = _img((8, 8))
    with pytest.raises(exc, match="n_rings"):
        m.frc(a, a, n_rings=bad)
    with pytest.raises(exc, match="n_rings.*Fix: pass e.g. n_rings=4"):
        m.phase_mse_by_ring(a, a, n_rings=bad)


def test_no_side_effects_at_import():
    import subprocess
    import sys

    code = (
        "import sys; import fiji_bridge.metrics; "
        "bad = [k for k in ('jpype', 'scyjava', 'imagej', 'matplotlib') if k in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]" and out.stderr == ""
