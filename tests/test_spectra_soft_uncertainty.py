"""spectra, soft_align and uncertainty: small cases with known answers (numpy only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fiji_bridge import align, spectra, uncertainty
from fiji_bridge.soft_align import check_sigmas, soft_aligned, soft_sum_spectra, soft_weights


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(5)
    y, x = np.mgrid[:24, :20]
    return np.exp(-((y - 9.0) ** 2 + (x - 12.0) ** 2) / 18) + 0.2 * rng.standard_normal((24, 20))


# --------------------------------------------------------------------------------------------
# spectra
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cutoff", [0.1, 0.2, 0.3])
def test_lowpass_removes_everything_beyond_the_cutoff_and_keeps_the_rest(image, cutoff):
    out = spectra.lowpass(image, cutoff)
    assert out.mean() == pytest.approx(0, abs=1e-12) and out.std() == pytest.approx(1)
    k = spectra.radial_frequency(image.shape)
    spec, orig = np.fft.rfft2(out), np.fft.rfft2(image)
    assert np.abs(spec[k > cutoff]).max() < 1e-9 * np.abs(spec).max()
    keep = (k <= cutoff) & (k > 0)
    ratio = spec[keep] / orig[keep]  # one positive scale factor below the cutoff
    assert np.allclose(ratio, ratio[0]) and ratio[0].real > 0


def test_lowpass_bad_cutoffs(image):
    with pytest.raises(ValueError, match="cutoff.*Fix"):
        spectra.lowpass(image, 0)
    with pytest.raises(TypeError, match="cutoff.*Fix"):
        spectra.lowpass(image, "0.1")
    with pytest.raises(ValueError, match="keeps no frequency but DC.*Fix"):
        spectra.lowpass(image, 0.01)


@pytest.mark.parametrize("exponent", [0.0, 1.0, 1.5])
def test_shaped_reference_keeps_phases_and_prescribes_the_radial_amplitude(image, exponent):
    out = spectra.shaped_reference(image, exponent)
    assert out.mean() == pytest.approx(0, abs=1e-12) and out.std() == pytest.approx(1)
    k = spectra.radial_frequency(image.shape)
    spec, orig = np.fft.rfft2(out), np.fft.rfft2(image)
    nz = k > 0
    scaled = np.abs(spec[nz]) * k[nz] ** exponent
    assert np.allclose(scaled, scaled[0])
    dphi = np.angle(spec[nz] * np.conj(orig[nz]))
    assert np.abs(dphi).max() < 1e-9


def test_flatness_white_is_one_and_padding_does_not_flatten(image):
    assert spectra.spectral_flatness(spectra.shaped_reference(image, 0.0)) == pytest.approx(1)
    assert spectra.spectral_flatness(spectra.shaped_reference(image, 1.5)) < 0.2
    canvas = np.zeros((48, 40))
    canvas[12:36, 10:30] = spectra.normalized(image)
    flat, padded = spectra.spectral_flatness(image), spectra.spectral_flatness(canvas)
    assert padded == pytest.approx(flat, rel=0.25)


def test_phase_randomised_keeps_the_power_spectrum(image):
    out = spectra.phase_randomised(image, np.random.default_rng(0))
    a, b = np.abs(np.fft.rfft2(out)), np.abs(np.fft.rfft2(spectra.normalized(image)))
    a[0, 0] = b[0, 0] = 0
    assert np.allclose(a / a.sum(), b / b.sum())
    assert abs(np.corrcoef(out.ravel(), image.ravel())[0, 1]) < 0.3
    with pytest.raises(TypeError, match="Generator.*Fix"):
        spectra.phase_randomised(image, 0)


# --------------------------------------------------------------------------------------------
# soft alignment
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 6), (7, 7), (6, 9)])
def test_soft_alignment_equals_the_explicit_sum_over_shifts(shape):
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(shape)
    images = rng.standard_normal((3,) + shape)
    maps = align.correlation_maps(images, ref, workers=1).astype(np.float64)
    for sigma in (0.7, 2.0, 5.0):
        w = soft_weights(maps, sigma)
        expected = np.zeros_like(images)
        for i in range(images.shape[0]):
            for dy in range(shape[0]):
                for dx in range(shape[1]):
                    expected[i] += w[i, dy, dx] * np.roll(images[i], (-dy, -dx), axis=(0, 1))
        assert np.allclose(soft_aligned(images, maps, sigma), expected, atol=1e-12)
        total = np.fft.irfft2(soft_sum_spectra(images, maps, [sigma])[0], s=shape)
        assert np.allclose(total, expected.sum(axis=0), atol=1e-12)


def test_soft_weights_are_normalised_and_do_not_overflow():
    maps = np.random.default_rng(2).standard_normal((4, 8, 8)) * 1e6
    w = soft_weights(maps, 1.0)
    assert np.all(np.isfinite(w)) and np.allclose(w.sum(axis=(1, 2)), 1)


def test_soft_alignment_tends_to_hard_alignment_as_sigma_goes_to_zero():
    rng = np.random.default_rng(3)
    ref = rng.standard_normal((16, 16))
    images = rng.standard_normal((6, 16, 16)).astype(np.float32)
    maps = align.correlation_maps(images, ref, workers=1)
    shifts, _ = align.peak_shifts(maps)
    hard = align.apply_shifts(images, shifts)
    assert np.allclose(soft_aligned(images, maps, 1e-3), hard, atol=1e-6)


def test_soft_alignment_bad_widths():
    with pytest.raises(ValueError, match="sigma.*> 0.*Fix"):
        check_sigmas(0)
    with pytest.raises(TypeError, match="sigma.*Fix"):
        check_sigmas(["a"])
    with pytest.raises(ValueError, match="empty.*Fix"):
        check_sigmas([])
    with pytest.raises(ValueError, match="same shape.*Fix"):
        soft_aligned(np.zeros((2, 4, 4)), np.zeros((3, 4, 4)), 1.0)


# --------------------------------------------------------------------------------------------
# uncertainty
# --------------------------------------------------------------------------------------------
def test_standard_error_and_stream_seeds():
    assert uncertainty.standard_error([1, 2, 3, 4]) == pytest.approx(np.std([1, 2, 3, 4],
                                                                           ddof=1) / 2)
    assert math.isnan(uncertainty.standard_error([1.0]))
    seeds = {uncertainty.stream_seed(2013, e, v, t) for e in range(3) for v in range(3)
             for t in range(3)}
    assert len(seeds) == 27
    assert uncertainty.stream_seed(2013, 1, 2, 3) == uncertainty.stream_seed(2013, 1, 2, 3)
    with pytest.raises(ValueError, match="Fix"):
        uncertainty.stream_seed(2013, -1)


def test_jackknife_of_a_mean_is_the_standard_error():
    x = np.random.default_rng(4).standard_normal(12)
    jk = uncertainty.jackknife(lambda s: s.mean(), x)
    assert jk["estimate"] == pytest.approx(x.mean())
    assert jk["se"] == pytest.approx(x.std(ddof=1) / math.sqrt(12))


def test_slope_interval_covers_the_true_slope_about_95_percent_of_the_time():
    # calibration on synthetic curves with known slope -1 and correlated points along a curve
    rng = np.random.default_rng(6)
    n = np.array([100.0, 300, 1000, 3000, 10000])
    hits, reps = 0, 300
    for _ in range(reps):
        trial_offsets = rng.normal(0, 0.05, (8, 1))  # shared along each trial's curve
        y = 3.0 / n * np.exp(trial_offsets + rng.normal(0, 0.05, (8, n.size)))
        fit = uncertainty.loglog_slope(n, y)
        hits += fit["ci_low"] <= -1 <= fit["ci_high"]
    assert 0.89 <= hits / reps <= 0.99


def test_cc_limit_recovers_a_known_curve():
    rng = np.random.default_rng(7)
    n = np.array([100.0, 300, 1000, 3000, 10000])
    cc = uncertainty.cc_model(n, 0.9, 400.0) + rng.normal(0, 0.002, (10, n.size))
    fit = uncertainty.cc_limit(n, cc)
    assert fit["ci_low"] <= 0.9 <= fit["ci_high"] and fit["se"] < 0.01
    assert fit["c"] == pytest.approx(400, rel=0.1)
    with pytest.raises(ValueError, match="two N.*Fix"):
        uncertainty.cc_limit([100], [[0.5]])
