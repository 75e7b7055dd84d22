"""The study's five experiments beyond the classic one (issue 14), numpy only.

Each function runs one experiment on a reference ``r`` (normalized here to mean 0, sd 1) and
returns a *block*: a dict with its parameters, every per-trial value, a summary with standard
errors, fitted quantities with confidence intervals, and a one-line ``headline``.

``snr_sweep``
    Images ``y_i = s·t + n_i`` (a true image ``t``, not the template, at amplitude ``s``; unit
    white noise ``n_i``) are hard-aligned to the template ``r`` and averaged. Over a grid of
    ``s`` and ``N``: CC of the average with the truth and with the template, and the boundary
    ``s*(N)`` above which the truth wins. ``s = 0`` is the classic experiment. The pixel SNR is
    ``s²``. Default truth: ``r``'s Fourier amplitudes with random phases (same power spectrum,
    uncorrelated with ``r``). The truth can only appear at the shift where it best matches the
    template, so it is compared in that registration: ``t* = roll(t, -d_t)``,
    ``d_t = argmax_d corr(t, r)(d)``.
``soft_alignment``
    The same noise images, hard-aligned and soft-aligned (:mod:`fiji_bridge.soft_align`,
    weights ``∝ exp(c(d)/σ²)``) for several ``σ``, in the same pass: CC of each average with the
    template, and the paired difference soft − hard.
``lowpass``
    Noise aligned to the template low-pass filtered at several cutoffs
    (:func:`fiji_bridge.spectra.lowpass`): CC and FRC of the average against the *unfiltered*
    template. Beyond the cutoff the filtered template has no power, the shifts depend only on the
    noise below it, and white noise components above are independent of those below: the FRC
    there is at the noise level ``0 ± 1/sqrt(n_ring)``.
``spectrum_shape``
    References with the template's Fourier phases and a prescribed radial amplitude
    (:func:`fiji_bridge.spectra.shaped_reference`: white, ``|k|^-1``, ``|k|^-1.5``, the original)
    in the same box: CC vs N, the fitted limit ``CC∞`` of ``CC(N) = ρ/sqrt(1 + c/N)``
    (:func:`fiji_bridge.uncertainty.cc_limit`) and the spectral flatness of each reference; also
    the flatness of the template zero-padded into a 2x canvas against the unpadded one.
``convergence``
    Fourier-phase MSE of the average against the template vs N per magnitude group (strongest
    1 %, 10 %, all), its log-log slope, and the per-component phase MSE at the largest N against
    ``|R_k|``, beside the theory of Balanov, Huleihel & Bendory (arXiv:2407.05277).

Every experiment function takes ``runner``, a :class:`fiji_bridge.study_runner.StudyRunner`
(in-process threads when omitted); :func:`run_experiments` opens one for all of them, on Dask
when given a scheduler. The results do not depend on where they ran. The runner carries the
user's search space (``max_shift``, ``mask_radius``; issue 12): every alignment, including the
registration ``d_t`` of the truth, searches only there.

Random streams
--------------
Trial ``t`` of variant ``v`` (an amplitude, a cutoff, a spectrum; 0 where there is one) of
experiment number ``e`` (1-based position in :data:`EXPERIMENTS`) draws its noise with the seed
``uncertainty.stream_seed(seed, e, v, t)``: every trial, variant and experiment is independent.
The default truth of ``snr_sweep`` comes from ``stream_seed(seed, TRUTH_KEY, 0, 0)``. The
soft and hard averages of ``soft_alignment`` share their noise on purpose (a paired
comparison). Points of one curve (several N) are nested prefixes of one stream; uncertainties
come from the spread between trials (:mod:`fiji_bridge.uncertainty`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fiji_bridge import align, checks, metrics, spectra, uncertainty
from fiji_bridge.soft_align import check_sigmas
from fiji_bridge.study_runner import StudyRunner

__all__ = [
    "DEFAULTS",
    "EXPERIMENTS",
    "QUICK",
    "TRUTH_KEY",
    "convergence",
    "lowpass",
    "parse_experiments",
    "planned_images",
    "run_experiments",
    "snr_sweep",
    "soft_alignment",
    "spectrum_shape",
]

#: The experiments, in the order they run; spawn key ``e`` of an experiment is its position + 1.
EXPERIMENTS = ("snr_sweep", "soft_alignment", "lowpass", "spectrum_shape", "convergence")
#: First spawn key of the default truth's stream (after the experiments' keys).
TRUTH_KEY = len(EXPERIMENTS) + 1
_KEY = {name: i + 1 for i, name in enumerate(EXPERIMENTS)}

#: Default parameters (chosen so that all five run in a few minutes on a shared 2-core machine
#: at 64 x 64; see README "Reading the numbers").
DEFAULTS: dict[str, dict[str, Any]] = {
    "snr_sweep": {"amplitudes": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
                  "n_list": (100, 1000, 4000), "trials": 4},
    "soft_alignment": {"sigmas": (1.0, 4.0, 8.0, 16.0, 32.0, 64.0), "n_list": (100, 300, 1000),
                       "trials": 10},
    "lowpass": {"cutoffs": (0.0625, 0.125, 0.25, None), "n_list": (100, 1000, 5000),
                "trials": 5},
    "spectrum_shape": {"exponents": (0.0, 1.0, 1.5, None),
                       "n_list": (100, 300, 1000, 3000, 10000), "trials": 8},
    "convergence": {"n_list": (300, 1000, 3000, 10000, 30000), "trials": 12,
                    "fractions": (0.01, 0.1, 1.0)},
}

#: Small parameters for a preview in seconds (``einstein-from-noise study --quick``, tests).
QUICK: dict[str, dict[str, Any]] = {
    "snr_sweep": {"amplitudes": (0.0, 0.3, 1.0), "n_list": (100, 400), "trials": 2},
    "soft_alignment": {"sigmas": (1.0, 16.0), "n_list": (100, 400), "trials": 2},
    "lowpass": {"cutoffs": (0.125, None), "n_list": (100, 400), "trials": 2},
    "spectrum_shape": {"exponents": (0.0, None), "n_list": (100, 400), "trials": 2},
    "convergence": {"n_list": (100, 400), "trials": 2, "fractions": (0.1, 1.0)},
}


# --------------------------------------------------------------------------------------------
# argument checks (kept small; the generic ones are fiji_bridge.checks)
# --------------------------------------------------------------------------------------------
def parse_experiments(text: Any) -> tuple[str, ...]:
    """``"snr_sweep,lowpass"`` (or a sequence, or ``"all"``) -> names in :data:`EXPERIMENTS` order."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "all"):
        return EXPERIMENTS
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [str(x).strip() for x in items if str(x).strip()]
    if not names:
        raise ValueError("The list of experiments is empty. Fix: e.g. --experiments "
                         f"{','.join(EXPERIMENTS[:2])} (or all).")
    bad = [n for n in names if n not in EXPERIMENTS]
    if bad:
        raise ValueError(f"Unknown experiment(s) {', '.join(map(repr, bad))}. Fix: choose from "
                         f"{', '.join(EXPERIMENTS)} (comma-separated), or all.")
    return tuple(e for e in EXPERIMENTS if e in names)


def _reference(reference: Any) -> np.ndarray:
    ref = checks.image_array(getattr(reference, "values", reference), "reference")
    return spectra.normalized(ref)


def _n_list(n_list: Any) -> np.ndarray:
    return np.array(checks.counts(n_list, name="n_list"), dtype=np.int64)


def _trials(trials: Any) -> int:
    return checks.integer(trials, "trials", minimum=1, fix="pass e.g. trials=5")


def _numbers(values: Any, name: str, *, allow_none: bool = False, positive: bool = False,
             example: str = "") -> tuple:
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence, got {values!r}. Fix: pass e.g. "
                        f"{name}={example}.") from None
    if not items:
        raise ValueError(f"{name} is empty. Fix: pass e.g. {name}={example}.")
    out = []
    for v in items:
        if v is None and allow_none:
            out.append(None)
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            raise TypeError(f"{name} must hold numbers, got {v!r}. Fix: pass e.g. "
                            f"{name}={example}.")
        if not math.isfinite(float(v)) or float(v) < 0 or (positive and float(v) == 0):
            raise ValueError(f"{name} must hold finite numbers {'> 0' if positive else '>= 0'}, "
                             f"got {v}. Fix: pass e.g. {name}={example}.")
        out.append(float(v))
    return tuple(out)


def planned_images(experiments: Sequence[str] = EXPERIMENTS,
                   options: dict[str, dict] | None = None) -> int:
    """Number of images the selected experiments draw (for a progress bar)."""
    total = 0
    for name in parse_experiments(experiments):
        p = {**DEFAULTS[name], **((options or {}).get(name) or {})}
        variants = {"snr_sweep": "amplitudes", "lowpass": "cutoffs",
                    "spectrum_shape": "exponents"}.get(name)
        k = len(p[variants]) if variants else 1
        total += k * int(p["trials"]) * int(max(p["n_list"]))
    return total


# --------------------------------------------------------------------------------------------
# helpers for blocks
# --------------------------------------------------------------------------------------------
def _summary(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the last (trial) axis."""
    return values.mean(axis=-1), uncertainty.standard_error(values, axis=-1)


def _pm(mean: float, se: float, digits: int = 3) -> str:
    if not np.isfinite(se):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def _seed(seed: int, name: str, variant: int, trial: int) -> int:
    return uncertainty.stream_seed(seed, _KEY[name], variant, trial)


def _registered(truth: np.ndarray, reference: np.ndarray, runner: Any
                ) -> tuple[np.ndarray, list[int]]:
    """``roll(t, -d_t)``, ``d_t = argmax corr(t, r)`` in the runner's search space: where hard
    alignment puts the truth."""
    res = align.align_to_reference(truth, reference.astype(np.float32), workers=1,
                                   max_shift=runner.max_shift, mask_radius=runner.mask_radius)
    return res.aligned, [int(v) for v in res.shifts]


# --------------------------------------------------------------------------------------------
# 1. true signal against template bias
# --------------------------------------------------------------------------------------------
def snr_sweep(reference: Any, *, seed: int, truth: Any = None,
              amplitudes: Sequence[float] = DEFAULTS["snr_sweep"]["amplitudes"],
              n_list: Sequence[int] = DEFAULTS["snr_sweep"]["n_list"],
              trials: int = DEFAULTS["snr_sweep"]["trials"], runner: Any = None) -> dict:
    """True signal at amplitude ``s`` plus unit noise, aligned to the template (module docstring).

    Returns a block with ``cc_truth`` and ``cc_template`` ``(amplitude, n, trial)``, their means
    and standard errors, the paired difference ``cc_truth - cc_template`` and, for each N, the
    boundary ``s*`` where that difference crosses 0 (linear interpolation on the grid; None
    when the truth never wins, or always does).
    """
    ref = _reference(reference)
    seed = checks.seed(seed)
    amps = _numbers(amplitudes, "amplitudes", example="(0, 0.2, 0.5, 1)")
    n_arr, trials = _n_list(n_list), _trials(trials)
    if truth is None:
        rng = np.random.default_rng(uncertainty.stream_seed(seed, TRUTH_KEY, 0, 0))
        t = spectra.phase_randomised(ref, rng)
        truth_name = "template amplitudes, random phases (stream_seed(seed, TRUTH_KEY, 0, 0))"
    else:
        t = spectra.normalized(truth)
        if t.shape != ref.shape:
            raise ValueError(f"truth {t.shape} and reference {ref.shape} differ in shape. "
                             "Fix: pass a truth of the reference's size.")
        truth_name = "given"
    runner = runner or StudyRunner(None, None, None, 0)
    t_star, d_t = _registered(t, ref, runner)
    shape = (len(amps), len(n_arr), trials)
    cc_t, cc_r = np.empty(shape), np.empty(shape)
    for v, s in enumerate(amps):
        for k in range(trials):
            res = runner.signal(ref, s * t if s else None, n_arr, _seed(seed, "snr_sweep", v, k))
            cc_t[v, :, k] = metrics.pearson_cc(res["hard"], t_star)
            cc_r[v, :, k] = metrics.pearson_cc(res["hard"], ref)
    diff = cc_t - cc_r
    d_mean, d_se = _summary(diff)
    boundary = []
    for j in range(len(n_arr)):
        b = None
        for v in range(1, len(amps)):
            lo, hi = d_mean[v - 1, j], d_mean[v, j]
            if lo < 0 <= hi:
                b = amps[v - 1] + (amps[v] - amps[v - 1]) * (-lo) / (hi - lo)
                break
        boundary.append(b)
    ct_m, ct_se = _summary(cc_t)
    cr_m, cr_se = _summary(cc_r)
    rows = [{"amplitude": amps[v], "snr": amps[v] ** 2, "n": int(n), "trials": trials,
             "cc_truth_mean": ct_m[v, j], "cc_truth_se": ct_se[v, j],
             "cc_template_mean": cr_m[v, j], "cc_template_se": cr_se[v, j],
             "diff_mean": d_mean[v, j], "diff_se": d_se[v, j]}
            for v in range(len(amps)) for j, n in enumerate(n_arr)]
    parts = [f"N={int(n)}: s*={'n/a' if b is None else f'{b:.2f}'}"
             for n, b in zip(n_arr, boundary)]
    j0 = len(n_arr) - 1
    cc_tr = float(metrics.pearson_cc(t_star, ref))
    head = (f"snr_sweep: the truth beats the template (CC with truth > CC with template) above "
            f"amplitude s* ({'; '.join(parts)}); at s={amps[0]:g}, N={int(n_arr[j0])}: "
            f"CC(template) {_pm(cr_m[0, j0], cr_se[0, j0])}, CC(truth) "
            f"{_pm(ct_m[0, j0], ct_se[0, j0])}; at s={amps[-1]:g}: CC(truth) "
            f"{_pm(ct_m[-1, j0], ct_se[-1, j0])} (mean ± se, {trials} trials; the registered "
            f"truth itself has CC {cc_tr:.2f} with the template)")
    return {"experiment": "snr_sweep", "headline": head, "amplitudes": list(amps),
            "n_list": n_arr, "trials": trials, "truth": truth_name, "truth_shift": d_t,
            "cc_truth_vs_template": cc_tr,
            "boundary": dict(zip((int(n) for n in n_arr), boundary)),
            "values": {"dims": ["amplitude", "n", "trial"], "cc_truth": cc_t,
                       "cc_template": cc_r},
            "rows": rows, "truth_image": t_star}


# --------------------------------------------------------------------------------------------
# 2. soft alignment
# --------------------------------------------------------------------------------------------
def soft_alignment(reference: Any, *, seed: int,
                   sigmas: Sequence[float] = DEFAULTS["soft_alignment"]["sigmas"],
                   n_list: Sequence[int] = DEFAULTS["soft_alignment"]["n_list"],
                   trials: int = DEFAULTS["soft_alignment"]["trials"],
                   runner: Any = None) -> dict:
    """Hard against soft alignment of the same pure noise: CC with the template vs σ and N.

    Returns a block with ``cc_hard`` ``(n, trial)``, ``cc_soft`` ``(sigma, n, trial)``, means,
    standard errors, and the paired difference soft − hard with its standard error.
    """
    ref = _reference(reference)
    seed = checks.seed(seed)
    sig = check_sigmas(sigmas)
    n_arr, trials = _n_list(n_list), _trials(trials)
    runner = runner or StudyRunner(None, None, None, 0)
    cc_h = np.empty((len(n_arr), trials))
    cc_s = np.empty((len(sig), len(n_arr), trials))
    for k in range(trials):
        res = runner.signal(ref, None, n_arr, _seed(seed, "soft_alignment", 0, k), sig)
        cc_h[:, k] = metrics.pearson_cc(res["hard"], ref)
        for i in range(len(sig)):
            cc_s[i, :, k] = metrics.pearson_cc(res["soft"][i], ref)
    h_m, h_se = _summary(cc_h)
    s_m, s_se = _summary(cc_s)
    d_m, d_se = _summary(cc_s - cc_h[None])
    rows = [{"alignment": "hard", "sigma": None, "n": int(n), "trials": trials,
             "cc_mean": h_m[j], "cc_se": h_se[j], "diff_mean": 0.0, "diff_se": 0.0}
            for j, n in enumerate(n_arr)]
    rows += [{"alignment": "soft", "sigma": s, "n": int(n), "trials": trials,
              "cc_mean": s_m[i, j], "cc_se": s_se[i, j], "diff_mean": d_m[i, j],
              "diff_se": d_se[i, j]}
             for i, s in enumerate(sig) for j, n in enumerate(n_arr)]
    j = len(n_arr) - 1
    soft_txt = ", ".join(f"σ={s:g} {_pm(s_m[i, j], s_se[i, j], 4)}" for i, s in enumerate(sig))
    head = (f"soft_alignment at N={int(n_arr[j])}: CC with the template, hard "
            f"{_pm(h_m[j], h_se[j], 4)}; soft {soft_txt} (mean ± se, {trials} trials, same "
            f"noise). Soft alignment does not remove the bias: wider weights give the template "
            f"back more exactly")
    return {"experiment": "soft_alignment", "headline": head, "sigmas": list(sig),
            "n_list": n_arr, "trials": trials,
            "weights": "w(d) = exp(c(d)/sigma^2) / sum_d exp(c(d)/sigma^2); sigma=1 is the "
                       "maximum-likelihood weight for unit noise and a unit template",
            "values": {"dims": ["sigma", "n", "trial"], "cc_hard": cc_h, "cc_soft": cc_s},
            "rows": rows}


# --------------------------------------------------------------------------------------------
# 3. filtered references
# --------------------------------------------------------------------------------------------
def lowpass(reference: Any, *, seed: int,
            cutoffs: Sequence[float | None] = DEFAULTS["lowpass"]["cutoffs"],
            n_list: Sequence[int] = DEFAULTS["lowpass"]["n_list"],
            trials: int = DEFAULTS["lowpass"]["trials"], n_rings: int | None = None,
            runner: Any = None) -> dict:
    """Noise aligned to low-pass filtered templates; CC and FRC against the unfiltered one.

    ``None`` in ``cutoffs`` is the unfiltered template (the control). Returns a block with
    ``cc`` and ``cc_filtered`` ``(cutoff, n, trial)``, ``frc`` ``(cutoff, ring, trial)`` at the
    largest N, and per cutoff the mean FRC over the rings wholly beyond the cutoff with its
    standard error and its noise level ``sqrt(Σ 1/n_ring) / rings`` (one trial).
    """
    ref = _reference(reference)
    seed = checks.seed(seed)
    cuts = _numbers(cutoffs, "cutoffs", allow_none=True, positive=True,
                    example="(0.0625, 0.125, None)")
    n_arr, trials = _n_list(n_list), _trials(trials)
    runner = runner or StudyRunner(None, None, None, 0)
    h, w = ref.shape
    n_rings = min(h, w) // 2 if n_rings is None else checks.integer(n_rings, "n_rings", minimum=1)
    templates = [ref if c is None else spectra.lowpass(ref, c) for c in cuts]
    freqs = metrics.frc(ref, ref, n_rings=n_rings)[0]
    # full-plane count of each ring: the noise level of an FRC is 1/sqrt(count)
    k = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    width = 0.5 / n_rings
    ring_counts = np.array([np.sum(np.abs(k - f) <= width / 2) for f in freqs])
    cc = np.empty((len(cuts), len(n_arr), trials))
    cc_f = np.empty_like(cc)
    frc_v = np.empty((len(cuts), n_rings, trials))
    for v, tmpl in enumerate(templates):
        for t in range(trials):
            means = runner.engine(tmpl, n_arr, _seed(seed, "lowpass", v, t))
            cc[v, :, t] = metrics.pearson_cc(means, ref)
            cc_f[v, :, t] = metrics.pearson_cc(means, tmpl)
            frc_v[v, :, t] = metrics.frc(means[-1], ref, n_rings=n_rings)[1]
    cc_m, cc_se = _summary(cc)
    ccf_m, ccf_se = _summary(cc_f)
    beyond = []
    for v, c in enumerate(cuts):
        sel = np.zeros(n_rings, bool) if c is None else (freqs - width / 2 > c)
        if sel.any():
            per_trial = np.nanmean(frc_v[v][sel], axis=0)
            m, se = float(per_trial.mean()), float(uncertainty.standard_error(per_trial))
            # sd of an unweighted mean of FRCs whose sds are 1/sqrt(n_ring)
            level = float(math.sqrt(np.sum(1.0 / ring_counts[sel])) / sel.sum())
            below = frc_v[v][freqs + width / 2 <= c].mean() if np.any(freqs + width / 2 <= c) \
                else math.nan
        else:
            m = se = level = below = math.nan
        beyond.append({"cutoff": c, "frc_beyond_mean": m, "frc_beyond_se": se,
                       "noise_level": level, "frc_below_mean": float(below),
                       "rings_beyond": int(sel.sum())})
    rows = [{"cutoff": c, "n": int(n), "trials": trials, "cc_mean": cc_m[v, j],
             "cc_se": cc_se[v, j], "cc_filtered_mean": ccf_m[v, j], "cc_filtered_se": ccf_se[v, j]}
            for v, c in enumerate(cuts) for j, n in enumerate(n_arr)]
    j = len(n_arr) - 1
    parts = []
    for v, c in enumerate(cuts):
        b = beyond[v]
        txt = f"{'none' if c is None else f'{c:g}'}: CC {_pm(cc_m[v, j], cc_se[v, j])}"
        if np.isfinite(b["frc_beyond_mean"]):
            txt += (f", FRC beyond cutoff {_pm(b['frc_beyond_mean'], b['frc_beyond_se'])} "
                    f"(noise level {b['noise_level']:.3f}), below {b['frc_below_mean']:.2f}")
        parts.append(txt)
    head = (f"lowpass at N={int(n_arr[j])} (cutoff in cycles/px; CC and FRC against the "
            f"unfiltered template): " + "; ".join(parts))
    return {"experiment": "lowpass", "headline": head, "cutoffs": list(cuts), "n_list": n_arr,
            "trials": trials, "ring_frequencies": freqs, "ring_counts": ring_counts,
            "beyond_cutoff": beyond,
            "values": {"dims": ["cutoff", "n", "trial"], "cc": cc, "cc_filtered": cc_f,
                       "frc_dims": ["cutoff", "ring", "trial"], "frc": frc_v},
            "rows": rows}


# --------------------------------------------------------------------------------------------
# 4. spectrum shape at a fixed box
# --------------------------------------------------------------------------------------------
def _padded(ref: np.ndarray, factor: int = 2) -> np.ndarray:
    h, w = ref.shape
    canvas = np.zeros((factor * h, factor * w))
    y0, x0 = (factor * h - h) // 2, (factor * w - w) // 2
    canvas[y0:y0 + h, x0:x0 + w] = ref
    return spectra.normalized(canvas)


def _spectrum_name(e: float | None) -> str:
    if e is None:
        return "original"
    return "white" if e == 0 else f"|k|^-{e:g}"


def spectrum_shape(reference: Any, *, seed: int,
                   exponents: Sequence[float | None] = DEFAULTS["spectrum_shape"]["exponents"],
                   n_list: Sequence[int] = DEFAULTS["spectrum_shape"]["n_list"],
                   trials: int = DEFAULTS["spectrum_shape"]["trials"],
                   runner: Any = None) -> dict:
    """Same phases, prescribed radial spectra, same box: CC vs N, CC∞ and spectral flatness.

    ``None`` in ``exponents`` is the template's own spectrum. Returns a block with ``cc``
    ``(spectrum, n, trial)``, per spectrum the flatness and the fit of ``CC(N) = ρ/sqrt(1+c/N)``
    (``cc_inf`` with se and CI), whether ``CC∞`` increases with flatness, and the flatness of
    the template padded into a 2x canvas against unpadded.
    """
    ref = _reference(reference)
    seed = checks.seed(seed)
    exps = _numbers(exponents, "exponents", allow_none=True, example="(0, 1, 1.5, None)")
    n_arr, trials = _n_list(n_list), _trials(trials)
    runner = runner or StudyRunner(None, None, None, 0)
    refs = [spectra.shaped_reference(ref, e) for e in exps]
    names = [_spectrum_name(e) for e in exps]
    flat = [spectra.spectral_flatness(r) for r in refs]
    cc = np.empty((len(exps), len(n_arr), trials))
    for v, r in enumerate(refs):
        for t in range(trials):
            means = runner.engine(r, n_arr, _seed(seed, "spectrum_shape", v, t))
            cc[v, :, t] = metrics.pearson_cc(means, r)
    fits = []
    for v in range(len(exps)):
        fit = (uncertainty.cc_limit(n_arr, cc[v].T) if len(n_arr) >= 2 else
               {"cc_inf": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan})
        fits.append({"spectrum": names[v], "exponent": exps[v], "flatness": flat[v], **fit})
    # "flatter -> higher CC∞" is checked within the prescribed power-law family (the original
    # spectrum is not a power law; its flatness is reported beside it)
    family = [v for v, e in enumerate(exps) if e is not None]
    order = sorted(family, key=lambda v: flat[v])
    limits = np.array([fits[v]["cc_inf"] for v in order])
    monotone = (bool(np.all(np.diff(limits) > 0))
                if len(order) >= 2 and np.all(np.isfinite(limits)) else None)
    padding = {"flatness_unpadded": spectra.spectral_flatness(ref),
               "flatness_padded_2x": spectra.spectral_flatness(_padded(ref))}
    m, se = _summary(cc)
    rows = [{"spectrum": names[v], "exponent": exps[v], "flatness": flat[v], "n": int(n),
             "trials": trials, "cc_mean": m[v, j], "cc_se": se[v, j],
             "cc_inf": fits[v]["cc_inf"], "cc_inf_se": fits[v]["se"]}
            for v in range(len(exps)) for j, n in enumerate(n_arr)]
    parts = [f"{f['spectrum']} (flatness {f['flatness']:.3f}) {_pm(f['cc_inf'], f['se'])}"
             for f in fits]
    head = (f"spectrum_shape: fitted CC∞ (± jackknife se, {trials} trials): " + "; ".join(parts)
            + (". Within the |k|^-a family, flatter -> higher CC∞: " + ("yes" if monotone
                                                                        else "no")
               if monotone is not None else "")
            + f". Padding does not flatten: flatness {padding['flatness_unpadded']:.4f} "
              f"unpadded, {padding['flatness_padded_2x']:.4f} in a 2x canvas")
    return {"experiment": "spectrum_shape", "headline": head, "spectra": names,
            "exponents": list(exps), "n_list": n_arr, "trials": trials, "fits": fits,
            "flatter_gives_higher_cc_inf": monotone, "padding": padding,
            "values": {"dims": ["spectrum", "n", "trial"], "cc": cc}, "rows": rows}


# --------------------------------------------------------------------------------------------
# 5. convergence against theory
# --------------------------------------------------------------------------------------------
#: Phase MSE below which a component counts as converged ("strong"), for the |R_k| fit.
STRONG_MSE = 0.5


def convergence(reference: Any, *, seed: int,
                n_list: Sequence[int] = DEFAULTS["convergence"]["n_list"],
                trials: int = DEFAULTS["convergence"]["trials"],
                fractions: Sequence[float] = DEFAULTS["convergence"]["fractions"],
                n_bins: int = 12, runner: Any = None) -> dict:
    """Phase MSE vs N per magnitude group and vs ``|R_k|`` at the largest N, with theory.

    Theory (Balanov, Huleihel & Bendory, arXiv:2407.05277): the phase MSE of each component
    decays like ``1/N`` (slope -1 against N); in their high-dimensional regime the rate is also
    inversely proportional to the template's Fourier magnitude, drawn as slope -1 against
    ``|R_k|``. They give no finite-size prediction for weak components (these stay near the
    uniform-phase level ``π²/3``) nor for the limit of the CC at a finite box.

    Returns a block with ``phase_mse`` ``(group, n, trial)``, each group's slope with jackknife
    se and CI, and the binned per-component MSE at the largest N against ``|R_k|`` with the
    slope fitted over the bins whose MSE is below :data:`STRONG_MSE`.
    """
    ref = _reference(reference)
    seed = checks.seed(seed)
    fr = _numbers(fractions, "fractions", positive=True, example="(0.01, 0.1, 1.0)")
    n_arr, trials = _n_list(n_list), _trials(trials)
    n_bins = checks.integer(n_bins, "n_bins", minimum=2)
    runner = runner or StudyRunner(None, None, None, 0)
    groups = metrics.magnitude_rank_groups(ref, fr)
    cand = metrics.magnitude_rank_groups(ref, (1.0,))[1.0]  # every independent frequency
    mag = np.abs(np.fft.rfft2(ref))[cand]
    mse = np.empty((len(fr), len(n_arr), trials))
    per_comp = np.empty((trials, int(cand.sum())))
    for t in range(trials):
        means = runner.engine(ref, n_arr, _seed(seed, "convergence", 0, t))
        for j in range(len(n_arr)):
            for g, f in enumerate(fr):
                mse[g, j, t] = metrics.phase_mse(means[j], ref, mask=groups[f])
        per_comp[t] = metrics.phase_error(means[-1], ref)[cand] ** 2
    slopes = [{"fraction": f, "n_components": int(groups[f].sum()),
               **uncertainty.loglog_slope(n_arr, mse[g].T)} for g, f in enumerate(fr)]
    edges = np.quantile(mag, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, mag, side="right") - 1, 0, n_bins - 1)
    centres = np.array([np.exp(np.log(mag[which == b]).mean()) for b in range(n_bins)])
    binned = np.stack([np.nanmean(per_comp[:, which == b], axis=1) for b in range(n_bins)], 1)
    b_m, b_se = binned.mean(axis=0), uncertainty.standard_error(binned, axis=0)
    strong = b_m < STRONG_MSE
    mag_fit = (uncertainty.loglog_slope(centres[strong], binned[:, strong])
               if strong.sum() >= 2 else {"slope": math.nan, "se": math.nan,
                                          "ci_low": math.nan, "ci_high": math.nan})
    m, se = _summary(mse)
    rows = [{"fraction": f, "n": int(n), "trials": trials, "phase_mse_mean": m[g, j],
             "phase_mse_se": se[g, j], "slope": slopes[g]["slope"], "slope_se": slopes[g]["se"]}
            for g, f in enumerate(fr) for j, n in enumerate(n_arr)]
    parts = [f"{'all components' if f == 1 else f'strongest {f:.0%}'}: "
             f"{_pm(s['slope'], s['se'], 2)} "
             f"[{s['ci_low']:.2f}, {s['ci_high']:.2f}]" for f, s in zip(fr, slopes)]
    head = (f"convergence: log-log slope of phase MSE vs N (theory -1 for strong components; "
            f"± jackknife se [95 % CI], {trials} trials): " + "; ".join(parts)
            + f". Phase MSE vs |R_k| at N={int(n_arr[-1])} over converged components: slope "
              + (f"{_pm(mag_fit['slope'], mag_fit['se'], 2)}" if np.isfinite(mag_fit["slope"])
                 else f"n/a (fewer than 2 bins below MSE {STRONG_MSE})")
            + " (theory, high-dimensional regime: -1)")
    return {"experiment": "convergence", "headline": head, "fractions": list(fr),
            "n_list": n_arr, "trials": trials, "slopes": slopes,
            "magnitude": {"bin_centres": centres, "phase_mse_mean": b_m, "phase_mse_se": b_se,
                          "strong_mse": STRONG_MSE, "fit": mag_fit, "n": int(n_arr[-1])},
            "theory": {"n_slope": -1.0, "magnitude_slope": -1.0,
                       "uniform_phase_mse": math.pi**2 / 3,
                       "source": "Balanov, Huleihel & Bendory, arXiv:2407.05277: phase MSE "
                                 "inversely proportional to N and, in the high-dimensional "
                                 "regime, to the Fourier magnitude",
                       "no_prediction": "weak components at practical N (near pi^2/3); the "
                                        "finite-box limit CC_inf"},
            "values": {"dims": ["fraction", "n", "trial"], "phase_mse": mse},
            "rows": rows}


# --------------------------------------------------------------------------------------------
# all of them
# --------------------------------------------------------------------------------------------
_FUNCS = {"snr_sweep": snr_sweep, "soft_alignment": soft_alignment, "lowpass": lowpass,
          "spectrum_shape": spectrum_shape, "convergence": convergence}


def run_experiments(reference: Any, experiments: Any = EXPERIMENTS, *, seed: int,
                    scheduler: Any = None, workers: int | None = None,
                    progress: Callable[[int, int], Any] | None = None,
                    options: dict[str, dict] | None = None, max_shift: int | None = None,
                    mask_radius: float | None = None) -> dict[str, dict]:
    """Run the selected experiments; ``{name: block}`` in :data:`EXPERIMENTS` order.

    Parameters
    ----------
    reference : array_like (H, W)
    experiments : str or sequence of str
        Names from :data:`EXPERIMENTS` (``"a,b"`` or ``"all"`` accepted).
    seed : int
        Master seed of every stream (module docstring).
    scheduler : None, "local", address or distributed.Client
        Where the images are aligned (opened once for all experiments); results are the same.
    workers : int, optional
        Threads (in-process) or threads per task (Dask).
    progress : callable, optional
        ``progress(done_images, total_images)``.
    options : dict, optional
        ``{name: {parameter: value}}`` overriding :data:`DEFAULTS`.
    max_shift, mask_radius : optional
        The search space of every alignment (:class:`~fiji_bridge.study_runner.StudyRunner`);
        recorded in each block as ``search_space`` (None: the whole box, no mask).
    """
    names = parse_experiments(experiments)
    seed = checks.seed(seed)
    options = options or {}
    unknown = [k for k in options if k not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"options for unknown experiment(s) {unknown}. Fix: use names from "
                         f"{', '.join(EXPERIMENTS)}.")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable progress(done, total) or None. "
                        "Fix: pass a function.")
    total = planned_images(names, options)
    out = {}
    with StudyRunner(scheduler, workers, progress, total, max_shift=max_shift,
                     mask_radius=mask_radius) as runner:
        for name in names:
            t0 = time.perf_counter()
            params = {**DEFAULTS[name], **(options.get(name) or {})}
            block = _FUNCS[name](reference, seed=seed, runner=runner, **params)
            block["elapsed_s"] = round(time.perf_counter() - t0, 3)
            block["seed"] = seed
            block["search_space"] = runner.search_space
            out[name] = block
    return out
