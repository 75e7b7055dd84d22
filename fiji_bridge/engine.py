"""Streaming "Einstein from noise" engine: align millions of noise images in bounded memory.

By default (``noise="fourier"``) :func:`stream_alignment` runs
:func:`fiji_bridge.fourier_engine.stream_fourier` on the noise of
:func:`fiji_bridge.noise.noise_images` (drawn in Fourier space, one FFT per image), in threads
or as Dask tasks; the rest of this module (and its docstring below) is the former engine on
real-space SFC64 noise, ``noise="sfc64"``, kept for comparison, plus the Dask plumbing.

The engine draws the noise images of a seed (:func:`fiji_bridge.noise.noise_images`), aligns each
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

import collections
import dataclasses
import logging
import numbers
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .align import (
    _CHUNK,
    _as_reference,
    _check_backend,
    _check_workers,
    _chunk_peaks,
    _get_correlator,
    apply_shifts,
)
from .noise import RNG_BLOCK, _block_generator, _check_seed

__all__ = ["StreamResult", "SchedulerConnectionError", "stream_alignment"]

#: Default Dask task size, in pixels: 2**24 pixels is 1024 images of 128 x 128 (about 0.2 s of
#: work, 4 MB of block sums to send back) or 64 images of 512 x 512.
_DASK_TASK_PIXELS = 2**24

#: Seconds to wait for an existing Dask scheduler before giving up.
DEFAULT_CONNECT_TIMEOUT = 3.0


class SchedulerConnectionError(ConnectionError):
    """The Dask scheduler given to :func:`stream_alignment` could not be reached."""


@dataclass(frozen=True, eq=False)
class StreamResult:
    """Result of :func:`stream_alignment`.

    Attributes
    ----------
    counts : numpy.ndarray
        Sorted unique image counts ``n`` (int64) at which the averages were taken.
    aligned_means : numpy.ndarray
        float64 ``(len(counts), H, W)``: ``aligned_means[j]`` is the mean of the aligned images
        ``a_0 .. a_{n-1}`` for ``n = counts[j]``: the "Einstein from noise" estimate.
    unaligned_means : numpy.ndarray
        Same for the raw noise images (the control: tends to 0).
    shifts : numpy.ndarray or None
        ``(n_images, 2)`` signed peak shifts ``(dy, dx)`` (int16, or int32 for sides over
        65536), or None when ``keep_shifts=False``.
    peaks : numpy.ndarray or None
        ``(n_images,)`` float32 peak values, or None when ``keep_shifts=False``.
    shift_histogram : numpy.ndarray
        int64 ``(H, W)``: number of images whose shift is ``d``, at index ``d % (H, W)``
        (non-centred like the maps; :func:`fiji_bridge.align.centered` centres it).
    peak_summary : dict
        ``count``, ``mean``, ``std``, ``min``, ``max`` of the peak values (float).
    example_noise, example_aligned, example_maps : numpy.ndarray
        float32 ``(k, H, W)`` for the first ``k = min(keep_examples, n_images)`` images: noise,
        aligned noise and non-centred correlation maps.
    n_images, seed, block_size : int
        Number of images, seed, and the block size used (rounded up to whole RNG blocks).
    rng_block : int
        :data:`fiji_bridge.noise.RNG_BLOCK`.
    fft_backend : str
        FFT library used for the maps.
    scheduler : str
        Where it ran: ``"in-process (N threads)"``, ``"local"`` or the scheduler address.
    elapsed_s : float
        Wall-clock seconds of the streaming (not counting starting or stopping a cluster).
    """

    counts: np.ndarray
    aligned_means: np.ndarray
    unaligned_means: np.ndarray
    shifts: np.ndarray | None
    peaks: np.ndarray | None
    shift_histogram: np.ndarray
    peak_summary: dict
    example_noise: np.ndarray
    example_aligned: np.ndarray
    example_maps: np.ndarray
    n_images: int
    seed: int
    block_size: int
    rng_block: int = RNG_BLOCK
    fft_backend: str = "scipy"
    scheduler: str = "in-process"
    elapsed_s: float = field(default=0.0)


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
    corr = _get_correlator(ref32, backend)
    buf = corr.buffer
    start = block * RNG_BLOCK
    n = min(RNG_BLOCK, n_images - start)
    gen = _block_generator(seed, block)

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

    for c0 in range(0, n, _CHUNK):
        # Always a whole chunk from the stream (images past n_images are simply not used), so
        # image i sits at position i % _CHUNK as in align.correlation_maps.
        gen.standard_normal(out=buf, dtype=np.float32)
        maps = corr.run()
        dy, dx, pk = _chunk_peaks(maps)
        k = min(_CHUNK, n - c0)
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
def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _check_counts(counts, n_images: int) -> np.ndarray:
    if counts is None:
        return np.array([n_images], dtype=np.int64)
    if _is_int(counts):
        counts = [counts]
    try:
        items = list(np.asarray(counts).ravel()) if isinstance(counts, np.ndarray) else list(counts)
    except TypeError:
        raise TypeError(
            f"counts must be a sequence of positive integers, got {type(counts).__name__}; "
            "pass e.g. counts=[10, 100, 1000]"
        ) from None
    if not items:
        raise ValueError("counts is empty; pass at least one count, e.g. counts=[n_images]")
    for c in items:
        if not _is_int(c):
            raise TypeError(
                f"counts must be integers, got {type(c).__name__} {c!r}; "
                "pass e.g. counts=[10, 100, 1000]"
            )
        if c < 1 or c > n_images:
            raise ValueError(
                f"every count must be between 1 and n_images={n_images}, got {int(c)}; "
                "drop it or raise n_images"
            )
    return np.unique(np.array([int(c) for c in items], dtype=np.int64))


def _check_block_size(block_size):
    if block_size is None:
        return None
    if not _is_int(block_size):
        raise TypeError(
            f"block_size must be a positive integer or None, got {type(block_size).__name__} "
            f"{block_size!r}; pass e.g. block_size=1024"
        )
    if block_size < 1:
        raise ValueError(
            f"block_size must be >= 1, got {block_size}; pass e.g. block_size=1024 or None for "
            "the default"
        )
    return int(-(-int(block_size) // RNG_BLOCK) * RNG_BLOCK)


def _check_progress(progress, total):
    """Return ``(callback, closer)``."""
    if progress is None or progress is False:
        return None, None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=total, file=sys.stderr, unit="img", unit_scale=True, desc="aligning")
        state = {"done": 0}

        def callback(done, total):
            bar.update(done - state["done"])
            state["done"] = done

        return callback, bar.close
    if callable(progress):
        return progress, None
    raise TypeError(
        f"progress must be None, True (tqdm bar on stderr) or a callable progress(done, total), "
        f"got {type(progress).__name__}"
    )


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
        self.shifts = np.empty((n_images, 2), dtype=shift_dtype) if keep_shifts else None
        self.peaks = np.empty(n_images, dtype=np.float32) if keep_shifts else None
        self.hist = np.zeros((h, w), dtype=np.int64)
        n_ex = min(keep_examples, n_images)
        self.ex_noise = np.empty((n_ex, h, w), dtype=np.float32)
        self.ex_maps = np.empty((n_ex, h, w), dtype=np.float32)
        self.ex_shifts = np.empty((n_ex, 2), dtype=np.int64)
        self.next_block = 0
        self.done = 0
        self.peak_ref = None
        self.s1 = 0.0
        self.s2 = 0.0
        self.pmin = np.inf
        self.pmax = -np.inf

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

        h, w = self.shape
        sh = res.shifts
        if self.shifts is not None:
            self.shifts[start:stop] = sh
            self.peaks[start:stop] = res.peaks
        np.add.at(self.hist, (sh[:, 0].astype(np.int64) % h, sh[:, 1].astype(np.int64) % w), 1)
        p = res.peaks.astype(np.float64)
        if self.peak_ref is None:
            self.peak_ref = float(p[0])
        q = p - self.peak_ref
        self.s1 += float(q.sum())
        self.s2 += float((q * q).sum())
        self.pmin = min(self.pmin, float(p.min()))
        self.pmax = max(self.pmax, float(p.max()))
        if res.example_noise is not None:
            k = res.example_noise.shape[0]
            self.ex_noise[start : start + k] = res.example_noise
            self.ex_maps[start : start + k] = res.example_maps
            self.ex_shifts[start : start + k] = sh[:k]
        self.done = stop

    def peak_summary(self) -> dict:
        n = self.done
        mean_q = self.s1 / n
        var = max(self.s2 / n - mean_q * mean_q, 0.0)
        return {
            "count": int(n),
            "mean": float(self.peak_ref + mean_q),
            "std": float(np.sqrt(var)),
            "min": float(self.pmin),
            "max": float(self.pmax),
        }


# --------------------------------------------------------------------------------------------
# schedulers
# --------------------------------------------------------------------------------------------
def _consume_in_order(submit, n_tasks, window, consume, *, release=False):
    """Keep up to ``window`` tasks submitted and consume their results in task order.

    Consuming in task order is what makes the sums bit-identical whatever runs the tasks.
    ``submit(t)`` returns a future; ``release=True`` releases Dask futures once consumed.
    """
    pending = collections.deque()
    next_task = 0
    try:
        while next_task < n_tasks or pending:
            while next_task < n_tasks and len(pending) < window:
                pending.append(submit(next_task))
                next_task += 1
            fut = pending.popleft()
            result = fut.result()
            if release:
                fut.release()
            consume(result)
    finally:
        for fut in pending:
            fut.cancel()


def _run_in_process(make_task_args, n_tasks, workers, consume):
    """Run the tasks in this process (``workers`` threads), consuming results in order."""
    if workers == 1:
        for t in range(n_tasks):
            consume(_compute_blocks(*make_task_args(t)))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        _consume_in_order(lambda t: pool.submit(_compute_blocks, *make_task_args(t)),
                          n_tasks, 2 * workers, consume)


def _open_dask(scheduler, connect_timeout):
    """Return ``(client, closers, description)`` for a scheduler spec."""
    try:
        import distributed
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency
        raise RuntimeError(
            "scheduler=... needs dask.distributed: `pip install 'dask[distributed]'`, "
            "or pass scheduler=None to run in-process"
        ) from None

    if isinstance(scheduler, distributed.Client):
        address = getattr(getattr(scheduler, "scheduler", None), "address", None)
        _ensure_workers(scheduler, address, connect_timeout)
        return scheduler, [], f"dask client ({address})"
    if scheduler == "local":
        with warnings.catch_warnings():
            # The scheduler's small HTTP server falls back to a free port when 8787 is taken.
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            cluster = distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
                processes=True,
                silence_logs=logging.ERROR,
            )
        try:
            client = distributed.Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        return client, [client.close, cluster.close], "local"
    try:
        client = distributed.Client(
            scheduler, timeout=connect_timeout, set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        raise SchedulerConnectionError(
            f"could not reach the Dask scheduler at {scheduler!r} within {connect_timeout:g} s "
            f"({type(exc).__name__}: {exc}); start one (`dask scheduler` and `dask worker "
            f"{scheduler}`), check the address, or pass scheduler='local' or scheduler=None"
        ) from exc
    try:
        _ensure_workers(client, scheduler, connect_timeout)
    except BaseException:
        client.close()
        raise
    return client, [client.close], scheduler


def _ensure_workers(client, address, timeout):
    """Fail clearly, instead of waiting forever, when the scheduler has no workers."""
    if client.nthreads():
        return
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise SchedulerConnectionError(
            f"the Dask scheduler at {address!r} has no workers (waited {timeout:g} s); start "
            f"some with `dask worker {address}`, or pass scheduler='local' or scheduler=None"
        ) from exc


def _run_dask(client, make_task_args, n_tasks, consume):
    """Submit the tasks to Dask (bounded window), consuming results in task order."""
    nthreads = sum(client.nthreads().values()) or 1
    _consume_in_order(
        lambda t: client.submit(_compute_blocks, *make_task_args(t), pure=False),
        n_tasks, max(4, 2 * nthreads), consume, release=True)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def stream_alignment(
    reference,
    n_images,
    *,
    seed,
    counts=None,
    block_size=None,
    workers=None,
    scheduler=None,
    keep_examples=16,
    keep_shifts=True,
    progress=None,
    fft_backend="scipy",
    connect_timeout=DEFAULT_CONNECT_TIMEOUT,
    noise="fourier",
) -> StreamResult:
    """Align ``n_images`` noise images to a reference and average them, in bounded memory.

    For ``i = 0 .. n_images - 1``: ``n_i = noise_images(seed, i, i + 1, shape)[0]`` (i.i.d.
    N(0, 1) pixels), ``c_i = irfft2(rfft2(n_i) * conj(rfft2(r)))`` (``c_i[d] = sum_p
    n_i[p + d] r[p]``, zero shift at ``[0, 0]``), ``d_i = argmax c_i`` as a signed shift and
    ``a_i = np.roll(n_i, -d_i, axis=(0, 1))``. For every ``n`` in ``counts`` it returns::

        aligned_means[j]   = (1/n) sum_{i<n} a_i     (the "Einstein from noise" estimate)
        unaligned_means[j] = (1/n) sum_{i<n} n_i     (control, tends to 0)

    The first tends to an image whose Fourier phases are those of ``r``, with a phase error
    decaying like ``1/n`` [2]_. The result equals aligning ``noise_images(seed, 0, n_images)``
    in memory with :func:`fiji_bridge.align.align_to_reference` (identical shifts and peaks,
    means equal up to float64 summation order).

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
        Images per task, rounded up to a whole number of RNG blocks (``RNG_BLOCK`` = 64).
        Default: one RNG block in-process (best load balance), about 2**24 pixels (1024 images of
        128 x 128) per Dask task. Does not change the result.
    workers : int, optional
        In-process: threads, each aligning whole tasks with single-threaded FFTs (default: all
        available cores). With Dask: threads inside each task (default 1). Does not change the
        result.
    scheduler : None, "local", str or distributed.Client, optional
        ``None``: run in this process. ``"local"``: start a ``distributed.LocalCluster`` of two
        single-thread worker processes on 127.0.0.1 for this call and close it afterwards. An
        address such as ``"tcp://host:8786"``: connect to that scheduler (workers there need
        ``fiji_bridge`` installed). A ``distributed.Client``: use it (not closed). Every task
        returns per-RNG-block sums that this process adds in block order, so the result is
        bit-identical to the in-process one.
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

    References
    ----------
    .. [1] M. Shatsky, R. J. Hall, S. E. Brenner, R. M. Glaeser, J. Struct. Biol. 166:67-78 (2009).
    .. [2] A. Balanov, W. Huleihel and T. Bendory, "Einstein from Noise: Statistical Analysis",
           arXiv:2407.05277 (2024).

    Examples
    --------
    >>> import numpy as np
    >>> from fiji_bridge.engine import stream_alignment
    >>> r = np.random.default_rng(1).standard_normal((32, 32)).astype(np.float32)
    >>> res = stream_alignment(r, 200, seed=0, counts=[50, 200], workers=1)
    >>> res.aligned_means.shape
    (2, 32, 32)
    """
    ref32 = _as_reference(reference)
    h, w = ref32.shape
    if not _is_int(n_images):
        raise TypeError(
            f"n_images must be a positive integer, got {type(n_images).__name__} {n_images!r}"
        )
    n_images = int(n_images)
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    seed = _check_seed(seed)
    counts = _check_counts(counts, n_images)
    block_size = _check_block_size(block_size)
    if not _is_int(keep_examples):
        raise TypeError(
            f"keep_examples must be a non-negative integer, got {type(keep_examples).__name__}"
        )
    if keep_examples < 0:
        raise ValueError(f"keep_examples must be >= 0, got {keep_examples}")
    keep_examples = int(keep_examples)
    if not isinstance(keep_shifts, (bool, np.bool_)):
        raise TypeError(f"keep_shifts must be True or False, got {keep_shifts!r}")
    backend = _check_backend(fft_backend)
    if isinstance(connect_timeout, (bool, np.bool_)) or not isinstance(connect_timeout, numbers.Real):
        raise TypeError(f"connect_timeout must be a number of seconds, got {connect_timeout!r}")
    if not connect_timeout > 0:
        raise ValueError(f"connect_timeout must be > 0 seconds, got {connect_timeout}")

    _check_scheduler_spec(scheduler)
    if noise not in ("fourier", "sfc64"):
        raise ValueError(f"noise must be 'fourier' or 'sfc64', got {noise!r}. Fix: leave it out")
    if noise == "fourier":
        return _stream_fourier_noise(ref32, n_images, seed, counts, block_size, workers,
                                     scheduler, connect_timeout, keep_examples, keep_shifts,
                                     progress, backend)
    use_dask = scheduler is not None
    if use_dask:
        threads = _check_workers(workers, default=1)
        if block_size is None:
            block_size = max(RNG_BLOCK, (_DASK_TASK_PIXELS // (h * w)) // RNG_BLOCK * RNG_BLOCK)
    else:
        threads = _check_workers(workers)
        if block_size is None:
            block_size = RNG_BLOCK
    callback, closer = _check_progress(progress, n_images)

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
            client, closers, description = _open_dask(scheduler, float(connect_timeout))
            try:
                t0 = time.perf_counter()
                _run_dask(client, make_task_args, n_tasks, consume)
                elapsed = time.perf_counter() - t0
            finally:
                for close in closers:
                    try:
                        close()
                    except Exception:  # pragma: no cover - best effort shutdown
                        pass
        else:
            description = f"in-process ({threads} thread{'s' if threads > 1 else ''})"
            t0 = time.perf_counter()
            _run_in_process(make_task_args, n_tasks, threads, consume)
            elapsed = time.perf_counter() - t0
    finally:
        if closer is not None:
            closer()

    ex_aligned = apply_shifts(combiner.ex_noise, combiner.ex_shifts)
    return StreamResult(
        counts=counts,
        aligned_means=combiner.aligned_means,
        unaligned_means=combiner.unaligned_means,
        shifts=combiner.shifts,
        peaks=combiner.peaks,
        shift_histogram=combiner.hist,
        peak_summary=combiner.peak_summary(),
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
    )


def _is_dask_client(obj) -> bool:
    mod = sys.modules.get("distributed")
    return mod is not None and isinstance(obj, mod.Client)


def _check_scheduler_spec(scheduler) -> None:
    """ValueError unless ``scheduler`` is None, 'local', an address with '://' or a Client."""
    if scheduler is None or _is_dask_client(scheduler):
        return
    if not isinstance(scheduler, str) or not (scheduler == "local" or "://" in scheduler):
        raise ValueError(
            f"scheduler must be None (in-process), 'local', an address like "
            f"'tcp://host:8786' or a distributed.Client, got {scheduler!r}"
        )


def check_scheduler(scheduler, *, connect_timeout=DEFAULT_CONNECT_TIMEOUT) -> None:
    """Connect to a Dask scheduler (and see a worker) within ``connect_timeout`` s, then let go.

    Lets a command fail in seconds, before any other work, when the address is wrong.

    Raises
    ------
    ValueError
        ``scheduler`` is not a scheduler specification at all (e.g. ``"threads"``).
    SchedulerConnectionError
        The scheduler cannot be reached or has no workers; the message says how to fix it.
    """
    _check_scheduler_spec(scheduler)
    client, closers, _ = _open_dask(scheduler, connect_timeout)
    for close in closers:
        close()


# --------------------------------------------------------------------------------------------
# the default path: Fourier-space noise, one FFT per image (fiji_bridge.fourier_engine)
# --------------------------------------------------------------------------------------------
class _DaskSubmitter:
    """``submit(fn, *args)`` on a Dask client, never cached (``pure=False``)."""

    def __init__(self, client):
        self.client = client

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)


def _as_stream_result(res) -> StreamResult:
    """A :class:`fiji_bridge.fourier_engine.FourierStreamResult` as a StreamResult (same
    fields, arrays not copied)."""
    return StreamResult(**{f.name: getattr(res, f.name) for f in dataclasses.fields(StreamResult)})


def _stream_fourier_noise(ref32, n_images, seed, counts, block_size, workers, scheduler,
                          connect_timeout, keep_examples, keep_shifts, progress, backend):
    """:func:`stream_alignment` with ``noise="fourier"`` (arguments already checked)."""
    from fiji_bridge import fourier_engine

    kwargs = dict(seed=seed, counts=counts, keep_examples=keep_examples, keep_shifts=keep_shifts,
                  progress=progress, fft_backend=backend)
    if scheduler is None:
        return _as_stream_result(fourier_engine.stream_fourier(
            ref32, n_images, block_size=block_size, workers=_check_workers(workers), **kwargs))
    h, w = ref32.shape
    threads = _check_workers(workers, default=1)
    if block_size is None:
        block_size = max(RNG_BLOCK, (_DASK_TASK_PIXELS // (h * w)) // RNG_BLOCK * RNG_BLOCK)
    client, closers, description = _open_dask(scheduler, float(connect_timeout))
    try:
        nthreads = sum(client.nthreads().values()) or 1
        return _as_stream_result(fourier_engine.stream_fourier(
            ref32, n_images, block_size=block_size, workers=threads,
            executor=_DaskSubmitter(client), window=max(4, 2 * nthreads),
            description=description, **kwargs))
    finally:
        for close in closers:
            try:
                close()
            except Exception:  # pragma: no cover - best effort shutdown
                pass
