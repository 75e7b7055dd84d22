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

import numbers

import numpy as np

__all__ = ["RNG_BLOCK", "noise_images"]

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


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be a non-negative integer, got {type(seed).__name__} {seed!r}; "
            "pass e.g. seed=0"
        )
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}; pass e.g. seed=0")
    return seed


def _check_index(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer image index, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _check_shape(shape) -> tuple[int, int]:
    try:
        dims = tuple(shape)
    except TypeError:  # not iterable: the same error as a wrong pair, below
        dims = ()
    if len(dims) != 2 or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_)) for d in dims
    ):
        raise TypeError(
            f"shape must be a pair (H, W) of positive integers, got {shape!r}; pass e.g. (128, 128)"
        )
    h, w = int(dims[0]), int(dims[1])
    if h < 1 or w < 1:
        raise ValueError(f"shape must have positive sides, got {(h, w)}; pass e.g. (128, 128)")
    return h, w


def _block_generator(seed: int, block: int) -> np.random.Generator:
    """Random stream of RNG block ``block`` of ``seed`` (see the module docstring)."""
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

    References
    ----------
    .. [1] M. Shatsky, R. J. Hall, S. E. Brenner, R. M. Glaeser, J. Struct. Biol. 166:67-78 (2009).
    .. [2] A. Balanov, W. Huleihel and T. Bendory, "Einstein from Noise: Statistical Analysis",
           arXiv:2407.05277 (2024).

    Examples
    --------
    >>> from fiji_bridge.noise import noise_images
    >>> a = noise_images(0, 0, 10, (16, 16))
    >>> b = noise_images(0, 4, 10, (16, 16))
    >>> bool((a[4:] == b).all())
    True
    """
    seed = _check_seed(seed)
    start = _check_index(start, "start")
    stop = _check_index(stop, "stop")
    if stop < start:
        raise ValueError(f"stop must be >= start, got start={start}, stop={stop}")
    h, w = _check_shape(shape)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype}")

    # Imported here: numba loads only when noise is drawn.
    from fiji_bridge.fourier_noise import fourier_noise_images

    return fourier_noise_images(seed, start, stop, (h, w), dtype=dtype)
