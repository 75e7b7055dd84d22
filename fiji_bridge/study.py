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
the reference itself. Padding raises ``cc`` (the reference's window), but not because it
flattens the power spectrum: the spectral flatness is unchanged (0.0330 unpadded, 0.0328 in a
2x canvas at 64²). The cause is the number of candidate shifts: a 2x canvas offers 4x as many,
so the correlation maximum is higher (extreme-value statistics), each aligned image carries
more of the template, and both the limit CC∞ and the rate rise. Restricting the padded search
to as many shifts as the unpadded box brings CC∞ back to the unpadded value
(``bench/padding_cause.py``; README "Reading the numbers").

Seeds
-----
Trial ``t`` (0-based) uses the noise seed::

    trial_seed(seed, t) = int(numpy.random.SeedSequence(seed, spawn_key=(t,)).generate_state(1, numpy.uint32)[0])

i.e. the first 32-bit word of the ``t``-th child of ``numpy.random.SeedSequence(seed).spawn``:
fresh, independent noise per trial, reproducible from ``(seed, t)``. The first canvas of a trial
uses ``trial_seed(seed, t)``; canvas ``i >= 1`` uses its own stream
``canvas_seed(seed, t, i)`` (spawn key ``(t, i)``), so the canvases of a trial are independent
too (with one seed, a 2x canvas would draw the 1x canvas's numbers as its first rows). The
engine is bit-reproducible, so the same arguments give an identical Dataset whatever the
scheduler.

Uncertainties
-------------
Every ``±`` is a standard error over the independent trials (``sd / sqrt(trials)``); a slope's
is the delete-one jackknife over trials (:func:`fiji_bridge.uncertainty.loglog_slope`), since
the N of one trial are nested prefixes of one stream and their errors are correlated.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fiji_bridge import checks, metrics, uncertainty
from fiji_bridge.scheduler import check_scheduler_spec
from fiji_bridge.study_runner import StudyRunner

if TYPE_CHECKING:  # annotations only; imported lazily where used
    import xarray as xr

__all__ = [
    "DEFAULT_N_LIST",
    "DEFAULT_PAD",
    "DEFAULT_SIZE",
    "DEFAULT_TRIALS",
    "GROUPS",
    "GROUP_LABELS",
    "TABLE_VARIABLES",
    "UNIFORM_PHASE_MSE",
    "canvas_reference",
    "canvas_seed",
    "check_canvases",
    "fit_slopes",
    "mean_sd",
    "mean_se",
    "run_study",
    "summary_text",
    "trial_seed",
]

# Defaults (measured on the 2-core development machine, bundled reference): 64 x 64 reference,
# canvases 64² and 128², N up to 30000 and 5 trials run in about 30 s (1.1 million 64²-equivalent
# images after ImageJ's 2 s start). The N list spans 2.5 decades because the strongest
# components only reach the 1/N regime from N ~ 300 (at N = 100 their local slope is about
# -0.75); over 100..30000 the strongest-1 % slope (1x canvas) is -1.01 ± 0.03 (mean ± sd over 8
# master seeds, 3 trials each), error bars are standard errors over trials.
#: Default numbers of averaged images (one engine pass per trial and canvas gives them all).
DEFAULT_N_LIST = (100, 300, 1000, 3000, 10000, 30000)
#: Default number of Monte Carlo trials.
DEFAULT_TRIALS = 5
#: Default reference side (pixels).
DEFAULT_SIZE = 64
#: Default canvases, as multiples of the reference side.
DEFAULT_PAD = "1x,2x"
#: Magnitude groups: (name, fraction of the reference's independent Fourier components, variable).
GROUPS = (
    ("top1", 0.01, "phase_mse_top1"),
    ("top10", 0.10, "phase_mse_top10"),
    ("all", 1.00, "phase_mse"),
)
#: How the figures and the summary name each magnitude group.
GROUP_LABELS = {"top1": "strongest 1 %", "top10": "strongest 10 %", "all": "all (100 %)"}
#: E[Δφ²] for a phase error uniform on (-π, π]: the level of a component with no information.
UNIFORM_PHASE_MSE = math.pi**2 / 3


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _check_reference(reference_image: Any) -> np.ndarray:
    ref = checks.real_array(getattr(reference_image, "values", reference_image),
                            "reference_image", ndim=2)
    if min(ref.shape) < 2:
        raise ValueError(
            f"The reference must be a 2-D image of at least 2 x 2 pixels, got shape {ref.shape}. "
            "Fix: pass one grey-level image."
        )
    ref = ref.astype(np.float64)
    if not np.all(np.isfinite(ref)):
        raise ValueError("The reference contains NaN or infinite values. Fix: crop or fill them.")
    if not np.std(ref) > 0:
        raise ValueError("The reference is constant; its correlation with noise is meaningless. "
                         "Fix: pass an image with some contrast.")
    return ref


def check_canvases(canvases: Any, shape: tuple[int, int]) -> np.ndarray:
    """Canvas sides in pixels, each an integer >= ``max(shape)``: sorted, unique, int64.

    None gives the default ``(max(shape), 2 max(shape))``.

    Raises
    ------
    TypeError
        A side is not an integer.
    ValueError
        No side, or a side smaller than the reference.
    """
    side = max(shape)
    if canvases is None:
        return np.array([side, 2 * side], dtype=np.int64)
    items = [canvases] if checks.is_int(canvases) else list(canvases)
    if not items:
        raise ValueError(
            f"The canvas list is empty. Fix: give at least one canvas side, e.g. {side} (the "
            f"reference itself) or --pad 1x,2x."
        )
    fix = (f"a canvas must hold the whole {shape[0]} x {shape[1]} reference: use sides >= "
           f"{side}, or factors such as --pad 1x,2x")
    sides = [checks.integer(c, "canvas side", minimum=side, fix=fix) for c in items]
    return np.unique(np.array(sides, dtype=np.int64))


# --------------------------------------------------------------------------------------------
# the study
# --------------------------------------------------------------------------------------------
def trial_seed(seed: int, trial: int) -> int:
    """Noise seed of trial ``trial``: the first uint32 word of ``SeedSequence(seed).spawn(...)[trial]``."""
    seq = np.random.SeedSequence(checks.seed(seed), spawn_key=(int(trial),))
    return int(seq.generate_state(1, np.uint32)[0])


def canvas_seed(seed: int, trial: int, canvas: int) -> int:
    """Noise seed of canvas number ``canvas`` (0-based) in trial ``trial``.

    ``trial_seed(seed, trial)`` for the first canvas; for the others the first uint32 word of
    ``SeedSequence(seed, spawn_key=(trial, canvas))``: an independent stream per canvas.
    """
    if int(canvas) == 0:
        return trial_seed(seed, trial)
    seq = np.random.SeedSequence(checks.seed(seed), spawn_key=(int(trial), int(canvas)))
    return int(seq.generate_state(1, np.uint32)[0])


def canvas_reference(reference_image: Any, side: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The reference zero-padded into a ``side x side`` canvas, and its window in the canvas.

    The reference is normalised (mean 0, sd 1 over its pixels), placed at offset
    ``((side - H) // 2, (side - W) // 2)`` in a canvas of zeros, and the canvas is normalised
    again (mean 0, sd 1, ``ddof=0``). Returns ``(canvas float64, (row slice, column slice))``.
    """
    ref = _check_reference(reference_image)
    (side,) = check_canvases([side], ref.shape)
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
        f"progress must be None, True or a callable, got {type(progress).__name__}. Fix: pass "
        "True (a tqdm bar on stderr) or a callable progress(done, total)."
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
    max_shift: int | None = None,
    mask_radius: float | None = None,
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
    max_shift, mask_radius : optional
        The user's search space (issue 12), on every canvas: peaks searched only over shifts
        with ``|dy|, |dx| <= max_shift``, and a soft circular mask of radius ``mask_radius``
        centred in the canvas multiplied into the images and the canvas reference before
        correlating (:mod:`fiji_bridge.search_space`). The streaming engine searches the whole
        box, so with a search space the same noise images are aligned in memory, block by block
        (:class:`fiji_bridge.study_runner.StudyRunner`). Default None: the whole box, no mask
        (the engine, unchanged). Recorded in ``attrs["search_space"]``.

    Returns
    -------
    xarray.Dataset
        Dims ``canvas`` (side, px), ``n``, ``trial``; variables ``cc``, ``cc_canvas``,
        ``cc_unaligned``, ``phase_mse`` (all components), ``phase_mse_top1``,
        ``phase_mse_top10`` (canvas, n, trial); coordinates ``pad_factor`` (canvas),
        ``trial_seed`` (trial), ``n_components_<group>`` (canvas).

    Raises
    ------
    TypeError
        A non-integer N, trials, seed or canvas side; a non-real reference.
    ValueError
        Empty N list, an N <= 0, trials < 1, a canvas smaller than the reference, a negative
        seed, a constant or non-finite reference, a bad scheduler.
    """
    ref = _check_reference(reference_image)
    n_arr = np.array(checks.counts(n_list, name="n_list"), dtype=np.int64)
    trials = checks.integer(trials, "trials", minimum=1, fix="e.g. --trials 3")
    seed = checks.seed(seed)
    sides = check_canvases(canvases, ref.shape)
    check_scheduler_spec(scheduler)
    max_shift, mask_radius = checks.max_shift(max_shift), checks.mask_radius(mask_radius)

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
    # one runner (and one Dask cluster or connection) for every (trial, canvas) pass
    runner = StudyRunner(scheduler, workers, None if update is None else
                         (lambda done, _total: update(done)), total, max_shift=max_shift,
                         mask_radius=mask_radius)
    try:
        with runner:
            for t in range(trials):
                for i, (canvas, window, groups) in enumerate(prepared):
                    means, unaligned = runner.means(canvas, n_arr, canvas_seed(seed, t, i))
                    ref_win = canvas[window]
                    out["cc"][i, :, t] = metrics.pearson_cc(means[(slice(None),) + window],
                                                            ref_win)
                    out["cc_canvas"][i, :, t] = metrics.pearson_cc(means, canvas)
                    out["cc_unaligned"][i, :, t] = metrics.pearson_cc(
                        unaligned[(slice(None),) + window], ref_win)
                    for j in range(len(n_arr)):
                        for _, f, var in GROUPS:
                            out[var][i, j, t] = metrics.phase_mse(means[j], canvas,
                                                                  mask=groups[f])
                    if update is not None:
                        update(runner.done)
    finally:
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
            "canvas_seed": (("canvas", "trial"), np.array(
                [[canvas_seed(seed, t, i) for t in range(trials)] for i in range(len(sides))],
                dtype=np.int64)),
            **{f"n_components_{g}": ("canvas", v) for g, v in n_components.items()},
        },
        attrs={
            "seed": seed,
            "reference_shape": list(ref.shape),
            "group_names": [g for g, _, _ in GROUPS],
            "group_fractions": [f for _, f, _ in GROUPS],
            "seed_scheme": "trial_seed(t) = SeedSequence(seed, spawn_key=(t,))"
                           ".generate_state(1, uint32)[0] for the first canvas; canvas i >= 1: "
                           "SeedSequence(seed, spawn_key=(t, i)), independent streams",
            "canvas_scheme": "reference normalised, zero-padded (centred) into a side x side "
                             "canvas, canvas renormalised to mean 0 sd 1",
            "search_space": runner.search_space,
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
    standard deviation of the slopes fitted to each trial alone (NaN for one trial);
    ``slope_se``, ``ci_low``, ``ci_high`` are the jackknife standard error over trials and the
    95 % interval (:func:`fiji_bridge.uncertainty.loglog_slope`). NaN slopes when there are
    fewer than two N.

    Returns
    -------
    dict
        ``{canvas_side: {group: {"slope", "intercept", "slope_sd", "slope_se", "ci_low",
        "ci_high", "fraction", "n_components", "variable"}}}`` with groups ``"top1"``, ``"top10"``, ``"all"``; phase MSE
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
            jk = uncertainty.loglog_slope(n, values.T) if math.isfinite(slope) else {
                "se": math.nan, "ci_low": math.nan, "ci_high": math.nan}
            per_group[g] = {
                "slope": slope,
                "intercept": intercept,
                "slope_sd": slope_sd,
                "slope_se": jk["se"],
                "ci_low": jk["ci_low"],
                "ci_high": jk["ci_high"],
                "fraction": f,
                "n_components": int(ds[f"n_components_{g}"].sel(canvas=side)),
                "variable": var,
            }
        result[int(side)] = per_group
    return result


# --------------------------------------------------------------------------------------------
# trial statistics (the tables of io and the figures of figures use them)
# --------------------------------------------------------------------------------------------
#: The metrics of the summary table, in its column order.
TABLE_VARIABLES = ("cc", "cc_canvas", "cc_unaligned", "phase_mse", "phase_mse_top10",
                   "phase_mse_top1")


def mean_sd(ds: xr.Dataset, var: str) -> tuple[np.ndarray, np.ndarray]:
    """Trial mean and sample sd (``ddof=1``; NaN for one trial) of ``var``, shape (canvas, n)."""
    values = ds[var].transpose("canvas", "n", "trial").values
    mean = values.mean(axis=2)
    if values.shape[2] > 1:
        sd = values.std(axis=2, ddof=1)
    else:
        sd = np.full(mean.shape, np.nan)
    return mean, sd


def mean_se(ds: xr.Dataset, var: str) -> tuple[np.ndarray, np.ndarray]:
    """Trial mean and standard error ``sd / sqrt(trials)`` (NaN for one trial), (canvas, n)."""
    mean, sd = mean_sd(ds, var)
    return mean, sd / math.sqrt(ds.sizes["trial"])


def summary_text(ds: xr.Dataset, slopes: dict | None = None, *, header: str = "") -> str:
    """A one-screen summary: table per canvas and N, slopes, and what they mean."""
    slopes = fit_slopes(ds) if slopes is None else slopes
    stats = {var: mean_se(ds, var) for var in TABLE_VARIABLES}
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
    lines.append("(± = standard error over trials.) log-log slope of phase MSE vs N (trial "
                 "mean; ± jackknife standard error over trials); theory for white noise: -1")
    for side, groups in slopes.items():
        parts = []
        for g, _, _ in GROUPS:
            fit = groups[g]
            sd = "" if not math.isfinite(fit["slope_se"]) else f" ± {fit['slope_se']:.2f}"
            parts.append(f"{GROUP_LABELS[g]}: {fit['slope']:.2f}{sd}")
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
                f"{c:.3f}" for c in stats["cc_canvas"][0][:, -1]) + "). Not a flatter spectrum "
              "(padding leaves the spectral flatness unchanged): a larger canvas offers more "
              "candidate shifts, so the correlation maximum is higher (bench/padding_cause.py).")
    return "\n".join(lines)
