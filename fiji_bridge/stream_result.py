"""What a streamed alignment returns: :class:`StreamResult`.

With :class:`PeakRecord`, the per-image record both engines keep. Its own module so that
both engines (:mod:`fiji_bridge.engine`, which re-exports it, and
:mod:`fiji_bridge.fourier_engine`) return the same class without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fiji_bridge.noise import RNG_BLOCK

__all__ = ["PeakRecord", "StreamResult"]


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
        Images per summation block: :data:`fiji_bridge.fourier_engine.SUM_BLOCK` (default
        noise) or :data:`fiji_bridge.noise.RNG_BLOCK` (``noise="sfc64"``); both are 64.
    fft_backend : str
        FFT library used for the maps.
    scheduler : str
        Where it ran: ``"in-process (N threads)"``, ``"local"`` or the scheduler address.
    elapsed_s : float
        Wall-clock seconds of the streaming (not counting starting or stopping a cluster).
    example_shifts : numpy.ndarray or None
        int64 ``(k, 2)`` shifts of the example images (kept whatever ``keep_shifts``).
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
    example_shifts: np.ndarray | None = None


class PeakRecord:
    """The per-image record of a streamed alignment, filled in image order.

    ``shifts`` ``(n_images, 2)`` and ``peaks`` ``(n_images,)`` (None unless ``keep_shifts``),
    ``hist`` the int64 ``(H, W)`` shift histogram (index ``d % (H, W)``), and the running
    moments of the peaks for :meth:`summary` (taken about the first peak, so that the variance
    does not lose digits).
    """

    def __init__(self, shape, n_images, keep_shifts, shift_dtype):
        self.shape = shape
        self.shifts = np.empty((n_images, 2), dtype=shift_dtype) if keep_shifts else None
        self.peaks = np.empty(n_images, dtype=np.float32) if keep_shifts else None
        self.hist = np.zeros(shape, dtype=np.int64)
        self.peak_ref = None
        self.s1 = 0.0
        self.s2 = 0.0
        self.pmin = np.inf
        self.pmax = -np.inf

    def add(self, start: int, shifts: np.ndarray, peaks: np.ndarray) -> None:
        """Record images ``start .. start + len(peaks) - 1``."""
        h, w = self.shape
        stop = start + len(peaks)
        if self.shifts is not None:
            self.shifts[start:stop] = shifts
            self.peaks[start:stop] = peaks
        np.add.at(self.hist, (shifts[:, 0].astype(np.int64) % h,
                              shifts[:, 1].astype(np.int64) % w), 1)
        p = peaks.astype(np.float64)
        if self.peak_ref is None:
            self.peak_ref = float(p[0])
        q = p - self.peak_ref
        self.s1 += float(q.sum())
        self.s2 += float((q * q).sum())
        self.pmin = min(self.pmin, float(p.min()))
        self.pmax = max(self.pmax, float(p.max()))

    def summary(self, n: int) -> dict:
        """``count``, ``mean``, ``std``, ``min``, ``max`` of the first ``n`` recorded peaks."""
        mean_q = self.s1 / n
        var = max(self.s2 / n - mean_q * mean_q, 0.0)
        return {
            "count": int(n),
            "mean": float(self.peak_ref + mean_q),
            "std": float(np.sqrt(var)),
            "min": float(self.pmin),
            "max": float(self.pmax),
        }
