"""Seeded white Gaussian noise images for the "Einstein from noise" experiment.

The noise of a seed is one fixed, infinite sequence of images ``n_0, n_1, ...``. Image ``i``
depends only on ``(seed, i, shape)``: never on how a range of images is requested, on chunk or
block sizes, on threads or on Dask workers. This is what makes every result of
:func:`fiji_bridge.engine.stream_alignment` reproducible bit for bit.

Definition of the sequence
--------------------------
Image ``i`` is drawn in Fourier space (:mod:`fiji_bridge.fourier_noise`): a Hermitian complex
Gaussian half-plane spectrum ``S_i`` with the exact variances of ``rfft2`` of white N(0, 1)
noise, from the counter-based generator Philox4x32-10 keyed by the seed with the image index
in the counter (:mod:`fiji_bridge.philox`), and ``n_i = numpy.fft.irfft2(S_i)`` computed in
float64: i.i.d. N(0, 1) pixels, mean 0, sigma 1. Every path (the streaming engine, which works
on ``S_i`` directly, the in-memory and ImageJ routes, saved stacks) sees these images.

:data:`RNG_BLOCK` and the SFC64 streams below define the former real-space noise, still used
by ``stream_alignment(..., noise="sfc64")``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RNG_BLOCK", "block_generator", "noise_images"]

#: Number of consecutive images that share one random stream. Part of the definition of the
#: noise of a seed: changing it changes every image after the first block. 64 keeps the cost of
#: starting a range in the middle of a block small (at most 63 images drawn and discarded) and
#: the engine's per-block partial sums fine-grained, while creating a stream (about 10 us)
#: stays negligible next to drawing 64 images (about 8 ms at 128 x 128).
RNG_BLOCK: int = 64

# numpy 2.x on the 2-core test machine, float32 standard_normal of 128 x 128 images, one thread:
# SFC64 123 us/image, PCG64DXSM 140, PCG64 144, Philox 167, MT19937 172. SFC64 is the fastest
# of numpy's bit generators, has a period of at least 2**64 per stream and passes PractRand and
# BigCrush; streams are made independent by SeedSequence's spawn keys, not by jumping. Since
# drawing the noise is the floor of the whole experiment on the CPU, SFC64 it is.
_BIT_GENERATOR = np.random.SFC64


def block_generator(seed: int, block: int) -> np.random.Generator:
    """Random stream of RNG block ``block`` of ``seed`` (see the module docstring).

    ``seed`` and ``block`` are taken as already checked non-negative integers; the images of
    the block are drawn from it in order with ``standard_normal(dtype=numpy.float32)``.
    """
    return np.random.Generator(_BIT_GENERATOR(np.random.SeedSequence(seed, spawn_key=(block,))))


def noise_images(seed, start, stop, shape, *, dtype=np.float32) -> np.ndarray:
    """Images ``start`` to ``stop - 1`` of the white Gaussian noise sequence of ``seed``.

    Parameters
    ----------
    seed : int
        Non-negative integer that names the noise sequence.
    start, stop : int
        Half-open range of image indices, ``0 <= start <= stop``.
    shape : tuple of int
        Image shape ``(H, W)``.
    dtype : {numpy.float32, numpy.float64}, optional
        Output type. ``numpy.float32`` is the float64 image rounded once.

    Returns
    -------
    images : numpy.ndarray
        Array of shape ``(stop - start, H, W)``. Pixels are i.i.d. N(0, 1) (mean 0, sigma 1).
        Image ``i`` (row ``i - start``) depends only on ``(seed, i, shape)``: any split of a
        range into sub-ranges returns the same images.

    Notes
    -----
    Image ``i`` is ``fiji_bridge.fourier_noise.fourier_noise_images(seed, i, i + 1, shape)``:
    ``irfft2`` (float64) of its Fourier-space spectrum, then cast to ``dtype``. The streaming
    engine aligns the spectra themselves, so its averages agree with an in-memory alignment of
    these float32 images to float32 rounding (and its shifts except on exact near-ties).

    Examples
    --------
    >>> from fiji_bridge.noise import noise_images
    >>> a = noise_images(0, 0, 10, (16, 16))
    >>> b = noise_images(0, 4, 10, (16, 16))
    >>> bool((a[4:] == b).all())
    True
    """
    # Imported here: numba loads only when noise is drawn. The arguments are checked there.
    from fiji_bridge.fourier_noise import fourier_noise_images

    return fourier_noise_images(seed, start, stop, shape, dtype=dtype)
