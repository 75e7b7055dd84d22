"""Template-bias check (fiji_bridge.bias_check) and the search space of fiji_bridge.align.

Pure numpy (no Java). Calibration on synthetic data with known truth: pure noise of several
colours (no signal: the test must reject in about alpha of the repetitions), a weak template
signal (must be flagged), white noise (p-values uniform), max_shift=0 (no bias), half sets.
Colours are made by cyclic filtering (``mode="wrap"``), i.e. stationary noise on the periodic
box, the null hypothesis of the check.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from scipy.ndimage import gaussian_filter

from fiji_bridge import bias_check as B
from fiji_bridge.align import align_to_reference
from fiji_bridge.search_space import search_window, soft_circular_mask
from fiji_bridge.metrics import pearson_cc

S = 32          # box side of the calibration tests
N = 40          # particles per repetition
K = 19          # null draws: the smallest p is 1/20 = alpha
R = 100         # independent repetitions
ALPHA = 0.05


def _template(s=S):
    """A smooth, asymmetric blob template (mean 0, sd 1)."""
    y, x = np.mgrid[:s, :s] - s // 2
    t = (np.exp(-((y - 3) ** 2 + (x + 2) ** 2) / 30.0)
         - 0.6 * np.exp(-((y + 5) ** 2 + (x - 5) ** 2) / 10.0)
         + 0.3 * ((np.abs(x) < 3) & (np.abs(y) < 9)))
    return (t - t.mean()) / t.std()


def _coloured(rng, kind, n=N, s=S):
    white = rng.standard_normal((n, s, s))
    if kind == "white":
        return white
    low = np.stack([gaussian_filter(w, 1.5, mode="wrap") for w in white])
    out = low if kind == "low" else white - low
    return out / out.std(axis=(1, 2), keepdims=True)


def _p_values(kind, seed, *, snr=0.0, reps=R):
    rng = np.random.default_rng(seed)
    t = _template()
    ps = []
    for r in range(reps):
        stack = np.sqrt(snr) * t + _coloured(rng, kind)
        ds = B.template_bias_check(stack, t, draws=K, seed=r, workers=1, half_sets=False)
        ps.append(ds.attrs["cc"]["p_value"])
    return np.array(ps)


# ------------------------------------------------------------------------------ calibration
@pytest.mark.parametrize("kind, seed", [("low", 11), ("high", 12)])
def test_coloured_pure_noise_is_flagged_at_about_alpha(kind, seed):
    """Under H0 the rejections are Binomial(R, alpha) (exact for an exchangeable null)."""
    ps = _p_values(kind, seed)
    rejections = int(np.count_nonzero(ps <= ALPHA))
    upper = int(stats.binom.ppf(0.999, R, ALPHA))  # 12 of 100
    assert rejections <= upper, (kind, rejections, upper)
    # and the null is not degenerate: p spreads over its range
    assert ps.min() <= 0.15 and ps.max() >= 0.85


def test_white_pure_noise_gives_uniform_p_values():
    ps = _p_values("white", 13)
    # p is uniform on {1..K+1}/(K+1): KS distance to that discrete CDF, loose (1 %) bound
    grid = np.arange(1, K + 2) / (K + 1)
    ecdf = np.searchsorted(np.sort(ps), grid, side="right") / ps.size
    distance = np.max(np.abs(ecdf - grid))
    assert distance < 1.63 / np.sqrt(R), distance
    assert np.count_nonzero(ps <= ALPHA) <= int(stats.binom.ppf(0.999, R, ALPHA))


@pytest.mark.parametrize("kind, snr", [("white", 0.01), ("low", 0.5)])
def test_weak_true_signal_is_flagged(kind, snr):
    """A weak template signal in 40 particles is flagged nearly always.

    SNR is the variance ratio signal/noise over the box. Low-pass noise of variance 1 puts its
    power where the smooth template lives, so the same SNR is much weaker there (measured at
    this size: 0/20 flagged at SNR 0.03, 4/20 at 0.1, 19/20 at 0.3).
    """
    ps = _p_values(kind, 14, snr=snr, reps=20)
    assert np.count_nonzero(ps <= ALPHA) >= 18, ps


def test_p_value_formula_and_z():
    assert B.empirical_p_value(1.0, [0.5, 1.0, 2.0, 0.1]) == pytest.approx(3 / 5)
    assert B.empirical_p_value(9.0, np.zeros(99)) == pytest.approx(0.01)
    rng = np.random.default_rng(0)
    t = _template()
    ds = B.template_bias_check(0.2 * t + rng.standard_normal((N, S, S)), t, draws=K, seed=3,
                               workers=1, half_sets=False)
    cc = ds.attrs["cc"]
    null = ds["cc_null"].values
    assert cc["null_mean"] == pytest.approx(null.mean())
    assert cc["null_sd"] == pytest.approx(null.std(ddof=1))
    assert cc["z"] == pytest.approx((cc["observed"] - null.mean()) / null.std(ddof=1))
    assert cc["p_value"] == pytest.approx((1 + np.sum(null >= cc["observed"])) / (K + 1))
    assert cc["observed"] == pytest.approx(pearson_cc(ds["average"].values, t), abs=1e-6)
    assert ds.attrs["signal_beyond_bias"] is (cc["p_value"] <= ALPHA)
    json.dumps(ds.attrs)  # JSON-safe


# ------------------------------------------------------------------------------ the null
def test_phase_randomisation_keeps_amplitudes_exactly_and_is_real():
    rng = np.random.default_rng(1)
    for shape in ((6, 31, 31), (6, 32, 30)):  # odd and even, non-square
        x = rng.standard_normal(shape).cumsum(axis=2)
        y = B.phase_randomize(x, np.random.default_rng(2))
        assert y.dtype == np.float32 and y.shape == x.shape
        fx, fy = np.abs(np.fft.fft2(x)), np.abs(np.fft.fft2(y.astype(np.float64)))
        np.testing.assert_allclose(fy, fx, rtol=2e-4, atol=2e-4 * fx.max())
        np.testing.assert_allclose(y.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-4)
        # the phases changed: the images no longer resemble the originals
        assert np.all(np.abs(pearson_cc(y[0], x[0])) < 0.5)


def test_null_draws_are_reproducible_and_depend_on_the_seed():
    rng = np.random.default_rng(4)
    t = _template()
    x = rng.standard_normal((10, S, S))
    a = B.template_bias_check(x, t, draws=K, seed=5, workers=1, half_sets=False)
    b = B.template_bias_check(x, t, draws=K, seed=5, workers=2, half_sets=False)
    c = B.template_bias_check(x, t, draws=K, seed=6, workers=1, half_sets=False)
    np.testing.assert_array_equal(a["cc_null"].values, b["cc_null"].values)
    assert not np.array_equal(a["cc_null"].values, c["cc_null"].values)


def test_progress_is_reported_to_the_end():
    calls = []
    rng = np.random.default_rng(0)
    B.template_bias_check(rng.standard_normal((6, 16, 16)), _template(16), draws=K, seed=0,
                          workers=1, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (1, K + 3) and calls[-1] == (K + 3, K + 3)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


# ------------------------------------------------------------------------------ search space
def test_max_shift_zero_makes_the_bias_vanish():
    rng = np.random.default_rng(7)
    t = _template()
    noise = rng.standard_normal((400, S, S))
    full = align_to_reference(noise, t)
    none = align_to_reference(noise, t, max_shift=0)
    assert np.all(none.shifts == 0)
    np.testing.assert_array_equal(none.aligned, noise)
    assert pearson_cc(full.aligned.mean(axis=0), t) > 0.5
    # the unaligned average of 400 white images: CC ~ N(0, 1/(S*S)) -> |CC| < 5/32
    assert abs(pearson_cc(none.aligned.mean(axis=0), t)) < 5 / S
    ds = B.template_bias_check(noise[:40], t, draws=K, seed=0, max_shift=0, workers=1,
                               half_sets=False)
    assert abs(ds.attrs["cc"]["observed"]) < 5 / S * np.sqrt(10)
    assert ds.attrs["max_shift"] == 0


def test_bias_falls_with_the_search_space():
    rng = np.random.default_rng(8)
    t = _template()
    noise = rng.standard_normal((400, S, S))
    cc = [pearson_cc(align_to_reference(noise, t, max_shift=m).aligned.mean(axis=0), t)
          for m in (None, 3, 1, 0)]
    assert cc[0] > cc[1] > cc[2] > cc[3]


def test_max_shift_restricts_the_peak_search():
    rng = np.random.default_rng(9)
    r = rng.standard_normal((16, 17))
    img = np.roll(r, (5, -6), axis=(0, 1))
    assert align_to_reference(img, r).shifts.tolist() == [5, -6]
    res = align_to_reference(img, r, max_shift=4, return_maps=True)
    assert np.abs(res.shifts).max() <= 4
    # it is the best shift inside the window
    window = search_window((16, 17), 4)
    assert res.peaks == pytest.approx(res.maps.ravel()[window].max(), rel=1e-6)
    assert search_window((16, 17), 0).tolist() == [0]
    assert search_window((16, 17), 8).size == 16 * 17
    with pytest.raises(ValueError, match="max_shift must be >= 0.*Fix"):
        align_to_reference(img, r, max_shift=-1)
    with pytest.raises(TypeError, match="max_shift must be a non-negative integer"):
        align_to_reference(img, r, max_shift=2.5)


def test_soft_circular_mask_and_masked_alignment():
    m = soft_circular_mask((32, 32), 10)
    assert m.dtype == np.float32
    assert m[16, 16] == 1 and m[16, 26] == 1 and m[16, 31] == 0 and m[0, 0] == 0
    assert 0 < m[16, 28] < 1  # r = 12: inside the 5 px raised-cosine edge
    assert m[16, 28] == pytest.approx(0.5 * (1 + np.cos(np.pi * 2 / 5)), rel=1e-6)
    rng = np.random.default_rng(10)
    t = _template()
    x = rng.standard_normal((8, S, S))
    res = align_to_reference(x, t, mask_radius=10, return_maps=True)
    # the maps are those of the masked images with the masked template
    expect = align_to_reference(x * m, t * m, return_maps=True)
    np.testing.assert_array_equal(res.shifts, expect.shifts)
    np.testing.assert_allclose(res.maps, expect.maps, atol=1e-4)
    # the aligned images are the unmasked ones, shifted
    np.testing.assert_array_equal(res.aligned[0], np.roll(x[0], tuple(-res.shifts[0]),
                                                         axis=(0, 1)).astype(res.aligned.dtype))
    with pytest.raises(ValueError, match="mask_radius must be a positive.*Fix"):
        align_to_reference(x, t, mask_radius=0)


# ------------------------------------------------------------------------------ half sets
def _full_ring_counts(shape, n_rings):
    h, w = shape
    rho = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    index = np.floor(rho / (0.5 / n_rings) + 0.5).astype(int)
    return np.bincount(index.ravel(), minlength=n_rings + 1)[1:n_rings + 1]


def test_half_set_frc_spurious_to_nyquist_and_noise_beyond_the_lowpass_cutoff():
    rng = np.random.default_rng(11)
    template = rng.standard_normal((S, S))  # a flat spectrum: bias at every frequency
    noise = rng.standard_normal((1000, S, S))
    cutoff = 0.15
    half = B.half_set_frc(noise, template, lowpass_cutoff=cutoff, workers=1)
    f = half["frequency"]
    assert half["half_sizes"] == [500, 500]
    assert np.all(half["frc_same_template"] > B.FRC_THRESHOLD), half["frc_same_template"]
    beyond = f - 0.5 / f.size / 2 >= cutoff          # rings wholly beyond the cutoff
    assert beyond.sum() >= 8
    counts = _full_ring_counts((S, S), f.size)[beyond]
    values = half["frc_lowpass_template"][beyond]
    assert np.all(np.abs(values) < 4 / np.sqrt(counts)), values  # independent-noise level
    assert abs(np.mean(values * np.sqrt(counts))) < 4 / np.sqrt(beyond.sum())
    # below the cutoff both halves still share the template's phases
    assert np.all(half["frc_lowpass_template"][f <= cutoff - 2 / S] > 0.5)
    # the low-passed template has no power at or beyond the cutoff
    spec = np.abs(np.fft.rfft2(half["template_lowpass"]))
    k = np.hypot(np.fft.fftfreq(S)[:, None], np.fft.rfftfreq(S)[None, :])
    assert spec[k >= cutoff].max() < 1e-9 * spec.max()


def test_check_dataset_has_the_half_set_and_frc_band():
    rng = np.random.default_rng(12)
    t = _template()
    ds = B.template_bias_check(rng.standard_normal((60, S, S)), t, draws=K, seed=1, workers=1)
    for name in ("half_frc_same_template", "half_frc_lowpass_template", "frc",
                 "frc_null_low", "frc_null_high"):
        assert ds[name].dims == ("frequency",)
    assert np.all(ds["frc_null_low"] <= ds["frc_null_median"])
    assert np.all(ds["frc_null_median"] <= ds["frc_null_high"])
    assert ds.attrs["null"] == {"kind": B.NULL_KIND, "draws": K, "seed": 1}
    assert ds.attrs["n_particles"] == 60 and ds.attrs["half_sizes"] == [30, 30]


# ------------------------------------------------------------------------------ bad input
def test_bad_input_messages():
    t = _template(16)
    x = np.zeros((4, 16, 16)) + np.arange(16)
    check = B.template_bias_check
    with pytest.raises(ValueError, match="at least 2.*Fix"):
        check(x[:1], t)
    with pytest.raises(ValueError, match="template has shape.*Fix"):
        check(x, _template(17))
    with pytest.raises(ValueError, match="stack.*Fix"):
        check(x[0], t)
    with pytest.raises(TypeError, match="real numbers"):
        check(x.astype(complex), t)
    with pytest.raises(ValueError, match="draws=10 can never give p <= alpha=0.05.*draws >= 19"):
        check(x, t, draws=10)
    with pytest.raises(TypeError, match="draws must be an integer"):
        check(x, t, draws=9.5)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        check(x, t, seed=-1)
    with pytest.raises(ValueError, match="constant"):
        check(x, np.ones((16, 16)))
    bad = x.copy()
    bad[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match="particle 2 holds NaN"):
        check(bad, t)
    with pytest.raises(ValueError, match="lowpass_cutoff must be in"):
        check(x, t, lowpass_cutoff=0.7)
