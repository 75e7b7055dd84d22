r"""Is there signal in my particles beyond template bias? A test against a matched null.

Aligning images to a template pulls the template out of them even when they hold nothing but
noise ("Einstein from noise"), and how strongly depends on the noise's power spectrum: coloured
noise (CTF, detector, ice) correlates with a template far more, or far less, than white noise
does. Comparing particles with one realisation of *white* noise therefore gives false positives
and false negatives. This module compares them with a **null of the same power spectrum and no
signal**, aligned exactly like the particles, over ``K`` independent null draws.

Pure numpy / scipy / xarray: no Java. The command ``einstein-from-noise check`` (module
:mod:`fiji_bridge.check_command`) prepares the template with ImageJ and calls
:func:`template_bias_check`.

The null: per-particle Fourier-phase randomisation
--------------------------------------------------
For each particle ``x_i`` (``H x W``) with spectrum ``X_i = rfft2(x_i)``, a null particle is

.. math::

    \tilde x_i = \mathrm{irfft2}\big(X_i \cdot U_i\big), \qquad
    U_i = \frac{\mathrm{rfft2}(w_i)}{|\mathrm{rfft2}(w_i)|}, \quad U_i(0) = 1,

with ``w_i`` an i.i.d. N(0, 1) image. ``U_i`` is the phase factor of a real white-noise image,
so it has modulus 1, uniform phases, and exactly the Hermitian symmetry of a real image's
spectrum (self-conjugate frequencies, whose coefficients are real, get a random sign). Hence
``|rfft2(x̃_i)| = |X_i|`` exactly (to rounding), ``x̃_i`` is real, the mean (DC) and variance are
kept, and the phases are uniform and independent of everything else: every Fourier amplitude of
every particle is kept, every trace of a fixed image (a real signal lives in the phases) is
destroyed. (The "phase-randomised surrogate" of Theiler et al., Physica D 58:77, 1992.)

Why this null, and why the p-value is exact. Under the null hypothesis "the particles are noise
whose Fourier coefficients are circularly symmetric" (any stationary Gaussian noise of any
colour on the periodic box, e.g. white noise filtered by any CTF or envelope, is), the phases of
``X_i`` are uniform and independent of the amplitudes ``|X_i|``. Given the amplitudes, the
particles and each of the ``K`` null stacks then have the *same* distribution, so the observed
statistic and the ``K`` null statistics are exchangeable and

.. math::

    p = \frac{1 + \#\{k : T_k \ge T_{\mathrm{obs}}\}}{K + 1}

is a valid p-value: ``P(p \le \alpha) \le \alpha`` for every ``\alpha``, whatever the noise
spectrum (and exactly uniform on ``{1, ..., K+1}/(K+1)`` without ties). Noise coloured to the
*average* 2-D PSD would match the spectrum only on average and mis-calibrate stacks whose
particles differ in contrast or defocus; per-particle randomisation matches each one.
Limitations: noise that is not stationary on the box (a particle cut at a box edge, an already
masked particle) has phases that carry its envelope, which the null destroys; mask with
``mask_radius`` instead of feeding masked particles.

The statistic
-------------
Both the particles and each null stack go through the same alignment
(:func:`fiji_bridge.align.align_to_reference`, with the same ``max_shift`` and ``mask_radius``),
and ``T = CC(ā, t)``, the Pearson correlation of the average of the aligned images with the
template. Reported: ``T_obs``, the null mean and standard deviation (``ddof = 1``),
``z = (T_obs - mean) / sd``, ``p`` as above and the verdict ``p <= alpha``
(``signal_beyond_bias``). With ``K`` draws the smallest p is ``1 / (K + 1)``: the default
``K = 99`` reaches 0.01. Also returned: the Fourier ring correlation of the aligned average with
the template (:func:`fiji_bridge.metrics.frc`) with its null band (2.5 %, 50 %, 97.5 %
percentiles over the draws).

Half-set FRC (the gold-standard failure)
----------------------------------------
The particles are split into two independent halves (even and odd indices); each half is
aligned to the **same** template and the FRC between the two half averages is returned: for pure
noise it stays far above 0.143 up to Nyquist (Henderson, PNAS 110:18037, 2013), because both
halves inherit the template's phases. Beside it, the same halves aligned to the template
low-pass filtered at ``lowpass_cutoff`` (:func:`lowpass_filter`, as refinement programs treat an
initial model): beyond the cutoff the two half averages share nothing but noise and the FRC
falls to the noise level (about ``±2 / sqrt(n)`` for a ring of ``n`` Fourier pixels).

Reproducibility: null draw ``k`` of particle block ``b`` (fixed blocks of :data:`BLOCK`
particles) uses ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(k, b)))``, so results
depend only on the seed, the data and the options, not on threads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.fft

from fiji_bridge import checks
from fiji_bridge.align import align_to_reference
from fiji_bridge.metrics import frc, pearson_cc

__all__ = [
    "BLOCK",
    "DEFAULT_DRAWS",
    "FRC_COLUMNS",
    "FRC_THRESHOLD",
    "NULL_KIND",
    "check_options",
    "empirical_p_value",
    "frc_rows",
    "half_set_frc",
    "half_set_line",
    "last_above_threshold",
    "lowpass_filter",
    "phase_randomize",
    "template_bias_check",
]

#: Null draws by default: the smallest p-value reachable is 1 / (99 + 1) = 0.01.
DEFAULT_DRAWS = 99
#: Name of the null in results and check.json.
NULL_KIND = "per-particle Fourier phase randomisation (|F| kept)"
#: Particles per random stream and per alignment call (part of the definition of the null
#: draws: changing it changes them).
BLOCK = 256
#: Threshold of the half-set FRC "resolution" criterion (Rosenthal & Henderson 2003).
FRC_THRESHOLD = 0.143


# --------------------------------------------------------------------------------------------
# argument checks (fiji_bridge.checks holds the one copy of each)
# --------------------------------------------------------------------------------------------
def check_options(*, draws=DEFAULT_DRAWS, seed=0, alpha=0.05, lowpass_cutoff=0.125,
                  max_shift=None, mask_radius=None) -> dict:
    """The options of :func:`template_bias_check`, checked and normalised (no data needed).

    The ``check`` command calls it before Java starts; :func:`template_bias_check` calls it
    again. ``draws`` must reach ``1 / alpha - 1`` (the smallest p is ``1 / (draws + 1)``).

    Returns
    -------
    dict
        ``draws``, ``seed`` (int), ``alpha``, ``lowpass_cutoff`` (float), ``max_shift`` (int or
        None), ``mask_radius`` (float or None).

    Raises
    ------
    TypeError
        An option of the wrong type.
    ValueError
        An option out of range, or ``draws`` too small to ever reach ``alpha``.
    """
    draws = checks.integer(draws, "draws", minimum=1, fix="pass e.g. draws=99 (--draws 99)")
    alpha = checks.real(alpha, "alpha", low=0.0, high=1.0, include_high=False,
                        fix="pass e.g. alpha=0.05 (--alpha 0.05)")
    if 1.0 / (draws + 1) > alpha:
        need = int(np.ceil(1.0 / alpha - 1.0 - 1e-9))
        raise ValueError(f"draws={draws} can never give p <= alpha={alpha:g} (the smallest p "
                         f"is 1/(draws+1)). Fix: pass draws >= {need}, e.g. draws=99 "
                         "(--draws 99)")
    return {
        "draws": draws,
        "seed": checks.seed(seed),
        "alpha": alpha,
        "lowpass_cutoff": checks.real(lowpass_cutoff, "lowpass_cutoff", low=0.0, high=0.5,
                                      fix="pass e.g. lowpass_cutoff=0.125 (--lowpass 0.125)"),
        "max_shift": checks.max_shift(max_shift),
        "mask_radius": checks.mask_radius(mask_radius),
    }


def _check_inputs(particles, template) -> tuple[np.ndarray, np.ndarray]:
    stack = checks.real_array(particles, "particles")
    ref = checks.real_array(template, "template")
    if stack.ndim != 3:
        raise ValueError(f"particles must be a stack (N, H, W), got shape {stack.shape}. "
                         "Fix: pass all particles as one 3-D array")
    if stack.shape[0] < 2:
        raise ValueError(f"particles hold {stack.shape[0]} image(s); the check needs at least "
                         "2 (two half sets). Fix: pass more particles")
    if ref.ndim != 2 or ref.shape != stack.shape[1:]:
        raise ValueError(f"template has shape {ref.shape} but the particles are "
                         f"{stack.shape[1]}x{stack.shape[2]}. Fix: bring the template to the "
                         "particles' box size (the check command does it with ImageJ)")
    if not np.isfinite(ref).all() or np.ptp(ref) == 0:
        raise ValueError("template is constant or holds NaN/inf. Fix: pass a real image")
    if not np.isfinite(stack).all():
        bad = int(np.flatnonzero(~np.isfinite(stack).reshape(stack.shape[0], -1).all(1))[0])
        raise ValueError(f"particle {bad} holds NaN or inf. Fix: remove or repair it")
    return stack, np.asarray(ref, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------
def phase_randomize(images, rng: np.random.Generator) -> np.ndarray:
    """Randomise the Fourier phases of each image, keeping ``|F|`` and the mean exactly.

    ``irfft2(rfft2(x) * U)`` with ``U = rfft2(w) / |rfft2(w)|`` for an i.i.d. N(0, 1) image
    ``w`` and ``U[0, 0] = 1`` (module docstring): real output, same amplitude spectrum, uniform
    independent phases.

    Parameters
    ----------
    images : array_like
        ``(N, H, W)`` real images.
    rng : numpy.random.Generator
        Source of the random phases.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)``.
    """
    x = np.asarray(images, dtype=np.float64)
    h, w = x.shape[-2:]
    spectrum = scipy.fft.rfft2(x, workers=1)
    phase = scipy.fft.rfft2(rng.standard_normal(x.shape), workers=1)
    modulus = np.abs(phase)
    phase /= np.where(modulus > 0, modulus, 1.0)  # a zero coefficient has probability 0
    phase[..., 0, 0] = 1.0
    spectrum *= phase
    return scipy.fft.irfft2(spectrum, s=(h, w), workers=1).astype(np.float32)


def lowpass_filter(image, cutoff: float) -> np.ndarray:
    r"""Low-pass filter an image at ``cutoff`` cycles/pixel with a short raised-cosine edge.

    ``F(k)`` is multiplied by ``1`` for ``|k| <= cutoff - e``, by
    ``(1 + cos(pi (|k| - cutoff + e) / e)) / 2`` for ``cutoff - e < |k| < cutoff`` and by ``0``
    for ``|k| >= cutoff``, with ``e = 2 / min(H, W)`` (two Fourier pixels): nothing at or
    beyond the cutoff survives. ``|k|`` is the radial frequency of ``numpy.fft.fftfreq``.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` real image.
    cutoff : float
        In cycles/pixel, ``0 < cutoff <= 0.5``.

    Returns
    -------
    numpy.ndarray
        float64 ``(H, W)``.
    """
    cutoff = checks.real(cutoff, "lowpass_cutoff", low=0.0, high=0.5,
                         fix="pass e.g. lowpass_cutoff=0.125")
    img = np.asarray(image, dtype=np.float64)
    h, w = img.shape
    k = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    e = 2.0 / min(h, w)
    t = np.clip((k - (cutoff - e)) / e, 0.0, 1.0)
    gain = 0.5 * (1.0 + np.cos(np.pi * t))
    gain[k >= cutoff] = 0.0
    return np.fft.irfft2(np.fft.rfft2(img) * gain, s=(h, w))


def empirical_p_value(observed: float, null) -> float:
    r"""``(1 + #{null >= observed}) / (K + 1)``: the Monte Carlo p-value of a one-sided test.

    Valid (``P(p <= alpha) <= alpha``) when the observed value and the ``K`` null values are
    exchangeable under the null hypothesis; the smallest value is ``1 / (K + 1)``.
    """
    null = np.asarray(null, dtype=np.float64).ravel()
    return float((1 + np.count_nonzero(null >= observed)) / (null.size + 1))


def last_above_threshold(frequencies, values, threshold: float = FRC_THRESHOLD) -> float | None:
    """Highest ring frequency up to which an FRC curve stays above ``threshold``.

    The curve is read from the lowest ring up; the frequency of the last ring before the first
    one with ``values <= threshold`` (or NaN) is returned, the last ring's if none is; None
    when the first ring is not above it.
    """
    values = np.asarray(values, dtype=np.float64)
    below = np.flatnonzero(~(values > threshold))
    stop = int(below[0]) if below.size else values.size
    return None if stop == 0 else float(np.asarray(frequencies)[stop - 1])


def half_set_line(half: dict, target: str = "template") -> str:
    """One line saying up to where the half-set FRC stays above its threshold.

    ``half`` is a half-set summary (``threshold``, ``lowpass_cutoff``,
    ``same_template_last_frequency_above_threshold``,
    ``lowpass_template_last_frequency_above_threshold``), as in ``check.json`` and a run's
    ``control_half_set_frc``; ``target`` names what the halves were aligned to.
    """
    return (f"half-set FRC > {half['threshold']:g} up to "
            f"{half['same_template_last_frequency_above_threshold']} cycles/px with the "
            f"{target}, {half['lowpass_template_last_frequency_above_threshold']} with it "
            f"low-passed at {half['lowpass_cutoff']:g}")


def _aligned_average(stack, template, *, max_shift, mask_radius, workers, source=None):
    """Average of the aligned images; ``source(b, i0, i1)`` may replace each block."""
    total = np.zeros(template.shape, dtype=np.float64)
    for b, i0 in enumerate(range(0, stack.shape[0], BLOCK)):
        i1 = min(i0 + BLOCK, stack.shape[0])
        block = stack[i0:i1] if source is None else source(b, i0, i1)
        res = align_to_reference(block, template, workers=workers, max_shift=max_shift,
                                 mask_radius=mask_radius)
        total += res.aligned.sum(axis=0, dtype=np.float64)
    return total / stack.shape[0]


def half_set_frc(particles, template, *, lowpass_cutoff=0.125, max_shift=None,
                 mask_radius=None, n_rings=None, workers=None) -> dict:
    """Half-set FRC: two independent halves aligned to one template (module docstring).

    Halves: particles ``0, 2, 4, ...`` and ``1, 3, 5, ...``. Each half is aligned to
    ``template`` and, separately, to ``lowpass_filter(template, lowpass_cutoff)``.

    Returns
    -------
    dict
        ``frequency`` (ring centres, cycles/pixel), ``frc_same_template`` and
        ``frc_lowpass_template`` (FRC between the two half averages per ring),
        ``template_lowpass`` (the filtered template), ``half_sizes`` ``[n_even, n_odd]``.
    """
    stack, ref = _check_inputs(particles, template)
    lowpass_cutoff = checks.real(lowpass_cutoff, "lowpass_cutoff", low=0.0, high=0.5,
                                 fix="pass e.g. lowpass_cutoff=0.125")
    halves = (stack[0::2], stack[1::2])
    ref_low = lowpass_filter(ref, lowpass_cutoff)
    out: dict = {"half_sizes": [int(h.shape[0]) for h in halves], "template_lowpass": ref_low}
    for key, target in (("frc_same_template", ref), ("frc_lowpass_template", ref_low)):
        averages = [_aligned_average(h, target, max_shift=max_shift, mask_radius=mask_radius,
                                     workers=workers) for h in halves]
        freqs, values = frc(averages[0], averages[1], n_rings=n_rings)
        out["frequency"] = freqs
        out[key] = values
    return out


# --------------------------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------------------------
def template_bias_check(particles, template, *, draws=DEFAULT_DRAWS, seed=0, alpha=0.05,
                        max_shift=None, mask_radius=None, lowpass_cutoff=0.125, n_rings=None,
                        workers=None, half_sets=True,
                        progress: Callable[[int, int], None] | None = None):
    r"""Test whether aligned particles resemble the template more than template bias explains.

    The particles are aligned to the template and ``T_obs = CC(mean aligned particle,
    template)`` is compared with ``T_k``, ``k = 1..draws``, from phase-randomised copies of the
    particles aligned the same way (module docstring: the null, its justification, the
    statistic, the half-set FRC).

    Parameters
    ----------
    particles : array_like
        ``(N, H, W)`` real images, ``N >= 2``, as the alignment sees them
        (:func:`fiji_bridge.particles.load_particles` normalises each one to mean 0, sd 1; the
        null keeps each particle's mean and variance, so either way the test stays matched).
    template : array_like
        ``(H, W)`` real, finite, non-constant template (the reference).
    draws : int, optional
        Number ``K`` of null draws (default 99; the smallest p is ``1/(K+1)``, so ``K`` must
        reach ``1/alpha - 1``).
    seed : int, optional
        Seed of the null draws (>= 0).
    alpha : float, optional
        Level of the verdict, ``0 < alpha < 1``.
    max_shift, mask_radius : optional
        The search space, passed to :func:`fiji_bridge.align.align_to_reference` for the
        particles, the null stacks and the half sets alike.
    lowpass_cutoff : float, optional
        Cutoff (cycles/pixel) of the low-passed template of the half-set FRC.
    n_rings : int, optional
        FRC rings (default ``min(H, W) // 2``).
    workers : int, optional
        FFT threads (results do not depend on it).
    half_sets : bool, optional
        Also compute the half-set FRC (default True).
    progress : callable, optional
        ``progress(done, total)`` after each alignment pass (observed, each null draw, the two
        half-set passes).

    Returns
    -------
    xarray.Dataset
        Variables: ``template``, ``average`` (aligned particles), ``null_average`` (null draw
        0), ``template_lowpass`` (``y, x``); ``cc_null`` (``draw``); ``frc``, ``frc_null_low``,
        ``frc_null_median``, ``frc_null_high`` (``frequency``; the band holds 2.5/50/97.5 %
        of the null), ``frc_null`` (``draw, frequency``); with ``half_sets``,
        ``half_frc_same_template`` and ``half_frc_lowpass_template`` (``frequency``). JSON-safe
        attrs: ``n_particles``, ``box``, ``null`` {kind, draws, seed}, ``cc`` {observed,
        null_mean, null_sd, z, p_value}, ``alpha``, ``signal_beyond_bias``, ``max_shift``,
        ``mask_radius``, ``lowpass_cutoff``, ``half_sizes``, ``frc_threshold``.

    Raises
    ------
    TypeError
        Non-numeric input or a wrong type of option.
    ValueError
        Shapes that do not match, fewer than 2 particles, NaN/inf, a constant template, bad
        option values, or ``draws`` too small to ever reach ``alpha``.
    """
    import xarray as xr

    stack, ref = _check_inputs(particles, template)
    options = check_options(draws=draws, seed=seed, alpha=alpha, lowpass_cutoff=lowpass_cutoff,
                            max_shift=max_shift, mask_radius=mask_radius)
    draws, seed, alpha = options["draws"], options["seed"], options["alpha"]
    lowpass_cutoff = options["lowpass_cutoff"]
    max_shift, mask_radius = options["max_shift"], options["mask_radius"]
    n, h, w = stack.shape
    opts = dict(max_shift=max_shift, mask_radius=mask_radius, workers=workers)
    total = 1 + draws + (2 if half_sets else 0)
    done = 0

    def tick(steps: int = 1) -> None:
        nonlocal done
        done += steps
        if progress is not None:
            progress(done, total)

    average = _aligned_average(stack, ref, **opts)
    cc_obs = pearson_cc(average, ref)
    freqs, frc_obs = frc(average, ref, n_rings=n_rings)
    tick()
    cc_null = np.empty(draws)
    frc_null = np.empty((draws, freqs.size))
    null_average = None
    for k in range(draws):
        def source(b, i0, i1, k=k):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k, b)))
            return phase_randomize(stack[i0:i1], rng)

        avg = _aligned_average(stack, ref, source=source, **opts)
        if null_average is None:
            null_average = avg
        cc_null[k] = pearson_cc(avg, ref)
        frc_null[k] = frc(avg, ref, n_rings=n_rings)[1]
        tick()
    null_mean = float(cc_null.mean())
    null_sd = float(cc_null.std(ddof=1)) if draws > 1 else float("nan")
    z = (cc_obs - null_mean) / null_sd if null_sd > 0 else float("nan")
    p = empirical_p_value(cc_obs, cc_null)
    with np.errstate(all="ignore"):
        low, median, high = np.nanpercentile(frc_null, [2.5, 50.0, 97.5], axis=0)

    data_vars = {
        "template": (("y", "x"), ref.astype(np.float32)),
        "average": (("y", "x"), average.astype(np.float32)),
        "null_average": (("y", "x"), null_average.astype(np.float32)),
        "cc_null": (("draw",), cc_null),
        "frc": (("frequency",), frc_obs),
        "frc_null": (("draw", "frequency"), frc_null),
        "frc_null_low": (("frequency",), low),
        "frc_null_median": (("frequency",), median),
        "frc_null_high": (("frequency",), high),
    }
    half_sizes = None
    if half_sets:
        half = half_set_frc(stack, ref, lowpass_cutoff=lowpass_cutoff, n_rings=n_rings, **opts)
        tick(2)
        half_sizes = half["half_sizes"]
        data_vars["half_frc_same_template"] = (("frequency",), half["frc_same_template"])
        data_vars["half_frc_lowpass_template"] = (("frequency",), half["frc_lowpass_template"])
        data_vars["template_lowpass"] = (("y", "x"), half["template_lowpass"].astype(np.float32))
    attrs = {
        "n_particles": int(n),
        "box": [int(h), int(w)],
        "null": {"kind": NULL_KIND, "draws": int(draws), "seed": int(seed)},
        "cc": {"observed": float(cc_obs), "null_mean": null_mean, "null_sd": null_sd,
               "z": float(z), "p_value": p},
        "alpha": alpha,
        "signal_beyond_bias": bool(p <= alpha),
        "max_shift": max_shift,
        "mask_radius": mask_radius,
        "lowpass_cutoff": lowpass_cutoff,
        "half_sizes": half_sizes,
        "frc_threshold": FRC_THRESHOLD,
    }
    return xr.Dataset(
        data_vars,
        coords={"frequency": freqs, "draw": np.arange(draws), "y": np.arange(h),
                "x": np.arange(w)},
        attrs=attrs,
    )


#: Columns of :func:`frc_rows` and the variables of the check's Dataset they come from.
FRC_COLUMNS = {"frc": "frc", "null_low": "frc_null_low", "null_median": "frc_null_median",
               "null_high": "frc_null_high", "half_same_template": "half_frc_same_template",
               "half_lowpass_template": "half_frc_lowpass_template"}


def frc_rows(result) -> list[dict]:
    """The rows of ``frc.csv`` from :func:`template_bias_check`'s Dataset, one per ring.

    ``frequency`` (cycles/pixel), ``frc`` (aligned average vs template), ``null_low``,
    ``null_median``, ``null_high`` (2.5/50/97.5 % of the null draws), and with the half sets
    ``half_same_template``, ``half_lowpass_template`` (:data:`FRC_COLUMNS`).
    """
    rows = []
    for i, f in enumerate(result["frequency"].values):
        row = {"frequency": float(f)}
        for column, name in FRC_COLUMNS.items():
            if name in result:
                row[column] = float(result[name].values[i])
        rows.append(row)
    return rows
