"""Seeded white Gaussian noise images for the "Einstein from noise" experiment.

The noise of a seed is one fixed, infinite sequence of images ``n_0, n_1, ...``. Image ``i``
depends only on ``(seed, i, shape)``: never on how a range of images is requested, on chunk or
block sizes, on threads or on Dask workers. This is what makes every result of
:func:`fiji_bridge.engine.stream_alignment` reproducible bit for bit.

Definition of the sequence
--------------------------
The images are cut into fixed blocks of :data:`RNG_BLOCK` consecutive images. Block ``b`` (images
``b * RNG_BLOCK`` to ``(b + 1) * RNG_BLOCK - 1``) has its own random stream::

    numpy.random.Generator(numpy.random.SFC64(numpy.random.SeedSequence(seed, spawn_key=(b,))))

which is the ``b``-th child of ``SeedSequence(seed).spawn(...)``. The pixels of the block's
images are drawn from that stream, in image order and in C order within an image, with
``Generator.standard_normal(dtype=numpy.float32)`` (numpy's ziggurat): i.i.d. N(0, 1) pixels,
mean 0, sigma 1. Drawing a block in several pieces yields the same values as drawing it at once.

The noise is drawn in real space; it is not drawn in the Fourier domain (see the note in
:func:`noise_images`).
"""

from __future__ import annotations

import numpy as np

from fiji_bridge import checks

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
        Output type. The values are always drawn in float32, so ``dtype=numpy.float64`` returns
        the same noise, converted exactly.

    Returns
    -------
    images : numpy.ndarray
        Array of shape ``(stop - start, H, W)``. Pixels are i.i.d. N(0, 1) (mean 0, sigma 1).
        Image ``i`` (row ``i - start``) depends only on ``(seed, i, shape)``: any split of a
        range into sub-ranges returns the same images.

    Notes
    -----
    Image ``i`` lies in RNG block ``b = i // RNG_BLOCK`` and is the ``(i % RNG_BLOCK)``-th image
    drawn from that block's stream ``Generator(SFC64(SeedSequence(seed, spawn_key=(b,))))`` with
    ``standard_normal(dtype=float32)``. A range that starts inside a block draws and discards the
    block's earlier images (at most ``RNG_BLOCK - 1``).

    Drawing directly in the Fourier domain (Hermitian-symmetric complex Gaussian spectra) would
    let the alignment skip its forward FFT. Measured end to end at 128 x 128 it was only 5-7 %
    faster than this real-space noise, and it would make the streamed averages agree with an
    in-memory alignment of these images only to float32 rounding instead of exactly, so the
    noise is drawn in real space.

    Examples
    --------
    >>> from fiji_bridge.noise import noise_images
    >>> a = noise_images(0, 0, 10, (16, 16))
    >>> b = noise_images(0, 4, 10, (16, 16))
    >>> bool((a[4:] == b).all())
    True
    """
    seed = checks.seed(seed)
    start = checks.integer(start, "start", minimum=0, fix="pass an image index, e.g. start=0")
    stop = checks.integer(stop, "stop", minimum=0, fix="pass an image index, e.g. stop=100")
    if stop < start:
        raise ValueError(
            f"stop must be >= start, got start={start}, stop={stop}. Fix: swap them or pass "
            "an empty range start=stop."
        )
    h, w = checks.shape(shape)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(
            f"dtype must be numpy.float32 or numpy.float64, got {dtype}. Fix: pass "
            "dtype=numpy.float32 (or numpy.float64)."
        )

    out = np.empty((stop - start, h, w), dtype=np.float32)
    first_block = start // RNG_BLOCK
    last_block = (stop - 1) // RNG_BLOCK if stop > start else first_block - 1
    for block in range(first_block, last_block + 1):
        gen = block_generator(seed, block)
        block_start = block * RNG_BLOCK
        lo = max(start, block_start)
        hi = min(stop, block_start + RNG_BLOCK)
        skip = lo - block_start
        if skip:
            # The ziggurat consumes a variable number of random words per value, so the stream
            # cannot be advanced arithmetically: draw the skipped images and drop them.
            gen.standard_normal(size=(skip, h, w), dtype=np.float32)
        gen.standard_normal(out=out[lo - start : hi - start], dtype=np.float32)
    if dtype == np.float64:
        return out.astype(np.float64)
    return out
