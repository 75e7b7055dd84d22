"""Helpers shared by the streaming-engine tests (test_engine, test_fourier_engine)."""

import numpy as np

RESULT_ARRAYS = ("counts", "aligned_means", "unaligned_means", "shifts", "peaks",
                 "shift_histogram", "example_noise", "example_aligned", "example_maps")


def smooth_reference(shape, seed=0, sigma=2.0):
    """Normalised low-pass noise: a reference with structure at several scales."""
    h, w = shape
    x = np.random.default_rng(seed).standard_normal(shape)
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    r = np.fft.irfft2(np.fft.rfft2(x) * np.exp(-2 * (np.pi * sigma) ** 2 * (ky**2 + kx**2)), s=shape)
    return ((r - r.mean()) / r.std()).astype(np.float32)


def assert_same(a, b):
    """Bit-identical stream results (arrays, dtypes and the peak summary)."""
    for name in RESULT_ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
        else:
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.peak_summary == b.peak_summary
