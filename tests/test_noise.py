"""Tests of fiji_bridge.noise: the seeded noise sequence (pure numpy, no Java)."""

import numpy as np
import pytest

from fiji_bridge.noise import RNG_BLOCK, noise_images


@pytest.fixture(params=[(16, 16), (15, 15), (17, 12)], ids=lambda s: f"{s[0]}x{s[1]}")
def shape(request):
    return request.param


def test_shape_and_dtype(shape):
    x = noise_images(3, 5, 12, shape)
    assert x.shape == (7, *shape)
    assert x.dtype == np.float32
    x64 = noise_images(3, 5, 12, shape, dtype=np.float64)
    assert x64.dtype == np.float64
    # Same noise: the float32 images are the float64 ones rounded once.
    np.testing.assert_array_equal(x, x64.astype(np.float32))


def test_empty_range(shape):
    x = noise_images(0, 10, 10, shape)
    assert x.shape == (0, *shape)


def test_image_depends_only_on_seed_and_index(shape):
    n = 2 * RNG_BLOCK + 11
    full = noise_images(7, 0, n, shape)
    # Arbitrary splits, across and inside RNG blocks.
    cuts = [0, 1, RNG_BLOCK - 1, RNG_BLOCK, RNG_BLOCK + 1, 2 * RNG_BLOCK + 3, n]
    parts = [noise_images(7, a, b, shape) for a, b in zip(cuts[:-1], cuts[1:])]
    np.testing.assert_array_equal(np.concatenate(parts), full)
    for i in (0, RNG_BLOCK - 1, RNG_BLOCK, n - 1):
        np.testing.assert_array_equal(noise_images(7, i, i + 1, shape)[0], full[i])


def test_seeds_give_different_noise(shape):
    a = noise_images(1, 0, 3, shape)
    b = noise_images(2, 0, 3, shape)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, noise_images(1, 0, 3, shape))
    # Different images of one sequence differ too (including across blocks).
    x = noise_images(1, RNG_BLOCK - 1, RNG_BLOCK + 1, shape)
    assert not np.array_equal(x[0], x[1])


def test_documented_definition():
    """Image i is irfft2 (float64) of the i-th Fourier-space spectrum of the seed."""
    from fiji_bridge.fourier_noise import noise_spectra

    seed, shape = 11, (9, 10)
    spectra = noise_spectra(seed, 130, 140, shape)
    expected = np.fft.irfft2(spectra.astype(np.complex128), s=shape)
    np.testing.assert_array_equal(noise_images(seed, 130, 140, shape, dtype=np.float64), expected)
    np.testing.assert_array_equal(noise_images(seed, 130, 140, shape), expected.astype(np.float32))


def test_white_gaussian_statistics():
    n, shape = 2000, (16, 16)
    x = noise_images(123, 0, n, shape).astype(np.float64)
    m = x.size
    assert abs(x.mean()) < 5 / np.sqrt(m)
    assert abs(x.var() - 1.0) < 5 * np.sqrt(2.0 / m)
    # Gaussian tail mass: P(|z| > 2) = 0.0455.
    frac = np.mean(np.abs(x) > 2.0)
    assert abs(frac - 0.0455) < 5 * np.sqrt(0.0455 * 0.9545 / m)

    def corr(a, b):
        a = a.ravel() - a.mean()
        b = b.ravel() - b.mean()
        return float(a @ b / np.sqrt((a @ a) * (b @ b)))

    tol = 5 / np.sqrt(m)
    assert abs(corr(x[:, :, 1:], x[:, :, :-1])) < tol  # horizontal neighbours
    assert abs(corr(x[:, 1:, :], x[:, :-1, :])) < tol  # vertical neighbours
    assert abs(corr(x[1:], x[:-1])) < tol  # consecutive images
    assert abs(corr(x[RNG_BLOCK:], x[:-RNG_BLOCK])) < tol  # same position in the next block


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(seed=-1), ValueError, "non-negative"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(seed=True), TypeError, "seed"),
        (dict(start=-1), ValueError, "start"),
        (dict(start=5, stop=4), ValueError, "stop must be >= start"),
        (dict(stop=2.0), TypeError, "stop"),
        (dict(shape=(0, 5)), ValueError, r"sides >= 1, got \(0, 5\)"),
        (dict(shape=(4, 4, 4)), TypeError, r"\(H, W\)"),
        (dict(shape=5), TypeError, r"\(H, W\)"),
        (dict(shape=(4.0, 4)), TypeError, r"\(H, W\)"),
        (dict(dtype=np.int32), TypeError, "float32"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = dict(seed=0, start=0, stop=3, shape=(8, 8))
    dtype = kwargs.pop("dtype", np.float32)
    args.update(kwargs)
    with pytest.raises(exc, match=match) as info:
        noise_images(args["seed"], args["start"], args["stop"], args["shape"], dtype=dtype)
    assert ". Fix: " in str(info.value)
