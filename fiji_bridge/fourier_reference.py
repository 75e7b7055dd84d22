"""The slow, obviously correct path that the Fourier-space engine is tested against.

Same noise (:mod:`fiji_bridge.fourier_noise`), same conventions as
:func:`fiji_bridge.fourier_engine.stream_fourier`, but computed the plain way: real-space
float64 images, forward and inverse ``numpy.fft`` for each map, ``numpy.argmax``,
``numpy.roll`` and float64 sums in image order. Nothing here is meant to be fast.
"""

from __future__ import annotations

import numpy as np

from fiji_bridge import checks
from fiji_bridge.align import as_reference
from fiji_bridge.fourier_noise import noise_spectra

__all__ = ["reference_alignment"]


def reference_alignment(reference, n_images, *, seed, counts=None, batch=64):
    """The slow, obviously correct version of
    :func:`fiji_bridge.fourier_engine.stream_fourier` (numpy, float64).

    Real-space images ``n_i = np.fft.irfft2(S_i)`` (float64), maps
    ``np.fft.irfft2(np.fft.rfft2(n_i) * conj(np.fft.rfft2(r)))`` (float64), ``np.argmax``,
    ``np.roll`` and float64 sums in image order.

    Returns
    -------
    dict
        ``counts``, ``aligned_means``, ``unaligned_means`` ((len(counts), H, W) float64),
        ``shifts`` ((n, 2) int64), ``peaks`` ((n,) float64), ``maps_top2`` ((n, 2) float64:
        the largest and second largest map values, to spot near-ties).
    """
    ref = as_reference(reference).astype(np.float64)
    h, w = ref.shape
    n_images = checks.integer(n_images, "n_images", minimum=1, fix="pass e.g. n_images=1000")
    seed = checks.seed(seed)
    counts = checks.counts_array(counts, n_images)
    rc = np.conj(np.fft.rfft2(ref))
    want = set(counts.tolist())
    atot = np.zeros((h, w))
    utot = np.zeros((h, w))
    aligned = np.empty((len(counts), h, w))
    unaligned = np.empty((len(counts), h, w))
    shifts = np.empty((n_images, 2), dtype=np.int64)
    peaks = np.empty(n_images)
    top2 = np.empty((n_images, 2))
    j = 0
    for s0 in range(0, n_images, batch):
        s1 = min(s0 + batch, n_images)
        imgs = np.fft.irfft2(noise_spectra(seed, s0, s1, (h, w)).astype(np.complex128), s=(h, w))
        maps = np.fft.irfft2(np.fft.rfft2(imgs) * rc, s=(h, w))
        for m in range(s1 - s0):
            i = s0 + m
            flat = maps[m].ravel()
            k = int(np.argmax(flat))
            iy, ix = divmod(k, w)
            dy = (iy + h // 2) % h - h // 2
            dx = (ix + w // 2) % w - w // 2
            shifts[i] = (dy, dx)
            peaks[i] = flat[k]
            top2[i] = np.sort(flat)[-2:][::-1]
            atot += np.roll(imgs[m], (-dy, -dx), axis=(0, 1))
            utot += imgs[m]
            if i + 1 in want:
                aligned[j] = atot / (i + 1)
                unaligned[j] = utot / (i + 1)
                j += 1
    return {"counts": counts, "aligned_means": aligned, "unaligned_means": unaligned,
            "shifts": shifts, "peaks": peaks, "maps_top2": top2}
