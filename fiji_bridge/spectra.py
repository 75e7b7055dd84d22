"""Reference images with controlled Fourier spectra: low-pass filters, prescribed radial
spectra, phase randomisation, and the spectral flatness that compares them (numpy only).

Conventions
-----------
``R = numpy.fft.rfft2(r)`` on the half-plane ``(H, W // 2 + 1)``; the spatial frequency of a
component is ``|k| = sqrt(fy**2 + fx**2)`` in cycles per pixel, with ``fy = fftfreq(H)``,
``fx = rfftfreq(W)`` (:func:`fiji_bridge.fourier.rfft_frequencies`), so ``|k| <= 0.5·sqrt(2)``.
Every image returned here is real, has mean 0 and standard deviation 1 (population,
``ddof=0``): the normalization of the experiment's references.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from fiji_bridge import checks
from fiji_bridge.fourier import rfft_frequencies

__all__ = [
    "normalized",
    "lowpass",
    "phase_randomised",
    "radial_frequency",
    "shaped_reference",
    "spectral_flatness",
]


def _image(x: Any, name: str) -> np.ndarray:
    img = checks.image_array(x, name).astype(np.float64)
    if not np.all(np.isfinite(img)):
        raise ValueError(f"{name} contains NaN or infinite values. Fix: crop or fill them.")
    return img


def _positive(value: Any, name: str, fix: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}. Fix: {fix}.")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}. Fix: {fix}.")
    return value


def normalized(image: Any) -> np.ndarray:
    """``(image - mean) / sd`` (population sd, ``ddof=0``), float64.

    Raises
    ------
    ValueError
        The image is constant (nothing to normalize), or holds NaN/inf.
    """
    img = _image(image, "image")
    sd = img.std()
    if not sd > 0:
        raise ValueError("The image is constant, so it cannot be normalized to sd 1. "
                         "Fix: pass an image with some contrast.")
    return (img - img.mean()) / sd


def radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    """``|k|`` in cycles/pixel on the rfft2 half-plane of an ``(H, W)`` image, float64."""
    fy, fx = rfft_frequencies(checks.shape(shape))
    return np.sqrt(fy**2 + fx**2)


def lowpass(image: Any, cutoff: float) -> np.ndarray:
    """Ideal (hard) low-pass filter: keep the Fourier components with ``|k| <= cutoff``.

    ``irfft2(rfft2(r) · [|k| <= cutoff], s=(H, W))``, then normalized (mean 0, sd 1). The DC
    term is removed by the normalization. Components beyond the cutoff are exactly zero, so a
    noise image's components there do not enter the correlation with this reference at all.

    Parameters
    ----------
    image : array_like (H, W)
    cutoff : float
        Cycles per pixel, > 0; ``cutoff >= 0.5·sqrt(2)`` keeps everything.

    Raises
    ------
    ValueError
        Cutoff <= 0, or so low that nothing but DC is left (a constant image).
    """
    img = _image(image, "image")
    cutoff = _positive(cutoff, "cutoff", "pass cycles per pixel, e.g. cutoff=0.125")
    spec = np.fft.rfft2(img)
    spec[radial_frequency(img.shape) > cutoff] = 0
    out = np.fft.irfft2(spec, s=img.shape)
    if not np.ptp(out) > 1e-12 * max(1.0, float(np.abs(img).max())):
        raise ValueError(f"cutoff={cutoff} keeps no frequency but DC of a {img.shape} image. "
                         f"Fix: use a cutoff >= {1 / max(img.shape):.3g} cycles/pixel.")
    return normalized(out)


def shaped_reference(image: Any, exponent: float | None) -> np.ndarray:
    """The same Fourier phases with a prescribed radial amplitude ``|k|**(-exponent)``.

    ``R'(k) = |k|**(-exponent) · exp(i·arg R(k))`` for ``k != 0``, ``R'(0) = 0``, transformed
    back with ``irfft2(R', s=(H, W))`` and normalized (mean 0, sd 1). ``exponent=0`` gives a
    white (flat) spectrum, ``1`` and ``1.5`` the ``|k|**-1`` and ``|k|**-1.5`` spectra; ``None``
    returns the image itself, normalized. The amplitude depends only on ``|k|``, which is the
    same for ``k`` and ``-k``, so Hermitian symmetry (a real image) is kept.
    """
    img = _image(image, "image")
    if exponent is None:
        return normalized(img)
    if isinstance(exponent, (bool, np.bool_)) or not isinstance(exponent, numbers.Real):
        raise TypeError(f"exponent must be a number or None, got {exponent!r}. "
                        "Fix: pass e.g. exponent=1.0 (None keeps the image's own spectrum).")
    spec = np.fft.rfft2(img)
    k = radial_frequency(img.shape)
    amp = np.zeros_like(k)
    nz = k > 0
    amp[nz] = k[nz] ** (-float(exponent))
    phase = np.exp(1j * np.angle(spec))
    return normalized(np.fft.irfft2(amp * phase, s=img.shape))


def phase_randomised(image: Any, rng: np.random.Generator) -> np.ndarray:
    """The image's Fourier amplitudes with uniformly random phases (Hermitian kept), normalized.

    The phases are those of ``rfft2`` of a white Gaussian image drawn from ``rng``, so they are
    uniform and Hermitian-consistent on the self-paired columns. DC is set to 0. The result has
    the same power spectrum as ``image`` and is uncorrelated with it on average.
    """
    img = _image(image, "image")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}. "
                        "Fix: pass numpy.random.default_rng(seed).")
    spec = np.fft.rfft2(img)
    phases = np.exp(1j * np.angle(np.fft.rfft2(rng.standard_normal(img.shape))))
    out = np.abs(spec) * phases
    out[0, 0] = 0
    return normalized(np.fft.irfft2(out, s=img.shape))


def spectral_flatness(image: Any) -> float:
    """Wiener entropy of the power spectrum: geometric mean / arithmetic mean of ``|F(k)|²``.

    Over the full ``fft2`` plane without DC. 1 for a perfectly flat (white) spectrum, towards 0
    for a spectrum concentrated on few frequencies; 0 if some non-DC component is exactly 0.
    """
    img = _image(image, "image")
    power = np.abs(np.fft.fft2(img)).ravel()[1:] ** 2
    mean = power.mean()
    if not mean > 0:
        raise ValueError("The image is constant: its spectrum has no power outside DC. "
                         "Fix: pass an image with some contrast.")
    if np.any(power == 0):
        return 0.0
    return float(np.exp(np.mean(np.log(power))) / mean)
