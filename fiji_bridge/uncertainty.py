"""Uncertainties of Monte Carlo results: random streams, standard errors, jackknife fits.

Random streams
--------------
Every independent unit of a study (experiment ``e``, variant ``v``, trial ``t``) gets its own
noise seed::

    stream_seed(seed, e, v, t) = SeedSequence(seed, spawn_key=(e, v, t)).generate_state(1, uint64)[0]

Different spawn keys give statistically independent streams (numpy's ``SeedSequence``
guarantee); the engine then derives one stream per block of 64 images from that seed
(:mod:`fiji_bridge.noise`). Along one curve (several N in one trial) the averages are nested:
the first N images of one stream, so points of a curve are correlated. That is why every
uncertainty below comes from the spread *between independent trials*, never from the scatter
of points along a curve.

Standard errors and fits
------------------------
``standard_error`` is ``sd(ddof=1) / sqrt(trials)``: the uncertainty of a trial mean (the sd
itself is the spread of one trial, not an error bar). A fitted quantity ``θ`` (a log-log slope,
a limit ``CC∞``) is estimated from the trial-mean curve, ``θ̂ = f(mean over trials)``, and its
standard error is the delete-one jackknife over trials::

    θ_(i) = f(mean over trials without i),  se = sqrt((T-1)/T · Σ_i (θ_(i) - mean θ_(·))²)

with a Student-t interval ``θ̂ ± t_{0.975, T-1} · se``. The jackknife keeps the correlation of
the points along each trial's curve, which a least-squares covariance would ignore.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from fiji_bridge import checks

__all__ = [
    "LEVEL",
    "cc_limit",
    "cc_model",
    "jackknife",
    "loglog_slope",
    "mean_se",
    "standard_error",
    "stream_seed",
]

#: Confidence level of every interval reported.
LEVEL = 0.95


def stream_seed(seed: int, *key: int) -> int:
    """Seed of the independent stream ``key`` (e.g. experiment, variant, trial) of ``seed``."""
    seed = checks.seed(seed)
    parts = tuple(checks.integer(k, "spawn key", minimum=0) for k in key)
    return int(np.random.SeedSequence(seed, spawn_key=parts).generate_state(1, np.uint64)[0])


def standard_error(values: Any, axis: int = -1) -> np.ndarray | float:
    """``sd(ddof=1) / sqrt(n)`` along ``axis`` (NaN where fewer than 2 values)."""
    arr = checks.real_array(values, "values").astype(np.float64)
    n = arr.shape[axis]
    if n < 2:
        out = np.full(np.delete(arr.shape, axis if axis >= 0 else arr.ndim + axis), np.nan)
        return float(out) if out.ndim == 0 else out
    out = arr.std(axis=axis, ddof=1) / math.sqrt(n)
    return float(out) if np.ndim(out) == 0 else out


def mean_se(values: Any, axis: int = -1) -> tuple[Any, Any]:
    """``(mean, standard_error)`` along ``axis``."""
    arr = checks.real_array(values, "values").astype(np.float64)
    mean = arr.mean(axis=axis)
    return (float(mean) if np.ndim(mean) == 0 else mean), standard_error(arr, axis)


def _t_quantile(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + LEVEL / 2, dof))


def jackknife(statistic: Callable[[np.ndarray], Any], trials: Any) -> dict[str, Any]:
    """Delete-one jackknife over the first axis (the trials) of ``trials``.

    Parameters
    ----------
    statistic : callable
        ``statistic(subset) -> float or 1-D array`` of a ``(T', ...)`` subset of trials.
    trials : array_like, shape (T, ...)

    Returns
    -------
    dict
        ``estimate`` (the statistic of all trials), ``se``, ``ci_low``, ``ci_high`` (Student-t,
        level :data:`LEVEL`), ``trials``; NaN uncertainties for fewer than 2 trials.
    """
    arr = np.asarray(trials, dtype=np.float64)
    t = arr.shape[0]
    est = np.asarray(statistic(arr), dtype=np.float64)
    if t < 2:
        se = np.full(est.shape, np.nan)
    else:
        reps = np.array([np.asarray(statistic(np.delete(arr, i, axis=0)), dtype=np.float64)
                         for i in range(t)])
        se = np.sqrt((t - 1) / t * ((reps - reps.mean(axis=0)) ** 2).sum(axis=0))
    half = se * (_t_quantile(t - 1) if t >= 2 else np.nan)
    conv = (lambda v: float(v)) if est.ndim == 0 else (lambda v: v)
    return {"estimate": conv(est), "se": conv(se), "ci_low": conv(est - half),
            "ci_high": conv(est + half), "trials": int(t), "level": LEVEL}


def _slope(n: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(y) & (y > 0)
    if np.unique(n[keep]).size < 2:
        return math.nan
    return float(np.polyfit(np.log10(n[keep]), np.log10(y[keep]), 1)[0])


def loglog_slope(x: Any, y_trials: Any) -> dict[str, Any]:
    """Slope of ``log10(mean_t y) = a + slope · log10(x)`` with a jackknife interval.

    Parameters
    ----------
    x : array_like (K,)
        Positive abscissae (e.g. N, or |R_k|).
    y_trials : array_like (T, K)
        One curve per independent trial (positive values; others are left out of the fit).
    """
    xs = checks.real_array(x, "x", ndim=1).astype(np.float64)
    ys = checks.real_array(y_trials, "y_trials", ndim=2).astype(np.float64)
    if ys.shape[1] != xs.size:
        raise ValueError(f"y_trials has {ys.shape[1]} points per trial but x has {xs.size}. "
                         "Fix: pass one column per x.")
    out = jackknife(lambda sub: _slope(xs, sub.mean(axis=0)), ys)
    out["slope"] = out.pop("estimate")
    return out


def cc_model(n: Any, rho: float, c: float) -> np.ndarray:
    """``CC(N) = ρ / sqrt(1 + c/N)``: an average ``x∞ + e/√N`` correlated with a reference.

    ``ρ = CC(x∞, r)`` is the limit ``CC∞`` and ``c = σ_e²·(pixels)/|x∞|²`` the noise-to-signal
    ratio of one image.
    """
    n = np.asarray(n, dtype=np.float64)
    return rho / np.sqrt(1.0 + c / n)


def _fit_cc(n: np.ndarray, cc: np.ndarray) -> np.ndarray:
    from scipy.optimize import curve_fit

    from scipy.optimize import OptimizeWarning

    p0 = (min(max(float(cc[-1]) * 1.05, 1e-3), 0.999), float(np.median(n)))
    try:
        with warnings.catch_warnings():  # the covariance is not used (jackknife instead)
            warnings.simplefilter("ignore", OptimizeWarning)
            (rho, c), _ = curve_fit(cc_model, n, cc, p0=p0,
                                    bounds=([0.0, 0.0], [1.0, np.inf]), maxfev=10000)
    except (RuntimeError, ValueError):
        return np.array([math.nan, math.nan])
    return np.array([rho, c])


def cc_limit(n: Any, cc_trials: Any) -> dict[str, Any]:
    """Fit ``CC(N) = ρ/sqrt(1 + c/N)`` (:func:`cc_model`) to the trial-mean CC curve.

    ``scipy.optimize.curve_fit`` (``0 <= ρ <= 1``, ``c >= 0``), jackknife over trials for the
    uncertainty.

    Returns
    -------
    dict
        ``cc_inf`` (ρ), ``c``, with ``se``, ``ci_low``, ``ci_high`` of ``cc_inf`` and ``c_se``;
        ``trials``, ``level``.
    """
    ns = checks.real_array(n, "n", ndim=1).astype(np.float64)
    cc = checks.real_array(cc_trials, "cc_trials", ndim=2).astype(np.float64)
    if cc.shape[1] != ns.size:
        raise ValueError(f"cc_trials has {cc.shape[1]} points per trial but n has {ns.size}. "
                         "Fix: pass one column per N.")
    if ns.size < 2:
        raise ValueError("Fitting CC(N) = rho/sqrt(1 + c/N) needs at least two N. "
                         "Fix: pass several N, e.g. 100,1000,10000.")
    jk = jackknife(lambda sub: _fit_cc(ns, sub.mean(axis=0)), cc)
    est, se, lo, hi = (np.asarray(jk[k]) for k in ("estimate", "se", "ci_low", "ci_high"))
    return {"cc_inf": float(est[0]), "se": float(se[0]), "ci_low": float(lo[0]),
            "ci_high": float(hi[0]), "c": float(est[1]), "c_se": float(se[1]),
            "trials": jk["trials"], "level": jk["level"]}
