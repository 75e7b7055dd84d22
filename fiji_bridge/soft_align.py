"""Soft (maximum-likelihood) alignment: every shift weighted by its correlation (numpy only).

Sigworth (1998) replaces the hard choice ``d* = argmax_d c(d)`` of :mod:`fiji_bridge.align` by
a weighted sum over all cyclic shifts. With the correlation map ``c(d) = sum_p n[p + d] r[p]``
(:func:`fiji_bridge.align.correlation_maps`, zero shift at ``[0, 0]``) and a width ``σ > 0``::

    w(d) = exp(c(d) / σ²) / sum_d' exp(c(d') / σ²)          (weights, sum 1 over d)
    a[p] = sum_d w(d) · n[p + d] = sum_d w(d) · roll(n, -d)[p]   (the soft-aligned image)

The weights are computed as ``exp((c(d) - max c) / σ²)`` before normalizing, which cannot
overflow. ``a`` is the circular cross-correlation of ``n`` with ``w``, evaluated in Fourier space
as ``a = irfft2(rfft2(n) · conj(rfft2(w)))`` (the same convention as the correlation maps).

For white noise of variance 1 and a template of amplitude 1, the likelihood of shift ``d`` is
``∝ exp(c(d))``: ``σ = 1`` is the maximum-likelihood weighting of Sigworth's model, and a larger
``σ`` spreads the weights (a higher "temperature"). As ``σ → 0`` the weights become one-hot at
the argmax and ``a`` is the hard-aligned image; as ``σ → ∞`` they become uniform and ``a`` is
the image's mean (a constant).

Reference: F. J. Sigworth, "A maximum-likelihood approach to single-particle image
refinement", J. Struct. Biol. 122:328-339 (1998).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.fft

from fiji_bridge import checks
from fiji_bridge.search_space import search_window

__all__ = ["check_sigmas", "soft_aligned", "soft_sum_spectra", "soft_weights"]


def check_sigmas(sigmas: Any) -> tuple[float, ...]:
    """One width or a sequence of widths, each a finite number > 0, as a tuple of floats."""
    items = [sigmas] if isinstance(sigmas, numbers.Real) else sigmas
    try:
        items = list(items)
    except TypeError:
        raise TypeError(f"sigma must be a number or a sequence of numbers, got {sigmas!r}. "
                        "Fix: pass e.g. sigma=8.0 or sigmas=(2, 8, 32).") from None
    if not items:
        raise ValueError("The list of widths sigma is empty. Fix: pass e.g. sigmas=(2, 8, 32).")
    out = []
    for s in items:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Real):
            raise TypeError(f"sigma must be a number, got {s!r}. Fix: pass e.g. sigma=8.0.")
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"sigma must be a finite number > 0, got {s}. Fix: pass e.g. "
                             "sigma=8.0 (sigma -> 0 is hard alignment: use align.apply_shifts).")
        out.append(float(s))
    return tuple(out)


def _maps(maps: Any) -> tuple[np.ndarray, bool]:
    arr = checks.real_array(maps, "maps", ndim=(2, 3))
    single = arr.ndim == 2
    arr = arr[None] if single else arr
    if not np.all(np.isfinite(arr)):
        raise ValueError("maps contain NaN or infinite values. Fix: compute them from finite "
                         "images (align.correlation_maps).")
    return arr, single


def soft_weights(maps: Any, sigma: float, *, max_shift: int | None = None) -> np.ndarray:
    """Weights ``w(d) = exp(c(d)/σ²) / Σ_d' exp(c(d')/σ²)`` of each map, float64, same shape.

    Parameters
    ----------
    maps : array_like
        Non-centred correlation maps ``(H, W)`` or ``(N, H, W)``.
    sigma : float
        Width ``σ > 0``, in the units of the map values' square root.
    max_shift : int, optional
        Keyword-only. The search space of hard alignment
        (:func:`fiji_bridge.search_space.search_window`): shifts with ``|dy|`` or ``|dx|``
        above it get weight 0 and the sums run over the window only. Default None: every
        shift.
    """
    (sigma,) = check_sigmas(sigma)
    arr, single = _maps(maps)
    c = arr.astype(np.float64)
    if max_shift is not None:
        outside = np.ones(c.shape[1:], dtype=bool)
        outside.flat[search_window(c.shape[1:], max_shift)] = False
        c[:, outside] = -np.inf  # exp(-inf) = 0; the window always holds the zero shift
    w = np.exp((c - c.max(axis=(1, 2), keepdims=True)) / sigma**2)
    w /= w.sum(axis=(1, 2), keepdims=True)
    return w[0] if single else w


def _images_and_maps(images: Any, maps: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    imgs = checks.real_array(images, "images", ndim=(2, 3))
    m, single = _maps(maps)
    imgs = imgs[None] if imgs.ndim == 2 else imgs
    if imgs.shape != m.shape:
        raise ValueError(f"images {imgs.shape} and maps {m.shape} must have the same shape. "
                         "Fix: pass one correlation map per image (align.correlation_maps).")
    return imgs.astype(np.float64), m, single


def soft_sum_spectra(images: Any, maps: Any, sigmas: Any, *,
                     max_shift: int | None = None) -> np.ndarray:
    """``Σ_i rfft2(a_i)`` for every width: the soft-aligned sum, kept in Fourier space.

    Returns complex128 ``(len(sigmas), H, W // 2 + 1)``; ``irfft2(result[j] / N, s=(H, W))``
    is the soft-aligned average for ``sigmas[j]``. Sums of several batches add up, so a stream
    can be accumulated batch by batch and transformed back once. ``max_shift``: the weights
    of :func:`soft_weights` restricted to that search window (default None: every shift).
    """
    sigmas = check_sigmas(sigmas)
    imgs, m, _ = _images_and_maps(images, maps)
    spec = scipy.fft.rfft2(imgs, workers=1)
    out = np.empty((len(sigmas),) + spec.shape[1:], dtype=np.complex128)
    for j, s in enumerate(sigmas):
        wspec = scipy.fft.rfft2(soft_weights(m, s, max_shift=max_shift), workers=1)
        out[j] = np.einsum("ijk,ijk->jk", spec, np.conj(wspec))
    return out


def soft_aligned(images: Any, maps: Any, sigma: float) -> np.ndarray:
    """Soft-aligned images ``a_i = Σ_d w_i(d) · roll(n_i, -d)`` (float64, shape of ``images``).

    Computed as ``irfft2(rfft2(n_i) · conj(rfft2(w_i)))``; see the module docstring.
    """
    imgs, m, single = _images_and_maps(images, maps)
    w = soft_weights(m, sigma)
    h, wd = imgs.shape[1:]
    a = scipy.fft.irfft2(scipy.fft.rfft2(imgs, workers=1) * np.conj(scipy.fft.rfft2(w, workers=1)),
                         s=(h, wd), workers=1)
    return a[0] if single else a
