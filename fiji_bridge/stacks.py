"""Image stacks shared by the numpy modules: the ``(N, H, W)`` check and per-image normalisation.

Pure numpy; no Java. :mod:`fiji_bridge.controls` and :mod:`fiji_bridge.particles` both build
on it, so that a stack is checked, and an image normalised, in exactly one way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from fiji_bridge import checks

__all__ = ["NORMALIZE_BLOCK", "as_stack", "normalize_images"]

#: Images normalised per float64 block by :func:`normalize_images` (bounds the temporary
#: memory of big stacks; the result does not depend on it).
NORMALIZE_BLOCK = 256


def as_stack(x: ArrayLike, name: str) -> np.ndarray:
    """Real ``(N, H, W)`` view of one image ``(H, W)`` (``N = 1``) or of a stack.

    Raises
    ------
    TypeError
        ``x`` does not hold real numbers (:func:`fiji_bridge.checks.real_array`).
    ValueError
        ``x`` is neither 2-D nor 3-D, or its images are smaller than 2 x 2.
    """
    arr = checks.image_array(x, name, stack=True)
    return arr[np.newaxis] if arr.ndim == 2 else arr


def normalize_images(
    images: ArrayLike,
    *,
    name: str = "images",
    dtype: DTypeLike = np.float64,
    label: Callable[[int], str] | None = None,
) -> np.ndarray:
    r"""Normalise each image to mean 0 and sample standard deviation 1.

    .. math::

        \hat x[p] = \frac{x[p] - \bar x}{s}, \qquad
        s = \sqrt{\frac{1}{HW - 1} \sum_p (x[p] - \bar x)^2}

    (``ddof=1``, as ImageJ's ``getStatistics().stdDev`` that :mod:`fiji_bridge.reference` uses),
    computed in float64, :data:`NORMALIZE_BLOCK` images at a time, and returned in ``dtype``.
    The input is never changed.

    Parameters
    ----------
    images : array_like
        ``(H, W)`` or ``(N, H, W)`` real, finite images.
    name : str, optional
        Name used in error messages.
    dtype : numpy dtype, optional
        Type of the result (float64 by default; :mod:`fiji_bridge.particles` asks float32).
    label : callable, optional
        ``label(i)`` names image ``i`` in error messages (default ``f"{name}[{i}]"``).

    Returns
    -------
    numpy.ndarray
        ``(N, H, W)`` of ``dtype`` (a single image becomes ``N = 1``).

    Raises
    ------
    TypeError
        Non-real input.
    ValueError
        Non-finite input, wrong number of dimensions, or a constant image (its standard
        deviation is 0), named by its 0-based index.
    """
    stack = as_stack(images, name)
    if label is None:
        def label(i: int) -> str:
            return f"{name}[{i}]"
    out = np.empty(stack.shape, dtype=dtype)
    npix = stack.shape[1] * stack.shape[2]
    for i0 in range(0, stack.shape[0], NORMALIZE_BLOCK):
        block = stack[i0 : i0 + NORMALIZE_BLOCK].astype(np.float64)  # a copy: input unchanged
        finite = np.isfinite(block).reshape(block.shape[0], -1).all(axis=1)
        if not finite.all():
            bad = i0 + int(np.flatnonzero(~finite)[0])
            raise ValueError(
                f"{label(bad)} contains NaN or infinite values. Fix: replace them "
                "(e.g. np.nan_to_num) or remove that image."
            )
        mean = block.mean(axis=(1, 2), keepdims=True)
        block -= mean
        sd = np.sqrt((block * block).sum(axis=(1, 2), keepdims=True) / (npix - 1))
        flat = sd.ravel() <= 1e-12 * np.maximum(1.0, np.abs(mean.ravel()))
        if flat.any():
            bad = i0 + int(np.flatnonzero(flat)[0])
            raise ValueError(
                f"{label(bad)} is constant (standard deviation 0), so it cannot be normalised. "
                "Fix: remove it, or pass an image with some contrast."
            )
        out[i0 : i0 + block.shape[0]] = block / sd
    return out
