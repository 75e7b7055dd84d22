"""Matplotlib figures: one "Einstein from noise" run, and the Monte Carlo study (numpy + matplotlib).

:func:`experiment_figure` shows a run; :func:`study_cc_figure` and :func:`study_phase_figure`
show a study (:func:`fiji_bridge.study.run_study`). Files are written by
:func:`fiji_bridge.io.save_figure`.

The figure is built on a bare :class:`matplotlib.figure.Figure` with a
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` canvas: no ``pyplot``, no global
backend switch, nothing registered with a figure manager. It therefore works headless (CI, no
display), inside notebooks (display the returned figure, or ``fig.savefig(...)``) and in
long-running processes (the figure is garbage-collected like any object; nothing to close).
Importing this module has no side effects.

Layout of :func:`experiment_figure` (one row per item; rows whose data are absent are skipped)::

    row 1  reference (title: its name and size) | CC-vs-N plot | parameter box (N, size, seed,
           engine, ImageJ version; with particles, their CC beside pure noise's)
    row 2  the first ``n_examples`` pure-noise images (or particles)   (``noise_examples``)
    row 3  their cross-correlation maps with the reference, peak marked (``correlation_maps``)
    row 4  the same images cyclically shifted into alignment            (``aligned_examples``)
    row 5  the aligned average at each count, "N=<n>  CC=<cc>"          (``averages``, ``cc``)
    row 6  the unaligned control average at each count                  (``unaligned_averages``)

Contrast (display range) of each panel
--------------------------------------
* reference: its own min..max;
* correlation maps: their own min..max (as ImageJ shows a 32-bit image);
* noise examples, aligned examples, aligned averages and unaligned averages: **each image gets
  its own symmetric window** ``mean ± CONTRAST_SIGMAS · std`` of that image (``CONTRAST_SIGMAS``
  = 2.5; NaNs ignored; a constant image gets ``mean ± 1``). Averages of many noise images have a
  tiny standard deviation (about ``1/sqrt(N)``), so a shared window would show them as flat grey;
  the per-image window makes the faint structure of the aligned averages visible, and shows the
  unaligned control for what it is: noise. Grey levels are therefore **not** comparable between
  panels; the CC values in the titles are.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

import numpy as np

from fiji_bridge import checks
from fiji_bridge.study import GROUP_LABELS, GROUPS, UNIFORM_PHASE_MSE, fit_slopes, mean_se

if TYPE_CHECKING:  # annotations only
    import xarray as xr

__all__ = ["CONTRAST_SIGMAS", "experiment_figure", "study_cc_figure", "study_phase_figure"]

#: Half-width, in standard deviations of the image itself, of the symmetric display window of the
#: noise images and averages (see the module docstring).
CONTRAST_SIGMAS = 2.5

_REQUIRED = {
    "reference": "the normalised reference image, dims (y, x)",
    "averages": "the aligned averages, dims (count, y, x) with a 'count' coordinate",
    "cc": "the Pearson CC of each average with the reference, dim (count)",
}
_EXAMPLE_ROWS = (
    ("noise_examples", "noise", "pure-noise\nexamples"),
    ("correlation_maps", "correlation", "cross-correlation\nwith reference"),
    ("aligned_examples", "aligned", "aligned\nexamples"),
)

_COL_W = 2.1  # inches per image column
_ROW_H = 2.05  # inches per row
_MIN_W = 7.6  # inches: room for the suptitle and the first row
_SUPTITLE_H = 0.75  # inches
_TITLE_SIZE = 9
_LABEL_SIZE = 9
_INFO_SIZE = 9


# --------------------------------------------------------------------------------------------
# validation and helpers
# --------------------------------------------------------------------------------------------
def _validate(result) -> None:
    checks.dataset(result, "experiment_figure")
    for name, what in _REQUIRED.items():
        if name not in result.data_vars:
            raise ValueError(
                f"experiment_figure: the result has no variable {name!r} ({what}); it has "
                f"{sorted(map(str, result.data_vars))}. Fix: pass the Dataset returned by "
                f"fiji_bridge.experiment.einstein_from_noise, or add {name!r} to it."
            )
    ref, avg, cc = result["reference"], result["averages"], result["cc"]
    if ref.ndim != 2:
        raise ValueError(
            f"experiment_figure: 'reference' must be one 2-D image (y, x); it has dims "
            f"{ref.dims}. Fix: keep one image as the reference."
        )
    if avg.ndim != 3 or "count" not in avg.dims:
        raise ValueError(
            f"experiment_figure: 'averages' must have dims (count, y, x); it has {avg.dims}. "
            f"Fix: name the stack dimension 'count'."
        )
    if "count" not in result.coords:
        raise ValueError(
            "experiment_figure: 'averages' has no 'count' coordinate (the number of images in "
            "each average, used in the titles). Fix: result.assign_coords(count=[25, 100, ...])."
        )
    n_counts = avg.sizes["count"]
    if n_counts < 1:
        raise ValueError("experiment_figure: 'averages' is empty (count has length 0). "
                         "Fix: average at least one count.")
    img_shape = tuple(s for d, s in avg.sizes.items() if d != "count")
    if img_shape != ref.shape:
        raise ValueError(
            f"experiment_figure: the averages have images of shape {img_shape} but the reference "
            f"has shape {ref.shape}. Fix: pass averages of the reference's shape."
        )
    if cc.dims != ("count",) or cc.sizes["count"] != n_counts:
        raise ValueError(
            f"experiment_figure: 'cc' must have the single dim 'count' of length {n_counts} (one "
            f"value per average); it has dims {cc.dims} and shape {cc.shape}. Fix: one CC "
            "per average."
        )
    if "unaligned_averages" in result.data_vars:
        un = result["unaligned_averages"]
        if un.ndim != 3 or "count" not in un.dims:
            raise ValueError(
                f"experiment_figure: 'unaligned_averages' must have dims (count, y, x); it has "
                f"{un.dims}. Fix: name the stack dimension 'count'."
            )
    if "cc_unaligned" in result.data_vars:
        ccu = result["cc_unaligned"]
        if ccu.dims != ("count",):
            raise ValueError(
                f"experiment_figure: 'cc_unaligned' must have the single dim 'count'; it has "
                f"{ccu.dims}. Fix: one CC per unaligned average."
            )


def _new_figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _stack(da) -> np.ndarray:
    """A (K, H, W) float64 array from a 3-D DataArray whose stack dim is 'count'/'example'."""
    for dim in ("count", "example"):
        if dim in da.dims:
            da = da.transpose(dim, ...)
            break
    return np.asarray(da.values, dtype=np.float64)


def _sym_window(img: np.ndarray) -> tuple[float, float]:
    """``mean ± CONTRAST_SIGMAS * std`` of the image (NaN-aware; ``mean ± 1`` if constant)."""
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return -1.0, 1.0
    m, s = float(finite.mean()), float(finite.std())
    if not s > 0:
        s = 1.0 / CONTRAST_SIGMAS
    return m - CONTRAST_SIGMAS * s, m + CONTRAST_SIGMAS * s


def _show(ax, img: np.ndarray, *, title: str, label: str, window: str = "sym") -> None:
    if window == "sym":
        vmin, vmax = _sym_window(img)
    else:  # min..max
        finite = img[np.isfinite(img)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if vmin == vmax:
            vmin, vmax = vmin - 1.0, vmax + 1.0
    ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest", aspect="equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=_TITLE_SIZE)
    ax.set_label(label)


def _fmt_cc(value) -> str:
    return f"{float(value):.2f}"


def _attr(attrs, key, default="n/a") -> str:
    value = attrs.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def _shift_of(result, k: int, cmap_img: np.ndarray) -> tuple[int, int]:
    """(dy, dx) of image k: from 'shifts' when present, else from the peak of the centred map."""
    if "shifts" in result.data_vars:
        sh = result["shifts"]
        img_dim = "image" if "image" in sh.dims else sh.dims[0]
        if sh.ndim == 2 and k < sh.sizes[img_dim]:
            row = sh.isel({img_dim: k})
            axis_dim = row.dims[0]
            if axis_dim in row.coords and {"dy", "dx"} <= set(map(str, row[axis_dim].values)):
                return int(row.sel({axis_dim: "dy"})), int(row.sel({axis_dim: "dx"}))
            return int(row.values[0]), int(row.values[1])
    h, w = cmap_img.shape
    py, px = np.unravel_index(np.nanargmax(cmap_img), cmap_img.shape)
    return int(py) - h // 2, int(px) - w // 2


def _wrap_suptitle(text: str, fig_w: float) -> str:
    """Break before the parenthesis (then anywhere) when the title is wider than the figure."""
    chars = max(30, int(0.92 * fig_w * 72 / (12 * 0.55)))  # ~0.55 em per character at 12 pt
    if len(text) <= chars:
        return text
    head, sep, tail = text.partition(" (")
    parts = [head, "(" + tail] if sep else [text]
    return "\n".join(line for part in parts for line in textwrap.wrap(part, chars))


def _particles(result) -> bool:
    """Whether the run aligned the user's particles (``attrs["input"]``) instead of noise."""
    return result.attrs.get("input") == "particles"


def _n_images(result) -> int:
    n_images = result.attrs.get("n_images")
    return int(np.max(result["count"].values)) if n_images is None else int(n_images)


def _suptitle(result) -> str:
    what = "of your particles" if _particles(result) else "pure-noise images"
    return (f"Einstein from noise — {_n_images(result)} {what} aligned to the reference "
            f"{_attr(result.attrs, 'reference_name', '')}".rstrip())


def _cc_plot(ax, counts, cc, cc_un, *, particles: bool = False,
             versus_noise: dict | None = None) -> None:
    x = np.asarray(counts, dtype=np.float64)
    ax.plot(x, cc, "o-", color="C0", lw=1.5, ms=4,
            label="your particles, aligned" if particles else "aligned")
    if versus_noise is not None:
        ax.plot([versus_noise["n_images"]], [versus_noise["cc_pure_noise"]], "D", color="C2",
                ms=6, label="pure noise, same N, aligned")
    if cc_un is not None:
        ax.plot(x, cc_un, "s--", color="C3", lw=1.2, ms=3.5, label="unaligned (control)")
    ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
    if x.size > 1 and np.all(x > 0) and x.max() / x.min() >= 10:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # "3×10¹ 4×10¹ ..." would overlap
    elif x.size <= 8:
        ax.set_xticks(x)
        ax.set_xticklabels([str(int(v)) for v in x])
    finite = np.concatenate([np.ravel(cc), np.ravel(cc_un) if cc_un is not None else [],
                             [versus_noise["cc_pure_noise"]] if versus_noise else []])
    finite = finite[np.isfinite(finite)]
    lo = min(0.0, float(finite.min())) if finite.size else 0.0
    hi = max(0.1, float(finite.max())) if finite.size else 1.0
    pad = 0.08 * (hi - lo)
    ax.set_ylim(lo - pad, min(1.0, hi + pad) if hi <= 1.0 else hi + pad)
    ax.set_xlabel("N images averaged", fontsize=_LABEL_SIZE)
    ax.set_ylabel("CC with reference", fontsize=_LABEL_SIZE)
    ax.tick_params(labelsize=8)
    ax.grid(True, which="major", color="0.9", lw=0.6)
    ax.legend(fontsize=8, loc="best", frameon=False)
    ax.set_title("Pearson CC vs N", fontsize=_TITLE_SIZE)
    ax.set_label("cc_plot")


def _parameter_text(result) -> str:
    """The parameter box: N, size, seed, engine, ImageJ version (the rest is in results.json);
    with particles, their CC beside that of the same count of pure noise."""
    a = result.attrs
    h, w = result["reference"].shape
    lines = [f"N       {_n_images(result)}", f"size    {h}×{w}", f"seed    {_attr(a, 'seed')}",
             f"engine  {_attr(a, 'engine')}", f"ImageJ  {_attr(a, 'imagej_version')}"]
    versus = a.get("particles_vs_noise")
    if isinstance(versus, dict):
        lines += ["", "CC with the reference:", f"particles   {versus['cc_particles']:.3f}",
                  f"pure noise  {versus['cc_pure_noise']:.3f}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def _image_row(subfigure, gridspec, row: int, row_label: str, panels, *,
               title_size: float | None = None) -> None:
    """One row of image panels ``(image, title, axes label)``, the row label on the first."""
    for column, (img, title, label) in enumerate(panels):
        ax = subfigure.add_subplot(gridspec[row, column])
        _show(ax, img, title=title, label=label)
        if title_size is not None:
            ax.title.set_fontsize(title_size)
        if column == 0:
            ax.set_ylabel(row_label, fontsize=_LABEL_SIZE)


def experiment_figure(result, *, n_examples: int = 4):
    """One figure summarising an "Einstein from noise" run.

    Parameters
    ----------
    result : xarray.Dataset
        As returned by :func:`fiji_bridge.experiment.einstein_from_noise`. Required variables:
        ``reference`` (y, x), ``averages`` (count, y, x) with a ``count`` coordinate, ``cc``
        (count). Optional (their rows are skipped when absent): ``noise_examples``,
        ``correlation_maps``, ``aligned_examples`` (example, y, x), ``shifts`` (image, axis)
        with axis ["dy", "dx"], ``unaligned_averages`` (count, y, x), ``cc_unaligned`` (count),
        ``control_images`` (control, y, x) with a ``control_title`` coordinate (a last row).
        Attributes used: ``seed``, ``n_images``, ``engine``, ``imagej_version``,
        ``reference_name`` (``n/a`` when missing; ``n_images`` falls back to the largest count);
        any other attributes are listed in a small text panel of the first row.
    n_examples : int, default 4
        How many example images (and their correlation maps) to show; at most the number stored
        in the result. 0 skips the example rows.

    Returns
    -------
    matplotlib.figure.Figure
        A figure with an Agg canvas attached, not registered with pyplot: save it with
        ``fig.savefig(path)`` (or :func:`fiji_bridge.io.save_figure`), display it in a notebook by
        evaluating it. Its size grows with the number of columns (``max(counts, examples)``)
        and rows.

    Notes
    -----
    * Image panels: grey colormap, equal aspect, no ticks. Every image axes carries a label
      (``ax.get_label()``): ``"reference"``, ``"noise:<k>"``, ``"correlation:<k>"``,
      ``"aligned:<k>"``, ``"average:<n>"``, ``"unaligned:<n>"``; the non-image axes are
      ``"cc_plot"`` and ``"info"``.
    * Display range: reference and correlation maps min..max; every noise image and every
      average its own symmetric window ``mean ± CONTRAST_SIGMAS · std`` (2.5 σ) so the faint
      structure of an average is visible whatever N (grey levels are not comparable across
      panels; the CC values are).
    * Correlation maps are drawn peak-centred (zero shift at ``(H//2, W//2)``), as ImageJ shows
      them; the red circle marks the maximum of the displayed map and the title gives the shift
      ``(dy, dx)`` from ``shifts`` (or, without ``shifts``, the offset of that maximum from the
      centre).

    Raises
    ------
    TypeError
        If ``result`` is not an xarray.Dataset, or ``n_examples`` is not an integer.
    ValueError
        If a required variable is missing (the message names it and the fix), if shapes or dims
        are inconsistent, or if ``n_examples`` is negative.
    """
    _validate(result)
    n_examples = checks.integer(n_examples, "n_examples", minimum=0, fix="e.g. n_examples=4")

    ref = np.asarray(result["reference"].values, dtype=np.float64)
    h, w = ref.shape
    averages = _stack(result["averages"])
    counts = [int(c) for c in result["averages"]["count"].values]
    cc = np.asarray(result["cc"].sel(count=result["averages"]["count"]).values, dtype=np.float64)

    unaligned = cc_un = None
    un_counts: list[int] = []
    if "unaligned_averages" in result.data_vars:
        unaligned = _stack(result["unaligned_averages"])
        un_counts = [int(c) for c in result["unaligned_averages"]["count"].values]
        if "cc_unaligned" in result.data_vars:
            try:
                cc_un = np.asarray(
                    result["cc_unaligned"].sel(count=result["unaligned_averages"]["count"]).values,
                    dtype=np.float64,
                )
            except KeyError:  # counts that do not match: titles without CC
                cc_un = None
    cc_un_plot = None
    if "cc_unaligned" in result.data_vars:
        ccu_da = result["cc_unaligned"]
        if list(map(int, ccu_da["count"].values)) == counts:
            cc_un_plot = np.asarray(ccu_da.values, dtype=np.float64)

    example_rows = []
    for var, key, row_label in _EXAMPLE_ROWS:
        if n_examples and var in result.data_vars and result[var].ndim == 3:
            stack = _stack(result[var])[:n_examples]
            if _particles(result):
                row_label = row_label.replace("pure-noise", "particle")
            if len(stack):
                example_rows.append((var, key, row_label, stack))

    controls = None
    if "control_images" in result.data_vars and result["control_images"].sizes.get("control"):
        controls = _stack(result["control_images"])
        control_titles = [str(t) for t in result["control_images"]["control_title"].values]

    n_ex_cols = max((len(r[3]) for r in example_rows), default=0)
    ncols = max(len(counts), len(un_counts), n_ex_cols, 3,
                0 if controls is None else len(controls))
    nrows = 1 + len(example_rows) + 1 + (unaligned is not None) + (controls is not None)

    col_w = max(_COL_W, _MIN_W / ncols)
    fig_w = col_w * ncols
    fig_h = _ROW_H * nrows + _SUPTITLE_H
    fig = _new_figure((fig_w, fig_h))
    # Two subfigures, so that the axis labels of the CC plot do not widen the image columns.
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, nrows - 1])
    top.set_label("overview")
    bottom.set_label("images")

    # ---- row 1: reference | CC plot | parameters ---------------------------------------------
    plot_span = ncols - 2
    widths = [1.0, plot_span, 1.0]
    gs_top = top.add_gridspec(1, len(widths), width_ratios=widths)
    ax = top.add_subplot(gs_top[0, 0])
    ref_name = _attr(result.attrs, "reference_name", "reference")
    _show(ax, ref, title=f"reference: {ref_name}\n({h}×{w}, normalised)", label="reference",
          window="minmax")
    versus = result.attrs.get("particles_vs_noise")
    _cc_plot(top.add_subplot(gs_top[0, 1]), counts, cc, cc_un_plot,
             particles=_particles(result), versus_noise=versus if isinstance(versus, dict)
             else None)
    ax = top.add_subplot(gs_top[0, 2])
    ax.set_axis_off()
    ax.set_label("info")
    ax.text(0.08, 0.98, _parameter_text(result), transform=ax.transAxes, va="top",
            ha="left", fontsize=_INFO_SIZE, family="monospace", linespacing=1.35)

    gs = bottom.add_gridspec(nrows - 1, ncols)
    # ---- rows 2-4: examples -------------------------------------------------------------------
    row = 0
    for var, key, row_label, stack in example_rows:
        for k, img in enumerate(stack):
            ax = bottom.add_subplot(gs[row, k])
            # numbered from 1, as the slice labels of the TIFFs ("image 1", ...)
            if key in ("noise", "aligned"):
                name = "particle" if key == "noise" and _particles(result) else key
                _show(ax, img, title=f"{name} #{k + 1}", label=f"{key}:{k}")
            else:
                dy, dx = _shift_of(result, k, img)
                _show(ax, img, title=f"#{k + 1}  (dy, dx)=({dy}, {dx})",
                      label=f"correlation:{k}", window="minmax")
                if np.isfinite(img).any():
                    py, px = np.unravel_index(np.nanargmax(img), img.shape)
                    ax.plot([px], [py], "o", ms=7, mfc="none", mec="red", mew=1.3)
                    ax.set_xlim(-0.5, img.shape[1] - 0.5)
                    ax.set_ylim(img.shape[0] - 0.5, -0.5)
            if k == 0:
                ax.set_ylabel(row_label, fontsize=_LABEL_SIZE)
        row += 1

    # ---- row 5: aligned averages --------------------------------------------------------------
    _image_row(bottom, gs, row, "aligned\naverages", [
        (img, f"N={n}  CC={_fmt_cc(c)}", f"average:{n}")
        for n, img, c in zip(counts, averages, cc)])
    row += 1

    # ---- row 6: unaligned control -------------------------------------------------------------
    if unaligned is not None:
        _image_row(bottom, gs, row, "unaligned\ncontrol", [
            (img, f"N={n} unaligned" + ("" if cc_un is None else f" CC={_fmt_cc(cc_un[j])}"),
             f"unaligned:{n}")
            for j, (n, img) in enumerate(zip(un_counts, unaligned))])
        row += 1

    # ---- optional row: further controls (other reference, classes, rotations) ---------------
    if controls is not None:
        _image_row(bottom, gs, row, "controls", [
            (img, title, f"control:{j}")
            for j, (img, title) in enumerate(zip(controls, control_titles))], title_size=8)

    # ---- suptitle, wrapped to the figure width -------------------------------------------------
    fig.suptitle(_wrap_suptitle(_suptitle(result), fig_w), fontsize=12)
    return fig


# --------------------------------------------------------------------------------------------
# einstein-from-noise study (datasets of fiji_bridge.study.run_study)
# --------------------------------------------------------------------------------------------
def _error_bars(sd: np.ndarray) -> np.ndarray | None:
    return None if np.all(np.isnan(sd)) else np.nan_to_num(sd)


def study_cc_figure(ds: xr.Dataset):
    """CC vs N (log x), one line per canvas with standard-error bars (over trials); a matplotlib Figure.

    Solid: ``cc`` (reference's pixels); dashed: ``cc_canvas`` for padded canvases; grey dotted:
    the unaligned control on the first canvas.
    """
    fig = _new_figure((6.4, 4.4))
    ax = fig.add_subplot()
    n = ds["n"].values
    cc, cc_sd = mean_se(ds, "cc")  # error bars: standard errors over trials
    cv, cv_sd = mean_se(ds, "cc_canvas")
    cu, cu_sd = mean_se(ds, "cc_unaligned")
    ref_side = max(ds.attrs.get("reference_shape", [int(ds["canvas"].values[0])]))
    for i, side in enumerate(ds["canvas"].values):
        factor = float(ds["pad_factor"].values[i])
        line = ax.errorbar(n, cc[i], yerr=_error_bars(cc_sd[i]), marker="o", capsize=3,
                           label=f"canvas {side}² ({factor:g}× reference)")
        if int(side) != int(ref_side):
            ax.errorbar(n, cv[i], yerr=_error_bars(cv_sd[i]), marker=".", capsize=2,
                        linestyle="--", color=line[0].get_color(), alpha=0.7,
                        label=f"canvas {side}²: CC over the whole canvas")
    ax.errorbar(n, cu[0], yerr=_error_bars(cu_sd[0]), color="0.5", linestyle=":", marker="x",
                capsize=2, label="unaligned average (control)")
    ax.set_xscale("log")
    ax.set_xlabel("N (noise images averaged)")
    ax.set_ylabel("Pearson CC with the reference")
    ax.set_title(f"Einstein from noise: CC vs N ({ds.sizes['trial']} trials, mean ± se)")
    ax.axhline(0, color="0.8", linewidth=0.8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def study_phase_figure(ds: xr.Dataset, slopes: dict | None = None):
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
            mean, sd = mean_se(ds, var)
            m, s = mean[i], sd[i]
            fit = slopes[int(side)][g]
            label = f"{GROUP_LABELS[g]} ({fit['n_components']} comp.)"
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
        top_mean = mean_se(ds, GROUPS[0][2])[0][i]
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
    fig.suptitle("Phase MSE vs N per magnitude group (trial mean ± standard error)")
    return fig
