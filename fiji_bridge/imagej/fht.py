"""Cross-correlation and alignment with ImageJ's own Fourier code (``ij.process.FHT``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fiji_bridge import checks
from fiji_bridge.imagej.java import jclass
from fiji_bridge.imagej.pixels import float_processor
from fiji_bridge.imagej.session import require

__all__ = ["fht_align", "fht_correlation"]


def fht_correlation(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cyclic cross-correlation computed by ImageJ's FHT, peak-centred as ImageJ shows it.

    ``FHT(image).conjugateMultiply(FHT(reference))``, inverse transform, ``swapQuadrants``:
    ``result[H/2 + dy, W/2 + dx] = Σ_p image[p + d] · reference[p]``, i.e. numpy's
    ``fftshift(irfft2(rfft2(image) * conj(rfft2(reference))))``.
    """
    require()
    image = np.asarray(image, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    if image.shape != reference.shape or image.ndim != 2:
        raise ValueError(
            f"fht_correlation needs two 2-D images of the same shape; got {image.shape} and "
            f"{reference.shape}."
        )
    checks.fht_size(*image.shape)
    fht = jclass("ij.process.FHT")
    ref_fht = fht(float_processor(reference))
    ref_fht.transform()
    return _fht_map(fht, ref_fht, image)


def _fht_map(fht: Any, ref_fht: Any, image: np.ndarray) -> np.ndarray:
    image_fht = fht(float_processor(image))
    image_fht.transform()
    product = image_fht.conjugateMultiply(ref_fht)
    product.inverseTransform()
    product.swapQuadrants()
    return np.array(product.getPixels(), dtype=np.float32).reshape(image.shape)


def fht_align(images: np.ndarray, reference: np.ndarray, *, keep_maps: int = 0,
              progress: Callable[[int, int], None] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translation of each image to the reference found with ImageJ's FHT.

    For each image the correlation map of :func:`fht_correlation` is searched for its
    maximum at ``(H/2 + dy, W/2 + dx)``; ``(dy, dx)`` follows the convention of
    :mod:`fiji_bridge.align`: the image matches the reference best when shifted by
    ``-(dy, dx)`` (``np.roll(image, (-dy, -dx))``).

    Returns
    -------
    shifts : (N, 2) int64
    peaks : (N,) float32
        Correlation value at the peak.
    maps : (keep_maps, H, W) float32
        Peak-centred correlation maps of the first ``keep_maps`` images.
    """
    require()
    images = np.asarray(images, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    if images.ndim != 3 or images.shape[1:] != reference.shape:
        raise ValueError(
            f"fht_align needs images (N, H, W) and a reference (H, W); got {images.shape} and "
            f"{reference.shape}."
        )
    height, width = reference.shape
    checks.fht_size(height, width)
    fht = jclass("ij.process.FHT")
    ref_fht = fht(float_processor(reference))
    ref_fht.transform()
    count = images.shape[0]
    shifts = np.empty((count, 2), dtype=np.int64)
    peaks = np.empty(count, dtype=np.float32)
    maps = np.empty((min(keep_maps, count), height, width), dtype=np.float32)
    for index in range(count):
        cc = _fht_map(fht, ref_fht, images[index])
        flat = int(np.argmax(cc))
        row, col = divmod(flat, width)
        shifts[index] = (row - height // 2, col - width // 2)
        peaks[index] = cc[row, col]
        if index < maps.shape[0]:
            maps[index] = cc
        if progress is not None:
            progress(index + 1, count)
    return shifts, peaks, maps

