"""Tests of fiji_bridge.align: FFT cross-correlation alignment (pure numpy, no Java)."""

import numpy as np
import pytest

from fiji_bridge.align import (
    AlignmentResult,
    align_to_reference,
    apply_shifts,
    centered,
    correlation_maps,
    peak_shifts,
)

try:
    import pyfftw  # noqa: F401

    HAVE_PYFFTW = True
except ImportError:  # pragma: no cover
    HAVE_PYFFTW = False

BACKENDS = ["scipy", pytest.param("pyfftw", marks=pytest.mark.skipif(not HAVE_PYFFTW, reason="no pyfftw"))]


@pytest.fixture(params=[(16, 16), (15, 15), (17, 12)], ids=lambda s: f"{s[0]}x{s[1]}")
def shape(request):
    return request.param


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def reference(shape):
    r = np.random.default_rng(42).standard_normal(shape)
    return ((r - r.mean()) / r.std()).astype(np.float32)


def signed_range(n):
    return -(n // 2), n - n // 2 - 1


def known_shifts(shape):
    """Shifts including 0, negative values and both ends of the signed range."""
    h, w = shape
    (ylo, yhi), (xlo, xhi) = signed_range(h), signed_range(w)
    return np.array(
        [(0, 0), (1, -1), (-1, 2), (3, -5), (ylo, xlo), (yhi, xhi), (ylo, xhi), (yhi, xlo), (ylo + 1, 0)]
    )


def shifted_stack(reference, shifts, dtype, noise=0.0, seed=0):
    """image_k = roll(reference, d_k), so image_k[p + d_k] = reference[p]."""
    imgs = np.stack([np.roll(reference, tuple(d), axis=(0, 1)) for d in shifts]).astype(dtype)
    if noise:
        imgs = imgs + noise * np.random.default_rng(seed).standard_normal(imgs.shape).astype(dtype)
    return imgs


def brute_force_map(image, reference):
    """c[d] = sum_p n[p + d] r[p] straight from the definition (float64)."""
    h, w = reference.shape
    out = np.empty((h, w))
    n = image.astype(np.float64)
    r = reference.astype(np.float64)
    for dy in range(h):
        for dx in range(w):
            out[dy, dx] = np.sum(np.roll(n, (-dy, -dx), axis=(0, 1)) * r)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_matches_definition(shape, dtype, reference, backend):
    img = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    maps = correlation_maps(img, reference, fft_backend=backend)
    assert maps.shape == shape and maps.dtype == np.float32
    expected = brute_force_map(img, reference)
    np.testing.assert_allclose(maps, expected, rtol=0, atol=2e-4 * np.abs(expected).max())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("noise", [0.0, 0.3], ids=["clean", "noisy"])
def test_known_shifts_are_recovered_exactly(shape, dtype, reference, backend, noise):
    d = known_shifts(shape)
    imgs = shifted_stack(reference, d, dtype, noise=noise)
    shifts, peaks = peak_shifts(correlation_maps(imgs, reference, fft_backend=backend))
    np.testing.assert_array_equal(shifts, d)
    assert shifts.shape == (len(d), 2) and np.issubdtype(shifts.dtype, np.integer)
    assert peaks.dtype == np.float32 and peaks.shape == (len(d),)
    if not noise:
        # The peak of an exact copy is the energy of the reference.
        np.testing.assert_allclose(peaks, np.sum(reference.astype(np.float64) ** 2), rtol=1e-5)


def test_shifts_outside_the_signed_range_are_wrapped(shape, reference):
    h, w = shape
    imgs = shifted_stack(reference, [(h - 1, w - 2), (h + 2, -w - 3)], np.float32)
    shifts, _ = peak_shifts(correlation_maps(imgs, reference))
    np.testing.assert_array_equal(shifts, [(-1, -2), (2, -3)])


def test_apply_shifts_undoes_the_shift_exactly(shape, dtype, reference):
    d = known_shifts(shape)
    imgs = shifted_stack(reference, d, dtype)
    aligned = apply_shifts(imgs, d)
    assert aligned.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(aligned, np.broadcast_to(reference.astype(dtype), imgs.shape))
    # Same as np.roll by minus the shift, for arbitrary (also unwrapped) shifts.
    x = np.random.default_rng(3).standard_normal((4, *shape)).astype(dtype)
    s = np.array([(0, 0), (-7, 30), (5, -1), (100, -100)])
    expected = np.stack([np.roll(x[i], tuple(-s[i]), axis=(0, 1)) for i in range(4)])
    np.testing.assert_array_equal(apply_shifts(x, s), expected)
    np.testing.assert_array_equal(apply_shifts(x[1], s[1]), expected[1])


def test_align_to_reference_recovers_reference(shape, dtype, reference):
    d = known_shifts(shape)
    imgs = shifted_stack(reference, d, dtype)
    res = align_to_reference(imgs, reference, workers=2)
    assert isinstance(res, AlignmentResult) and res.maps is None
    np.testing.assert_array_equal(res.shifts, d)
    np.testing.assert_array_equal(res.aligned, np.broadcast_to(reference.astype(dtype), imgs.shape))


def test_peak_value_identity(shape, dtype, reference):
    """sum_p a[p] r[p] = c[d]: the aligned image realises the peak of its map."""
    noise = np.random.default_rng(5).standard_normal((20, *shape)).astype(dtype)
    res = align_to_reference(noise, reference, return_maps=True)
    h, w = shape
    r64 = reference.astype(np.float64)
    dots = np.einsum("nij,ij->n", res.aligned.astype(np.float64), r64)
    np.testing.assert_allclose(res.peaks, dots, rtol=2e-5, atol=1e-4)
    idx = (res.shifts[:, 0] % h, res.shifts[:, 1] % w)
    np.testing.assert_array_equal(res.maps[np.arange(20), idx[0], idx[1]], res.peaks)
    np.testing.assert_array_equal(res.peaks, res.maps.reshape(20, -1).max(axis=1))
    # The pieces agree with each other.
    shifts, peaks = peak_shifts(res.maps)
    np.testing.assert_array_equal(shifts, res.shifts)
    np.testing.assert_array_equal(res.aligned, apply_shifts(noise, res.shifts))


def test_every_peak_position_maps_to_the_signed_shift(shape):
    h, w = shape
    maps = np.zeros((h * w, h, w), dtype=np.float32)
    maps[(np.arange(h * w),) + np.unravel_index(np.arange(h * w), shape)] = 1.0
    shifts, peaks = peak_shifts(maps)
    (ylo, yhi), (xlo, xhi) = signed_range(h), signed_range(w)
    assert shifts[:, 0].min() == ylo and shifts[:, 0].max() == yhi
    assert shifts[:, 1].min() == xlo and shifts[:, 1].max() == xhi
    iy, ix = np.unravel_index(np.arange(h * w), shape)
    np.testing.assert_array_equal(shifts[:, 0] % h, iy)
    np.testing.assert_array_equal(shifts[:, 1] % w, ix)
    np.testing.assert_array_equal(peaks, 1.0)


def test_ties_pick_the_first_maximum_in_c_order():
    m = np.zeros((6, 5), dtype=np.float32)
    m[4, 1] = m[2, 3] = m[2, 4] = 2.0
    shifts, peak = peak_shifts(m)
    np.testing.assert_array_equal(shifts, (2, -2))  # index (2, 3); 3 -> -2 for W = 5
    assert peak == np.float32(2.0)


def test_single_image_api(shape, reference):
    img = np.roll(reference, (2, -3), axis=(0, 1))
    res = align_to_reference(img, reference, return_maps=True)
    assert res.aligned.shape == shape and res.maps.shape == shape
    assert res.shifts.shape == (2,)
    np.testing.assert_array_equal(res.shifts, (2, -3))
    assert np.ndim(res.peaks) == 0
    np.testing.assert_array_equal(res.aligned, reference)


def test_centered_puts_zero_shift_in_the_middle(shape, reference):
    h, w = shape
    maps = correlation_maps(reference, reference)  # autocorrelation: peak at zero shift
    c = centered(maps)
    assert np.unravel_index(np.argmax(c), c.shape) == (h // 2, w // 2)
    # Shift d sits at (H//2 + dy, W//2 + dx) for every signed shift d.
    m = np.arange(h * w, dtype=np.float32).reshape(shape)
    cm = centered(m[np.newaxis])[0]
    (ylo, yhi), (xlo, xhi) = signed_range(h), signed_range(w)
    for dy in (ylo, -1, 0, 1, yhi):
        for dx in (xlo, 0, xhi):
            assert cm[h // 2 + dy, w // 2 + dx] == m[dy % h, dx % w]


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_do_not_depend_on_workers(backend):
    ref = np.random.default_rng(0).standard_normal((17, 12)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal((45, 17, 12)).astype(np.float32)
    a = align_to_reference(x, ref, workers=1, return_maps=True, fft_backend=backend)
    b = align_to_reference(x, ref, workers=2, return_maps=True, fft_backend=backend)
    c = align_to_reference(x, ref, workers=5, return_maps=True, fft_backend=backend)
    for r in (b, c):
        np.testing.assert_array_equal(r.maps, a.maps)
        np.testing.assert_array_equal(r.shifts, a.shifts)
        np.testing.assert_array_equal(r.peaks, a.peaks)
        np.testing.assert_array_equal(r.aligned, a.aligned)


@pytest.mark.skipif(not HAVE_PYFFTW, reason="no pyfftw")
def test_backends_agree(reference):
    x = np.random.default_rng(2).standard_normal((30, *reference.shape)).astype(np.float32)
    a = correlation_maps(x, reference, fft_backend="scipy")
    b = correlation_maps(x, reference, fft_backend="pyfftw")
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * np.abs(a).max())


def test_integer_images_are_accepted(reference):
    img = np.round(10 * np.roll(reference, (1, 2), axis=(0, 1))).astype(np.int16)
    res = align_to_reference(img, reference)
    np.testing.assert_array_equal(res.shifts, (1, 2))
    assert res.aligned.dtype == np.int16


# ---------------------------------------------------------------------------- bad input
REF = np.random.default_rng(9).standard_normal((8, 8)).astype(np.float32)
IMGS = np.random.default_rng(10).standard_normal((3, 8, 8)).astype(np.float32)


def _with(arr, idx, value):
    out = arr.copy()
    out[idx] = value
    return out


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: correlation_maps(IMGS[0, 0], REF), ValueError, r"one image \(H, W\) or a stack"),
        (lambda: correlation_maps(IMGS[None], REF), ValueError, r"one image \(H, W\) or a stack"),
        (lambda: correlation_maps(IMGS[:, :7], REF), ValueError, "reference has shape"),
        (lambda: correlation_maps(IMGS, REF[None]), ValueError, "2-D image"),
        (lambda: correlation_maps(IMGS, REF[:1]), ValueError, "at least 2 x 2"),
        (lambda: correlation_maps(IMGS, _with(REF, (2, 3), np.nan)), ValueError, "reference contains NaN"),
        (lambda: correlation_maps(_with(IMGS, (1, 2, 3), np.inf), REF), ValueError, "image 1 contains NaN"),
        (lambda: correlation_maps(IMGS.astype(complex), REF), TypeError, "real numbers"),
        (lambda: correlation_maps(IMGS > 0, REF), TypeError, "real numbers"),
        (lambda: correlation_maps([["a"]], REF), TypeError, "real numbers"),
        (lambda: correlation_maps(IMGS, REF, workers=0), ValueError, "workers must be >= 1"),
        (lambda: correlation_maps(IMGS, REF, workers=1.5), TypeError, "workers"),
        (lambda: correlation_maps(IMGS, REF, fft_backend="numpy"), ValueError, "fft_backend"),
        (lambda: align_to_reference(IMGS[:, :, :5], REF), ValueError, "reference has shape"),
        (lambda: align_to_reference(_with(IMGS, (0, 0, 0), np.nan), REF), ValueError, "image 0"),
        (lambda: peak_shifts(_with(IMGS, (2, 0, 0), np.nan)), ValueError, "map 2 contains NaN"),
        (lambda: peak_shifts(IMGS[0, 0]), ValueError, "maps must be"),
        (lambda: apply_shifts(IMGS, np.zeros((3, 2)) + 0.5), TypeError, "shifts must be integers"),
        (lambda: apply_shifts(IMGS, np.zeros((2, 2), int)), ValueError, r"shape \(3, 2\)"),
        (lambda: apply_shifts(IMGS[0], np.zeros((1, 2), int)), ValueError, r"shape \(2,\)"),
        (lambda: centered(np.zeros(5)), ValueError, "at least 2 dimensions"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert ". Fix: " in str(info.value)
