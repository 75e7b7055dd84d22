"""Figures of the study's five experiments (blocks of :mod:`fiji_bridge.study_experiments`).

One function per experiment, each returning a bare :class:`matplotlib.figure.Figure` (Agg
canvas, no pyplot; see :mod:`fiji_bridge.figures`). Error bars are standard errors over
independent trials (:mod:`fiji_bridge.uncertainty`); files are written by
:func:`fiji_bridge.io.save_figure`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "FIGURES",
    "convergence_figure",
    "experiment_figure",
    "lowpass_figure",
    "snr_sweep_figure",
    "soft_alignment_figure",
    "spectrum_shape_figure",
]


def _figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _mean_se(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    v = np.asarray(values, dtype=np.float64)
    mean = v.mean(axis=-1)
    if v.shape[-1] < 2:
        return mean, None
    return mean, v.std(axis=-1, ddof=1) / math.sqrt(v.shape[-1])


def _finish(ax, xlabel: str, ylabel: str, title: str, *, logx: bool = True) -> None:
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def snr_sweep_figure(block: dict[str, Any]):
    """Heat-map of CC(truth) − CC(template) over amplitude and N, with the boundary s*(N)."""
    amps = np.asarray(block["amplitudes"], dtype=float)
    n = np.asarray(block["n_list"])
    cc_t, cc_r = (np.asarray(block["values"][k]) for k in ("cc_truth", "cc_template"))
    diff = (cc_t - cc_r).mean(axis=-1)
    fig = _figure((11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    lim = max(float(np.abs(diff).max()), 1e-3)
    im = ax1.imshow(diff.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (j, i), v in np.ndenumerate(diff.T):
        ax1.text(i, j, f"{v:+.2f}", ha="center", va="center", fontsize=7)
    ax1.set_xticks(range(len(amps)), [f"{a:g}" for a in amps])
    ax1.set_yticks(range(len(n)), [str(int(x)) for x in n])
    ax1.set_xlabel("truth amplitude s (pixel SNR = s²)")
    ax1.set_ylabel("N (images averaged)")
    ax1.set_title("CC(avg, truth) − CC(avg, template): red = truth wins", fontsize=10)
    fig.colorbar(im, ax=ax1, shrink=0.85)
    for j, b in enumerate(block["boundary"].values()):
        if b is not None:
            ax1.plot(np.interp(b, amps, np.arange(len(amps))), j, "k*", markersize=10)
    j = len(n) - 1
    for name, values, style in (("truth", cc_t, "-o"), ("template", cc_r, "--s")):
        m, se = _mean_se(values[:, j])
        ax2.errorbar(amps, m, yerr=se, fmt=style, capsize=3, label=f"CC with the {name}")
    _finish(ax2, "truth amplitude s", "Pearson CC of the average",
            f"N = {int(n[j])} ({block['trials']} trials, mean ± se)", logx=False)
    fig.suptitle("True signal against template bias (star: boundary s* where the truth wins)")
    return fig


def soft_alignment_figure(block: dict[str, Any]):
    """CC with the template vs σ for each N, hard alignment as a horizontal band."""
    sig = np.asarray(block["sigmas"], dtype=float)
    n = np.asarray(block["n_list"])
    hard, soft = (np.asarray(block["values"][k]) for k in ("cc_hard", "cc_soft"))
    fig = _figure((6.6, 4.6))
    ax = fig.add_subplot()
    for j, nn in enumerate(n):
        m, se = _mean_se(soft[:, j])
        line = ax.errorbar(sig, m, yerr=se, marker="o", capsize=3, label=f"soft, N={int(nn)}")
        hm, hse = _mean_se(hard[j])
        ax.axhline(float(hm), color=line[0].get_color(), linestyle=":", linewidth=1,
                   label=f"hard, N={int(nn)}: {float(hm):.3f}")
    _finish(ax, "σ (weights ∝ exp(c(d)/σ²); σ = 1: maximum likelihood)",
            "Pearson CC of the average with the template",
            f"Soft vs hard alignment of the same noise ({block['trials']} trials, mean ± se)")
    return fig


def lowpass_figure(block: dict[str, Any]):
    """CC vs N per cutoff, and FRC with the unfiltered template at the largest N."""
    cuts = block["cutoffs"]
    n = np.asarray(block["n_list"])
    freqs = np.asarray(block["ring_frequencies"])
    counts = np.asarray(block["ring_counts"], dtype=float)
    cc, frc = np.asarray(block["values"]["cc"]), np.asarray(block["values"]["frc"])
    fig = _figure((11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for v, c in enumerate(cuts):
        label = "unfiltered" if c is None else f"cutoff {c:g}"
        m, se = _mean_se(cc[v])
        line = ax1.errorbar(n, m, yerr=se, marker="o", capsize=3, label=label)
        fm, fse = _mean_se(frc[v])
        ax2.plot(freqs, fm, color=line[0].get_color(), label=label)
        if c is not None:
            ax2.axvline(c, color=line[0].get_color(), linestyle=":", linewidth=1)
    noise = 2 / np.sqrt(counts)
    ax2.fill_between(freqs, -noise, noise, color="0.85", label="±2/sqrt(n_ring): noise of one average")
    _finish(ax1, "N", "CC with the unfiltered template", "CC vs N")
    _finish(ax2, "spatial frequency (cycles/pixel)", "FRC with the unfiltered template",
            f"FRC at N = {int(n[-1])} (trial mean; dotted: cutoffs)", logx=False)
    fig.suptitle(f"Low-pass filtered templates ({block['trials']} trials, mean ± se)")
    return fig


def spectrum_shape_figure(block: dict[str, Any]):
    """CC vs N per prescribed spectrum with the fitted ρ/sqrt(1 + c/N) and CC∞."""
    from fiji_bridge.uncertainty import cc_model

    n = np.asarray(block["n_list"], dtype=float)
    cc = np.asarray(block["values"]["cc"])
    fig = _figure((6.6, 4.6))
    ax = fig.add_subplot()
    grid = np.geomspace(n[0], n[-1] * 10, 100)
    for v, fit in enumerate(block["fits"]):
        m, se = _mean_se(cc[v])
        lab = (f"{fit['spectrum']} (flatness {fit['flatness']:.3f}): CC∞ {fit['cc_inf']:.3f}"
               + ("" if not np.isfinite(fit["se"]) else f" ± {fit['se']:.3f}"))
        line = ax.errorbar(n, m, yerr=se, marker="o", linestyle="none", capsize=3, label=lab)
        if np.isfinite(fit["cc_inf"]):
            ax.plot(grid, cc_model(grid, fit["cc_inf"], fit["c"]), color=line[0].get_color(),
                    linewidth=1)
            ax.axhline(fit["cc_inf"], color=line[0].get_color(), linestyle=":", linewidth=1)
    _finish(ax, "N", "Pearson CC with its own reference",
            f"Same phases, prescribed spectra, same box ({block['trials']} trials, mean ± se)")
    return fig


def convergence_figure(block: dict[str, Any]):
    """Phase MSE vs N per magnitude group, and vs |R_k| at the largest N, with theory lines."""
    n = np.asarray(block["n_list"], dtype=float)
    mse = np.asarray(block["values"]["phase_mse"])
    fig = _figure((11, 4.6))
    ax1, ax2 = fig.subplots(1, 2)
    for g, (f, s) in enumerate(zip(block["fractions"], block["slopes"])):
        m, se = _mean_se(mse[g])
        ax1.errorbar(n, m, yerr=se, marker="o", capsize=3,
                     label=f"{'all' if f == 1 else f'strongest {f:.0%}'} "
                           f"({s['n_components']} comp.): slope "
                           f"{s['slope']:.2f} ± {s['se']:.2f}")
    m0 = _mean_se(mse[0])[0]
    mid = len(n) // 2
    ax1.plot(n, m0[mid] * n[mid] / n, "k--", linewidth=1, label="theory: ∝ 1/N")
    ax1.axhline(math.pi**2 / 3, color="0.4", linestyle="-.", linewidth=1,
                label="uniform phase π²/3 (no prediction for weak components)")
    ax1.set_yscale("log")
    _finish(ax1, "N", "Fourier-phase MSE (rad²)", "Phase MSE vs N")
    mag = block["magnitude"]
    x = np.asarray(mag["bin_centres"], dtype=float)
    y = np.asarray(mag["phase_mse_mean"], dtype=float)
    ax2.errorbar(x, y, yerr=np.asarray(mag["phase_mse_se"], dtype=float), marker="o",
                 capsize=3, label="measured (bins of |R_k|)")
    fit = mag["fit"]
    strong = y < mag["strong_mse"]
    if strong.sum() >= 2 and np.isfinite(fit["slope"]):
        xs, ys = x[strong], y[strong]
        anchor = np.exp(np.mean(np.log(ys)) - fit["slope"] * np.mean(np.log(xs)))
        ax2.plot(xs, anchor * xs ** fit["slope"], "C1:",
                 label=f"fit: slope {fit['slope']:.2f} ± {fit['se']:.2f}")
        ax2.plot(xs, ys[0] * (xs / xs[0]) ** -1.0, "k--", linewidth=1,
                 label="theory (high-dimensional regime): ∝ 1/|R_k|")
    ax2.axhline(math.pi**2 / 3, color="0.4", linestyle="-.", linewidth=1)
    ax2.set_yscale("log")
    _finish(ax2, "|R_k| (template Fourier magnitude)", "phase MSE (rad²)",
            f"Per-component phase MSE at N = {mag['n']}")
    fig.suptitle(f"Convergence against Balanov, Huleihel & Bendory (arXiv:2407.05277); "
                 f"{block['trials']} trials, mean ± se")
    return fig


#: Figure function of each experiment.
FIGURES = {
    "snr_sweep": snr_sweep_figure,
    "soft_alignment": soft_alignment_figure,
    "lowpass": lowpass_figure,
    "spectrum_shape": spectrum_shape_figure,
    "convergence": convergence_figure,
}


def experiment_figure(block: dict[str, Any]):
    """The figure of a block of :mod:`fiji_bridge.study_experiments` (by its ``experiment``)."""
    name = block.get("experiment") if isinstance(block, dict) else None
    if name not in FIGURES:
        raise ValueError(f"not a study experiment block (experiment={name!r}). Fix: pass a "
                         f"block returned by fiji_bridge.study_experiments.run_experiments.")
    return FIGURES[name](block)
