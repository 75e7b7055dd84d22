"""Streaming "Einstein from noise" engine on Fourier-space noise: one FFT per image.

The noise images are those of :mod:`fiji_bridge.fourier_noise`: image ``i`` is the inverse
transform ``n_i = irfft2(S_i)`` of a spectrum ``S_i`` drawn directly in Fourier space from a
counter-based generator (Philox4x32-10, :mod:`fiji_bridge.philox`). The engine never builds
``n_i`` (except for the few kept examples):

* ``P_i = S_i * conj(R)`` (float32, ``R = rfft2(r)``), chunk by chunk as ``S_i`` is drawn;
* one c2r FFT per image gives the correlation map ``c_i = irfft2(P_i)``,
  ``c_i[d] = sum_p n_i[p + d] r[p]`` (the convention of :mod:`fiji_bridge.align`);
* ``d_i = argmax c_i`` (first maximum in C order), as a signed shift in ``[-H/2, H/2)``;
* the sums are kept in Fourier space, in float64:
  ``U += S_i`` and ``A += S_i * exp(2 pi i (ky dy / H + kx dx / W))``, the spectrum of
  ``np.roll(n_i, (-dy, -dx))``, with phase tables built to be exactly Hermitian; the
  averages are ``irfft2(A) / n`` and ``irfft2(U) / n``.

Reproducibility
---------------
Every bit of the result is independent of ``block_size`` and ``workers``: each image is a
pure function of ``(seed, i)``; its map comes from the same FFT call shape at the same
position (image ``i`` at slot ``i % CHUNK`` of a ``CHUNK``-image batch); the sums run image by
image over fixed blocks of :data:`SUM_BLOCK` images (a partial copy where a requested count
falls inside a block), and the block sums are added in the fixed pairwise tree of
:mod:`fiji_bridge.tree_sum`: inside each task (an aligned group of ``2**k`` blocks) and then
over the tasks, on the Dask workers when there is a cluster.

:func:`fiji_bridge.fourier_reference.reference_alignment` is the slow, obviously correct
version of the same computation (numpy float64, real space, ``np.roll``); the tests hold
:func:`stream_fourier` to it.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numba import njit

from fiji_bridge.align import apply_shifts, as_reference, check_backend
from fiji_bridge.fourier_noise import SpectrumGenerator
from fiji_bridge import checks, tree_sum
from fiji_bridge.scheduler import consume_in_order, run_threads
from fiji_bridge.stream_result import PeakRecord, StreamResult

__all__ = [
    "CHUNK",
    "DASK_TASK_PIXELS",
    "DEFAULT_TASK",
    "SUM_BLOCK",
    "phase_table",
    "run_task",
    "stream_fourier",
    "task_light",
    "task_node",
]


#: Images per FFT call (image i sits at slot i % CHUNK). Part of the bit-for-bit contract.
CHUNK = 8
#: Images per summation block (a multiple of CHUNK). Part of the bit-for-bit contract.
SUM_BLOCK = 64
#: Default images per in-process task (``SUM_BLOCK * 2**k``; it does not change the result).
DEFAULT_TASK = 256
#: Default pixels per Dask task: 2**26 is 4096 images of 128 x 128 (about 0.4 s of work per
#: task, against a few ms of Dask overhead); it does not change the result.
DASK_TASK_PIXELS = 2**26


# --------------------------------------------------------------------------------------------
# kernels (numba, GIL-free)
# --------------------------------------------------------------------------------------------
@njit(nogil=True, cache=True)
def _product(spec, rconj, count, prod):
    """prod[m] = spec[m] * rconj (complex, float32 arithmetic), m < count.

    Arrays are float32 views with re, im interleaved: spec, prod (C, H, 2 Wc), rconj (H, 2 Wc).
    """
    h = rconj.shape[0]
    n2 = rconj.shape[1]
    for m in range(count):
        for ky in range(h):
            s = spec[m, ky]
            r = rconj[ky]
            p = prod[m, ky]
            for q in range(n2 // 2):
                sr = s[2 * q]
                si = s[2 * q + 1]
                rr = r[2 * q]
                ri = r[2 * q + 1]
                p[2 * q] = sr * rr - si * ri
                p[2 * q + 1] = sr * ri + si * rr


@njit(nogil=True, cache=True)
def _accumulate(spec, lo, hi, dys, dxs, eyr, eyi, exr, exi, asum, usum, cr, ci):
    """For m in [lo, hi): usum += S_m; asum += (S_m * ex[kx dx mod W]) * ey[ky dy mod H].

    spec: (C, H, 2 Wc) float32 view (re, im interleaved); asum, usum: (2, H, Wc) float64
    (real and imaginary planes); eyr/eyi (H,), exr/exi (W,): :func:`phase_table` columns;
    cr, ci: (Wc,) float64 scratch. Element-wise float64 arithmetic in a fixed order (no
    fast-math, no fused multiply-add), so the sums do not depend on vectorisation.
    """
    h = asum.shape[1]
    wc = asum.shape[2]
    w = exr.shape[0]
    for m in range(lo, hi):
        dy = dys[m]
        dx = dxs[m]
        for kx in range(wc):
            t = (kx * dx) % w
            cr[kx] = exr[t]
            ci[kx] = exi[t]
        for ky in range(h):
            t = (ky * dy) % h
            yr = eyr[t]
            yi = eyi[t]
            s = spec[m, ky]
            a_r = asum[0, ky]
            a_i = asum[1, ky]
            u_r = usum[0, ky]
            u_i = usum[1, ky]
            for kx in range(wc):
                sr = np.float64(s[2 * kx])
                si = np.float64(s[2 * kx + 1])
                u_r[kx] += sr
                u_i[kx] += si
                tr = sr * cr[kx] - si * ci[kx]
                ti = sr * ci[kx] + si * cr[kx]
                a_r[kx] += tr * yr - ti * yi
                a_i[kx] += tr * yi + ti * yr


def phase_table(n: int) -> np.ndarray:
    """``(n, 2)`` float64 ``(cos, sin)`` of ``2 pi m / n``, exactly Hermitian.

    Entries ``m > n / 2`` are the conjugates of ``n - m``; ``m = 0`` is ``(1, 0)`` and, for even
    ``n``, ``m = n / 2`` is ``(-1, 0)``; so a phase ramp keeps a real spectrum Hermitian.
    """
    m = np.arange(n // 2 + 1)
    ang = 2.0 * np.pi * m / n
    table = np.empty((n, 2), dtype=np.float64)
    table[: n // 2 + 1, 0] = np.cos(ang)
    table[: n // 2 + 1, 1] = np.sin(ang)
    table[0] = (1.0, 0.0)
    if n % 2 == 0:
        table[n // 2] = (-1.0, 0.0)
    for k in range(n // 2 + 1, n):
        table[k, 0] = table[n - k, 0]
        table[k, 1] = -table[n - k, 1]
    return table


# --------------------------------------------------------------------------------------------
# per-thread workspace and one summation block
# --------------------------------------------------------------------------------------------
_PYFFTW_LOCK = threading.Lock()


class _Context:
    """What every block of a (reference, seed, backend) shares, plus one workspace per thread.

    Contexts are cached per process (:func:`_context`), so that the threads of this process or
    of a Dask worker keep their preallocated buffers from one task to the next.
    """

    def __init__(self, ref32, seed, backend):
        self.ref32 = ref32
        self.h, self.w = ref32.shape
        self.wc = self.w // 2 + 1
        self.seed = seed
        self.backend = backend
        rconj = np.conj(np.fft.rfft2(ref32.astype(np.float64)))
        if backend == "pyfftw":  # FFTW's backward transform is unnormalised
            rconj = rconj / (self.h * self.w)
        self.rconj = np.ascontiguousarray(rconj.astype(np.complex64)).view(np.float32)
        ey = phase_table(self.h)
        ex = phase_table(self.w)
        self.eyr, self.eyi = ey[:, 0].copy(), ey[:, 1].copy()
        self.exr, self.exi = ex[:, 0].copy(), ex[:, 1].copy()
        self.local = threading.local()

    def workspace(self):
        ws = getattr(self.local, "ws", None)
        if ws is None:
            ws = _Workspace(self)
            self.local.ws = ws
        return ws


class _Workspace:
    """Preallocated buffers of one thread."""

    def __init__(self, ctx: _Context):
        h, w, wc = ctx.h, ctx.w, ctx.wc
        self.gen = SpectrumGenerator(ctx.seed, (h, w))
        self.cr = np.empty(wc, dtype=np.float64)
        self.ci = np.empty(wc, dtype=np.float64)
        self.slots = np.arange(CHUNK)
        if ctx.backend == "pyfftw":
            import pyfftw

            self.spec = pyfftw.empty_aligned((CHUNK, h, wc), dtype=np.complex64)
            self.prod = pyfftw.empty_aligned((CHUNK, h, wc), dtype=np.complex64)
            self.maps = pyfftw.empty_aligned((CHUNK, h, w), dtype=np.float32)
            with _PYFFTW_LOCK:
                pyfftw.forget_wisdom()  # FFTW_ESTIMATE without wisdom: the same plan every time
                plan = pyfftw.FFTW(self.prod, self.maps, axes=(1, 2), direction="FFTW_BACKWARD",
                                   flags=("FFTW_ESTIMATE", "FFTW_DESTROY_INPUT"), threads=1)
            self._plan = plan
            self.run_fft = self._run_pyfftw
        else:
            import scipy.fft

            self._scipy_fft = scipy.fft
            self.spec = np.empty((CHUNK, h, wc), dtype=np.complex64)
            self.prod = np.empty((CHUNK, h, wc), dtype=np.complex64)
            self.run_fft = self._run_scipy
        self.spec.fill(0)
        self.spec_f = self.spec.view(np.float32)
        self.prod_f = self.prod.view(np.float32)
        self.shape = (h, w)

    def _run_scipy(self):
        return self._scipy_fft.irfft2(self.prod, s=self.shape, axes=(1, 2), workers=1,
                                      overwrite_x=True)

    def _run_pyfftw(self):
        self._plan.execute()
        return self.maps


_CONTEXTS: collections.OrderedDict = collections.OrderedDict()
_CONTEXTS_LOCK = threading.Lock()


def _context(ref32, seed, backend) -> _Context:
    """The cached context of (reference, seed, backend) in this process (the last 4 kept)."""
    key = (ref32.shape, hashlib.blake2b(ref32.tobytes(), digest_size=16).digest(), seed, backend)
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            ctx = _Context(ref32, seed, backend)
            _CONTEXTS[key] = ctx
            while len(_CONTEXTS) > 4:
                _CONTEXTS.popitem(last=False)
        else:
            _CONTEXTS.move_to_end(key)
    return ctx


def _process_block(ctx: _Context, job: tuple, block: int) -> dict:
    """Draw, correlate and sum the images of summation block ``block`` (in image order).

    ``job`` is ``(n_images, keep_examples, shift_dtype, cuts)`` with ``cuts`` a dict
    ``block -> counts inside it, relative to its start``.
    """
    n_images, keep_examples, shift_dtype, block_cuts = job
    ws = ctx.workspace()
    h, wc = ctx.h, ctx.wc
    start = block * SUM_BLOCK
    n = min(SUM_BLOCK, n_images - start)
    asum = np.zeros((2, h, wc), dtype=np.float64)
    usum = np.zeros((2, h, wc), dtype=np.float64)
    shifts = np.empty((n, 2), dtype=shift_dtype)
    peaks = np.empty(n, dtype=np.float32)
    n_ex = max(0, min(keep_examples - start, n))
    ex_spec = np.empty((n_ex, h, wc), dtype=np.complex64) if n_ex else None
    ex_maps = np.empty((n_ex, ctx.h, ctx.w), dtype=np.float32) if n_ex else None
    partials = {}
    cuts = iter(block_cuts.get(block, ()))
    next_cut = next(cuts, None)
    for c0 in range(0, n, CHUNK):
        k = min(CHUNK, n - c0)
        ws.gen.fill(start + c0, ws.spec, k)
        _product(ws.spec_f, ctx.rconj, k, ws.prod_f)
        maps = ws.run_fft()
        flat = maps.reshape(CHUNK, ctx.h * ctx.w)
        idx = flat.argmax(axis=1)  # first maximum in C order
        pks = flat[ws.slots, idx]
        iy, ix = np.divmod(idx, ctx.w)
        dys = (iy + ctx.h // 2) % ctx.h - ctx.h // 2
        dxs = (ix + ctx.w // 2) % ctx.w - ctx.w // 2
        shifts[c0 : c0 + k, 0] = dys[:k]
        shifts[c0 : c0 + k, 1] = dxs[:k]
        peaks[c0 : c0 + k] = pks[:k]
        if c0 < n_ex:
            j = min(k, n_ex - c0)
            ex_spec[c0 : c0 + j] = ws.spec[:j]
            ex_maps[c0 : c0 + j] = maps[:j]
        lo = 0
        while lo < k:
            hi = k
            if next_cut is not None and next_cut - c0 <= k:
                hi = next_cut - c0
            _accumulate(ws.spec_f, lo, hi, dys, dxs, ctx.eyr, ctx.eyi, ctx.exr, ctx.exi, asum, usum,
                        ws.cr, ws.ci)
            lo = hi
            if next_cut is not None and next_cut == c0 + hi:
                partials[start + next_cut] = (asum.copy(), usum.copy())
                next_cut = next(cuts, None)
    light = {"block": block, "n": n, "shifts": shifts, "peaks": peaks, "ex_spec": ex_spec,
             "ex_maps": ex_maps}
    return light, tree_sum.leaf((asum, usum), partials)


def run_task(ref32, seed, backend, n_images, keep_examples, shift_dtype, cuts, b0, b1, threads=1):
    """One task: summation blocks ``b0 .. b1 - 1``, an aligned group of ``2**k`` blocks.

    Returns ``{"light": [block records, in block order], "node": the group's node}``, the
    node folded by :class:`fiji_bridge.tree_sum.TreeFolder` (the same bits as any other split).
    A top-level, picklable function: what :func:`stream_fourier` runs in this process's threads
    or submits to a Dask cluster. ``threads`` > 1 spreads the blocks over that many threads.
    """
    ctx = _context(ref32, seed, backend)
    job = (n_images, keep_examples, np.dtype(shift_dtype), cuts)
    blocks = range(b0, b1)
    if threads <= 1 or len(blocks) <= 1:
        done = [_process_block(ctx, job, b) for b in blocks]
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(blocks))) as pool:
            done = list(pool.map(lambda b: _process_block(ctx, job, b), blocks))
    folder = tree_sum.TreeFolder()
    for _, node in done:
        folder.push(0, node)
    return {"light": [light for light, _ in done], "node": folder.result()}


def task_light(result: dict) -> list:
    """The block records of a :func:`run_task` result (a Dask task: only they travel back)."""
    return result["light"]


def task_node(result: dict) -> dict:
    """The tree node of a :func:`run_task` result (a Dask task: it stays on the workers)."""
    return result["node"]


# --------------------------------------------------------------------------------------------
# the client's side: the light records in block order, the sums from the tree's root
# --------------------------------------------------------------------------------------------
def _to_complex(planes: np.ndarray) -> np.ndarray:
    """(2, H, Wc) real and imaginary planes -> (H, Wc) complex128, exactly."""
    out = np.empty(planes.shape[1:], dtype=np.complex128)
    out.real = planes[0]
    out.imag = planes[1]
    return out


class _Combiner:
    def __init__(self, h, w, n_images, counts, keep_shifts, keep_examples, shift_dtype):
        wc = w // 2 + 1
        self.h, self.w = h, w
        self.record = PeakRecord((h, w), n_images, keep_shifts, shift_dtype)
        n_ex = min(keep_examples, n_images)
        self.ex_spec = np.empty((n_ex, h, wc), dtype=np.complex64)
        self.ex_maps = np.empty((n_ex, h, w), dtype=np.float32)
        self.ex_shifts = np.empty((n_ex, 2), dtype=np.int64)
        self.next_block = 0
        self.done = 0

    def add(self, res: dict) -> None:
        if res["block"] != self.next_block:  # internal invariant
            raise RuntimeError(f"block {res['block']} arrived out of order")
        self.next_block += 1
        start = res["block"] * SUM_BLOCK
        stop = start + res["n"]
        sh = res["shifts"]
        self.record.add(start, sh, res["peaks"])
        if res["ex_spec"] is not None:
            k = res["ex_spec"].shape[0]
            self.ex_spec[start : start + k] = res["ex_spec"]
            self.ex_maps[start : start + k] = res["ex_maps"]
            self.ex_shifts[start : start + k] = sh[:k]
        self.done = stop

    def means(self, root: dict, counts: np.ndarray):
        """Aligned and unaligned means at ``counts`` from the root's prefix sums."""
        shape = (self.h, self.w)
        out = []
        for k in range(2):
            spectra = np.stack([_to_complex(root["prefix"][int(c)][k]) for c in counts])
            out.append(np.fft.irfft2(spectra, s=shape, axes=(1, 2))
                       / counts.astype(np.float64)[:, None, None])
        return out


def _check_block_size(block_size, default: int) -> int:
    """Images per task: ``default`` for None; rounded up to ``SUM_BLOCK * 2**k`` images (an
    aligned subtree of :mod:`fiji_bridge.tree_sum`)."""
    block_size = checks.block_size(block_size)
    if block_size is None:
        block_size = default
    blocks = -(-block_size // SUM_BLOCK)
    return SUM_BLOCK * (1 << (blocks - 1).bit_length())


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def stream_fourier(reference, n_images, *, seed, counts=None, block_size=None, workers=None,
                   keep_examples=16, keep_shifts=True, progress=None, fft_backend="scipy",
                   client: Any = None, description=None) -> StreamResult:
    """Align ``n_images`` Fourier-space noise images to a reference and average them.

    Same quantities as :func:`fiji_bridge.engine.stream_alignment`, on the noise of
    :mod:`fiji_bridge.fourier_noise`: for ``i < n_images``, ``n_i = irfft2(S_i)``,
    ``c_i[d] = sum_p n_i[p + d] r[p]``, ``d_i = argmax c_i`` (signed), ``a_i = np.roll(n_i,
    -d_i)``; ``aligned_means[j] = mean(a_0 .. a_{n-1})`` and ``unaligned_means[j] = mean(n_0 ..
    n_{n-1})`` for ``n = counts[j]``.

    Parameters
    ----------
    reference : array_like
        ``(H, W)`` real, finite reference, at least 2 x 2.
    n_images : int
        Number of images, >= 1.
    seed : int
        Non-negative seed of the noise.
    counts : sequence of int, optional
        Counts ``1 <= n <= n_images`` at which to snapshot the averages (default
        ``[n_images]``).
    block_size : int, optional
        Images per task, rounded up to ``SUM_BLOCK * 2**k`` (default :data:`DEFAULT_TASK` in
        threads; with a client, :data:`DASK_TASK_PIXELS` pixels' worth, 4096 images of 128 x
        128). Does not change the result.
    workers : int, optional
        Threads (default: all available cores; with a client, threads inside each task,
        default 1). Does not change the result.
    keep_examples : int, optional
        Keep noise, aligned noise and maps of the first ``keep_examples`` images (default 16).
    keep_shifts : bool, optional
        Keep every shift and peak (8 bytes per image); False keeps only the histogram and summary.
    progress : None, True or callable, optional
        ``progress(done, total)`` after each task; True shows a tqdm bar on stderr.
    fft_backend : {"scipy", "pyfftw"}, optional
        Library of the c2r FFT (pyfftw's last bits depend on the CPU).
    client : distributed.Client, optional
        Run the tasks on this Dask cluster instead of this process's threads (its workers need
        ``fiji_bridge``); :func:`run_task` is submitted with picklable arguments, ``workers``
        threads inside each task. The block sums are folded pairwise on the workers
        (:mod:`fiji_bridge.tree_sum`); only the shifts, peaks and examples of each task and
        the root's sums come back. The same bits as in-process.
    description : str, optional
        Stored in ``StreamResult.scheduler`` (default ``"in-process (N threads)"``).

    Returns
    -------
    StreamResult
        ``rng_block`` holds :data:`SUM_BLOCK`.

    Raises
    ------
    TypeError, ValueError
        Bad arguments; the message says what is wrong and how to fix it.

    Examples
    --------
    >>> import numpy as np
    >>> from fiji_bridge.fourier_engine import stream_fourier
    >>> r = np.random.default_rng(1).standard_normal((32, 32)).astype(np.float32)
    >>> a = stream_fourier(r, 200, seed=0, counts=[50, 200], workers=1)
    >>> b = stream_fourier(r, 200, seed=0, counts=[50, 200], workers=2, block_size=64)
    >>> bool((a.aligned_means == b.aligned_means).all()), a.aligned_means.shape
    (True, (2, 32, 32))
    """
    ref32 = as_reference(reference)
    n_images, seed, counts, keep_examples, keep_shifts = checks.stream_options(
        n_images, seed, counts, keep_examples, keep_shifts)
    h, w = ref32.shape
    default_task = (DEFAULT_TASK if client is None
                    else max(SUM_BLOCK, DASK_TASK_PIXELS // (h * w)))
    block_size = _check_block_size(block_size, default_task)
    threads = checks.workers(workers, default=None if client is None else 1)
    backend = check_backend(fft_backend)
    callback, closer = checks.progress(progress, n_images)

    shift_dtype = np.int16 if max(h, w) <= 65536 else np.int32
    cuts: dict[int, list[int]] = {}  # block -> counts whose last image it holds (1..SUM_BLOCK)
    for c in counts.tolist():
        cuts.setdefault((c - 1) // SUM_BLOCK, []).append(c - (c - 1) // SUM_BLOCK * SUM_BLOCK)
    comb = _Combiner(h, w, n_images, counts, keep_shifts, keep_examples, shift_dtype)
    n_blocks = -(-n_images // SUM_BLOCK)
    per_task = block_size // SUM_BLOCK
    level = per_task.bit_length() - 1  # a task is a subtree of 2**level blocks
    n_tasks = -(-n_blocks // per_task)

    def task_args(t):
        b0 = t * per_task
        b1 = min(b0 + per_task, n_blocks)
        task_cuts = {b: tuple(cuts[b]) for b in range(b0, b1) if b in cuts}
        return (ref32, seed, backend, n_images, keep_examples, np.dtype(shift_dtype).str,
                task_cuts, b0, b1, threads if client is not None else 1)

    def consume_light(records):
        for res in records:
            comb.add(res)
        if callback is not None:
            callback(comb.done, n_images)

    t0 = time.perf_counter()
    try:
        if client is not None:
            root = _run_on_dask(client, task_args, n_tasks, level, consume_light)
        else:
            folder = tree_sum.TreeFolder()

            def consume(result):
                consume_light(result["light"])
                folder.push(level, result["node"])

            run_threads(run_task, task_args, n_tasks, min(threads, n_tasks), consume)
            root = folder.result()
    finally:
        if closer is not None:
            closer()
    elapsed = time.perf_counter() - t0

    aligned, unaligned = comb.means(root, counts)
    ex_noise = np.fft.irfft2(comb.ex_spec.astype(np.complex128), s=(h, w), axes=(1, 2)).astype(np.float32)
    ex_aligned = apply_shifts(ex_noise, comb.ex_shifts)
    return StreamResult(
        counts=counts, aligned_means=aligned, unaligned_means=unaligned, shifts=comb.record.shifts,
        peaks=comb.record.peaks, shift_histogram=comb.record.hist,
        peak_summary=comb.record.summary(comb.done),
        example_noise=ex_noise, example_aligned=ex_aligned, example_maps=comb.ex_maps,
        n_images=n_images, seed=seed, block_size=block_size, rng_block=SUM_BLOCK,
        fft_backend=backend,
        scheduler=description or f"in-process ({threads} thread{'s' if threads > 1 else ''})",
        elapsed_s=elapsed, example_shifts=comb.ex_shifts,
    )


def _run_on_dask(client, task_args, n_tasks, level, consume_light) -> dict:
    """Run the tasks on a Dask cluster: their light records come back in task order, their
    nodes are folded pairwise by :func:`fiji_bridge.tree_sum.combine` tasks on the workers;
    only the root comes back."""

    def combine_on_workers(left, right):
        return client.submit(tree_sum.combine, left, right, pure=False)

    folder = tree_sum.TreeFolder(combine_on_workers)
    nthreads = sum(client.nthreads().values()) or 1

    def submit(t):
        full = client.submit(run_task, *task_args(t), pure=False)
        folder.push(level, client.submit(task_node, full, pure=False))
        return client.submit(task_light, full, pure=False)

    consume_in_order(submit, n_tasks, max(4, 2 * nthreads), consume_light, release=True)
    root = folder.result()
    try:
        return root.result()
    finally:
        root.release()
