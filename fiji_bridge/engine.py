"""Streaming "Einstein from noise" engine: align millions of noise images in bounded memory.

By default (``noise="fourier"``) :func:`stream_alignment` runs
:func:`fiji_bridge.fourier_engine.stream_fourier` on the noise of
:func:`fiji_bridge.noise.noise_images` (drawn in Fourier space, one FFT per image), in threads
or as Dask tasks; the rest of this module (and its docstring below) is the former engine on
real-space SFC64 noise, ``noise="sfc64"``, kept for comparison (where its tasks run:
:mod:`fiji_bridge.scheduler`).

The former engine draws the SFC64 noise images of a seed (RNG blocks of
:func:`fiji_bridge.noise.block_generator`), aligns each
one to the reference (:mod:`fiji_bridge.align` conventions) and keeps only running float64 sums,
with a snapshot of the averages at each requested count. Memory does not grow with the number of
images, apart from the optional shifts and peak values (8 bytes per image).

Reproducibility
---------------
Every result is bit-identical whatever ``block_size``, ``workers`` or Dask cluster is used:

* image ``i`` depends only on ``(seed, i)`` (fixed RNG blocks of :data:`~fiji_bridge.noise.RNG_BLOCK`
  images, one random stream each), and its correlation map is computed by the same FFT call at
  the same position of a fixed-size chunk (see :mod:`fiji_bridge.align`);
* the sums of each RNG block are accumulated image by image in a fixed order (float64), with a
  partial copy where a requested count falls inside the block;
* the block sums are then added in block-index order, by the caller's process, whatever
  thread or Dask worker computed them.

Speed (``bench/bench_engine.py``, 128 x 128, shared 2-core machine, best of 7 rounds): about
7,400 images/s with ``workers=2`` (4,200 with one thread), 8,500 with ``fft_backend="pyfftw"``;
numpy's float32 ``standard_normal`` alone draws 7,100 images/s on one thread, a naive numpy batch
aligns 2,000. Per image and thread: drawing the noise ~125 us, FFTs ~70 us (scipy) or ~58 us
(pyfftw), sums ~20 us. 10**6 images took 174 s with a peak RSS of 103 MB.
"""

from __future__ import annotations

import numbers
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from fiji_bridge import checks
from fiji_bridge.align import (
    CHUNK,
    apply_shifts,
    as_reference,
    check_backend,
    chunk_peaks,
    correlator,
)
from fiji_bridge.noise import RNG_BLOCK, block_generator
from fiji_bridge.scheduler import (
    DEFAULT_CONNECT_TIMEOUT,
    SchedulerConnectionError,
    check_scheduler,
    check_scheduler_spec,
    dask_client,
    run_dask,
    run_threads,
)
from fiji_bridge.stream_result import PeakRecord, StreamResult

# SchedulerConnectionError, DEFAULT_CONNECT_TIMEOUT and check_scheduler live in
# fiji_bridge.scheduler; they are re-exported here because stream_alignment raises and uses them.
__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "SchedulerConnectionError",
    "StreamResult",
    "check_scheduler",
    "stream_alignment",
]

#: Default Dask task size, in pixels: 2**24 pixels is 1024 images of 128 x 128 (about 0.2 s of
#: work, 4 MB of block sums to send back) or 64 images of 512 x 512.
_DASK_TASK_PIXELS = 2**24

@dataclass(eq=False)
class _BlockResult:
    """What one RNG block contributes (picklable, returned by Dask tasks)."""

    block: int
    n: int  # images of the block inside 0..n_images-1
    aligned_sum: np.ndarray  # (H, W) float64
    unaligned_sum: np.ndarray  # (H, W) float64
    partials: list  # [(r, aligned partial sum, unaligned partial sum)] for counts inside
    shifts: np.ndarray  # (n, 2)
    peaks: np.ndarray  # (n,) float32
    example_noise: np.ndarray | None
    example_maps: np.ndarray | None


# --------------------------------------------------------------------------------------------
# per-block computation (runs in threads or Dask workers)
# --------------------------------------------------------------------------------------------
def _fold(padded: np.ndarray, h: int, w: int) -> np.ndarray:
    """Fold a (2H, 2W) accumulator back onto the (H, W) torus, in a fixed order."""
    out = padded[:h, :w] + padded[h:, :w]
    out += padded[:h, w:]
    out += padded[h:, w:]
    return out


def _process_block(ref32, seed, block, n_images, rel_cuts, keep_examples, backend, shift_dtype):
    """Draw, align and sum the images of RNG block ``block``.

    The aligned sum uses a (2H, 2W) float64 accumulator: image ``n`` with shift ``d`` is added at
    offset ``o = -d mod (H, W)``; folding the four quadrants gives ``sum roll(n, -d)`` without
    materialising the rolled image. Every sum runs image by image in index order.
    """
    h, w = ref32.shape
    corr = correlator(ref32, backend)
    buf = corr.buffer
    start = block * RNG_BLOCK
    n = min(RNG_BLOCK, n_images - start)
    gen = block_generator(seed, block)

    padded = np.zeros((2 * h, 2 * w), dtype=np.float64)
    total = np.zeros((h, w), dtype=np.float64)
    shifts = np.empty((n, 2), dtype=shift_dtype)
    peaks = np.empty(n, dtype=np.float32)
    n_ex = max(0, min(keep_examples - start, n))
    ex_noise = np.empty((n_ex, h, w), dtype=np.float32) if n_ex else None
    ex_maps = np.empty((n_ex, h, w), dtype=np.float32) if n_ex else None
    partials = []
    cuts = iter(rel_cuts)
    next_cut = next(cuts, None)

    for c0 in range(0, n, CHUNK):
        # Always a whole chunk from the stream (images past n_images are simply not used), so
        # image i sits at position i % CHUNK as in align.correlation_maps.
        gen.standard_normal(out=buf, dtype=np.float32)
        maps = corr.run()
        dy, dx, pk = chunk_peaks(maps)
        k = min(CHUNK, n - c0)
        shifts[c0 : c0 + k, 0] = dy[:k]
        shifts[c0 : c0 + k, 1] = dx[:k]
        peaks[c0 : c0 + k] = pk[:k]
        if c0 < n_ex:
            j = min(k, n_ex - c0)
            ex_noise[c0 : c0 + j] = buf[:j]
            ex_maps[c0 : c0 + j] = maps[:j]
        oys = ((-dy[:k]) % h).tolist()
        oxs = ((-dx[:k]) % w).tolist()
        for j in range(k):
            oy, ox = oys[j], oxs[j]
            image = buf[j]
            padded[oy : oy + h, ox : ox + w] += image
            total += image
            if next_cut == c0 + j + 1:
                partials.append((next_cut, _fold(padded, h, w), total.copy()))
                next_cut = next(cuts, None)

    return _BlockResult(
        block=block,
        n=n,
        aligned_sum=_fold(padded, h, w),
        unaligned_sum=total,
        partials=partials,
        shifts=shifts,
        peaks=peaks,
        example_noise=ex_noise,
        example_maps=ex_maps,
    )


def _compute_blocks(
    ref32, seed, first_block, stop_block, n_images, cuts, keep_examples, threads, backend, shift_dtype
):
    """One task: RNG blocks ``first_block .. stop_block - 1``, results in block order."""

    def one(block):
        return _process_block(
            ref32, seed, block, n_images, cuts.get(block, ()), keep_examples, backend, shift_dtype
        )

    blocks = range(first_block, stop_block)
    if threads <= 1 or len(blocks) <= 1:
        return [one(b) for b in blocks]
    with ThreadPoolExecutor(max_workers=min(threads, len(blocks))) as pool:
        return list(pool.map(one, blocks))


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _check_block_size(block_size: Any) -> int | None:
    """None, or ``block_size`` rounded up to a whole number of RNG blocks."""
    block_size = checks.block_size(block_size)
    if block_size is None:
        return None
    return int(-(-block_size // RNG_BLOCK) * RNG_BLOCK)


# --------------------------------------------------------------------------------------------
# combination of block results (always in the caller's process, in block order)
# --------------------------------------------------------------------------------------------
class _Combiner:
    def __init__(self, shape, n_images, counts, keep_shifts, keep_examples, shift_dtype):
        h, w = shape
        self.shape = shape
        self.count_index = {int(c): j for j, c in enumerate(counts)}
        self.aligned_means = np.empty((len(counts), h, w), dtype=np.float64)
        self.unaligned_means = np.empty((len(counts), h, w), dtype=np.float64)
        self.aligned_total = np.zeros((h, w), dtype=np.float64)
        self.unaligned_total = np.zeros((h, w), dtype=np.float64)
        self.record = PeakRecord(shape, n_images, keep_shifts, shift_dtype)
        n_ex = min(keep_examples, n_images)
        self.ex_noise = np.empty((n_ex, h, w), dtype=np.float32)
        self.ex_maps = np.empty((n_ex, h, w), dtype=np.float32)
        self.ex_shifts = np.empty((n_ex, 2), dtype=np.int64)
        self.next_block = 0
        self.done = 0

    def add(self, res: _BlockResult) -> None:
        if res.block != self.next_block:  # internal invariant
            raise RuntimeError(f"block {res.block} arrived out of order (expected {self.next_block})")
        self.next_block += 1
        start = res.block * RNG_BLOCK
        stop = start + res.n
        for r, a_part, u_part in res.partials:
            c = start + r
            j = self.count_index[c]
            self.aligned_means[j] = (self.aligned_total + a_part) / c
            self.unaligned_means[j] = (self.unaligned_total + u_part) / c
        self.aligned_total += res.aligned_sum
        self.unaligned_total += res.unaligned_sum
        j = self.count_index.get(stop)
        if j is not None:
            self.aligned_means[j] = self.aligned_total / stop
            self.unaligned_means[j] = self.unaligned_total / stop
        sh = res.shifts
        self.record.add(start, sh, res.peaks)
        if res.example_noise is not None:
            k = res.example_noise.shape[0]
            self.ex_noise[start : start + k] = res.example_noise
            self.ex_maps[start : start + k] = res.example_maps
            self.ex_shifts[start : start + k] = sh[:k]
        self.done = stop


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def stream_alignment(
    reference: ArrayLike,
    n_images: int,
    *,
    seed: int,
    counts: int | Sequence[int] | None = None,
    block_size: int | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    keep_examples: int = 16,
    keep_shifts: bool = True,
    progress: bool | Callable[[int, int], Any] | None = None,
    fft_backend: str = "scipy",
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    noise: str = "fourier",
) -> StreamResult:
    """Align ``n_images`` noise images to a reference and average them, in bounded memory.

    For ``i = 0 .. n_images - 1``: ``n_i = noise_images(seed, i, i + 1, shape)[0]`` (i.i.d.
    N(0, 1) pixels), ``c_i = irfft2(rfft2(n_i) * conj(rfft2(r)))`` (``c_i[d] = sum_p
    n_i[p + d] r[p]``, zero shift at ``[0, 0]``), ``d_i = argmax c_i`` as a signed shift and
    ``a_i = np.roll(n_i, -d_i, axis=(0, 1))``. For every ``n`` in ``counts`` it returns::

        aligned_means[j]   = (1/n) sum_{i<n} a_i     (the "Einstein from noise" estimate)
        unaligned_means[j] = (1/n) sum_{i<n} n_i     (control, tends to 0)

    The first tends to an image whose Fourier phases are those of ``r``, with a phase error
    decaying like ``1/n`` (Balanov, Huleihel and Bendory, arXiv:2407.05277; see also Shatsky et
    al., J. Struct. Biol. 166:67-78, 2009). The result equals aligning
    ``noise_images(seed, 0, n_images)`` in memory with
    :func:`fiji_bridge.align.align_to_reference` (identical shifts and peaks, means equal up to
    float64 summation order).

    Parameters
    ----------
    reference : array_like
        ``(H, W)`` real, finite reference (normalised to mean 0, sigma 1 in the experiment).
    n_images : int
        Number of noise images, >= 1.
    seed : int
        Non-negative seed of the noise (:func:`fiji_bridge.noise.noise_images`).
    counts : sequence of int, optional
        Counts ``1 <= n <= n_images`` at which to snapshot the averages; sorted and made unique.
        Default ``[n_images]``.
    block_size : int, optional
        Images per task. Default noise: rounded up to ``64 * 2**k`` images; default 256
        in-process, 2**26 pixels (4096 images of 128 x 128) per Dask task (see
        :func:`fiji_bridge.fourier_engine.stream_fourier`). ``noise="sfc64"``: rounded up to a
        whole number of RNG blocks (``RNG_BLOCK`` = 64); default one RNG block in-process,
        about 2**24 pixels (1024 images of 128 x 128) per Dask task. Does not change the result.
    workers : int, optional
        In-process: threads, each aligning whole tasks with single-threaded FFTs (default: all
        available cores). With Dask: threads inside each task (default 1). Does not change the
        result.
    scheduler : None, "local", str or distributed.Client, optional
        ``None``: run in this process. ``"local"``: start a ``distributed.LocalCluster`` of two
        single-thread worker processes on 127.0.0.1 for this call and close it afterwards. An
        address such as ``"tcp://host:8786"``: connect to that scheduler (workers there need
        ``fiji_bridge`` installed). A ``distributed.Client``: use it (not closed). The default
        noise folds the block sums pairwise on the workers in a fixed tree
        (:mod:`fiji_bridge.tree_sum`); ``noise="sfc64"`` returns per-RNG-block sums that this
        process adds in block order. Either way the result is bit-identical to the in-process
        one.
    keep_examples : int, optional
        Keep noise, aligned noise and maps of the first ``keep_examples`` images (default 16).
    keep_shifts : bool, optional
        Keep all shifts and peak values (8 bytes per image). With False only the shift
        histogram and the peak summary are kept (use it for 10**8 images).
    progress : None, True or callable, optional
        ``progress(done_images, total)`` is called after each task; ``True`` shows a tqdm bar
        on stderr.
    fft_backend : {"scipy", "pyfftw"}, optional
        FFT library; see :mod:`fiji_bridge.align`.
    connect_timeout : float, optional
        Seconds to wait for a scheduler given by address (default 3).
    noise : {"fourier", "sfc64"}, optional
        ``"fourier"`` (default): the noise of :func:`fiji_bridge.noise.noise_images`, drawn in
        Fourier space and aligned with one FFT per image by
        :func:`fiji_bridge.fourier_engine.stream_fourier` (threads or Dask tasks); means agree
        with aligning the float32 images in memory to float32 rounding. ``"sfc64"``: the
        former engine and its real-space SFC64 noise (RNG blocks of 64 images), kept for
        comparison; that noise is no longer the one of ``noise_images``.

    Returns
    -------
    StreamResult

    Raises
    ------
    ValueError
        Bad ``n_images``, ``counts``, ``block_size``, ``workers``, ``keep_examples``, reference
        or scheduler specification.
    TypeError
        Arguments of the wrong type.
    SchedulerConnectionError
        (a ``ConnectionError``) if the scheduler address cannot be reached within
        ``connect_timeout`` seconds.

    Notes
    -----
    Memory: the (H, W) running sums, one (2H, 2W) accumulator and an 8-image chunk per thread,
    the block sums of at most ``2 * threads`` tasks in flight, ``len(counts)`` snapshots, and
    the shifts/peaks when kept. The aligned sum is accumulated without materialising rolled
    images: image ``n`` with shift ``d`` is added into a (2H, 2W) float64 array at offset
    ``-d mod (H, W)`` and the four quadrants are folded at the end of each block.

    Examples
    --------
    >>> import numpy as np
    >>> from fiji_bridge.engine import stream_alignment
    >>> r = np.random.default_rng(1).standard_normal((32, 32)).astype(np.float32)
    >>> res = stream_alignment(r, 200, seed=0, counts=[50, 200], workers=1)
    >>> res.aligned_means.shape
    (2, 32, 32)
    """
    ref32 = as_reference(reference)
    h, w = ref32.shape
    n_images, seed, counts, keep_examples, keep_shifts = checks.stream_options(
        n_images, seed, counts, keep_examples, keep_shifts)
    block_size = _check_block_size(block_size)
    backend = check_backend(fft_backend)
    if isinstance(connect_timeout, (bool, np.bool_)) or not isinstance(connect_timeout, numbers.Real):
        raise TypeError(
            f"connect_timeout must be a number of seconds, got {connect_timeout!r}. "
            "Fix: pass e.g. connect_timeout=3."
        )
    if not connect_timeout > 0:
        raise ValueError(
            f"connect_timeout must be > 0 seconds, got {connect_timeout}. Fix: pass e.g. "
            "connect_timeout=3."
        )

    check_scheduler_spec(scheduler)
    if noise not in ("fourier", "sfc64"):
        raise ValueError(
            f"noise must be 'fourier' or 'sfc64', got {noise!r}. Fix: leave it out (the "
            "Fourier-space noise of noise_images) or pass noise='sfc64' (the former engine)."
        )
    if noise == "fourier":
        return _stream_fourier_noise(ref32, n_images, seed, counts, block_size, workers,
                                     scheduler, connect_timeout, keep_examples, keep_shifts,
                                     progress, backend)
    use_dask = scheduler is not None
    if use_dask:
        threads = checks.workers(workers, default=1)
        if block_size is None:
            block_size = max(RNG_BLOCK, (_DASK_TASK_PIXELS // (h * w)) // RNG_BLOCK * RNG_BLOCK)
    else:
        threads = checks.workers(workers)
        if block_size is None:
            block_size = RNG_BLOCK
    callback, closer = checks.progress(progress, n_images)

    shift_dtype = np.int16 if max(h, w) <= 65536 else np.int32
    n_blocks = -(-n_images // RNG_BLOCK)
    blocks_per_task = block_size // RNG_BLOCK
    n_tasks = -(-n_blocks // blocks_per_task)
    cuts: dict[int, list[int]] = {}
    for c in counts.tolist():
        b, r = divmod(c, RNG_BLOCK)
        if r:  # a count inside block b (counts at a block end are taken after adding it)
            cuts.setdefault(b, []).append(r)

    def make_task_args(t):
        b0 = t * blocks_per_task
        b1 = min(b0 + blocks_per_task, n_blocks)
        task_cuts = {b: tuple(cuts[b]) for b in range(b0, b1) if b in cuts}
        return (
            ref32,
            seed,
            b0,
            b1,
            n_images,
            task_cuts,
            keep_examples,
            threads if use_dask else 1,
            backend,
            shift_dtype,
        )

    combiner = _Combiner((h, w), n_images, counts, keep_shifts, keep_examples, shift_dtype)

    def consume(results):
        for res in results:
            combiner.add(res)
        if callback is not None:
            callback(combiner.done, n_images)

    try:
        if use_dask:
            with dask_client(scheduler, connect_timeout) as (client, description):
                t0 = time.perf_counter()
                run_dask(client, _compute_blocks, make_task_args, n_tasks, consume)
                elapsed = time.perf_counter() - t0
        else:
            description = f"in-process ({threads} thread{'s' if threads > 1 else ''})"
            t0 = time.perf_counter()
            run_threads(_compute_blocks, make_task_args, n_tasks, threads, consume)
            elapsed = time.perf_counter() - t0
    finally:
        if closer is not None:
            closer()

    ex_aligned = apply_shifts(combiner.ex_noise, combiner.ex_shifts)
    return StreamResult(
        counts=counts,
        aligned_means=combiner.aligned_means,
        unaligned_means=combiner.unaligned_means,
        shifts=combiner.record.shifts,
        peaks=combiner.record.peaks,
        shift_histogram=combiner.record.hist,
        peak_summary=combiner.record.summary(combiner.done),
        example_noise=combiner.ex_noise,
        example_aligned=ex_aligned,
        example_maps=combiner.ex_maps,
        n_images=n_images,
        seed=seed,
        block_size=block_size,
        rng_block=RNG_BLOCK,
        fft_backend=backend,
        scheduler=description,
        elapsed_s=elapsed,
        example_shifts=combiner.ex_shifts,
    )


# --------------------------------------------------------------------------------------------
# the default path: Fourier-space noise, one FFT per image (fiji_bridge.fourier_engine)
# --------------------------------------------------------------------------------------------
def _stream_fourier_noise(ref32, n_images, seed, counts, block_size, workers, scheduler,
                          connect_timeout, keep_examples, keep_shifts, progress, backend):
    """:func:`stream_alignment` with ``noise="fourier"`` (arguments already checked)."""
    from fiji_bridge import fourier_engine

    kwargs = dict(seed=seed, counts=counts, block_size=block_size, workers=workers,
                  keep_examples=keep_examples, keep_shifts=keep_shifts, progress=progress,
                  fft_backend=backend)
    if scheduler is None:
        return fourier_engine.stream_fourier(ref32, n_images, **kwargs)
    with dask_client(scheduler, connect_timeout) as (client, description):
        return fourier_engine.stream_fourier(ref32, n_images, client=client,
                                             description=description, **kwargs)
