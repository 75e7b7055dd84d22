"""Tests of fiji_bridge.fourier_engine against its slow float64 real-space reference path."""

import numpy as np
import pytest

from fiji_bridge.align import correlation_maps
from fiji_bridge.fourier_engine import SUM_BLOCK, phase_table, run_task, stream_fourier
from fiji_bridge.fourier_noise import fourier_noise_images
from fiji_bridge.fourier_reference import reference_alignment
from stream_helpers import assert_same, smooth_reference

N = 300
# Counts at 1, inside the first block, at a block end, just after, inside later blocks, at N.
COUNTS = [1, 7, SUM_BLOCK, SUM_BLOCK + 1, 2 * SUM_BLOCK + 5, 200, N - 1, N]


@pytest.fixture(params=[(16, 16), (15, 15), (17, 12), (12, 9)], ids=lambda s: f"{s[0]}x{s[1]}")
def shape(request):
    return request.param


@pytest.fixture
def reference(shape):
    return smooth_reference(shape)


def test_fast_engine_equals_the_float64_real_space_reference(reference):
    fast = stream_fourier(reference, N, seed=3, counts=COUNTS, workers=1)
    slow = reference_alignment(reference, N, seed=3, counts=COUNTS)
    # Shifts identical wherever the top two float64 map values differ by more than the float32
    # maps' rounding (relative 1e-5); near-ties are rare, and here there are none at all.
    top = slow["maps_top2"]
    clear = (top[:, 0] - top[:, 1]) > 1e-5 * np.abs(top[:, 0])
    assert clear.all()
    np.testing.assert_array_equal(fast.shifts.astype(np.int64), slow["shifts"])
    np.testing.assert_allclose(fast.peaks, slow["peaks"], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(fast.counts, slow["counts"])
    # Fourier-space float64 sums with exact phase ramps == real-space roll-and-sum.
    np.testing.assert_allclose(fast.aligned_means, slow["aligned_means"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.unaligned_means, slow["unaligned_means"], rtol=0, atol=1e-12)
    assert np.abs(fast.aligned_means[-1]).max() > 0.05  # not trivially zero


@pytest.mark.parametrize("block_size,workers", [(64, 2), (128, 3), (320, 2), (10_000, 1)])
def test_bit_identical_for_any_block_size_and_thread_count(reference, block_size, workers):
    base = stream_fourier(reference, N, seed=5, counts=COUNTS, workers=1, block_size=64)
    other = stream_fourier(reference, N, seed=5, counts=COUNTS, workers=workers, block_size=block_size)
    assert_same(base, other)


def test_counts_inside_a_run_equal_shorter_runs(reference):
    res = stream_fourier(reference, N, seed=1, counts=COUNTS, workers=2)
    for j, c in enumerate(COUNTS):
        short = stream_fourier(reference, c, seed=1, workers=1, keep_examples=0)
        np.testing.assert_array_equal(res.aligned_means[j], short.aligned_means[0])
        np.testing.assert_array_equal(res.unaligned_means[j], short.unaligned_means[0])


def test_examples_are_the_real_space_noise_and_its_maps(reference):
    res = stream_fourier(reference, 100, seed=2, keep_examples=10, workers=1)
    noise = fourier_noise_images(2, 0, 10, reference.shape)
    np.testing.assert_array_equal(res.example_noise, noise)
    for i in range(10):
        dy, dx = (int(v) for v in res.shifts[i])
        np.testing.assert_array_equal(res.example_aligned[i], np.roll(noise[i], (-dy, -dx), axis=(0, 1)))
    maps = correlation_maps(noise, reference, workers=1)
    np.testing.assert_allclose(res.example_maps, maps, rtol=0, atol=1e-4 * np.abs(maps).max())


def test_result_bookkeeping(reference):
    calls = []
    res = stream_fourier(reference, 200, seed=0, workers=2, block_size=64,
                         progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (200, 200) and len(calls) == 4
    h, w = reference.shape
    assert res.shift_histogram.sum() == 200
    hist = np.zeros((h, w), np.int64)
    np.add.at(hist, (res.shifts[:, 0] % h, res.shifts[:, 1] % w), 1)
    np.testing.assert_array_equal(hist, res.shift_histogram)
    p = res.peaks.astype(np.float64)
    assert res.peak_summary["count"] == 200
    assert res.peak_summary["mean"] == pytest.approx(p.mean(), rel=1e-12)
    assert res.peak_summary["std"] == pytest.approx(p.std(), rel=1e-9)
    assert (res.peak_summary["min"], res.peak_summary["max"]) == (p.min(), p.max())
    lean = stream_fourier(reference, 200, seed=0, workers=1, keep_shifts=False, keep_examples=0)
    assert lean.shifts is None and lean.peaks is None
    np.testing.assert_array_equal(lean.shift_histogram, res.shift_histogram)
    np.testing.assert_array_equal(lean.aligned_means, res.aligned_means)


def test_pyfftw_backend_finds_the_same_shifts(reference):
    pytest.importorskip("pyfftw")
    a = stream_fourier(reference, 200, seed=4, workers=1)
    b = stream_fourier(reference, 200, seed=4, workers=2, fft_backend="pyfftw")
    np.testing.assert_array_equal(a.shifts, b.shifts)
    np.testing.assert_allclose(a.aligned_means, b.aligned_means, rtol=0, atol=1e-12)


def test_the_reference_emerges_from_aligned_noise():
    """Einstein from noise: the aligned mean correlates with the reference, the control not.

    Calibrated against the reference path (same noise): the correlation grows with n.
    """
    ref = smooth_reference((32, 32), seed=7)
    res = stream_fourier(ref, 2000, seed=0, counts=[100, 2000], workers=2)

    def cc(a, b):
        a = a - a.mean()
        b = b - b.mean()
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    c100, c2000 = (cc(m, ref) for m in res.aligned_means)
    assert c2000 > c100 > 0.1
    assert abs(cc(res.unaligned_means[-1], ref)) < 5 / 32  # ~ 1/sqrt(pixels) for noise


def test_phase_table_is_hermitian_and_exact_where_it_can_be():
    for n in (1, 2, 7, 8, 128):
        t = phase_table(n)
        z = t[:, 0] + 1j * t[:, 1]
        np.testing.assert_allclose(z, np.exp(2j * np.pi * np.arange(n) / n), atol=1e-15)
        np.testing.assert_array_equal(z[1:], np.conj(z[1:][::-1]))
        assert z[0] == 1
        if n % 2 == 0:
            assert z[n // 2] == -1


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        ({"n_images": 0}, ValueError),
        ({"n_images": 2.0}, TypeError),
        ({"seed": -1}, ValueError),
        ({"seed": "a"}, TypeError),
        ({"counts": [0]}, ValueError),
        ({"counts": [11]}, ValueError),
        ({"counts": []}, ValueError),
        ({"counts": [1.5]}, TypeError),
        ({"block_size": 0}, ValueError),
        ({"workers": 0}, ValueError),
        ({"workers": True}, TypeError),
        ({"keep_examples": -1}, ValueError),
        ({"keep_shifts": 1}, TypeError),
        ({"fft_backend": "numpy"}, ValueError),
        ({"progress": 3}, TypeError),
        ({"reference": np.zeros((1, 8))}, ValueError),
        ({"reference": np.full((4, 4), np.nan)}, ValueError),
        ({"reference": np.zeros((4, 4), bool)}, TypeError),
    ],
)
def test_bad_arguments(kwargs, exc):
    args = {"reference": np.ones((8, 8), np.float32), "n_images": 10, "seed": 0}
    args.update(kwargs)
    ref = args.pop("reference")
    n = args.pop("n_images")
    with pytest.raises(exc, match="Fix"):
        stream_fourier(ref, n, **args)


def test_threads_inside_a_task_give_the_same_block_sums(reference):
    """A Dask task runs its blocks on ``threads`` threads (the Dask client path itself is
    tested in test_engine): the block results are the same bits as on one thread."""
    ref32 = np.ascontiguousarray(reference, dtype=np.float32)
    args = (ref32, 8, "scipy", N, 16, np.dtype(np.int16).str, {1: (5,)}, 0, 4)
    one = run_task(*args, 1)
    two = run_task(*args, 3)
    assert len(one["light"]) == len(two["light"]) == 4
    for a, b in zip(one["light"], two["light"]):
        assert a["block"] == b["block"]
        for key in ("shifts", "peaks"):
            np.testing.assert_array_equal(a[key], b[key])
    for a, b in zip(one["node"]["sums"], two["node"]["sums"]):
        np.testing.assert_array_equal(a, b)
    assert one["node"]["prefix"].keys() == two["node"]["prefix"].keys() == {69}
    for a, b in zip(one["node"]["prefix"][69], two["node"]["prefix"][69]):
        np.testing.assert_array_equal(a, b)


def test_stream_alignment_runs_this_engine_by_default(reference):
    from fiji_bridge.engine import StreamResult, stream_alignment

    a = stream_fourier(reference, 100, seed=1, workers=1)
    b = stream_alignment(reference, 100, seed=1, workers=1)
    assert isinstance(b, StreamResult)
    assert_same(a, b)


def test_stream_alignment_rejects_an_unknown_noise():
    from fiji_bridge.engine import stream_alignment

    with pytest.raises(ValueError, match="Fix"):
        stream_alignment(np.ones((8, 8)), 10, seed=0, noise="gaussian")
