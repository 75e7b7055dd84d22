"""Image-similarity metrics for the "Einstein from noise" experiment (pure numpy).

Every function works on real 2-D images and computes in float64 whatever the input dtype
(float32 stacks from ImageJ included). Nothing here touches Java, and importing the module has
no side effects.

Fourier conventions: :mod:`fiji_bridge.fourier` (the rfft2 half-plane, each independent
frequency counted once, DC and the other self-conjugate frequencies, radial rings).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from fiji_bridge import checks
from fiji_bridge.fourier import (
    half_plane_mask,
    independent_frequencies,
    ring_bins,
    self_paired_columns,
)

__all__ = [
    "pearson_cc",
    "phase_error",
    "phase_mse",
    "phase_mse_by_ring",
    "magnitude_rank_groups",
    "frc",
    "fit_loglog_slope",
    "spectral_flatness",
]


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------
def _as_real_array(a, name: str, func: str, ndims: tuple[int, ...]) -> np.ndarray:
    """Return ``a`` as a float64 array after checking type, dimensionality and finiteness.

    Type, dimensions (``ndims`` is ``(2,)`` or ``(2, 3)``) and size: :func:`checks.image_array`.
    """
    arr = checks.image_array(a, f"{func}: {name}", stack=3 in ndims)
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{func}: {name} contains {bad} non-finite value(s) (NaN or inf). "
            f"Fix: replace or crop them first, e.g. np.nan_to_num(...) or a finite crop."
        )
    return arr


def _pair(x, r, func: str, names: tuple[str, str] = ("x", "r")) -> tuple[np.ndarray, np.ndarray]:
    """Validate two same-shape 2-D real finite images; return them as float64."""
    a = _as_real_array(x, names[0], func, (2,))
    b = _as_real_array(r, names[1], func, (2,))
    if a.shape != b.shape:
        raise ValueError(
            f"{func}: {names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}; "
            f"the images must have the same shape. Fix: crop or resize one to the other's shape."
        )
    return a, b


# --------------------------------------------------------------------------------------------
# Pearson correlation
# --------------------------------------------------------------------------------------------
def pearson_cc(a: ArrayLike, b: ArrayLike) -> float | np.ndarray:
    r"""Pearson correlation coefficient between two images (or a stack and one image).

    .. math::

        \mathrm{CC}(a, b) = \frac{\sum_p (a_p - \bar a)(b_p - \bar b)}
                                 {\sqrt{\sum_p (a_p - \bar a)^2 \, \sum_p (b_p - \bar b)^2}}

    over all pixels ``p``, computed in float64 and clipped to ``[-1, 1]``.

    Parameters
    ----------
    a, b : array_like
        Real finite arrays. Either two images of the same shape ``(H, W)``, or one stack
        ``(K, H, W)`` and one image ``(H, W)`` (in either order): then the CC of every slice of
        the stack with the image is returned.

    Returns
    -------
    float or numpy.ndarray
        A Python float for two images; a float64 array of shape ``(K,)`` for a stack.

    Raises
    ------
    TypeError
        If an input does not hold real numbers (:func:`fiji_bridge.checks.real_array`).
    ValueError
        If an input is not 2-D/3-D, contains NaN/inf, if the image shapes differ, if both
        inputs are stacks, or if an image (or a stack slice) is constant: its standard deviation
        is 0 and the CC is undefined (0/0).
    """
    func = "pearson_cc"
    A = _as_real_array(a, "a", func, (2, 3))
    B = _as_real_array(b, "b", func, (2, 3))
    if A.ndim == 3 and B.ndim == 3:
        raise ValueError(
            f"{func}: both a {A.shape} and b {B.shape} are stacks; at most one may be a stack "
            f"(K, H, W). Fix: pass the reference as a single 2-D image (H, W)."
        )
    if A.shape[-2:] != B.shape[-2:]:
        raise ValueError(
            f"{func}: image shapes differ: a has images of shape {A.shape[-2:]}, b of shape "
            f"{B.shape[-2:]}. Fix: crop or resize one to the other's shape."
        )
    if A.ndim == 2 and B.ndim == 3:
        A, B, names = B, A, ("b", "a")
    else:
        names = ("a", "b")
    stack = A.ndim == 3
    As = A.reshape(-1, A.shape[-2] * A.shape[-1]) if stack else A.reshape(1, -1)
    Bv = B.reshape(-1)

    # exact constancy test (max == min), robust to rounding in the mean
    const_a = np.ptp(As, axis=1) == 0
    if np.any(const_a):
        where = (
            f"slice(s) {np.flatnonzero(const_a).tolist()[:10]} of {names[0]}" if stack else names[0]
        )
        raise ValueError(
            f"{func}: {where} is constant (standard deviation 0), so the correlation coefficient "
            f"is undefined (0/0). Fix: pass a non-constant image."
        )
    if np.ptp(Bv) == 0:
        raise ValueError(
            f"{func}: {names[1]} is constant (standard deviation 0), so the correlation "
            f"coefficient is undefined (0/0). Fix: pass a non-constant image."
        )
    Ac = As - As.mean(axis=1, keepdims=True)
    Bc = Bv - Bv.mean()
    num = Ac @ Bc
    den = np.sqrt(np.einsum("ij,ij->i", Ac, Ac) * (Bc @ Bc))
    cc = np.clip(num / den, -1.0, 1.0)
    return cc if stack else float(cc[0])


# --------------------------------------------------------------------------------------------
def phase_error(x: ArrayLike, r: ArrayLike) -> np.ndarray:
    r"""Wrapped Fourier-phase difference between an estimate ``x`` and a reference ``r``.

    .. math::

        \Delta\varphi(k) = \arg\big(X(k)\,\overline{R(k)}\big) \in (-\pi, \pi],
        \qquad X = \mathrm{rfft2}(x),\; R = \mathrm{rfft2}(r)

    i.e. ``φ_X(k) - φ_R(k)`` wrapped to ``(-π, π]`` (a value of exactly ``-π`` is reported as
    ``+π``). Example: if ``x = np.roll(r, d)`` (a cyclic shift by ``d = (dy, dx)`` pixels) then
    ``Δφ(k) = wrap(-2π (fy·dy + fx·dx))``; if ``x = -r`` then ``|Δφ| = π``.

    Parameters
    ----------
    x, r : array_like, shape (H, W)
        Real finite images of the same shape (any real dtype; computed in float64).

    Returns
    -------
    numpy.ndarray of float64, shape (H, W // 2 + 1)
        Δφ on the rfft2 half-plane, every frequency included: DC and the other self-conjugate
        frequencies have Δφ = 0 or π; Hermitian duplicates in columns 0 and ``W/2`` carry
        opposite values. Where ``X(k)·conj(R(k)) == 0`` exactly (e.g. the DC term of a zero-mean
        image) the phase is undefined and the value is NaN.
    """
    a, b = _pair(x, r, "phase_error")
    return _phase_error(np.fft.rfft2(a), np.fft.rfft2(b))


def _phase_error(X: np.ndarray, R: np.ndarray) -> np.ndarray:
    # X·conj(R) written out with real arithmetic (no fused multiply-add), so that the imaginary
    # part is exactly 0 for X == R or X == -R and identical images give exactly Δφ = 0.
    xr, xi, rr, ri = X.real, X.imag, R.real, R.imag
    re = xr * rr + xi * ri
    im = xi * rr - xr * ri
    dphi = np.arctan2(im, re)
    dphi[dphi <= -np.pi] = np.pi  # map the closed end -π to +π: range (-π, π]
    dphi[(re == 0) & (im == 0)] = np.nan
    return dphi


def _selection(shape, mask, include_real: bool, func: str) -> np.ndarray:
    sel = independent_frequencies(shape, include_real=include_real)
    if mask is not None:
        sel &= half_plane_mask(mask, shape, caller=func)
    return sel


def phase_mse(
    x: ArrayLike, r: ArrayLike, *, mask: ArrayLike | None = None, include_real: bool = False
) -> float:
    r"""Mean squared wrapped Fourier-phase error between ``x`` and ``r``.

    .. math::

        \mathrm{MSE}_\varphi = \frac{1}{|S|} \sum_{k \in S} \Delta\varphi(k)^2,
        \qquad \Delta\varphi(k) = \arg\big(X(k)\,\overline{R(k)}\big) \in (-\pi, \pi]

    (see :func:`phase_error`). ``S`` holds each independent frequency once
    (``fourier.independent_frequencies``): Hermitian duplicates are counted once, the DC term is
    always excluded, and the other purely real frequencies (Nyquist rows/columns' self-conjugate
    points, phase 0 or π) are excluded unless ``include_real=True``. Frequencies where the phase is
    undefined (``X(k)·conj(R(k)) == 0`` exactly) are left out of the mean.

    Range ``[0, π²]``: 0 for identical phases, ``π²`` for ``x = -r``. For a phase difference
    uniformly distributed on ``(-π, π]`` -- e.g. ``x`` and ``r`` independent white noise --
    ``E[Δφ²] = π²/3 ≈ 3.29``, with standard deviation ``sqrt(4π⁴/45)/sqrt(|S|) ≈ 2.94/sqrt(|S|)``
    for the mean. In the Einstein-from-noise experiment the phase MSE of the aligned average decays
    roughly like ``1/M``, faster for the strong Fourier components of ``r`` (use ``mask`` from
    :func:`magnitude_rank_groups`).

    Parameters
    ----------
    x, r : array_like, shape (H, W)
        Estimate and reference, real finite images of the same shape.
    mask : array_like of bool, optional
        Restrict ``S`` to these frequencies: a half-plane ``(H, W // 2 + 1)`` mask (e.g. from
        :func:`magnitude_rank_groups`) or a full-plane ``(H, W)`` mask in ``np.fft.fft2`` layout.
        A frequency counts if it or its Hermitian partner is selected; it is still counted once,
        and DC is still excluded.
    include_real : bool, default False
        Include the self-conjugate non-DC frequencies (for those, ``Δφ² ∈ {0, π²}``).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        Non-real images or a non-boolean mask.
    ValueError
        Invalid image or mask shapes, or no frequency left to average (e.g. an empty mask, a 2x2
        image without ``include_real``).
    """
    func = "phase_mse"
    a, b = _pair(x, r, func)
    sel = _selection(a.shape, mask, include_real, func)
    dphi = _phase_error(np.fft.rfft2(a), np.fft.rfft2(b))[sel]
    dphi = dphi[~np.isnan(dphi)]
    if dphi.size == 0:
        raise ValueError(
            f"{func}: no frequency with a defined phase is selected (shape {a.shape}, "
            f"{int(sel.sum())} selected by mask/include_real, all with X·conj(R) == 0 or none). "
            f"Fix: pass a non-empty mask, include_real=True for tiny images, or images with "
            f"non-zero Fourier coefficients."
        )
    return float(np.mean(dphi**2))


def phase_mse_by_ring(
    x: ArrayLike,
    r: ArrayLike,
    *,
    n_rings: int | None = None,
    mask: ArrayLike | None = None,
    include_real: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Phase MSE (:func:`phase_mse`) per radial-frequency ring.

    .. math::

        \mathrm{MSE}_\varphi(i) = \frac{1}{|S_i|} \sum_{k \in S_i} \Delta\varphi(k)^2,
        \qquad S_i = S \cap \{k : (i - \tfrac12)\Delta \le |k| < (i + \tfrac12)\Delta\}

    with ``Δ = 0.5 / n_rings`` cycles/pixel and ``|k| = sqrt(fy² + fx²)`` from ``np.fft.fftfreq`` /
    ``np.fft.rfftfreq`` (so non-square images are binned by physical frequency). ``S`` is the
    selection of :func:`phase_mse` (each independent frequency once, DC excluded, real frequencies
    only with ``include_real``, intersected with ``mask``). Binning: ``fourier.ring_bins``.

    Parameters
    ----------
    x, r : array_like, shape (H, W)
        Estimate and reference.
    n_rings : int, optional
        Number of rings up to Nyquist (0.5 cycles/pixel); default ``min(H, W) // 2``.
    mask, include_real
        As in :func:`phase_mse`.

    Returns
    -------
    ring_frequencies : numpy.ndarray, shape (n_rings,)
        Ring centres ``Δ, 2Δ, ..., 0.5`` in cycles/pixel.
    mse_per_ring : numpy.ndarray, shape (n_rings,)
        Mean of Δφ² per ring; NaN for a ring with no selected frequency (with a defined phase).
    """
    func = "phase_mse_by_ring"
    a, b = _pair(x, r, func)
    index, freqs = ring_bins(a.shape, n_rings, caller=func)
    n = freqs.size
    sel = _selection(a.shape, mask, include_real, func)
    dphi = _phase_error(np.fft.rfft2(a), np.fft.rfft2(b))
    sel &= ~np.isnan(dphi) & (index >= 1) & (index <= n)
    idx = index[sel]
    sums = np.bincount(idx, weights=dphi[sel] ** 2, minlength=n + 1)[1 : n + 1]
    counts = np.bincount(idx, minlength=n + 1)[1 : n + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mse = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return freqs, mse


def magnitude_rank_groups(
    r: ArrayLike, fractions: Sequence[float] = (0.01, 0.1, 1.0), *, include_real: bool = False
) -> dict[float, np.ndarray]:
    """Masks of the strongest Fourier components of a reference, for :func:`phase_mse`.

    The candidates are the independent non-DC frequencies ``S`` of :func:`phase_mse`
    (``fourier.independent_frequencies``, with the same ``include_real``), ``n = |S|`` of them. They
    are ranked by ``|R(k)|`` (``R = rfft2(r)``), largest first (ties broken by half-plane order,
    stable sort), and the mask for fraction ``f`` selects the top ``max(1, round(f·n))``.

    Parameters
    ----------
    r : array_like, shape (H, W)
        Reference image (real, finite).
    fractions : sequence of float, default (0.01, 0.1, 1.0)
        Each in ``(0, 1]``; e.g. the strongest 1 %, 10 % and all components.
    include_real : bool, default False
        Rank the self-conjugate non-DC frequencies too.

    Returns
    -------
    dict[float, numpy.ndarray of bool]
        ``{f: mask}`` in the order of ``fractions``; each mask has the half-plane shape
        ``(H, W // 2 + 1)``, never selects DC nor a Hermitian duplicate. Use as
        ``phase_mse(x, r, mask=groups[0.01])``.
    """
    func = "magnitude_rank_groups"
    b = _as_real_array(r, "r", func, (2,))
    try:
        fr = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise TypeError(
            f"{func}: fractions must be a sequence of numbers in (0, 1], got {fractions!r}. "
            f"Fix: pass e.g. fractions=(0.01, 0.1, 1.0)."
        ) from None
    bad = [f for f in fr if not (0.0 < f <= 1.0)]
    if not fr or bad:
        raise ValueError(
            f"{func}: fractions must be a non-empty sequence of numbers in (0, 1], got "
            f"{fractions!r}. Fix: pass e.g. fractions=(0.01, 0.1, 1.0)."
        )
    cand = independent_frequencies(b.shape, include_real=include_real)
    flat = np.flatnonzero(cand)
    if flat.size == 0:
        raise ValueError(
            f"{func}: a {b.shape} image has no candidate frequency. "
            f"Fix: use a larger image or include_real=True."
        )
    mag = np.abs(np.fft.rfft2(b)).ravel()[flat]
    order = flat[np.argsort(-mag, kind="stable")]
    out: dict[float, np.ndarray] = {}
    for f in fr:
        k = max(1, int(round(f * flat.size)))
        m = np.zeros(cand.size, dtype=bool)
        m[order[:k]] = True
        out[f] = m.reshape(cand.shape)
    return out


# --------------------------------------------------------------------------------------------
# Fourier ring correlation
# --------------------------------------------------------------------------------------------
def frc(
    a: ArrayLike, b: ArrayLike, *, n_rings: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Fourier ring correlation between two images.

    .. math::

        \mathrm{FRC}(i) = \frac{\mathrm{Re}\sum_{k \in \mathrm{ring}\,i} A(k)\,\overline{B(k)}}
                               {\sqrt{\sum_{k \in \mathrm{ring}\,i} |A(k)|^2
                                      \sum_{k \in \mathrm{ring}\,i} |B(k)|^2}}

    with ``A = fft2(a)``, ``B = fft2(b)`` and the sums over the **full** Fourier plane. They are
    evaluated on the rfft2 half-plane with weight 2 for columns ``1 .. ceil(W/2) - 1`` (whose
    mirror ``-k`` lies in the omitted half and contributes the conjugate term) and weight 1 for
    column 0 and, for even ``W``, column ``W/2`` (whose partners are already in the half-plane),
    so the result equals the full-plane sums exactly. (Taking the real part only matters per
    frequency: over a full ring the imaginary parts cancel by Hermitian symmetry.)

    Rings: ``fourier.ring_bins`` (``n_rings`` rings of width ``Δ = 0.5/n_rings`` cycles/pixel centred at
    ``Δ, 2Δ, ..., 0.5``; DC and corners beyond ``0.5 + Δ/2`` excluded). Works for odd, even and
    non-square sizes since frequencies come from ``np.fft.fftfreq``/``rfftfreq``.

    Properties: FRC = 1 in every ring for ``b = c·a`` (``c > 0``), -1 for ``c < 0``; for a
    cyclic shift ``b = np.roll(a, d)``,
    ``FRC(i) = Σ_ring |A|² cos(2π k·d) / Σ_ring |A|²``; for independent noise FRC ≈ 0 with
    standard deviation ≈ ``1/sqrt(n_i)``, ``n_i`` the full-plane count of the ring.

    Parameters
    ----------
    a, b : array_like, shape (H, W)
        Real finite images of the same shape.
    n_rings : int, optional
        Number of rings; default ``min(H, W) // 2``.

    Returns
    -------
    ring_frequencies : numpy.ndarray, shape (n_rings,)
        Ring centres in cycles/pixel.
    frc_values : numpy.ndarray, shape (n_rings,)
        FRC per ring; NaN for an empty ring or one where either image has no power.
    """
    func = "frc"
    A_img, B_img = _pair(a, b, func, names=("a", "b"))
    H, W = A_img.shape
    index, freqs = ring_bins((H, W), n_rings, caller=func)
    n = freqs.size
    A = np.fft.rfft2(A_img)
    B = np.fft.rfft2(B_img)
    w = np.full(A.shape, 2.0)
    for c in self_paired_columns(W):
        w[:, c] = 1.0
    keep = (index >= 1) & (index <= n)
    idx = index[keep]
    wk = w[keep]

    def ring_sum(v: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=wk * v[keep], minlength=n + 1)[1 : n + 1]

    cross = ring_sum((A * np.conj(B)).real)
    pa = ring_sum(np.abs(A) ** 2)
    pb = ring_sum(np.abs(B) ** 2)
    den = np.sqrt(pa * pb)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(den > 0, cross / np.where(den > 0, den, 1.0), np.nan)
    return freqs, np.clip(values, -1.0, 1.0)


# --------------------------------------------------------------------------------------------
# power-law fit
# --------------------------------------------------------------------------------------------
def fit_loglog_slope(n_values: ArrayLike, y_values: ArrayLike) -> tuple[float, float]:
    r"""Least-squares straight line in log10-log10 coordinates (a power-law fit).

    Fits ``log10(y) = intercept + slope · log10(n)``, i.e. ``y ≈ 10**intercept · n**slope``, by
    ordinary least squares on the log10 values -- e.g. phase MSE ∝ ``M**slope`` (theory: slope ≈ -1).

    Parameters
    ----------
    n_values, y_values : array_like, 1-D, same length >= 2
        Strictly positive finite values; ``n_values`` must hold at least two distinct values.

    Returns
    -------
    slope, intercept : float, float

    Raises
    ------
    TypeError
        Non-real values.
    ValueError
        Not 1-D, lengths differ, a value <= 0 or not finite, fewer than two distinct n.
    """
    func = "fit_loglog_slope"
    out = []
    for name, v in (("n_values", n_values), ("y_values", y_values)):
        arr = checks.real_array(v, f"{func}: {name}", ndim=1).astype(np.float64)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(
                f"{func}: {name} must be finite and strictly positive to take log10 "
                f"(got min {np.nanmin(arr) if arr.size else 'n/a'}). "
                f"Fix: drop zero/negative/NaN points before fitting."
            )
        out.append(arr)
    n_arr, y_arr = out
    if n_arr.size != y_arr.size:
        raise ValueError(
            f"{func}: n_values has {n_arr.size} points but y_values has {y_arr.size}. "
            f"Fix: pass one y per n."
        )
    if n_arr.size < 2 or np.unique(n_arr).size < 2:
        raise ValueError(
            f"{func}: need at least two distinct n values to fit a slope, got {n_arr.tolist()}. "
            f"Fix: pass results for several M."
        )
    lx, ly = np.log10(n_arr), np.log10(y_arr)
    design = np.stack([lx, np.ones_like(lx)], axis=1)
    (slope, intercept), *_ = np.linalg.lstsq(design, ly, rcond=None)
    return float(slope), float(intercept)


def spectral_flatness(image) -> float:
    r"""Spectral flatness (Wiener entropy) of an image's power spectrum, in ``(0, 1]``.

    .. math::

        \mathrm{SF} = \frac{\exp\big(\frac1M \sum_k \ln P(k)\big)}{\frac1M \sum_k P(k)},
        \qquad P(k) = |\mathrm{fft2}(x - \bar x)(k)|^2,

    the geometric over the arithmetic mean of the power over the ``M = HW - 1`` non-zero
    frequencies of the full plane. 1 for a perfectly flat (white) spectrum, near 0 when a few
    frequencies hold the power (a smooth image). A frequency of exactly zero power gives 0.

    The correlation map of white noise with a reference ``r`` has power spectrum ``|R|^2``:
    the flatter it is, the less correlated the map's values, the higher its maximum. This is
    why, in multi-reference classification of pure noise, the reference with the flatter
    spectrum takes most images (:func:`fiji_bridge.controls.class_mean_peaks`).

    Parameters
    ----------
    image : array_like
        ``(H, W)`` real, finite, non-constant image.

    Returns
    -------
    float
    """
    x = np.asarray(checks.image_array(image, "image"), dtype=np.float64)
    if not np.isfinite(x).all() or np.ptp(x) == 0:
        raise ValueError("image is constant or holds NaN/inf, so its spectrum has no shape. "
                         "Fix: pass a real, non-constant image")
    power = np.abs(np.fft.fft2(x - x.mean())) ** 2
    power = power.ravel()[1:]
    if np.any(power <= 0):
        return 0.0
    return float(np.exp(np.mean(np.log(power))) / np.mean(power))
