"""White Gaussian noise images drawn directly in Fourier space, counter-based (Philox).

Image ``i`` of seed ``s`` on an ``H x W`` grid is defined by its half-plane spectrum ``S_i``
(the layout of ``numpy.fft.rfft2``: ``H x Wc`` with ``Wc = W // 2 + 1``), and the real-space
image is ``n_i = numpy.fft.irfft2(S_i, s=(H, W))``: exactly white N(0, 1) noise (computed in
float64, returned as float32 or float64). Every value is a pure function of
``(seed, i, coefficient)``: no range, chunk, thread or worker changes a bit.

Definition
----------
1. ``g = fiji_bridge.philox`` stream ``i`` of ``seed`` (key ``SeedSequence(seed)
   .generate_state(2, uint32)``, counters ``(j // 4, i mod 2**32, i // 2**32, 0)``, numpy's
   float32 ziggurat): ``2 * H * Wc`` float32 N(0, 1) values, read as ``g[ky, kx, part]`` in C
   order (``part`` 0 is the real part, 1 the imaginary part).
2. With float32 constants ``c = float32(sqrt(H W / 2))`` and ``c1 = float32(sqrt(H W))`` and
   float32 products (IEEE round to nearest), ``S[ky, kx]`` (complex64) is

   * ``c1 * g[ky, kx, 0] + 0j`` where ``(ky, kx)`` is its own conjugate: ``ky`` in ``{0, H/2}``
     and ``kx`` in ``{0, W/2}`` (the halves only for even sizes): DC and Nyquist terms, real,
     variance ``H W``;
   * ``conj(S[H - ky, kx])`` in the self-conjugate columns ``kx = 0`` and (even ``W``)
     ``kx = W/2`` for the rows ``ky > H // 2``: the half-plane's own conjugate pairs are
     drawn once, in the row ``H - ky < H / 2``, and mirrored (the ``g`` values at the mirrored
     positions, and the imaginary parts of the real terms, are drawn and not used);
   * ``c * g[ky, kx, 0] + 1j * c * g[ky, kx, 1]`` everywhere else: real and imaginary parts
     independent with variance ``H W / 2``.

   These are exactly the second-order statistics of ``rfft2`` of real white N(0, 1) noise
   (``E|S|**2 = H W``), so ``irfft2(S)`` has i.i.d. N(0, 1) pixels (up to the float32
   rounding of ``c`` and ``c1``, a relative 1e-7 on the variance), and
   ``rfft2(irfft2(S)) == S`` to rounding.
3. ``n_i = irfft2(S_i.astype(complex128), s=(H, W))`` (numpy's normalisation: ``1 / (H W)``
   on the inverse), then cast to the requested dtype.

The alignment engine (:mod:`fiji_bridge.fourier_engine`) works on ``S_i`` directly: it never
needs the forward FFT of an image.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fiji_bridge import checks
from fiji_bridge.philox import FI, KI, WI, fill_gaussians, seed_key

__all__ = ["SpectrumGenerator", "fourier_noise_images", "noise_spectra", "spectrum_shape"]


def spectrum_shape(shape) -> tuple[int, int]:
    """``(H, W // 2 + 1)``: the half-plane spectrum shape of an ``(H, W)`` image."""
    h, w = checks.shape(shape)
    return h, w // 2 + 1


def _check_index(value, name: str) -> int:
    """An image index in ``[0, 2**64)`` (the counter holds 64 bits of it)."""
    value = checks.integer(value, name, minimum=0, fix=f"pass an image index, e.g. {name}=0")
    if value >= 2**64:
        raise ValueError(f"{name} must be < 2**64, got {value}. Fix: pass a smaller index.")
    return value


@njit(nogil=True, cache=True)
def _make_spectrum(spec, w, c, c1):
    """In place: ``spec`` ((H, 2 Wc) float32: re, im interleaved) holding g becomes S.

    ``c``, ``c1`` are the float32 scales of the module docstring. The raw values of the
    self-conjugate columns are kept aside, every value is multiplied by ``c`` in one contiguous
    (vectorised) pass, then those columns are rewritten from the kept values: the same float32
    products as the definition, so the same bits.
    """
    h = spec.shape[0]
    half = h // 2
    even_h = h % 2 == 0
    ncol = 2 if w % 2 == 0 else 1
    tmp = np.empty((ncol, 2 * h), dtype=np.float32)
    for t in range(ncol):
        kx = 0 if t == 0 else w // 2
        for ky in range(h):
            tmp[t, 2 * ky] = spec[ky, 2 * kx]
            tmp[t, 2 * ky + 1] = spec[ky, 2 * kx + 1]
    flat = spec.reshape(spec.shape[0] * spec.shape[1])
    for m in range(flat.shape[0]):
        flat[m] = c * flat[m]
    # The self-conjugate columns: real DC/Nyquist terms, and rows ky > H // 2 mirrored from
    # row H - ky; rows 0 < ky <= H // 2 (not real) keep c * g from the pass above.
    for t in range(ncol):
        kx = 0 if t == 0 else w // 2
        for ky in range(h):
            if ky == 0 or (even_h and ky == half):
                spec[ky, 2 * kx] = c1 * tmp[t, 2 * ky]
                spec[ky, 2 * kx + 1] = np.float32(0.0)
            elif ky > half:
                spec[ky, 2 * kx] = c * tmp[t, 2 * (h - ky)]
                spec[ky, 2 * kx + 1] = -(c * tmp[t, 2 * (h - ky) + 1])


def _scales(h: int, w: int):
    """The float32 scales ``(c, c1) = (sqrt(H W / 2), sqrt(H W))`` of the definition."""
    return np.float32(math.sqrt(h * w / 2.0)), np.float32(math.sqrt(h * w))


@njit(nogil=True, cache=True)
def _spectra(k0, k1, first, count, w, c, c1, out, words, wi, ki, fi):
    """``out[m]`` ((H, 2 Wc) float32 view) = S of image ``first + m``, ``m < count``."""
    for m in range(count):
        flat = out[m].reshape(out.shape[1] * out.shape[2])
        fill_gaussians(k0, k1, np.uint64(first + m), flat, words, wi, ki, fi)
        _make_spectrum(out[m], w, c, c1)


class SpectrumGenerator:
    """Draws the spectra ``S_i`` of one seed and shape into caller-owned buffers.

    One instance per thread (it owns a scratch buffer); :meth:`fill` releases the GIL.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    shape : tuple of int
        Image shape ``(H, W)``.
    """

    def __init__(self, seed, shape):
        self.h, self.w = checks.shape(shape)
        self.wc = self.w // 2 + 1
        key = seed_key(seed)
        self._k0, self._k1 = np.uint64(key[0]), np.uint64(key[1])
        self._c, self._c1 = _scales(self.h, self.w)
        n = 2 * self.h * self.wc
        self._words = np.empty(4 * ((n + 3) // 4), dtype=np.uint32)

    def empty(self, count: int) -> np.ndarray:
        """A fresh ``(count, H, Wc)`` complex64 buffer for :meth:`fill`."""
        return np.empty((count, self.h, self.wc), dtype=np.complex64)

    def fill(self, first: int, out: np.ndarray, count: int | None = None) -> np.ndarray:
        """``out[m] = S_{first + m}`` for ``m < count`` (default ``len(out)``); returns ``out``.

        ``out`` is a C-contiguous ``(N, H, Wc)`` complex64 array.
        """
        count = out.shape[0] if count is None else count
        view = out.view(np.float32)
        _spectra(self._k0, self._k1, first, count, self.w, self._c, self._c1, view,
                 self._words, WI, KI, FI)
        return out


def _check_range(seed, start, stop, shape):
    start = _check_index(start, "start")
    stop = _check_index(stop, "stop")
    if stop < start:
        raise ValueError(
            f"stop must be >= start, got start={start}, stop={stop}. Fix: swap them or pass "
            "an empty range start=stop."
        )
    return checks.seed(seed), start, stop, checks.shape(shape)


def noise_spectra(seed, start, stop, shape) -> np.ndarray:
    """Spectra ``S_start .. S_{stop-1}`` (complex64 ``(stop - start, H, W // 2 + 1)``).

    See the module docstring for the definition. ``numpy.fft.irfft2(S, s=shape)`` are the noise
    images (:func:`fourier_noise_images`).

    Examples
    --------
    >>> from fiji_bridge.fourier_noise import noise_spectra
    >>> noise_spectra(0, 0, 3, (8, 6)).shape
    (3, 8, 4)
    """
    seed, start, stop, shape = _check_range(seed, start, stop, shape)
    gen = SpectrumGenerator(seed, shape)
    out = gen.empty(stop - start)
    if stop > start:
        gen.fill(start, out)
    return out


def fourier_noise_images(seed, start, stop, shape, *, dtype=np.float32) -> np.ndarray:
    """Images ``start .. stop - 1``: ``irfft2(S_i)`` in float64, cast to ``dtype``.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    start, stop : int
        Half-open range of image indices.
    shape : tuple of int
        ``(H, W)``, positive.
    dtype : {numpy.float32, numpy.float64}
        Output type (the inverse transform is always computed in float64).

    Returns
    -------
    numpy.ndarray
        ``(stop - start, H, W)``, i.i.d. N(0, 1) pixels; image ``i`` depends only on
        ``(seed, i, shape)``.

    Examples
    --------
    >>> import numpy as np
    >>> from fiji_bridge.fourier_noise import fourier_noise_images, noise_spectra
    >>> x = fourier_noise_images(0, 2, 4, (16, 16), dtype=np.float64)
    >>> s = noise_spectra(0, 2, 4, (16, 16)).astype(np.complex128)
    >>> bool((x == np.fft.irfft2(s, s=(16, 16))).all())
    True
    """
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(
            f"dtype must be numpy.float32 or numpy.float64, got {dt}. Fix: pass "
            "dtype=numpy.float32 (or numpy.float64)."
        )
    spectra = noise_spectra(seed, start, stop, shape)
    images = np.fft.irfft2(spectra.astype(np.complex128), s=tuple(shape), axes=(-2, -1))
    return images.astype(dt, copy=False)
