"""Integer-shift alignment of images to a reference by cyclic FFT cross-correlation (numpy).

Conventions (other modules rely on them exactly)
------------------------------------------------
Reference ``r`` and images ``n`` are ``(H, W)`` arrays; indices are taken modulo ``(H, W)``.

* Cross-correlation map: ``c[d] = sum_p n[p + d] * r[p]``, computed as
  ``irfft2(rfft2(n) * conj(rfft2(r)))``. Zero shift is at index ``[0, 0]`` (the map is *not*
  centred; :func:`centered` gives the view ImageJ shows).
* Peak: ``d = argmax c`` (the first maximum in C order if several are equal), reported as the
  signed shift ``(dy, dx)`` with ``dy = (iy + H//2) % H - H//2`` in ``[-(H//2), H - H//2 - 1]``
  and likewise ``dx``; valid for odd, even and non-square sizes.
* Aligned image: ``a = np.roll(n, (-dy, -dx), axis=(-2, -1))``, i.e. ``a[p] = n[p + d]``, so
  ``sum_p a[p] * r[p] = c[d]`` is the peak value.

The maps are computed in float32 (sums of the experiment are accumulated in float64 by the
engine). Images are processed in fixed chunks of ``CHUNK`` images, and image ``i`` of a stack
always sits at position ``i % CHUNK`` of its chunk, so the map of an image does not depend on
the stack length, on ``workers`` or on how the engine streams images.

FFT backends: ``"scipy"`` (pocketfft, the default) is deterministic and gives the same bits on
every machine with the same scipy build. ``"pyfftw"`` (optional package) is 10-15 % faster end
to end at 128 x 128, but FFTW picks CPU-specific code, so its last bits depend on the machine;
it plans with FFTW_ESTIMATE after clearing FFTW's wisdom, so that a run does not depend on other
plans made earlier in the same process.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fiji_bridge import checks
from fiji_bridge.search_space import mask_or_none, search_window, signed_shift

__all__ = [
    "CHUNK",
    "FFT_BACKENDS",
    "AlignmentResult",
    "Correlator",
    "align_to_reference",
    "apply_shifts",
    "as_reference",
    "centered",
    "check_backend",
    "chunk_peaks",
    "correlation_maps",
    "correlator",
    "peak_shifts",
]

#: Images per FFT call. Fixed (and a divisor of ``noise.RNG_BLOCK``) so that every image is
#: transformed by the same call shape at the same position whatever the caller's batching.
CHUNK = 8

#: FFT libraries accepted as ``fft_backend`` (see the module docstring).
FFT_BACKENDS = ("scipy", "pyfftw")


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def check_backend(fft_backend: str) -> str:
    """``fft_backend`` if it is one of :data:`FFT_BACKENDS` and importable, else ValueError."""
    if fft_backend not in FFT_BACKENDS:
        raise ValueError(
            f"fft_backend must be one of {FFT_BACKENDS}, got {fft_backend!r}. "
            "Fix: pass fft_backend='scipy' (default, reproducible everywhere)."
        )
    if fft_backend == "pyfftw":
        try:
            import pyfftw  # noqa: F401
        except ImportError:
            raise ValueError(
                "fft_backend='pyfftw' needs the pyFFTW package, which is not installed. "
                "Fix: `pip install pyfftw`, or use fft_backend='scipy'."
            ) from None
    return fft_backend


def as_reference(reference: ArrayLike) -> np.ndarray:
    """Validated float32, C-contiguous copy of a 2-D, real, finite reference of at least 2 x 2.

    Raises
    ------
    TypeError
        ``reference`` does not hold real numbers.
    ValueError
        It is not 2-D, smaller than 2 x 2, or holds NaN or inf (after conversion to float32).
    """
    ref = np.ascontiguousarray(checks.image_array(reference, "reference"), dtype=np.float32)
    if not np.isfinite(ref).all():
        raise ValueError(
            "reference contains NaN or infinite values (after conversion to float32). "
            "Fix: replace them, e.g. with np.nan_to_num(reference)."
        )
    return ref


def _as_images(images, shape: tuple[int, int] | None, name: str = "images"):
    """``(stack (N, H, W), single)`` where ``single`` says the input was one (H, W) image."""
    arr = checks.real_array(images, name)
    if arr.ndim == 2:
        single = True
        arr = arr[np.newaxis]
    elif arr.ndim == 3:
        single = False
    else:
        raise ValueError(
            f"{name} must be one image (H, W) or a stack (N, H, W), got an array of shape "
            f"{arr.shape}. Fix: pass one image or a stack, e.g. reshape(-1, H, W)."
        )
    if shape is not None and arr.shape[1:] != tuple(shape):
        raise ValueError(
            f"{name} have shape {arr.shape[1:]} but the reference has shape {tuple(shape)}. "
            "Fix: crop or resize them to the reference's shape."
        )
    return arr, single


# --------------------------------------------------------------------------------------------
# FFT correlator: maps of one chunk of CHUNK images
# --------------------------------------------------------------------------------------------
_PYFFTW_PLAN_LOCK = threading.Lock()


class Correlator:
    """Computes the correlation maps of one chunk of ``CHUNK`` float32 images.

    Write the images into :attr:`buffer` (shape ``(CHUNK, H, W)``, float32), then call
    :meth:`run`; the maps it returns may be an internal buffer, valid until the next call.
    Not thread-safe: one instance per thread.
    """

    def __init__(self, reference32: np.ndarray, backend: str):
        self.reference = reference32
        self.backend = backend
        h, w = reference32.shape
        self.shape = (h, w)
        spectrum = np.conj(np.fft.rfft2(reference32.astype(np.float64)))
        if backend == "scipy":
            import scipy.fft

            self._fft = scipy.fft
            self._rc = spectrum.astype(np.complex64)
            self.buffer = np.zeros((CHUNK, h, w), dtype=np.float32)
        else:
            import pyfftw

            # FFTW's unnormalised backward transform: fold 1/(H W) into the reference spectrum.
            self._rc = (spectrum / (h * w)).astype(np.complex64)
            self.buffer = pyfftw.zeros_aligned((CHUNK, h, w), dtype=np.float32)
            self._spec = pyfftw.empty_aligned((CHUNK, h, w // 2 + 1), dtype=np.complex64)
            self._maps = pyfftw.empty_aligned((CHUNK, h, w), dtype=np.float32)
            with _PYFFTW_PLAN_LOCK:
                # FFTW_ESTIMATE plans are deterministic, but FFTW reuses any wisdom (for
                # example from an earlier FFTW_MEASURE plan of another library) and would then
                # pick another algorithm, hence other rounding: start from no wisdom.
                pyfftw.forget_wisdom()
                self._forward = pyfftw.FFTW(
                    self.buffer, self._spec, axes=(1, 2), flags=("FFTW_ESTIMATE",), threads=1
                )
                self._backward = pyfftw.FFTW(
                    self._spec,
                    self._maps,
                    axes=(1, 2),
                    direction="FFTW_BACKWARD",
                    flags=("FFTW_ESTIMATE", "FFTW_DESTROY_INPUT"),
                    threads=1,
                )

    def matches(self, reference32: np.ndarray, backend: str) -> bool:
        return (
            backend == self.backend
            and reference32.shape == self.shape
            and np.array_equal(reference32, self.reference)
        )

    def run(self) -> np.ndarray:
        if self.backend == "scipy":
            spec = self._fft.rfft2(self.buffer, workers=1)
            spec *= self._rc
            return self._fft.irfft2(spec, s=self.shape, workers=1, overwrite_x=True)
        self._forward.execute()
        np.multiply(self._spec, self._rc, out=self._spec)
        self._backward.execute()
        return self._maps


_THREAD_CACHE = threading.local()


def correlator(reference32: np.ndarray, backend: str) -> Correlator:
    """A :class:`Correlator` for this thread, reused while the reference and backend stay the same.

    ``reference32`` is a reference checked by :func:`as_reference` and ``backend`` one checked by
    :func:`check_backend`.
    """
    corr = getattr(_THREAD_CACHE, "correlator", None)
    if corr is None or not corr.matches(reference32, backend):
        corr = Correlator(reference32.copy(), backend)
        _THREAD_CACHE.correlator = corr
    return corr


def chunk_peaks(maps: np.ndarray, allowed: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dy, dx, peaks)`` of a C-contiguous ``(k, H, W)`` stack of non-centred maps.

    The first maximum of each map in C order, as signed shifts (module docstring); no checks.
    ``allowed``: sorted flat indices of the shifts searched
    (:func:`fiji_bridge.search_space.search_window`), or None for the whole map.
    """
    k, h, w = maps.shape
    flat = maps.reshape(k, h * w)
    if allowed is None:
        idx = flat.argmax(axis=1)
    else:  # first maximum in C order among the allowed shifts
        idx = allowed[flat[:, allowed].argmax(axis=1)]
    peaks = flat[np.arange(k), idx]
    iy, ix = np.divmod(idx, w)
    return signed_shift(iy, h), signed_shift(ix, w), peaks


def _roll_into(out: np.ndarray, image: np.ndarray, dy: int, dx: int) -> None:
    """``out[...] = np.roll(image, (-dy, -dx), axis=(0, 1))`` by four block copies."""
    h, w = image.shape
    oy, ox = int(dy) % h, int(dx) % w
    out[: h - oy, : w - ox] = image[oy:, ox:]
    out[: h - oy, w - ox :] = image[oy:, :ox]
    out[h - oy :, : w - ox] = image[:oy, ox:]
    out[h - oy :, w - ox :] = image[:oy, :ox]


def _run_chunks(n_images: int, workers: int, job) -> None:
    """Call ``job(first_chunk, stop_chunk)`` over contiguous chunk ranges, in threads."""
    n_chunks = -(-n_images // CHUNK)
    if n_chunks == 0:
        return
    workers = min(workers, n_chunks)
    if workers == 1:
        job(0, n_chunks)
        return
    bounds = np.linspace(0, n_chunks, workers + 1).round().astype(int)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        for fut in futures:
            fut.result()


def _align_stack(stack, ref32, *, workers, backend, want_aligned, want_maps, allowed=None,
                 mask=None):
    """Maps, shifts, peaks (and aligned images) of a validated (N, H, W) stack.

    ``allowed``: flat indices of the searched shifts (None: all); ``mask``: float32 ``(H, W)``
    multiplied into the images before correlation (the reference is masked by the caller); the
    aligned images are shifted copies of the unmasked images.
    """
    n = stack.shape[0]
    h, w = ref32.shape
    shifts = np.empty((n, 2), dtype=np.int64)
    peaks = np.empty(n, dtype=np.float32)
    maps_out = np.empty((n, h, w), dtype=np.float32) if want_maps else None
    aligned = np.empty(stack.shape, dtype=stack.dtype) if want_aligned else None

    def job(c0: int, c1: int) -> None:
        corr = correlator(ref32, backend)
        buf = corr.buffer
        for c in range(c0, c1):
            i0 = c * CHUNK
            i1 = min(i0 + CHUNK, n)
            k = i1 - i0
            buf[:k] = stack[i0:i1]
            if mask is not None:
                buf[:k] *= mask
            if k < CHUNK:
                buf[k:] = 0.0
            if not np.isfinite(buf[:k]).all():
                bad = i0 + int(np.flatnonzero(~np.isfinite(buf[:k]).reshape(k, -1).all(axis=1))[0])
                raise ValueError(
                    f"image {bad} contains NaN or infinite values (after conversion to float32). "
                    "Fix: remove or repair it before aligning."
                )
            maps = corr.run()
            dy, dx, pk = chunk_peaks(maps, allowed)
            shifts[i0:i1, 0] = dy[:k]
            shifts[i0:i1, 1] = dx[:k]
            peaks[i0:i1] = pk[:k]
            if want_maps:
                maps_out[i0:i1] = maps[:k]
            if want_aligned:
                for j in range(k):
                    _roll_into(aligned[i0 + j], stack[i0 + j], dy[j], dx[j])

    _run_chunks(n, workers, job)
    return maps_out, shifts, peaks, aligned


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def correlation_maps(
    images: ArrayLike, reference: ArrayLike, *, workers: int | None = None,
    fft_backend: str = "scipy", mask_radius: float | None = None,
) -> np.ndarray:
    """Cyclic cross-correlation maps of images with a reference (zero shift at ``[0, 0]``).

    For each image ``n``::

        c[d] = sum_p n[p + d] * r[p] = irfft2(rfft2(n) * conj(rfft2(r)))[d]

    with indices modulo ``(H, W)``. ``c[d]`` is large when ``n`` shifted by ``-d`` (that is,
    ``np.roll(n, -d)``) resembles ``r``. Zero shift is at index ``[0, 0]`` and shift ``d`` at
    index ``d % (H, W)``; use :func:`centered` for the peak-centred view of ImageJ.

    Parameters
    ----------
    images : array_like
        One image ``(H, W)`` or a stack ``(N, H, W)`` of real numbers; converted to float32.
    reference : array_like
        Reference ``r`` of shape ``(H, W)``, real and finite; converted to float32.
    workers : int, optional
        Threads (each computes whole chunks of images with single-threaded FFTs). Default:
        all available cores. The result does not depend on it.
    fft_backend : {"scipy", "pyfftw"}, optional
        FFT library; see the module docstring.
    mask_radius : float, optional
        Keyword-only. If given, images and reference are multiplied by
        :func:`fiji_bridge.search_space.soft_circular_mask` ``(H, W), mask_radius`` before
        correlating (the maps of ``m * n`` with ``m * r``). Default None: no mask.

    Returns
    -------
    maps : numpy.ndarray
        float32, shape ``(N, H, W)``, or ``(H, W)`` for a single image.

    Raises
    ------
    ValueError
        If shapes do not match, an input is not 2-D/3-D, or an input holds NaN or inf.
    TypeError
        If an input is not an array of real numbers.

    References
    ----------
    .. [1] M. Shatsky, R. J. Hall, S. E. Brenner, R. M. Glaeser, J. Struct. Biol. 166:67-78 (2009).
    .. [2] A. Balanov, W. Huleihel and T. Bendory, "Einstein from Noise: Statistical Analysis",
           arXiv:2407.05277 (2024).
    """
    ref32 = as_reference(reference)
    stack, single = _as_images(images, ref32.shape)
    workers = checks.workers(workers)
    backend = check_backend(fft_backend)
    mask = mask_or_none(ref32.shape, mask_radius)
    maps, _, _, _ = _align_stack(
        stack, ref32 if mask is None else ref32 * mask, workers=workers, backend=backend,
        want_aligned=False, want_maps=True, mask=mask
    )
    return maps[0] if single else maps



def peak_shifts(maps: ArrayLike, *, max_shift: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Signed shifts and values of the maxima of correlation maps.

    The peak of a map ``c`` is at ``(iy, ix) = unravel_index(argmax(c))`` (the first maximum in
    C order when several pixels share the maximum). It is reported as the signed shift::

        dy = (iy + H//2) % H - H//2,   dx = (ix + W//2) % W - W//2

    in ``[-(H//2), H - H//2 - 1] x [-(W//2), W - W//2 - 1]``, for odd and even sizes.

    Parameters
    ----------
    maps : array_like
        Non-centred maps as returned by :func:`correlation_maps`: ``(H, W)`` or ``(N, H, W)``.
    max_shift : int, optional
        Keyword-only. Search only shifts with ``|dy| <= max_shift`` and ``|dx| <= max_shift``
        (:func:`fiji_bridge.search_space.search_window`); default None searches the whole map.

    Returns
    -------
    shifts : numpy.ndarray
        int64, ``(N, 2)`` rows ``(dy, dx)``; shape ``(2,)`` for a single map.
    peaks : numpy.ndarray or numpy.float32
        float32 ``(N,)`` peak values ``c[d]``; a float32 scalar for a single map.

    Raises
    ------
    ValueError
        If ``maps`` is not 2-D/3-D or a map contains NaN.
    """
    stack, single = _as_images(maps, None, name="maps")
    stack = np.ascontiguousarray(stack)
    if stack.shape[0] == 0:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    allowed = None if max_shift is None else search_window(stack.shape[1:], max_shift)
    dy, dx, peaks = chunk_peaks(stack, allowed)
    if np.isnan(peaks).any():
        bad = int(np.flatnonzero(np.isnan(peaks))[0])
        raise ValueError(f"map {bad} contains NaN. Fix: compute the maps from finite images.")
    shifts = np.stack([dy, dx], axis=1).astype(np.int64)
    peaks = peaks.astype(np.float32)
    if single:
        return shifts[0], peaks[0]
    return shifts, peaks


def apply_shifts(images: ArrayLike, shifts: ArrayLike) -> np.ndarray:
    """Undo shifts: cyclically roll each image by minus its shift.

    ``aligned[i] = np.roll(images[i], (-dy_i, -dx_i), axis=(-2, -1))``, i.e.
    ``aligned[i][p] = images[i][p + d_i]`` (indices modulo ``(H, W)``). With the shifts of
    :func:`peak_shifts`, ``sum_p aligned[i][p] * r[p]`` is the peak value of image ``i``. Shifts
    may be any integers; they are taken modulo ``(H, W)``.

    Parameters
    ----------
    images : array_like
        ``(H, W)`` or ``(N, H, W)``; the dtype is kept.
    shifts : array_like of int
        ``(2,)`` for one image, ``(N, 2)`` rows ``(dy, dx)`` for a stack.

    Returns
    -------
    aligned : numpy.ndarray
        Same shape and dtype as ``images``.

    Notes
    -----
    Each image is copied as four rectangular blocks (about 12 us per 128 x 128 float32 image
    here, against 21 us for ``np.roll`` and 56 us for one fancy-indexing gather with
    precomputed index arrays).
    """
    stack, single = _as_images(images, None)
    sh = np.asarray(shifts)
    if sh.dtype == np.bool_ or not np.issubdtype(sh.dtype, np.integer):
        raise TypeError(
            f"shifts must be integers, got dtype {sh.dtype}. Fix: round them first, "
            "e.g. np.rint(shifts).astype(int)."
        )
    expected = (2,) if single else (stack.shape[0], 2)
    if sh.shape != expected:
        raise ValueError(
            f"shifts must have shape {expected} for images of shape {np.shape(images)}, "
            f"got {sh.shape}. Fix: pass one (dy, dx) row per image."
        )
    sh = sh.reshape(-1, 2)
    out = np.empty(stack.shape, dtype=stack.dtype)
    for i in range(stack.shape[0]):
        _roll_into(out[i], stack[i], sh[i, 0], sh[i, 1])
    return out[0] if single else out


@dataclass(frozen=True, eq=False)
class AlignmentResult:
    """Result of :func:`align_to_reference`.

    Attributes
    ----------
    aligned : numpy.ndarray
        Aligned images ``np.roll(n_i, -d_i)`` (same shape and dtype as the input images).
    shifts : numpy.ndarray
        int64 signed peak shifts ``(dy, dx)``: ``(N, 2)`` or ``(2,)``.
    peaks : numpy.ndarray
        float32 peak values ``c_i[d_i] = sum_p aligned_i[p] r[p]``: ``(N,)`` or a scalar.
    maps : numpy.ndarray or None
        float32 non-centred correlation maps when asked with ``return_maps=True``.
    """

    aligned: np.ndarray
    shifts: np.ndarray
    peaks: np.ndarray
    maps: np.ndarray | None = None


def align_to_reference(
    images: ArrayLike,
    reference: ArrayLike,
    *,
    workers: int | None = None,
    return_maps: bool = False,
    fft_backend: str = "scipy",
    max_shift: int | None = None,
    mask_radius: float | None = None,
) -> AlignmentResult:
    """Align images to a reference by the peak of their cyclic cross-correlation.

    For each image ``n_i``: ``c_i = irfft2(rfft2(n_i) * conj(rfft2(r)))`` (so
    ``c_i[d] = sum_p n_i[p + d] r[p]``), ``d_i = argmax c_i`` as a signed shift (see
    :func:`peak_shifts`), and ``a_i = np.roll(n_i, -d_i, axis=(-2, -1))``. The alignment step of
    the "Einstein from noise" experiment: the average of ``a_i`` over pure-noise images ``n_i``
    converges to an image whose Fourier phases are those of ``r`` [1]_, [2]_.

    Parameters
    ----------
    images : array_like
        ``(H, W)`` or ``(N, H, W)`` real images; the maps are computed in float32, the aligned
        images keep the input dtype.
    reference : array_like
        ``(H, W)`` real, finite reference.
    workers : int, optional
        Threads; default all available cores. Results do not depend on it.
    return_maps : bool, optional
        Also return the (non-centred, float32) correlation maps.
    fft_backend : {"scipy", "pyfftw"}, optional
        FFT library; see the module docstring.
    max_shift : int, optional
        The search space, as alignment programs limit it: only shifts with
        ``|dy| <= max_shift`` and ``|dx| <= max_shift`` pixels are searched
        (:func:`fiji_bridge.search_space.search_window`). ``max_shift=0`` does not align at
        all (``d_i = 0``).
        Default None: every shift of the box.
    mask_radius : float, optional
        Soft circular mask (:func:`fiji_bridge.search_space.soft_circular_mask`, radius in
        pixels, raised-cosine edge) multiplied into the images and the reference before correlating, as RELION masks
        particles and references (zero outside the mask). The shifts are those of the masked
        correlation; ``aligned`` holds the shifted **unmasked** images and ``peaks`` the masked
        correlation values ``sum_p (m a_i)[p] (m r)[p]``. Default None: no mask.

    Returns
    -------
    AlignmentResult
        ``aligned``, ``shifts`` (int64), ``peaks`` (float32) and ``maps`` (or None).

    Raises
    ------
    ValueError
        Mismatched shapes, wrong number of dimensions, NaN/inf in the inputs.
    TypeError
        Non-numeric input.

    References
    ----------
    .. [1] M. Shatsky, R. J. Hall, S. E. Brenner, R. M. Glaeser, J. Struct. Biol. 166:67-78 (2009).
    .. [2] A. Balanov, W. Huleihel and T. Bendory, "Einstein from Noise: Statistical Analysis",
           arXiv:2407.05277 (2024).

    Examples
    --------
    >>> import numpy as np
    >>> from fiji_bridge.align import align_to_reference
    >>> r = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    >>> res = align_to_reference(np.roll(r, (3, -5), axis=(0, 1)), r)
    >>> res.shifts.tolist()
    [3, -5]
    >>> bool(np.array_equal(res.aligned, r))
    True
    """
    ref32 = as_reference(reference)
    stack, single = _as_images(images, ref32.shape)
    workers = checks.workers(workers)
    backend = check_backend(fft_backend)
    allowed = None if max_shift is None else search_window(ref32.shape, max_shift)
    mask = mask_or_none(ref32.shape, mask_radius)
    maps, shifts, peaks, aligned = _align_stack(
        stack, ref32 if mask is None else ref32 * mask, workers=workers, backend=backend,
        want_aligned=True, want_maps=bool(return_maps), allowed=allowed, mask=mask
    )
    if single:
        return AlignmentResult(
            aligned=aligned[0],
            shifts=shifts[0],
            peaks=peaks[0],
            maps=None if maps is None else maps[0],
        )
    return AlignmentResult(aligned=aligned, shifts=shifts, peaks=peaks, maps=maps)



def centered(maps: ArrayLike) -> np.ndarray:
    """Peak-centred view of correlation maps, as ImageJ shows them.

    ``np.fft.fftshift`` over the last two axes: the zero shift moves from index ``[0, 0]`` to
    ``(H//2, W//2)``, and shift ``(dy, dx)`` sits at ``(H//2 + dy, W//2 + dx)`` for ``dy`` in
    ``[-(H//2), H - H//2 - 1]``. This is the quadrant swap of ImageJ's FHT correlation
    (``FHT.swapQuadrants`` / ``FD Math... Correlate``) for even sizes. Returns a new array.

    Parameters
    ----------
    maps : array_like
        Non-centred maps ``(..., H, W)``.

    Returns
    -------
    numpy.ndarray
        Centred maps, same shape and dtype.
    """
    arr = np.asarray(maps)
    if arr.ndim < 2:
        raise ValueError(
            f"maps must have at least 2 dimensions (..., H, W), got shape {arr.shape}. "
            "Fix: pass one map (H, W) or a stack of maps."
        )
    return np.fft.fftshift(arr, axes=(-2, -1))
