"""The flow of ``einstein-from-noise check``: the template-bias check of one's own particles.

Reads the particles as ``run --particles`` does (:func:`fiji_bridge.particles.load_particles`:
MRC/MRCS or TIFF stacks, each particle normalised), prepares the template with the same ImageJ
steps as ``run`` (:func:`fiji_bridge.reference.prepare_reference`) at the particles' box size,
runs :func:`fiji_bridge.bias_check.template_bias_check` (the computation) and builds the JSON
record. The command line (:mod:`fiji_bridge.cli`) parses and checks the options before Java
starts and writes the files through :func:`fiji_bridge.outputs.write_check_outputs`
(:func:`fiji_bridge.outputs.check_files` names them), all at once or not at all:

* ``check.json`` -- :func:`check_record`: ``n_particles``, ``null`` {kind, draws, seed}, ``cc``
  {observed, null_mean, null_sd, z, p_value}, ``signal_beyond_bias``, ``alpha``, the search
  space, the half-set FRC summary, the inputs and the ImageJ that prepared the template;
* ``check.png`` -- :func:`fiji_bridge.check_figures.check_figure`;
* ``frc.csv`` -- :func:`fiji_bridge.bias_check.frc_rows`.
* ``report.html`` -- :func:`fiji_bridge.report.build_check_report` (written last).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fiji_bridge import bias_check, checks, imagej, reference
from fiji_bridge import particles as particle_io

__all__ = ["check_particles", "check_record", "summary_text"]


def check_record(result, *, particles: str, reference_name: str, imagej_version: str) -> dict:
    """The JSON record of a check (``check.json``) from the check's Dataset."""
    attrs = result.attrs
    record = {
        "n_particles": attrs["n_particles"],
        "null": attrs["null"],
        "cc": attrs["cc"],
        "signal_beyond_bias": attrs["signal_beyond_bias"],
        "alpha": attrs["alpha"],
        "verdict": (f"p = {attrs['cc']['p_value']:.3g} {'<=' if attrs['signal_beyond_bias'] else '>'}"
                    f" alpha = {attrs['alpha']:g}: "
                    + ("the particles resemble the template more than template bias explains"
                       if attrs["signal_beyond_bias"] else
                       "the resemblance is explained by template bias (no evidence of signal)")),
        "box": attrs["box"],
        "max_shift": attrs["max_shift"],
        "mask_radius": attrs["mask_radius"],
        "particles": particles,
        "reference_name": reference_name,
        "imagej_version": imagej_version,
    }
    if "half_frc_same_template" in result:
        f = result["frequency"].values
        threshold = attrs["frc_threshold"]
        record["half_set_frc"] = {
            "split": "even / odd particle indices",
            "half_sizes": attrs["half_sizes"],
            "lowpass_cutoff": attrs["lowpass_cutoff"],
            "threshold": threshold,
            "same_template_last_frequency_above_threshold": bias_check.last_above_threshold(
                f, result["half_frc_same_template"].values, threshold),
            "lowpass_template_last_frequency_above_threshold": bias_check.last_above_threshold(
                f, result["half_frc_lowpass_template"].values, threshold),
        }
    return record


def check_particles(particles_path, reference_path, options: dict[str, Any], *,
                    workers: int | None = None, imagej_location: str | None = None,
                    display: str = "auto",
                    progress: Callable[[int, int], None] | None = None) -> tuple[Any, dict]:
    """Load the particles, prepare the template with ImageJ, run the check.

    Parameters
    ----------
    particles_path : path
        MRC/MRCS or TIFF stack of square particles (:func:`fiji_bridge.particles.load_particles`).
    reference_path : path or None
        The template (default the bundled portrait), brought to the particles' box size.
    options : dict
        :func:`fiji_bridge.bias_check.check_options` (checked before Java starts).
    workers, imagej_location, display, progress
        FFT threads; :func:`fiji_bridge.imagej.start`'s location and display; ``progress(done,
        total)`` after each alignment pass.

    Returns
    -------
    (xarray.Dataset, dict)
        :func:`fiji_bridge.bias_check.template_bias_check`'s Dataset and :func:`check_record`.

    Raises
    ------
    ValueError
        Particles that are not square or smaller than the smallest reference size.
    """
    stack = particle_io.load_particles(particles_path)
    n, h, w = stack.shape
    if h != w:
        raise ValueError(f"the particles are {h}x{w}, not square; the template is brought to a "
                         "square box. Fix: re-extract or crop the particles to square boxes.")
    if h < checks.MIN_SIZE:
        raise ValueError(f"the particles are {h}x{w}, smaller than {checks.MIN_SIZE}x"
                         f"{checks.MIN_SIZE}. Fix: extract larger boxes.")
    handle = imagej.start(imagej_location, display=display)
    ref = reference.prepare_reference(reference_path, size=h)
    result = bias_check.template_bias_check(stack, ref.image, workers=workers, progress=progress,
                                            **options)
    record = check_record(result, particles=str(particles_path), reference_name=ref.name,
                          imagej_version=str(handle.version))
    return result, record


def summary_text(record: dict) -> str:
    """The lines ``check`` prints: CC against the null, the verdict, the half-set FRC."""
    cc = record["cc"]
    lines = [
        f"CC(aligned average, template) = {cc['observed']:.4f}; null "
        f"({record['null']['draws']} phase-randomised draws) {cc['null_mean']:.4f} ± "
        f"{cc['null_sd']:.4f}; z = {cc['z']:.2f}, p = {cc['p_value']:.3g}",
        ("SIGNIFICANT: " if record["signal_beyond_bias"] else "not significant: ")
        + record["verdict"],
    ]
    half = record.get("half_set_frc")
    if half:
        lines.append(bias_check.half_set_line(half, "template"))
    return "\n".join(lines)
