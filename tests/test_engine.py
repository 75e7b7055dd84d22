"""Tests of fiji_bridge.engine: streaming alignment, reproducibility, Dask (pure numpy, no Java)."""

import time
import tracemalloc

import numpy as np
import pytest

from fiji_bridge.align import align_to_reference, centered, correlation_maps
from fiji_bridge.engine import SchedulerConnectionError, StreamResult, stream_alignment
from fiji_bridge.noise import RNG_BLOCK, noise_images
from stream_helpers import assert_same, smooth_reference


@pytest.fixture(params=[(16, 16), (15, 15), (17, 12)], ids=lambda s: f"{s[0]}x{s[1]}")
def shape(request):
    return request.param


@pytest.fixture
def reference(shape):
    return smooth_reference(shape)


# Counts at 1, inside the first block, at a block end, just after it, inside later blocks, and
# at n_images (which falls inside the last, partial block for n = 300).
N = 300
COUNTS = [1, 7, RNG_BLOCK, RNG_BLOCK + 1, 2 * RNG_BLOCK + 5, 200, N - 1, N]


def test_matches_in_memory_alignment(shape, reference):
    """The engine aligns the spectra of the noise; aligning the float32 images in memory finds
    the same shifts (no near-tie here) and the same means to float32 rounding."""
    res = stream_alignment(reference, N, seed=5, counts=COUNTS, workers=1, keep_examples=10)
    imgs = noise_images(5, 0, N, shape)
    direct = align_to_reference(imgs, reference, return_maps=True)

    np.testing.assert_array_equal(res.counts, sorted(set(COUNTS)))
    np.testing.assert_array_equal(res.shifts, direct.shifts)
    np.testing.assert_allclose(res.peaks, direct.peaks, rtol=1e-5, atol=1e-5)
    assert res.aligned_means.shape == (len(COUNTS), *shape)
    assert res.aligned_means.dtype == np.float64
    for j, n in enumerate(res.counts):
        np.testing.assert_allclose(
            res.aligned_means[j], direct.aligned[:n].astype(np.float64).mean(axis=0), rtol=0, atol=1e-6
        )
        np.testing.assert_allclose(
            res.unaligned_means[j], imgs[:n].astype(np.float64).mean(axis=0), rtol=0, atol=1e-6
        )
    np.testing.assert_array_equal(res.example_noise, imgs[:10])
    np.testing.assert_array_equal(res.example_aligned, direct.aligned[:10])
    np.testing.assert_allclose(res.example_maps, direct.maps[:10], rtol=0, atol=1e-4)
    np.testing.assert_allclose(res.example_maps, correlation_maps(imgs[:10], reference), rtol=0, atol=1e-4)
    assert res.n_images == N and res.seed == 5 and res.rng_block == RNG_BLOCK


def test_former_sfc64_engine_still_runs():
    """noise="sfc64": the former real-space engine, for comparison (its own noise)."""
    ref = smooth_reference((16, 16))
    a = stream_alignment(ref, 200, seed=5, counts=[64, 200], workers=1, noise="sfc64")
    b = stream_alignment(ref, 200, seed=5, counts=[64, 200], workers=2, block_size=128, noise="sfc64")
    assert_same(a, b)
    assert not np.array_equal(a.example_noise, noise_images(5, 0, 16, (16, 16)))


def test_bit_identical_across_block_sizes_and_workers(shape, reference):
    n = 700
    counts = [3, 64, 100, 333, 640, 699, 700]
    base = stream_alignment(reference, n, seed=9, counts=counts, block_size=64, workers=1)
    for block_size, workers in [(100, 1), (100, 2), (1000, 1), (1000, 2), (None, 2), (64, 3)]:
        other = stream_alignment(reference, n, seed=9, counts=counts, block_size=block_size, workers=workers)
        assert_same(base, other)
    assert base.block_size == 64
    assert stream_alignment(reference, 10, seed=9, block_size=100, workers=1).block_size == 128


def test_the_einstein_effect_appears():
    """Aligned noise averages towards the reference; unaligned noise does not."""
    ref = smooth_reference((32, 32), seed=3)
    res = stream_alignment(ref, 2000, seed=1, counts=[50, 2000], workers=2)

    def cc(m):
        return np.corrcoef(m.ravel(), ref.ravel())[0, 1]

    aligned = [cc(m) for m in res.aligned_means]
    unaligned = [cc(m) for m in res.unaligned_means]
    assert aligned[1] > 0.8
    assert aligned[1] > aligned[0]
    assert max(abs(c) for c in unaligned) < 0.2
    # The control average has the variance of a mean of n white images.
    assert abs(res.unaligned_means[1].var() * 2000 - 1.0) < 0.25


def test_keep_shifts_false_keeps_summaries(reference):
    a = stream_alignment(reference, 400, seed=2, counts=[10, 400], workers=2)
    b = stream_alignment(reference, 400, seed=2, counts=[10, 400], workers=2, keep_shifts=False)
    assert b.shifts is None and b.peaks is None
    np.testing.assert_array_equal(a.aligned_means, b.aligned_means)
    np.testing.assert_array_equal(a.shift_histogram, b.shift_histogram)
    assert a.peak_summary == b.peak_summary
    h, w = reference.shape
    expected = np.zeros((h, w), dtype=np.int64)
    np.add.at(expected, (a.shifts[:, 0] % h, a.shifts[:, 1] % w), 1)
    np.testing.assert_array_equal(a.shift_histogram, expected)
    assert b.shift_histogram.sum() == 400
    p = a.peaks.astype(np.float64)
    assert b.peak_summary["count"] == 400
    np.testing.assert_allclose(b.peak_summary["mean"], p.mean(), rtol=1e-12)
    np.testing.assert_allclose(b.peak_summary["std"], p.std(), rtol=1e-9)
    assert b.peak_summary["min"] == p.min() and b.peak_summary["max"] == p.max()
    # The histogram is laid out like the maps: centered() puts zero shift in the middle.
    assert centered(b.shift_histogram)[h // 2, w // 2] == b.shift_histogram[0, 0]


def test_shift_dtype_and_examples(reference):
    res = stream_alignment(reference, 20, seed=0, keep_examples=50, workers=1)
    assert res.shifts.dtype == np.int16 and res.peaks.dtype == np.float32
    assert res.example_noise.shape == (20, *reference.shape)
    res0 = stream_alignment(reference, 20, seed=0, keep_examples=0, workers=1)
    assert res0.example_maps.shape == (0, *reference.shape)
    np.testing.assert_array_equal(res0.aligned_means, res.aligned_means)


def test_counts_are_sorted_and_unique(reference):
    res = stream_alignment(reference, 100, seed=0, counts=[100, 5, 5, 64], workers=1)
    np.testing.assert_array_equal(res.counts, [5, 64, 100])
    assert res.aligned_means.shape[0] == 3
    default = stream_alignment(reference, 100, seed=0, workers=1)
    np.testing.assert_array_equal(default.counts, [100])
    np.testing.assert_array_equal(default.aligned_means[0], res.aligned_means[2])


def test_progress_callback_and_bar(reference, capsys):
    calls = []
    stream_alignment(reference, 300, seed=0, workers=2, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (300, 300)
    done = [c[0] for c in calls]
    assert done == sorted(done) and all(t == 300 for _, t in calls)
    stream_alignment(reference, 130, seed=0, workers=1, progress=True)
    assert "130" in capsys.readouterr().err


def test_memory_does_not_grow_with_n_images():
    ref = smooth_reference((16, 16))

    def peak(n):
        tracemalloc.start()
        stream_alignment(ref, n, seed=0, counts=[1, n], workers=2, keep_shifts=False, keep_examples=0)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(RNG_BLOCK)  # warm-up: first-use allocations (FFT plan caches, thread pools)
    small, large = peak(20 * RNG_BLOCK), peak(200 * RNG_BLOCK)
    # 12800 images x 16 x 16 float32 would be 13 MB; even 8 bytes per image would show.
    assert large < 1.2 * small + 50_000


REF8 = smooth_reference((8, 8))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(counts=[5, 11]), ValueError, r"<= 10 \(the number of images\), got 11"),
        (dict(counts=[0]), ValueError, "every count must be >= 1"),
        (dict(counts=[]), ValueError, "counts is empty"),
        (dict(counts=[2.5]), TypeError, "counts must be integers"),
        (dict(counts="10"), TypeError, "counts must be integers"),
        (dict(block_size=0), ValueError, "block_size must be >= 1"),
        (dict(block_size=-64), ValueError, "block_size must be >= 1"),
        (dict(block_size=64.0), TypeError, "block_size"),
        (dict(workers=0), ValueError, "workers must be >= 1"),
        (dict(n_images=0), ValueError, "n_images must be >= 1"),
        (dict(n_images=2.0), TypeError, "n_images"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed=None), TypeError, "seed"),
        (dict(keep_examples=-1), ValueError, "keep_examples"),
        (dict(keep_shifts="yes"), TypeError, "keep_shifts"),
        (dict(progress="yes"), TypeError, "progress"),
        (dict(scheduler="threads"), ValueError, "scheduler must be"),
        (dict(fft_backend="fftpack"), ValueError, "fft_backend"),
        (dict(reference=np.full((8, 8), np.nan)), ValueError, "NaN"),
        (dict(reference=np.zeros(8)), ValueError, "2-D"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = dict(reference=REF8, n_images=10, seed=0)
    for key in ("reference", "n_images", "seed"):
        if key in kwargs:
            args[key] = kwargs.pop(key)
    with pytest.raises(exc, match=match) as info:
        stream_alignment(args["reference"], args["n_images"], seed=args["seed"], **kwargs)
    assert ". Fix: " in str(info.value)


# ---------------------------------------------------------------------------- Dask
@pytest.mark.slow
def test_local_cluster_is_bit_identical_to_in_process():
    """Tasks of 1 block on two worker processes, block sums folded pairwise on the workers,
    against in-process threads with tasks of 4 blocks and with one task for everything."""
    ref = smooth_reference((17, 12))
    counts = [1, 50, 64, 500, 777, 900]
    local = stream_alignment(ref, 900, seed=4, counts=counts, scheduler="local", block_size=64)
    assert local.scheduler == "local" and local.block_size == 64
    assert_same(local, stream_alignment(ref, 900, seed=4, counts=counts, workers=2))
    assert_same(local, stream_alignment(ref, 900, seed=4, counts=counts, workers=1,
                                        block_size=1024))


@pytest.mark.slow
def test_existing_client_with_threads_per_task():
    distributed = pytest.importorskip("distributed")
    ref = smooth_reference((15, 15))
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        res = stream_alignment(ref, 500, seed=3, counts=[99, 500], scheduler=client, workers=2, block_size=256)
        assert client.status == "running"  # a client passed in is not closed
    assert_same(res, stream_alignment(ref, 500, seed=3, counts=[99, 500], workers=1))


def test_unreachable_scheduler_fails_fast_with_clear_error():
    ref = smooth_reference((8, 8))
    t0 = time.perf_counter()
    with pytest.raises(SchedulerConnectionError, match=r"tcp://127\.0\.0\.1:1.*scheduler=None") as info:
        stream_alignment(ref, 10, seed=0, scheduler="tcp://127.0.0.1:1", connect_timeout=1.5)
    assert time.perf_counter() - t0 < 10
    assert isinstance(info.value, ConnectionError)


@pytest.mark.slow
def test_scheduler_without_workers_fails_clearly():
    distributed = pytest.importorskip("distributed")
    ref = smooth_reference((8, 8))
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            with pytest.raises(SchedulerConnectionError, match="has no workers"):
                stream_alignment(ref, 10, seed=0, scheduler=client, connect_timeout=1.0)


def test_pyfftw_backend_is_reproducible_and_matches_its_in_memory_alignment():
    pytest.importorskip("pyfftw")
    ref = smooth_reference((17, 12))
    a = stream_alignment(ref, 300, seed=1, counts=[70, 300], workers=1, fft_backend="pyfftw")
    b = stream_alignment(ref, 300, seed=1, counts=[70, 300], workers=2, block_size=200, fft_backend="pyfftw")
    assert_same(a, b)
    assert a.fft_backend == "pyfftw"
    direct = align_to_reference(noise_images(1, 0, 300, ref.shape), ref, fft_backend="pyfftw")
    np.testing.assert_array_equal(a.shifts, direct.shifts)
    np.testing.assert_allclose(a.peaks, direct.peaks, rtol=1e-5, atol=1e-5)
