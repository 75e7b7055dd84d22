"""The rfft2 half-plane of real images: frequencies, independent components, radial rings.

The geometry that the Fourier metrics of :mod:`fiji_bridge.metrics` share (pure numpy).

Conventions
-----------
* Transform: ``X = np.fft.rfft2(x)`` (forward, unnormalised), i.e. the **rfft2 half-plane** of
  shape ``(H, W // 2 + 1)``. Row ``ky`` has frequency ``np.fft.fftfreq(H)[ky]`` and column ``kx``
  has ``np.fft.rfftfreq(W)[kx]``, both in **cycles/pixel**, so non-square images are handled
  (the Nyquist frequency is 0.5 cycles/pixel along each axis). See :func:`rfft_frequencies`.
* Hermitian redundancy: for a real image ``X(-k) = conj(X(k))``. Inside the half-plane this pairs
  ``(ky, 0)`` with ``(-ky mod H, 0)`` and, for even ``W``, ``(ky, W/2)`` with ``(-ky mod H, W/2)``.
  Averages over frequencies (metrics' ``phase_mse``, ``phase_mse_by_ring``,
  ``magnitude_rank_groups``) count **each independent frequency once**: in those two columns
  only the rows ``1 <= ky <= (H - 1) // 2`` are kept (see :func:`independent_frequencies`).
  ``frc`` instead weights the half-plane so that its sums equal full-plane sums exactly.
* Self-conjugate ("purely real") frequencies, ``k = -k mod (H, W)``: DC ``(0, 0)`` and, for even
  sizes, ``(H/2, 0)``, ``(0, W/2)``, ``(H/2, W/2)``. Their coefficients are real, so their phase
  is 0 or π and the phase difference is 0 or π -- a sign, not a continuous phase (for a random sign
  ``E[Δφ²] = π²/2`` instead of the ``π²/3`` of a uniform phase). **DC is always excluded** from the
  phase averages and from the FRC rings; the other real frequencies are excluded from the phase
  averages by default and included with ``include_real=True``. ``phase_error`` itself reports
  every frequency of the half-plane, these included.
* Rings: ``n_rings`` equal-width rings between 0 and Nyquist; width ``Δ = 0.5 / n_rings``
  cycles/pixel; ring ``i = 1 .. n_rings`` holds the frequencies with radius
  ``ρ = sqrt(fy² + fx²)`` in ``[(i - ½)Δ, (i + ½)Δ)`` and is reported at its centre ``i·Δ``
  (so the last ring is centred on Nyquist, 0.5). The default ``n_rings = min(H, W) // 2`` gives
  ``Δ = 1/N`` for an even N×N image, i.e. one ring per integer pixel radius. The DC term (ring 0)
  and the corner frequencies with ``ρ >= 0.5 + Δ/2`` belong to no ring. See :func:`ring_bins`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fiji_bridge import checks

__all__ = [
    "half_plane_mask",
    "independent_frequencies",
    "rfft_frequencies",
    "ring_bins",
    "self_paired_columns",
]


def _check_n_rings(n_rings, shape: tuple[int, int], func: str) -> int:
    if n_rings is None:
        return min(shape) // 2
    return checks.integer(
        n_rings, f"{func}: n_rings", minimum=1,
        fix=f"pass e.g. n_rings={min(shape) // 2} (the default, min(H, W) // 2) or None",
    )


def rfft_frequencies(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (cycles/pixel) of the rfft2 half-plane of an ``(H, W)`` image.

    Returns
    -------
    fy : numpy.ndarray, shape (H, 1)
        ``np.fft.fftfreq(H)``: 0, 1/H, ..., then negative frequencies (``-0.5`` at ``H/2`` for
        even ``H``).
    fx : numpy.ndarray, shape (1, W // 2 + 1)
        ``np.fft.rfftfreq(W)``: 0 .. 0.5 (``+0.5`` at ``W/2`` for even ``W``).

    They broadcast to the half-plane shape ``(H, W // 2 + 1)``.
    """
    H, W = (int(s) for s in shape)
    return np.fft.fftfreq(H)[:, None], np.fft.rfftfreq(W)[None, :]


def self_paired_columns(W: int) -> list[int]:
    """Half-plane columns whose Hermitian partners lie in the same column (0, and W/2 if even)."""
    return [0, W // 2] if W % 2 == 0 else [0]


def independent_frequencies(shape: tuple[int, int], *, include_real: bool = False) -> np.ndarray:
    """Boolean half-plane mask selecting each independent non-DC frequency exactly once.

    For a real ``(H, W)`` image the rfft2 half-plane ``(H, W // 2 + 1)`` still holds Hermitian
    duplicates in column 0 and (even ``W``) column ``W/2``, where ``X(ky) = conj(X(-ky))``; there
    only rows ``1 <= ky <= (H - 1) // 2`` are kept. All other columns are kept whole.

    Parameters
    ----------
    shape : (int, int)
        Image shape ``(H, W)``.
    include_real : bool, default False
        Also select the self-conjugate non-DC frequencies ``(H/2, 0)``, ``(0, W/2)``,
        ``(H/2, W/2)`` (those that exist for the parity of ``H`` and ``W``), whose coefficients are
        real (phase 0 or π). DC ``(0, 0)`` is never selected.

    Returns
    -------
    numpy.ndarray of bool, shape (H, W // 2 + 1)
        Without ``include_real`` it has ``(H·W - n_real) / 2`` True entries, ``n_real`` being the
        number of self-conjugate frequencies (DC included).
    """
    H, W = (int(s) for s in shape)
    mask = np.ones((H, W // 2 + 1), dtype=bool)
    half_rows = np.zeros(H, dtype=bool)
    half_rows[1 : (H - 1) // 2 + 1] = True
    for c in self_paired_columns(W):
        mask[:, c] = half_rows
        if include_real:
            if c != 0:
                mask[0, c] = True  # (0, W/2)
            if H % 2 == 0:
                mask[H // 2, c] = True  # (H/2, 0) and (H/2, W/2)
    mask[0, 0] = False  # DC, always excluded
    return mask


def _symmetrize_half_mask(mask: np.ndarray, W: int) -> np.ndarray:
    """Select a frequency whenever its Hermitian partner (inside the half-plane) is selected."""
    out = mask.copy()
    H = mask.shape[0]
    partner = (-np.arange(H)) % H
    for c in self_paired_columns(W):
        out[:, c] |= mask[partner, c]
    return out


def half_plane_mask(
    mask: ArrayLike, shape: tuple[int, int], *, caller: str = "half_plane_mask"
) -> np.ndarray:
    """Half-plane boolean mask from a half-plane ``(H, W//2+1)`` or full-plane ``(H, W)`` one.

    A frequency is selected when it or its Hermitian partner was selected. ``caller`` prefixes
    the error messages.

    Raises
    ------
    TypeError
        ``mask`` is not boolean.
    ValueError
        ``mask`` has neither shape.
    """
    func = caller
    H, W = shape
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(
            f"{func}: mask has dtype {m.dtype}; expected a boolean array. "
            f"Fix: pass a boolean mask, e.g. one from magnitude_rank_groups(r)."
        )
    half = (H, W // 2 + 1)
    if m.shape == half:
        return _symmetrize_half_mask(m, W)
    if m.shape == (H, W):
        ky = (-np.arange(H)) % H
        kx = (-np.arange(W)) % W
        mirrored = m[np.ix_(ky, kx)]  # mirrored[k] = m[-k]
        return (m | mirrored)[:, : W // 2 + 1]
    raise ValueError(
        f"{func}: mask has shape {m.shape}; expected the rfft2 half-plane {half} "
        f"(or the full plane {(H, W)}) of the {H}x{W} images. "
        f"Fix: build it with magnitude_rank_groups(r) or independent_frequencies(r.shape)."
    )


def ring_bins(
    shape: tuple[int, int], n_rings: int | None = None, *, caller: str = "ring_bins"
) -> tuple[np.ndarray, np.ndarray]:
    """Ring index of every frequency of the rfft2 half-plane, and the ring centre frequencies.

    With ``Δ = 0.5 / n_rings`` cycles/pixel and radius ``ρ = sqrt(fy² + fx²)``
    (:func:`rfft_frequencies`), the ring index is ``i = floor(ρ/Δ + ½)``; ring ``i`` covers
    ``[(i - ½)Δ, (i + ½)Δ)`` and is centred at ``i·Δ``. Index 0 is the DC term alone (for the default
    ``n_rings``); indices above ``n_rings`` are the corner frequencies beyond Nyquist. Both are
    outside the reported rings ``1 .. n_rings``.

    Parameters
    ----------
    shape : (int, int)
        Image shape ``(H, W)``.
    n_rings : int, optional
        Number of rings between 0 and 0.5 cycles/pixel; default ``min(H, W) // 2``.
    caller : str, optional
        Function name that prefixes the error messages (e.g. ``"frc"``).

    Returns
    -------
    index : numpy.ndarray of int, shape (H, W // 2 + 1)
        Ring index per half-plane frequency.
    ring_frequencies : numpy.ndarray, shape (n_rings,)
        ``Δ · [1, 2, ..., n_rings]`` (the last is 0.5).
    """
    H, W = (int(s) for s in shape)
    n = _check_n_rings(n_rings, (H, W), caller)
    fy, fx = rfft_frequencies((H, W))
    delta = 0.5 / n
    rho = np.hypot(fy, fx)
    index = np.floor(rho / delta + 0.5).astype(np.int64)
    return index, delta * np.arange(1, n + 1)


# --------------------------------------------------------------------------------------------
# Fourier phase error
