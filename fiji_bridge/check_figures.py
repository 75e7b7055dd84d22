"""Figure of a template-bias check (``check.png``): pure numpy + matplotlib, no pyplot.

Layout of :func:`check_figure` (2 x 3 panels)::

    particle average (aligned) | a null average (draw 0)  | the template
    CC: null histogram + observed | FRC(average, template) with the null band | half-set FRC

Images are shown with a symmetric window ``mean ± CONTRAST_SIGMAS sd`` (2.5, as
:mod:`fiji_bridge.figures`) of each image (averages of noise
have tiny contrast); grey levels are not comparable between panels, the CC values in the titles
are. The null band is the 2.5-97.5 % range of the null draws' FRC. The half-set panel shows the
FRC between the two half averages aligned to the same template, and aligned to the low-passed
template (cutoff marked), with the 0.143 threshold.
"""

from __future__ import annotations

import numpy as np

from fiji_bridge.figures import CONTRAST_SIGMAS

__all__ = ["check_figure"]

_REQUIRED = ("template", "average", "null_average", "cc_null", "frc", "frc_null_low",
             "frc_null_high")


def _window(img: np.ndarray) -> tuple[float, float]:
    mean, sd = float(np.nanmean(img)), float(np.nanstd(img))
    sd = sd if sd > 0 else 1.0
    return mean - CONTRAST_SIGMAS * sd, mean + CONTRAST_SIGMAS * sd


def _show(ax, img, title: str) -> None:
    lo, hi = _window(img)
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def check_figure(result, *, title: str | None = None):
    """Build the figure of :func:`fiji_bridge.bias_check.template_bias_check`'s Dataset.

    Parameters
    ----------
    result : xarray.Dataset
        The check's result (variables listed in the module docstring).
    title : str, optional
        Figure title; default a one-line verdict.

    Returns
    -------
    matplotlib.figure.Figure
        A bare Figure with an Agg canvas (``outputs.write_check_outputs`` saves it as check.png).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    missing = [name for name in _REQUIRED if name not in result]
    if missing:
        raise ValueError(f"the check result lacks {missing}. Fix: pass the Dataset returned by "
                         "fiji_bridge.bias_check.template_bias_check")
    from fiji_bridge.metrics import pearson_cc

    attrs = result.attrs
    cc = attrs["cc"]
    template = result["template"].values
    null_cc = result["cc_null"].values
    fig = Figure(figsize=(12.5, 8.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3)
    verdict = ("signal beyond template bias" if attrs["signal_beyond_bias"]
               else "no signal beyond template bias")
    space = []
    if attrs.get("max_shift") is not None:
        space.append(f"max shift {attrs['max_shift']} px")
    if attrs.get("mask_radius") is not None:
        space.append(f"mask radius {attrs['mask_radius']:g} px")
    fig.suptitle(title or (
        f"{attrs['n_particles']} particles, {attrs['null']['draws']} phase-randomised null "
        f"draws{', ' + ', '.join(space) if space else ''}: {verdict} "
        f"(p = {cc['p_value']:.3g} at alpha {attrs['alpha']:g}, z = {cc['z']:.1f})"),
        fontsize=10)
    _show(axes[0, 0], result["average"].values,
          f"aligned particle average\nCC with template {cc['observed']:.3f}")
    null_avg = result["null_average"].values
    _show(axes[0, 1], null_avg,
          f"aligned null average (draw 0)\nCC with template {pearson_cc(null_avg, template):.3f}")
    _show(axes[0, 2], template, "template")

    ax = axes[1, 0]
    ax.hist(null_cc, bins=min(30, max(5, null_cc.size // 3)), color="0.6",
            label=f"null, {null_cc.size} draws")
    ax.axvline(cc["observed"], color="C3", lw=2, label=f"particles {cc['observed']:.3f}")
    ax.set_xlabel("CC(aligned average, template)")
    ax.set_ylabel("draws")
    ax.set_title(f"null mean {cc['null_mean']:.3f}, sd {cc['null_sd']:.3g}", fontsize=9)
    ax.legend(fontsize=8)

    f = result["frequency"].values
    ax = axes[1, 1]
    ax.fill_between(f, result["frc_null_low"].values, result["frc_null_high"].values,
                    color="0.8", label="null 2.5-97.5 %")
    if "frc_null_median" in result:
        ax.plot(f, result["frc_null_median"].values, color="0.5", lw=1, label="null median")
    ax.plot(f, result["frc"].values, color="C3", lw=1.5, label="particles")
    ax.set_xlabel("spatial frequency (cycles/pixel)")
    ax.set_ylabel("FRC(average, template)")
    ax.set_xlim(0, 0.5)
    ax.set_ylim(-0.3, 1.02)
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_title("Fourier ring correlation with the template", fontsize=9)

    ax = axes[1, 2]
    if "half_frc_same_template" in result:
        threshold = attrs.get("frc_threshold", 0.143)
        ax.plot(f, result["half_frc_same_template"].values, color="C0", lw=1.5,
                label="halves aligned to the template")
        ax.plot(f, result["half_frc_lowpass_template"].values, color="C2", lw=1.5,
                label="to the template low-passed")
        ax.axvline(attrs["lowpass_cutoff"], color="C2", ls=":", lw=1,
                   label=f"cutoff {attrs['lowpass_cutoff']:g}")
        ax.axhline(threshold, color="k", ls="--", lw=0.8, label=f"{threshold:g}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlim(0, 0.5)
        ax.set_ylim(-0.3, 1.02)
        ax.legend(fontsize=8)
        sizes = attrs.get("half_sizes") or ["?", "?"]
        ax.set_title(f"half-set FRC ({sizes[0]} + {sizes[1]} particles)", fontsize=9)
        ax.set_xlabel("spatial frequency (cycles/pixel)")
        ax.set_ylabel("FRC(half 1, half 2)")
    else:
        ax.axis("off")
    return fig

