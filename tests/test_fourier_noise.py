"""Tests of fiji_bridge.fourier_noise: Fourier-space white noise with the exact variances."""

import numpy as np
import pytest

from fiji_bridge.fourier_noise import (
    SpectrumGenerator,
    fourier_noise_images,
    noise_spectra,
    spectrum_shape,
)
from fiji_bridge.philox import gaussian_stream

SHAPES = [(8, 6), (7, 5), (8, 5), (7, 6), (2, 2), (16, 9), (1, 6), (5, 1)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_spectrum_is_the_written_definition(shape):
    """Each coefficient, rebuilt by hand from the Gaussian stream of its image."""
    h, w = shape
    wc = w // 2 + 1
    c = np.float32(np.sqrt(h * w / 2))
    c1 = np.float32(np.sqrt(h * w))
    spectra = noise_spectra(3, 5, 8, shape)
    assert spectra.shape == (3, h, wc) and spectra.dtype == np.complex64
    for m, i in enumerate(range(5, 8)):
        g = gaussian_stream(3, i, 2 * h * wc).reshape(h, wc, 2)
        expected = np.empty((h, wc), dtype=np.complex64)
        self_cols = {0, w // 2} if w % 2 == 0 else {0}
        for ky in range(h):
            for kx in range(wc):
                if kx in self_cols and (ky == 0 or (h % 2 == 0 and ky == h // 2)):
                    expected[ky, kx] = complex(c1 * g[ky, kx, 0], 0.0)
                elif kx in self_cols and ky > h // 2:
                    src = g[h - ky, kx]
                    expected[ky, kx] = complex(c * src[0], -(c * src[1]))
                else:
                    expected[ky, kx] = complex(c * g[ky, kx, 0], c * g[ky, kx, 1])
        np.testing.assert_array_equal(spectra[m], expected)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_spectrum_round_trips_through_real_space(shape):
    """rfft2(irfft2(S)) == S: S is a valid (Hermitian) half-plane spectrum of a real image."""
    spectra = noise_spectra(1, 0, 50, shape).astype(np.complex128)
    back = np.fft.rfft2(np.fft.irfft2(spectra, s=shape))
    np.testing.assert_allclose(back, spectra, rtol=0, atol=1e-12 * np.abs(spectra).max())


@pytest.mark.parametrize("shape", [(8, 6), (7, 5), (8, 5), (7, 6)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_pixels_are_white_unit_normal(shape):
    """Over 40,000 images: each pixel has mean 0 and variance 1, distinct pixels are
    uncorrelated (the empirical covariance is the identity within 5 standard errors)."""
    n = 40_000
    x = fourier_noise_images(9, 0, n, shape, dtype=np.float64).reshape(n, -1)
    npix = x.shape[1]
    assert np.abs(x.mean(axis=0)).max() < 5 / np.sqrt(n)
    cov = x.T @ x / n
    se_diag = np.sqrt(2 / n)
    se_off = np.sqrt(1 / n)
    assert np.abs(np.diag(cov) - 1).max() < 5 * se_diag
    off = cov[~np.eye(npix, dtype=bool)]
    assert np.abs(off).max() < 5 * se_off
    # pooled variance, to 5 standard errors of the pooled estimate
    assert abs(np.diag(cov).mean() - 1) < 5 * np.sqrt(2 / (n * npix))


def test_float32_images_are_the_rounded_float64_images():
    a32 = fourier_noise_images(2, 10, 20, (9, 8), dtype=np.float32)
    a64 = fourier_noise_images(2, 10, 20, (9, 8), dtype=np.float64)
    assert a32.dtype == np.float32 and a64.dtype == np.float64
    np.testing.assert_array_equal(a32, a64.astype(np.float32))
    assert np.abs(a64).max() > 1  # not degenerate


def test_any_range_gives_the_same_images():
    whole = noise_spectra(4, 0, 40, (6, 6))
    parts = np.concatenate([noise_spectra(4, a, b, (6, 6)) for a, b in [(0, 3), (3, 3), (3, 29), (29, 40)]])
    np.testing.assert_array_equal(whole, parts)
    gen = SpectrumGenerator(4, (6, 6))
    buf = gen.empty(8)
    gen.fill(17, buf, 5)
    np.testing.assert_array_equal(buf[:5], whole[17:22])
    assert not np.array_equal(noise_spectra(5, 0, 1, (6, 6)), whole[:1])
    assert not np.array_equal(noise_spectra(4, 2**32, 2**32 + 1, (6, 6)), whole[:1])


def test_spectrum_shape():
    assert spectrum_shape((7, 9)) == (7, 5)
    assert spectrum_shape((8, 8)) == (8, 5)


@pytest.mark.parametrize(
    "args,exc",
    [
        ((-1, 0, 1, (4, 4)), ValueError),
        ((1.0, 0, 1, (4, 4)), TypeError),
        ((0, 2, 1, (4, 4)), ValueError),
        ((0, -1, 1, (4, 4)), ValueError),
        ((0, 0, 1, (0, 4)), ValueError),
        ((0, 0, 1, (4,)), TypeError),
        ((0, 0, 1, 4), TypeError),
        ((0, 0, 1.5, (4, 4)), TypeError),
    ],
)
def test_bad_arguments(args, exc):
    with pytest.raises(exc, match="Fix"):
        noise_spectra(*args)


def test_bad_dtype():
    with pytest.raises(TypeError, match="Fix"):
        fourier_noise_images(0, 0, 1, (4, 4), dtype=np.int32)
