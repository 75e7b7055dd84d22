"""Quantify the "Einstein from noise" bias: a Monte Carlo study (``einstein-from-noise study``).

For every trial ``t`` and every canvas side ``L`` the streaming engine
(:func:`fiji_bridge.engine.stream_alignment`) aligns ``max(n_list)`` fresh noise images to the
reference embedded in an ``L x L`` canvas and snapshots the aligned average at every ``N`` of
``n_list`` in the same pass. Each average ``x̂_N`` is compared with the reference:

``cc``
    Pearson CC between ``x̂_N`` cropped to the reference's own pixels (the window where the
    reference sits in the canvas) and the reference: "does the average look like the
    reference?". On a 1x canvas this is the CC of the whole image.
``cc_canvas``
    Pearson CC over the whole canvas, against the zero-padded reference (what was aligned to).
    The padding, where the reference is flat, still holds noise in ``x̂_N``, so for a padded
    canvas this is lower than ``cc``.
``cc_unaligned``
    Control: CC (reference window) of the plain average of the same noise images (about 0).
``phase_mse``, ``phase_mse_top1``, ``phase_mse_top10``
    Mean squared wrapped Fourier-phase error (:func:`fiji_bridge.metrics.phase_mse`) of ``x̂_N``
    against the canvas reference, over all independent non-DC frequencies (``phase_mse``: the
    strongest 100 %), or over the strongest 1 % / 10 % of them ranked by the reference's Fourier
    magnitude (:func:`fiji_bridge.metrics.magnitude_rank_groups` of the canvas reference).

Theory (white Gaussian noise, Balanov, Huleihel & Bendory, "Einstein from Noise: Statistical
Analysis", arXiv:2407.05277): the Fourier phases of ``x̂_N`` converge to the reference's and the
phase MSE decays like ``1/N`` -- a slope of -1 on a log-log plot -- faster (a lower intercept)
for strong Fourier components. Weak components stay near the uniform-phase level
``π²/3 ≈ 3.29`` up to large ``N``, so the all-components slope fitted at practical ``N`` is much
flatter than -1 and says little about the asymptotic rate; the strongest-1 % slope is the one
to compare with theory (:func:`fit_slopes`).

Canvases (the power-spectrum experiment)
----------------------------------------
A canvas of side ``L >= max(H, W)``: the reference, normalised to mean 0 and standard deviation 1
over its own pixels, is zero-padded into an ``L x L`` canvas (placed at offset
``((L - H) // 2, (L - W) // 2)``) and the canvas is normalised again to mean 0, standard
deviation 1 (population, ``ddof=0``). The noise images then have the canvas size. A 1x canvas is
the reference itself. The issue's claim: the same reference zero-padded into a larger canvas
(flatter power spectrum) gives a higher CC with the reference (``cc``).

Seeds
-----
Trial ``t`` (0-based) uses the noise seed::

    trial_seed(seed, t) = int(numpy.random.SeedSequence(seed, spawn_key=(t,)).generate_state(1, numpy.uint32)[0])

i.e. the first 32-bit word of the ``t``-th child of ``numpy.random.SeedSequence(seed).spawn``:
fresh, independent noise per trial, reproducible from ``(seed, t)``. Within a trial every canvas
uses the same trial seed (the images differ anyway, since their sizes differ). The engine is
bit-reproducible, so the same arguments give an identical Dataset whatever the scheduler.
"""

from __future__ import annotations

import argparse
import csv
import math
import numbers
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fiji_bridge import metrics
from fiji_bridge.engine import stream_alignment
from fiji_bridge.scheduler import check_scheduler_spec

if TYPE_CHECKING:  # annotations only; imported lazily where used
    import xarray as xr

__all__ = [
    "DEFAULT_N_LIST",
    "DEFAULT_PAD",
    "DEFAULT_SIZE",
    "DEFAULT_TRIALS",
    "GROUPS",
    "STUDY_FILES",
    "UNIFORM_PHASE_MSE",
    "canvas_reference",
    "cc_figure",
    "configure_parser",
    "fit_slopes",
    "main",
    "parse_int_list",
    "parse_pad",
    "phase_figure",
    "run_study",
    "study_record",
    "summary_rows",
    "summary_text",
    "trial_seed",
    "write_csv",
]

# Defaults (measured on the 2-core development machine, bundled reference): 64 x 64 reference,
# canvases 64² and 128², N up to 30000 and 5 trials run in about 30 s (1.1 million 64²-equivalent
# images after ImageJ's 2 s start). The N list spans 2.5 decades because the strongest
# components only reach the 1/N regime from N ~ 300 (at N = 100 their local slope is about
# -0.75); over 100..30000 the strongest-1 % slope (1x canvas) is -1.01 ± 0.03 (mean ± sd over 8
# master seeds, 3 trials each), and 5 trials keep the trial-sd error bars meaningful.
#: Default numbers of averaged images (one engine pass per trial and canvas gives them all).
DEFAULT_N_LIST = (100, 300, 1000, 3000, 10000, 30000)
#: Default number of Monte Carlo trials.
DEFAULT_TRIALS = 5
#: Default reference side (pixels).
DEFAULT_SIZE = 64
#: Default canvases, as multiples of the reference side.
DEFAULT_PAD = "1x,2x"
#: Files written by ``einstein-from-noise study``.
STUDY_FILES = ("study.json", "study.csv", "study_cc.png", "study_phase.png")
#: Magnitude groups: (name, fraction of the reference's independent Fourier components, variable).
GROUPS = (
    ("top1", 0.01, "phase_mse_top1"),
    ("top10", 0.10, "phase_mse_top10"),
    ("all", 1.00, "phase_mse"),
)
_GROUP_LABELS = {"top1": "strongest 1 %", "top10": "strongest 10 %", "all": "all (100 %)"}
#: E[Δφ²] for a phase error uniform on (-π, π]: the level of a component with no information.
UNIFORM_PHASE_MSE = math.pi**2 / 3
_PROG = "einstein-from-noise study"


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _check_n_list(n_list: Any) -> np.ndarray:
    if _is_int(n_list):
        n_list = [n_list]
    try:
        items = list(n_list)
    except TypeError:
        raise ValueError(
            f"n_list must be a list of positive whole numbers, got {n_list!r}. "
            "Fix: e.g. --n-list 100,1000,10000."
        ) from None
    if not items:
        raise ValueError("The N list is empty. Fix: give at least one N, e.g. --n-list 100,1000,10000.")
    for n in items:
        if not _is_int(n):
            raise ValueError(
                f"N={n!r} in the N list is not a whole number. Fix: e.g. --n-list 100,1000,10000."
            )
        if n <= 0:
            raise ValueError(
                f"N={int(n)} in the N list must be >= 1 (number of averaged images). "
                "Fix: e.g. --n-list 100,1000,10000."
            )
    return np.unique(np.array([int(n) for n in items], dtype=np.int64))


def _check_trials(trials: Any) -> int:
    if not _is_int(trials) or trials < 1:
        raise ValueError(f"trials={trials!r} must be a whole number >= 1. Fix: e.g. --trials 3.")
    return int(trials)


def _check_seed(seed: Any) -> int:
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a whole number >= 0. Fix: e.g. --seed 2013.")
    return int(seed)


def _check_reference(reference_image: Any) -> np.ndarray:
    ref = np.asarray(getattr(reference_image, "values", reference_image))
    if ref.ndim != 2 or min(ref.shape) < 2:
        raise ValueError(
            f"The reference must be a 2-D image of at least 2 x 2 pixels, got shape {ref.shape}. "
            "Fix: pass one grey-level image."
        )
    if np.iscomplexobj(ref) or not np.issubdtype(ref.dtype, np.number):
        raise ValueError(f"The reference must be a real-valued image, got dtype {ref.dtype}.")
    ref = ref.astype(np.float64)
    if not np.all(np.isfinite(ref)):
        raise ValueError("The reference contains NaN or infinite values. Fix: crop or fill them.")
    if not np.std(ref) > 0:
        raise ValueError("The reference is constant; its correlation with noise is meaningless.")
    return ref


def _check_canvases(canvases: Any, shape: tuple[int, int]) -> np.ndarray:
    side = max(shape)
    if canvases is None:
        return np.array([side, 2 * side], dtype=np.int64)
    if _is_int(canvases):
        canvases = [canvases]
    try:
        items = list(canvases)
    except TypeError:
        raise ValueError(
            f"canvases must be a list of canvas sides in pixels, got {canvases!r}."
        ) from None
    if not items:
        raise ValueError(
            f"The canvas list is empty. Fix: give at least one canvas side, e.g. {side} (the "
            f"reference itself) or --pad 1x,2x."
        )
    for c in items:
        if not _is_int(c):
            raise ValueError(f"Canvas side {c!r} is not a whole number of pixels.")
        if c < side:
            raise ValueError(
                f"Canvas {int(c)} x {int(c)} is smaller than the {shape[0]} x {shape[1]} "
                f"reference; a canvas must hold the whole reference. Fix: use sides >= {side}, "
                f"or factors such as --pad 1x,2x."
            )
    return np.unique(np.array([int(c) for c in items], dtype=np.int64))


# --------------------------------------------------------------------------------------------
# the study
# --------------------------------------------------------------------------------------------
def trial_seed(seed: int, trial: int) -> int:
    """Noise seed of trial ``trial``: the first uint32 word of ``SeedSequence(seed).spawn(...)[trial]``."""
    seq = np.random.SeedSequence(_check_seed(seed), spawn_key=(int(trial),))
    return int(seq.generate_state(1, np.uint32)[0])


def canvas_reference(reference_image: Any, side: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The reference zero-padded into a ``side x side`` canvas, and its window in the canvas.

    The reference is normalised (mean 0, sd 1 over its pixels), placed at offset
    ``((side - H) // 2, (side - W) // 2)`` in a canvas of zeros, and the canvas is normalised
    again (mean 0, sd 1, ``ddof=0``). Returns ``(canvas float64, (row slice, column slice))``.
    """
    ref = _check_reference(reference_image)
    (side,) = _check_canvases([side], ref.shape)
    h, w = ref.shape
    r = (ref - ref.mean()) / ref.std()
    canvas = np.zeros((side, side), dtype=np.float64)
    y0, x0 = (side - h) // 2, (side - w) // 2
    window = (slice(y0, y0 + h), slice(x0, x0 + w))
    canvas[window] = r
    canvas = (canvas - canvas.mean()) / canvas.std()
    return canvas, window


def _progress_callback(progress: Any, total: int) -> tuple[Callable | None, Callable | None]:
    """Return ``(update(done_overall), close)``."""
    if progress is None or progress is False:
        return None, None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="study", unit="img", unit_scale=True, file=sys.stderr)

        def update(done: int) -> None:
            bar.update(done - bar.n)

        return update, bar.close
    if callable(progress):
        return (lambda done: progress(done, total)), None
    raise TypeError(
        "progress must be None, True (a tqdm bar on stderr) or a callable progress(done, total)"
    )


def run_study(
    reference_image: Any,
    *,
    n_list: Sequence[int] = DEFAULT_N_LIST,
    trials: int = DEFAULT_TRIALS,
    seed: int,
    canvases: Sequence[int] | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    progress: Any = None,
) -> xr.Dataset:
    """Monte Carlo study of the Einstein-from-noise estimator (see the module docstring).

    Parameters
    ----------
    reference_image : array_like (H, W)
        The reference (real, finite, not constant); normalised here, so a raw image is fine.
    n_list : sequence of int
        Numbers ``N >= 1`` of averaged images; sorted and made unique.
    trials : int
        Monte Carlo trials (>= 1), each with fresh noise (seed :func:`trial_seed`).
    seed : int
        Master seed (>= 0).
    canvases : sequence of int, optional
        Canvas sides in pixels, each ``>= max(H, W)``; default ``(max(H, W), 2 max(H, W))``.
    scheduler : None, "local", address or distributed.Client, optional
        Where the engine runs (:func:`fiji_bridge.engine.stream_alignment`); a "local" cluster or
        a connection is opened once for the whole study. Results are identical either way.
    workers : int, optional
        Threads, passed to the engine.
    progress : None, True or callable, optional
        ``True``: one tqdm bar on stderr over all trials and canvases; a callable gets
        ``progress(done_images, total_images)``.

    Returns
    -------
    xarray.Dataset
        Dims ``canvas`` (side, px), ``n``, ``trial``; variables ``cc``, ``cc_canvas``,
        ``cc_unaligned``, ``phase_mse`` (all components), ``phase_mse_top1``,
        ``phase_mse_top10`` (canvas, n, trial); coordinates ``pad_factor`` (canvas),
        ``trial_seed`` (trial), ``n_components_<group>`` (canvas).

    Raises
    ------
    ValueError
        Empty N list, an N <= 0, trials < 1, a canvas smaller than the reference, bad seed,
        reference or scheduler.
    """
    ref = _check_reference(reference_image)
    n_arr = _check_n_list(n_list)
    trials = _check_trials(trials)
    seed = _check_seed(seed)
    sides = _check_canvases(canvases, ref.shape)
    check_scheduler_spec(scheduler)

    n_max = int(n_arr[-1])
    seeds = [trial_seed(seed, t) for t in range(trials)]
    shape = (len(sides), len(n_arr), trials)
    names = ("cc", "cc_canvas", "cc_unaligned") + tuple(var for _, _, var in GROUPS)
    out = {name: np.full(shape, np.nan) for name in names}
    n_components = {g: np.zeros(len(sides), dtype=np.int64) for g, _, _ in GROUPS}

    prepared = []
    for i, side in enumerate(sides):
        canvas, window = canvas_reference(ref, int(side))
        groups = metrics.magnitude_rank_groups(canvas, [f for _, f, _ in GROUPS])
        for g, f, _ in GROUPS:
            n_components[g][i] = int(groups[f].sum())
        prepared.append((canvas, window, groups))

    total = trials * len(sides) * n_max
    update, close = _progress_callback(progress, total)
    client, closers, engine_scheduler = None, [], scheduler
    try:
        if isinstance(scheduler, str):
            # Open the cluster / connection once, not once per (trial, canvas) call.
            from fiji_bridge.scheduler import DEFAULT_CONNECT_TIMEOUT, open_dask

            client, closers, _ = open_dask(scheduler, DEFAULT_CONNECT_TIMEOUT)
            engine_scheduler = client
        done = 0
        for t, tseed in enumerate(seeds):
            for i, (canvas, window, groups) in enumerate(prepared):
                base = done
                callback = None if update is None else (lambda d, _tot, b=base: update(b + d))
                res = stream_alignment(
                    canvas.astype(np.float32), n_max, seed=tseed, counts=n_arr.tolist(),
                    workers=workers, scheduler=engine_scheduler, keep_examples=0,
                    keep_shifts=False, progress=callback)
                means = res.aligned_means
                ref_win = canvas[window]
                out["cc"][i, :, t] = metrics.pearson_cc(means[(slice(None),) + window], ref_win)
                out["cc_canvas"][i, :, t] = metrics.pearson_cc(means, canvas)
                out["cc_unaligned"][i, :, t] = metrics.pearson_cc(
                    res.unaligned_means[(slice(None),) + window], ref_win)
                for j in range(len(n_arr)):
                    for _, f, var in GROUPS:
                        out[var][i, j, t] = metrics.phase_mse(means[j], canvas, mask=groups[f])
                done = base + n_max
                if update is not None:
                    update(done)
    finally:
        for closer in closers:
            try:
                closer()
            except Exception:  # pragma: no cover - best-effort shutdown
                pass
        if close is not None:
            close()

    dims = ("canvas", "n", "trial")
    data_vars = {name: (dims, values) for name, values in out.items()}
    desc = {
        "cc": "Pearson CC of the aligned average with the reference, over the reference's pixels",
        "cc_canvas": "Pearson CC of the aligned average with the padded reference, whole canvas",
        "cc_unaligned": "control: CC of the unaligned average with the reference (its pixels)",
        "phase_mse": "mean squared Fourier-phase error, all independent non-DC components",
        "phase_mse_top1": "mean squared Fourier-phase error, strongest 1 % of the components",
        "phase_mse_top10": "mean squared Fourier-phase error, strongest 10 % of the components",
    }
    import xarray as xr  # here, not at import: the CLI imports this module for every command

    ds = xr.Dataset(
        data_vars,
        coords={
            "canvas": ("canvas", sides),
            "n": ("n", n_arr),
            "trial": ("trial", np.arange(trials, dtype=np.int64)),
            "pad_factor": ("canvas", sides / max(ref.shape)),
            "trial_seed": ("trial", np.array(seeds, dtype=np.int64)),
            **{f"n_components_{g}": ("canvas", v) for g, v in n_components.items()},
        },
        attrs={
            "seed": seed,
            "reference_shape": list(ref.shape),
            "group_names": [g for g, _, _ in GROUPS],
            "group_fractions": [f for _, f, _ in GROUPS],
            "seed_scheme": "trial_seed(t) = SeedSequence(seed, spawn_key=(t,))"
                           ".generate_state(1, uint32)[0]; same trial seed for every canvas",
            "canvas_scheme": "reference normalised, zero-padded (centred) into a side x side "
                             "canvas, canvas renormalised to mean 0 sd 1",
        },
    )
    for name, text in desc.items():
        ds[name].attrs["description"] = text
    return ds


# --------------------------------------------------------------------------------------------
# slopes
# --------------------------------------------------------------------------------------------
def _fit(n: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    keep = np.isfinite(y) & (y > 0)
    if np.unique(n[keep]).size < 2:
        return math.nan, math.nan
    return metrics.fit_loglog_slope(n[keep], y[keep])


def fit_slopes(ds: xr.Dataset) -> dict:
    """Log-log slope of phase MSE vs N for each canvas and magnitude group.

    The fit (:func:`fiji_bridge.metrics.fit_loglog_slope`, least squares on log10 values) is
    made on the trial mean ``phase MSE(N)`` over all N of the study; ``slope_sd`` is the
    standard deviation of the slopes fitted to each trial alone (NaN for one trial). NaN slopes
    when there are fewer than two N.

    Returns
    -------
    dict
        ``{canvas_side: {group: {"slope", "intercept", "slope_sd", "fraction", "n_components",
        "variable"}}}`` with groups ``"top1"``, ``"top10"``, ``"all"``; phase MSE
        ``≈ 10**intercept * N**slope``.
    """
    n = ds["n"].values.astype(np.float64)
    result: dict[int, dict[str, dict[str, Any]]] = {}
    for side in ds["canvas"].values:
        per_group = {}
        for g, f, var in GROUPS:
            values = ds[var].sel(canvas=side).transpose("n", "trial").values
            slope, intercept = _fit(n, values.mean(axis=1))
            trial_slopes = [_fit(n, values[:, t])[0] for t in range(values.shape[1])]
            slope_sd = float(np.std(trial_slopes, ddof=1)) if len(trial_slopes) > 1 else math.nan
            per_group[g] = {
                "slope": slope,
                "intercept": intercept,
                "slope_sd": slope_sd,
                "fraction": f,
                "n_components": int(ds[f"n_components_{g}"].sel(canvas=side)),
                "variable": var,
            }
        result[int(side)] = per_group
    return result


# --------------------------------------------------------------------------------------------
# tables and figures
# --------------------------------------------------------------------------------------------
_TABLE_VARS = ("cc", "cc_canvas", "cc_unaligned", "phase_mse", "phase_mse_top10", "phase_mse_top1")


def _mean_sd(ds: xr.Dataset, var: str) -> tuple[np.ndarray, np.ndarray]:
    values = ds[var].transpose("canvas", "n", "trial").values
    mean = values.mean(axis=2)
    if values.shape[2] > 1:
        sd = values.std(axis=2, ddof=1)
    else:
        sd = np.full(mean.shape, np.nan)
    return mean, sd


def summary_rows(ds: xr.Dataset, slopes: dict | None = None) -> list[dict[str, Any]]:
    """One row per (canvas, N): trial mean and sd of every metric, and the canvas's slopes."""
    slopes = fit_slopes(ds) if slopes is None else slopes
    stats = {var: _mean_sd(ds, var) for var in _TABLE_VARS}
    rows = []
    for i, side in enumerate(ds["canvas"].values):
        for j, n in enumerate(ds["n"].values):
            row: dict[str, Any] = {
                "canvas": int(side),
                "pad_factor": float(ds["pad_factor"].values[i]),
                "n": int(n),
                "trials": int(ds.sizes["trial"]),
            }
            for var in _TABLE_VARS:
                row[f"{var}_mean"] = float(stats[var][0][i, j])
                row[f"{var}_sd"] = float(stats[var][1][i, j])
            for g, _, _ in GROUPS:
                fit = slopes[int(side)][g]
                row[f"slope_{g}"] = fit["slope"]
                row[f"intercept_{g}"] = fit["intercept"]
            rows.append(row)
    return rows


def _plain(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write :func:`summary_rows` as CSV (an undefined value, e.g. sd of one trial, is empty)."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else
                                 (f"{v:.6g}" if isinstance(v, float) else v))
                             for k, v in row.items()})
    return path


def _new_figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _yerr(sd: np.ndarray) -> np.ndarray | None:
    return None if np.all(np.isnan(sd)) else np.nan_to_num(sd)


def cc_figure(ds: xr.Dataset):
    """CC vs N (log x), one line per canvas with trial-sd error bars; a matplotlib Figure.

    Solid: ``cc`` (reference's pixels); dashed: ``cc_canvas`` for padded canvases; grey dotted:
    the unaligned control on the first canvas.
    """
    fig = _new_figure((6.4, 4.4))
    ax = fig.add_subplot()
    n = ds["n"].values
    cc, cc_sd = _mean_sd(ds, "cc")
    cv, cv_sd = _mean_sd(ds, "cc_canvas")
    cu, cu_sd = _mean_sd(ds, "cc_unaligned")
    ref_side = max(ds.attrs.get("reference_shape", [int(ds["canvas"].values[0])]))
    for i, side in enumerate(ds["canvas"].values):
        factor = float(ds["pad_factor"].values[i])
        line = ax.errorbar(n, cc[i], yerr=_yerr(cc_sd[i]), marker="o", capsize=3,
                           label=f"canvas {side}² ({factor:g}× reference)")
        if int(side) != int(ref_side):
            ax.errorbar(n, cv[i], yerr=_yerr(cv_sd[i]), marker=".", capsize=2, linestyle="--",
                        color=line[0].get_color(), alpha=0.7,
                        label=f"canvas {side}²: CC over the whole canvas")
    ax.errorbar(n, cu[0], yerr=_yerr(cu_sd[0]), color="0.5", linestyle=":", marker="x",
                capsize=2, label="unaligned average (control)")
    ax.set_xscale("log")
    ax.set_xlabel("N (noise images averaged)")
    ax.set_ylabel("Pearson CC with the reference")
    ax.set_title(f"Einstein from noise: CC vs N ({ds.sizes['trial']} trials, mean ± sd)")
    ax.axhline(0, color="0.8", linewidth=0.8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def phase_figure(ds: xr.Dataset, slopes: dict | None = None):
    """Phase MSE vs N, log-log, one panel per canvas, one line per magnitude group.

    Fitted power laws (dotted, slope in the legend), a dashed line of slope -1 (theory) through
    the strongest group's mid point, and the uniform-phase level π²/3.
    """
    slopes = fit_slopes(ds) if slopes is None else slopes
    sides = ds["canvas"].values
    fig = _new_figure((5.2 * len(sides), 4.6))
    axes = fig.subplots(1, len(sides), squeeze=False)[0]
    n = ds["n"].values.astype(np.float64)
    for i, (ax, side) in enumerate(zip(axes, sides)):
        for g, _, var in GROUPS:
            mean, sd = _mean_sd(ds, var)
            m, s = mean[i], sd[i]
            fit = slopes[int(side)][g]
            label = f"{_GROUP_LABELS[g]} ({fit['n_components']} comp.)"
            if math.isfinite(fit["slope"]):
                label += f": slope {fit['slope']:.2f}"
            yerr = None
            if not np.all(np.isnan(s)):
                s = np.nan_to_num(s)
                yerr = np.vstack([np.minimum(s, 0.9 * m), s])  # keep the bars on a log axis
            line = ax.errorbar(n, m, yerr=yerr, marker="o", capsize=3, label=label)
            if math.isfinite(fit["slope"]):
                ax.plot(n, 10 ** fit["intercept"] * n ** fit["slope"], linestyle=":",
                        color=line[0].get_color())
        top_mean = _mean_sd(ds, GROUPS[0][2])[0][i]
        if np.all(top_mean > 0) and len(n) > 1:
            n0 = math.sqrt(n[0] * n[-1])
            y0 = math.exp(np.interp(math.log(n0), np.log(n), np.log(top_mean)))
            ax.plot(n, y0 * n0 / n, "k--", linewidth=1, label="slope -1 (theory, 1/N)")
        ax.axhline(UNIFORM_PHASE_MSE, color="0.4", linestyle="-.", linewidth=1,
                   label="uniform phase π²/3")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N (noise images averaged)")
        ax.set_ylabel("Fourier-phase MSE (rad²)")
        ax.set_title(f"canvas {side}² ({float(ds['pad_factor'].values[i]):g}× reference)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Phase MSE vs N per magnitude group (trial mean ± sd)")
    return fig


def study_record(ds: xr.Dataset, slopes: dict | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON record: parameters, slopes, the summary table and every trial value."""
    slopes = fit_slopes(ds) if slopes is None else slopes
    raw = {var: ds[var].transpose("canvas", "n", "trial").values for var in ds.data_vars}
    record = {
        **extra,
        "seed": ds.attrs["seed"],
        "seed_scheme": ds.attrs["seed_scheme"],
        "canvas_scheme": ds.attrs["canvas_scheme"],
        "reference_shape": ds.attrs["reference_shape"],
        "n_list": ds["n"].values,
        "trials": int(ds.sizes["trial"]),
        "trial_seeds": ds["trial_seed"].values,
        "canvases": ds["canvas"].values,
        "pad_factors": ds["pad_factor"].values,
        "groups": {g: {"fraction": f, "variable": v} for g, f, v in GROUPS},
        "theory": {
            "phase_mse_slope": -1.0,
            "uniform_phase_mse": UNIFORM_PHASE_MSE,
            "source": "Balanov, Huleihel & Bendory, Einstein from Noise: Statistical Analysis, "
                      "arXiv:2407.05277 (white Gaussian noise: phase MSE ~ 1/N)",
            "note": "weak components stay near pi^2/3 at practical N, so the all-components "
                    "slope is much flatter than -1; compare the strongest-1 % slope",
        },
        "slopes": slopes,
        "table": summary_rows(ds, slopes),
        "values": {"dims": ["canvas", "n", "trial"], **raw},
        "descriptions": {var: ds[var].attrs.get("description", "") for var in ds.data_vars},
    }
    return _plain(record)


def summary_text(ds: xr.Dataset, slopes: dict | None = None, *, header: str = "") -> str:
    """A one-screen summary: table per canvas and N, slopes, and what they mean."""
    slopes = fit_slopes(ds) if slopes is None else slopes
    stats = {var: _mean_sd(ds, var) for var in _TABLE_VARS}
    lines = [header] if header else []
    lines.append("canvas      N   CC (ref pixels)   CC canvas  CC unal.   phase MSE: all"
                 "    top 10 %     top 1 %")
    for i, side in enumerate(ds["canvas"].values):
        for j, n in enumerate(ds["n"].values):
            def ms(var: str) -> str:
                return f"{stats[var][0][i, j]:.3f}"

            cc_m, cc_s = stats["cc"][0][i, j], stats["cc"][1][i, j]
            cc_txt = f"{cc_m:.3f}" + ("" if np.isnan(cc_s) else f" ± {cc_s:.3f}")
            lines.append(
                f"{int(side):>6} {int(n):>6}   {cc_txt:<15}   {ms('cc_canvas'):>9}  "
                f"{ms('cc_unaligned'):>8}   {stats['phase_mse'][0][i, j]:>14.3g}"
                f"  {stats['phase_mse_top10'][0][i, j]:>10.3g}  {stats['phase_mse_top1'][0][i, j]:>10.3g}")
    lines.append("")
    lines.append("log-log slope of phase MSE vs N (trial mean; ± sd of per-trial fits); "
                 "theory for white Gaussian noise: -1")
    for side, groups in slopes.items():
        parts = []
        for g, _, _ in GROUPS:
            fit = groups[g]
            sd = "" if not math.isfinite(fit["slope_sd"]) else f" ± {fit['slope_sd']:.2f}"
            parts.append(f"{_GROUP_LABELS[g]}: {fit['slope']:.2f}{sd}")
        lines.append(f"  canvas {side:>4}:  " + ";  ".join(parts))
    first = next(iter(slopes.values()))
    if not math.isfinite(first["top1"]["slope"]):
        lines.append("No slopes: they need at least two values of N (--n-list).")
    else:
        lines.append(
            f"Strongest 1 % of Fourier components: slope {first['top1']['slope']:.2f} "
            f"(theory -1, Balanov, Huleihel & Bendory, arXiv:2407.05277). The all-components "
            f"slope ({first['all']['slope']:.2f}) is misleading: weak components stay near the "
            f"uniform-phase level pi^2/3 = {UNIFORM_PHASE_MSE:.2f} at these N.")
    if ds.sizes["canvas"] > 1:
        cc = stats["cc"][0][:, -1]
        sides = ds["canvas"].values
        verdict = "raises" if np.all(np.diff(cc) > 0) else "does not raise"
        lines.append(
            f"Padding the reference into larger canvases {verdict} the CC with the reference at "
            f"N={int(ds['n'].values[-1])}: " + ", ".join(
                f"{int(s)}² {c:.3f}" for s, c in zip(sides, cc))
            + " (CC over the whole canvas: " + ", ".join(
                f"{c:.3f}" for c in stats["cc_canvas"][0][:, -1]) + ").")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``study`` options to ``parser`` (an argparse sub-parser)."""
    parser.description = (
        "Monte Carlo study of the Einstein-from-noise bias: CC with the reference and "
        "Fourier-phase MSE (per magnitude group) versus N over several trials, and the effect of "
        "zero-padding the reference into larger canvases. Writes study.json, study.csv, "
        "study_cc.png, study_phase.png.")
    parser.add_argument("--reference", metavar="PATH", default=None,
                        help="image file ImageJ opens (default: bundled public-domain portrait)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help=f"reference side in pixels (>= 8; default {DEFAULT_SIZE})")
    parser.add_argument("--n-list", default=",".join(map(str, DEFAULT_N_LIST)),
                        help="comma-separated numbers of averaged images N (default "
                             f"{','.join(map(str, DEFAULT_N_LIST))})")
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS,
                        help=f"Monte Carlo trials, fresh noise each (default {DEFAULT_TRIALS})")
    parser.add_argument("--pad", default=DEFAULT_PAD,
                        help="comma-separated canvas sizes for the power-spectrum experiment: "
                             "'2x' = twice the reference side, a plain number = side in pixels "
                             f"(default {DEFAULT_PAD})")
    parser.add_argument("--seed", type=int, default=None,
                        help="master seed; trial t uses SeedSequence(seed).spawn child t "
                             "(default 2013)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler for the engine: 'local' or an address "
                             "tcp://host:8786 (default: in-process threads)")
    parser.add_argument("--out", default="study", help="output directory (default study/)")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    from fiji_bridge.cli import _add_imagej_options  # lazy: cli imports this module

    _add_imagej_options(parser)
    return parser


def parse_int_list(text: str, option: str, *, example: str = "100,1000,10000") -> list[int]:
    """``"100,300,1000"`` -> ``[100, 300, 1000]`` (ValueError naming ``option`` otherwise)."""
    try:
        return [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"{option} {text!r} is not a comma-separated list of whole numbers. "
            f"Fix: e.g. {option} {example}."
        ) from None


def parse_pad(text: str, size: int) -> list[int]:
    """Canvas sides from ``--pad``: ``"1x,2x"`` (multiples of ``size``) or pixel sides."""
    sides = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if not part:
            continue
        try:
            if part.endswith("x"):
                factor = float(part[:-1])
                if not factor > 0:
                    raise ValueError
                side = factor * size
                if abs(side - round(side)) > 1e-9:
                    raise ValueError(
                        f"--pad {part}: {factor:g} x {size} is not a whole number of pixels. "
                        "Fix: use a factor that gives whole pixels, or a side in pixels.")
                sides.append(int(round(side)))
            else:
                sides.append(int(part))
        except ValueError as exc:
            if str(exc).startswith("--pad"):
                raise
            raise ValueError(
                f"--pad {text!r}: {part!r} is neither a factor like 2x nor a side in pixels. "
                "Fix: e.g. --pad 1x,2x or --pad 64,128.") from None
    if not sides:
        raise ValueError("--pad is empty. Fix: e.g. --pad 1x,2x.")
    return sides


def main(args: argparse.Namespace) -> int:
    """Run ``einstein-from-noise study`` with parsed ``args``; return the exit status.

    Bad input or an unusable machine: one line on stderr, status 2, nothing written.
    """
    from fiji_bridge import imagej, io
    from fiji_bridge.engine import SchedulerConnectionError

    try:
        return _main(args)
    except (ValueError, FileNotFoundError, imagej.ImageJError, io.OutputError,
            SchedulerConnectionError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted; nothing was written.", file=sys.stderr)
        return 130


def _main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fiji_bridge import imagej, io
    from fiji_bridge.experiment import DEFAULT_SEED
    from fiji_bridge.reference import MIN_SIZE, prepare_reference

    started = time.perf_counter()
    size = args.size
    if size < MIN_SIZE:
        raise ValueError(f"--size {size} is too small: the reference side must be >= {MIN_SIZE}.")
    n_list = _check_n_list(parse_int_list(args.n_list, "--n-list"))
    trials = _check_trials(args.trials)
    seed = _check_seed(DEFAULT_SEED if args.seed is None else args.seed)
    canvases = _check_canvases(parse_pad(args.pad, size), (size, size))
    check_scheduler_spec(args.scheduler)
    output = io.output_directory(args.out, STUDY_FILES, force=args.force)  # checked before work

    imagej.start(getattr(args, "imagej", None), display=getattr(args, "display", "auto"))
    ref = prepare_reference(args.reference, size=size)
    total = trials * len(canvases) * int(n_list[-1])
    with tqdm(total=total, desc="study", unit="img", unit_scale=True, file=sys.stderr,
              disable=None) as bar:
        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        t0 = time.perf_counter()
        ds = run_study(ref.image, n_list=n_list.tolist(), trials=trials, seed=seed,
                       canvases=canvases.tolist(), scheduler=args.scheduler, progress=progress)
        study_s = time.perf_counter() - t0
    slopes = fit_slopes(ds)
    from fiji_bridge import __version__

    record = study_record(
        ds, slopes,
        fiji_bridge_version=__version__,
        reference=ref.name,
        reference_size=size,
        pad=args.pad,
        scheduler=args.scheduler or "in-process",
        study_s=round(study_s, 3),
        total_s=round(time.perf_counter() - started, 3),
    )
    with output as directory:
        io.write_json(directory / "study.json", record)
        write_csv(directory / "study.csv", summary_rows(ds, slopes))
        cc_figure(ds).savefig(directory / "study_cc.png", dpi=120)
        phase_figure(ds, slopes).savefig(directory / "study_phase.png", dpi=120)
    header = (f"Einstein-from-noise study: reference {ref.name} ({size}x{size}), canvases "
              f"{', '.join(str(int(c)) for c in canvases)}, {trials} trial(s) per N, seed {seed}; "
              f"{study_s:.1f} s")
    print(summary_text(ds, slopes, header=header))
    print(f"wrote {output.out}/ ({', '.join(STUDY_FILES)})")
    return 0
