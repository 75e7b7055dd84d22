"""Where the study's experiments align their images: one pass per (variant, trial).

:class:`StudyRunner` runs two kinds of pass, in-process (threads) or on one Dask client opened
for the whole study (:mod:`fiji_bridge.scheduler`):

``engine``
    Pure noise hard-aligned to a reference: :func:`fiji_bridge.engine.stream_alignment`.
``signal``
    ``s·t + n_i`` (a true image plus the same noise images as the engine for that seed,
    :func:`fiji_bridge.noise.noise_images`) hard-aligned to a reference
    (:mod:`fiji_bridge.align`), and optionally soft-aligned for several widths
    (:func:`fiji_bridge.soft_align.soft_sum_spectra`, kept in Fourier space). Each task returns
    the sums of whole RNG blocks, cut at the requested counts, and this process adds them in
    block order, so the result does not depend on threads or workers.

The user's search space (issue 12): a runner made with ``max_shift`` and/or ``mask_radius``
(:mod:`fiji_bridge.search_space`) aligns every pass within it, as
:func:`fiji_bridge.align.align_to_reference` does: peaks searched only over shifts with
``|dy|, |dx| <= max_shift``, the correlation maps those of the masked images with the masked
reference (the averages are of the shifted unmasked images), soft weights 0 outside the window.
The streaming engine searches the whole box, so an ``engine`` pass with a search space is a
``signal`` pass without truth (the same noise images, aligned in memory block by block). Without
a search space nothing changes: ``engine`` is the streaming engine, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.fft

from fiji_bridge import align, checks, search_space
from fiji_bridge.engine import stream_alignment
from fiji_bridge.noise import RNG_BLOCK, noise_images
from fiji_bridge.scheduler import check_scheduler_spec, open_dask, run_dask, run_threads
from fiji_bridge.soft_align import soft_sum_spectra

__all__ = ["StudyRunner", "signal_task"]


def _signal_block(ref32, truth32, sigmas, seed, block, n_images, cuts, max_shift=None,
                  mask_radius=None):
    """Sums of RNG block ``block``: one segment per requested count inside it, then the rest.

    Returns ``[(end, hard_sum, soft_spectra or None, unaligned_sum)]`` with ``end`` the global
    index after the segment's last image. ``max_shift``, ``mask_radius``: the search space
    (module docstring; None: the whole box, no mask).
    """
    h, w = ref32.shape
    start = block * RNG_BLOCK
    stop = min(start + RNG_BLOCK, n_images)
    images = noise_images(seed, start, stop, (h, w))
    if truth32 is not None:
        images += truth32
    maps = align.correlation_maps(images, ref32, workers=1, mask_radius=mask_radius)
    shifts, _ = align.peak_shifts(maps, max_shift=max_shift)
    hard = align.apply_shifts(images, shifts)
    bounds = sorted({c - start for c in cuts if start < c < stop} | {stop - start})
    out, lo = [], 0
    for hi in bounds:
        soft = (soft_sum_spectra(images[lo:hi], maps[lo:hi], sigmas, max_shift=max_shift)
                if sigmas else None)
        out.append((start + hi, hard[lo:hi].sum(axis=0, dtype=np.float64), soft,
                    images[lo:hi].sum(axis=0, dtype=np.float64)))
        lo = hi
    return out


def signal_task(ref32, truth32, sigmas, seed, b0, b1, n_images, cuts, max_shift=None,
                mask_radius=None):
    """One task: the segment sums of RNG blocks ``b0 .. b1 - 1`` (see :class:`StudyRunner`)."""
    return [_signal_block(ref32, truth32, sigmas, seed, b, n_images, cuts, max_shift,
                          mask_radius) for b in range(b0, b1)]


class StudyRunner:
    """Runs the passes in-process or on one Dask client opened for the whole study.

    Use as a context manager (it opens and closes the Dask client). ``progress(done, total)``
    is called as images are done, ``total`` being the planned number for the whole study.
    ``max_shift`` and ``mask_radius`` (keyword-only, checked by
    :func:`fiji_bridge.checks.max_shift` and :func:`fiji_bridge.checks.mask_radius`) are the
    search space of every pass (module docstring); None: the whole box, no mask.
    """

    def __init__(self, scheduler: Any, workers: int | None, progress: Callable | None,
                 total: int, *, max_shift: int | None = None,
                 mask_radius: float | None = None) -> None:
        check_scheduler_spec(scheduler)
        self.scheduler = scheduler
        self.workers = checks.workers(workers, default=1 if scheduler is not None else None)
        self.progress = progress
        self.total = int(total)
        self.max_shift = checks.max_shift(max_shift)
        self.mask_radius = checks.mask_radius(mask_radius)
        self.done = 0
        self.client = None
        self._closers: list = []

    @property
    def search_space(self) -> dict[str, Any] | None:
        """``{"max_shift", "mask_radius", "mask_edge"}`` when either is set, else None."""
        return search_space.record(self.max_shift, self.mask_radius)

    def __enter__(self) -> StudyRunner:
        if self.scheduler is not None:
            self.client, self._closers, _ = open_dask(self.scheduler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for close in self._closers:
            try:
                close()
            except Exception:  # pragma: no cover - best-effort shutdown
                pass

    def _advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress(min(self.done + n, self.total), self.total)

    def engine(self, reference: np.ndarray, counts: np.ndarray, seed: int) -> np.ndarray:
        """Hard-aligned averages of pure noise at each count (the engine, any scheduler)."""
        return self.means(reference, counts, seed)[0]

    def means(self, reference: np.ndarray, counts: np.ndarray, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
        """Aligned and unaligned averages of pure noise at each count, ``(n_counts, H, W)``.

        The streaming engine without a search space; with one, :meth:`signal` without truth
        (the same noise images of ``seed``).
        """
        if self.search_space is not None:
            res = self.signal(reference, None, counts, seed)
            return res["hard"], res["unaligned"]
        base = self.done
        cb = None if self.progress is None else (
            lambda d, _t: self.progress(min(base + d, self.total), self.total))
        res = stream_alignment(reference.astype(np.float32), int(counts[-1]), seed=seed,
                               counts=counts.tolist(), workers=self.workers,
                               scheduler=self.client, keep_examples=0, keep_shifts=False,
                               progress=cb)
        self.done = base + int(counts[-1])
        return res.aligned_means, res.unaligned_means

    def signal(self, reference: np.ndarray, truth: np.ndarray | None, counts: np.ndarray,
               seed: int, sigmas: tuple = ()) -> dict[str, np.ndarray]:
        """Averages of ``truth + noise`` hard- (and soft-) aligned, at each count."""
        ref32 = reference.astype(np.float32)
        truth32 = None if truth is None else truth.astype(np.float32)
        h, w = ref32.shape
        n_images = int(counts[-1])
        n_blocks = -(-n_images // RNG_BLOCK)
        per_task = 1 if self.client is None else 16
        n_tasks = -(-n_blocks // per_task)
        cuts = tuple(int(c) for c in counts)
        index = {c: j for j, c in enumerate(cuts)}
        hard = np.empty((len(cuts), h, w))
        unal = np.empty((len(cuts), h, w))
        soft = np.empty((len(sigmas), len(cuts), h, w))
        tot = {"hard": np.zeros((h, w)), "unal": np.zeros((h, w)),
               "soft": np.zeros((len(sigmas), h, w // 2 + 1), dtype=np.complex128)}
        base = self.done

        def args(t):
            b0 = t * per_task
            return (ref32, truth32, sigmas, seed, b0, min(b0 + per_task, n_blocks), n_images, cuts,
                    self.max_shift, self.mask_radius)

        def consume(blocks):
            for segments in blocks:
                for end, h_sum, s_spec, u_sum in segments:
                    tot["hard"] += h_sum
                    tot["unal"] += u_sum
                    if s_spec is not None:
                        tot["soft"] += s_spec
                    j = index.get(end)
                    if j is not None:
                        hard[j] = tot["hard"] / end
                        unal[j] = tot["unal"] / end
                        if sigmas:
                            soft[:, j] = scipy.fft.irfft2(tot["soft"] / end, s=(h, w), workers=1)
                    self.done = base + end
            self._advance(0)

        if self.client is None:
            run_threads(signal_task, args, n_tasks, self.workers, consume)
        else:
            run_dask(self.client, signal_task, args, n_tasks, consume)
        self.done = base + n_images
        return {"hard": hard, "soft": soft, "unaligned": unal}
