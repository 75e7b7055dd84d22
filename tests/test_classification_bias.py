"""Why one class takes most pure-noise images: peak heights and spectral flatness (numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from fiji_bridge.align import correlation_maps, peak_shifts
from fiji_bridge.controls import class_mean_peaks, classify
from fiji_bridge.metrics import spectral_flatness


def test_spectral_flatness_values():
    rng = np.random.default_rng(0)
    white = rng.standard_normal((64, 64))
    # |F|^2 of white noise is exponential: geometric / arithmetic mean -> exp(-Euler gamma)
    assert spectral_flatness(white) == pytest.approx(np.exp(-np.euler_gamma), abs=0.03)
    smooth = gaussian_filter(white, 3, mode="wrap")
    assert spectral_flatness(smooth) < 0.01
    # a flat spectrum: a delta (every frequency of power 1 apart from the removed mean)
    delta = np.zeros((16, 16))
    delta[3, 5] = 1
    assert spectral_flatness(delta) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="constant.*Fix"):
        spectral_flatness(np.ones((8, 8)))
    with pytest.raises(ValueError, match="2-D"):
        spectral_flatness(np.ones(8))


def test_the_flatter_reference_takes_most_pure_noise_images():
    rng = np.random.default_rng(1)
    flat = gaussian_filter(rng.standard_normal((32, 32)), 0.7, mode="wrap")
    smooth = gaussian_filter(rng.standard_normal((32, 32)), 2.5, mode="wrap")
    assert spectral_flatness(flat) > spectral_flatness(smooth)
    noise = rng.standard_normal((600, 32, 32)).astype(np.float32)
    result = classify(noise, np.stack([smooth, flat]))
    assert result.class_sizes[1] > 0.7 * 600
    # each reference's mean peak over all images: the flatter one is higher
    assert result.reference_mean_peaks[1] > result.reference_mean_peaks[0]
    for k in range(2):
        _, pk = peak_shifts(correlation_maps(noise, result.references[k]))
        assert result.reference_mean_peaks[k] == pytest.approx(pk.mean(dtype=np.float64),
                                                                rel=1e-6)
    means = class_mean_peaks(result)
    for k in range(2):
        assert means[k] == pytest.approx(result.peaks[result.labels == k].mean(dtype=np.float64),
                                         rel=1e-6)


def test_class_mean_peaks_of_an_empty_class_is_nan():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((16, 16))
    result = classify(rng.standard_normal((5, 16, 16)), np.stack([ref, ref]))
    assert result.class_sizes.tolist() == [5, 0]  # ties go to the lower index
    means = class_mean_peaks(result)
    assert np.isfinite(means[0]) and np.isnan(means[1])
