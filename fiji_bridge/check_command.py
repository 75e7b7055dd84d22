"""``einstein-from-noise check``: the template-bias check of one's own particles.

Reads the particles as ``run --particles`` does (:func:`fiji_bridge.particles.load_particles`:
MRC/MRCS or TIFF stacks, each particle normalised), prepares the template with the same ImageJ
steps as ``run`` (:func:`fiji_bridge.reference.prepare_reference`) at the particles' box size,
runs :func:`fiji_bridge.bias_check.template_bias_check` and writes, all at once or not at all
(:class:`fiji_bridge.io.output_directory`):

* ``check.json`` -- ``n_particles``, ``null`` {kind, draws, seed}, ``cc`` {observed, null_mean,
  null_sd, z, p_value}, ``signal_beyond_bias``, ``alpha``, the search space, the half-set FRC
  summary, the inputs and the ImageJ that prepared the template;
* ``check.png`` -- :func:`fiji_bridge.check_figures.check_figure`;
* ``frc.csv`` -- one row per ring: ``frequency`` (cycles/pixel), ``frc`` (aligned average vs
  template), ``null_low``, ``null_median``, ``null_high`` (2.5/50/97.5 % of the null draws),
  ``half_same_template``, ``half_lowpass_template``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

__all__ = ["CHECK_FILES", "configure_parser", "frc_rows", "main", "summary"]

#: Files written by ``check``.
CHECK_FILES = ("check.json", "check.png", "frc.csv")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``check`` (and ``--imagej``/``--display``) to ``parser``."""
    from fiji_bridge.bias_check import DEFAULT_DRAWS

    parser.add_argument("--particles", metavar="FILE", required=True,
                        help="your particles: an MRC/MRCS or TIFF stack of square images")
    parser.add_argument("--reference", metavar="PATH", default=None,
                        help="the template, an image file ImageJ opens (default: the bundled "
                             "public-domain portrait); brought to the particles' box size")
    parser.add_argument("--out", default="check", help="output directory (default check/)")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS,
                        help=f"null draws K (default {DEFAULT_DRAWS}: p down to 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the null draws (default 0)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="level of the verdict (default 0.05)")
    parser.add_argument("--max-shift", metavar="PX", type=int, default=None,
                        help="search shifts up to PX pixels per axis (default: the whole box)")
    parser.add_argument("--mask-radius", metavar="PX", type=float, default=None,
                        help="soft circular mask of this radius (5 px cosine edge) applied to "
                             "particles and template before correlation")
    parser.add_argument("--lowpass", metavar="CYCLES_PER_PX", type=float, default=0.125,
                        help="cutoff of the low-passed template of the half-set FRC "
                             "(default 0.125)")
    parser.add_argument("--workers", type=int, default=None, help="FFT threads (default: cores)")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.add_argument(
        "--imagej", metavar="PATH_OR_ENDPOINT", default=None,
        help="Fiji.app folder, Maven endpoint or ij.jar (as for run)")
    parser.add_argument(
        "--display", choices=("auto", "xvfb", "existing", "headless"), default="auto",
        help="AWT display for ImageJ 1.x (as for run)")


def frc_rows(result) -> list[dict]:
    """The rows of ``frc.csv`` (module docstring) from the check's Dataset."""
    columns = {"frc": "frc", "null_low": "frc_null_low", "null_median": "frc_null_median",
               "null_high": "frc_null_high", "half_same_template": "half_frc_same_template",
               "half_lowpass_template": "half_frc_lowpass_template"}
    rows = []
    for i, f in enumerate(result["frequency"].values):
        row = {"frequency": float(f)}
        for column, name in columns.items():
            if name in result:
                row[column] = float(result[name].values[i])
        rows.append(row)
    return rows


def summary(result, *, particles: str, reference_name: str, imagej_version: str) -> dict:
    """The JSON record of a check (``check.json``)."""
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
            "same_template_last_frequency_above_threshold":
                _last_above(f, result["half_frc_same_template"].values, threshold),
            "lowpass_template_last_frequency_above_threshold":
                _last_above(f, result["half_frc_lowpass_template"].values, threshold),
        }
    return record


def _last_above(freqs, values, threshold):
    """Highest ring frequency up to which the FRC stays above ``threshold`` (None if ring 1 is not)."""
    below = [i for i, v in enumerate(values) if not v > threshold]
    stop = below[0] if below else len(values)
    return None if stop == 0 else float(freqs[stop - 1])


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def main(args: argparse.Namespace) -> int:
    """Run ``check`` from parsed arguments; print the verdict; return the exit status 0."""
    from tqdm import tqdm

    from fiji_bridge import bias_check, check_figures, imagej, io, reference
    from fiji_bridge import particles as particle_io

    if args.draws < 1:
        raise ValueError(f"--draws {args.draws} must be >= 1. Fix: pass e.g. --draws 99")
    if args.seed < 0:
        raise ValueError(f"--seed {args.seed} must be >= 0. Fix: pass e.g. --seed 0")
    if not 0 < args.alpha < 1:
        raise ValueError(f"--alpha {args.alpha} must be between 0 and 1. Fix: pass e.g. "
                         "--alpha 0.05")
    if 1.0 / (args.draws + 1) > args.alpha:
        raise ValueError(f"--draws {args.draws} can never give p <= {args.alpha:g} (the "
                         "smallest p is 1/(draws+1)). Fix: pass e.g. --draws 99")
    if args.max_shift is not None and args.max_shift < 0:
        raise ValueError(f"--max-shift {args.max_shift} must be >= 0. Fix: pass e.g. "
                         "--max-shift 10")
    if args.mask_radius is not None and not args.mask_radius > 0:
        raise ValueError(f"--mask-radius {args.mask_radius} must be > 0. Fix: pass e.g. "
                         "--mask-radius 20")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers {args.workers} must be >= 1.")
    output = io.output_directory(args.out, CHECK_FILES, force=args.force)  # before any work
    stack = particle_io.load_particles(args.particles)
    n, h, w = stack.shape
    if h != w:
        raise ValueError(f"the particles are {h}x{w}, not square; the template is brought to a "
                         "square box. Fix: re-extract or crop the particles to square boxes")
    if h < reference.MIN_SIZE:
        raise ValueError(f"the particles are {h}x{w}, smaller than {reference.MIN_SIZE}x"
                         f"{reference.MIN_SIZE}. Fix: extract larger boxes")
    handle = imagej.start(args.imagej, display=args.display)
    ref = reference.prepare_reference(args.reference, size=h)
    print(f"checking {n} particles ({h}x{w}) from {args.particles} against {ref.name} "
          f"prepared by ImageJ {handle.version}", file=sys.stderr)
    with tqdm(total=args.draws + 3, desc="null draws", unit="pass", file=sys.stderr,
              disable=None) as bar:
        result = bias_check.template_bias_check(
            stack, ref.image, draws=args.draws, seed=args.seed, alpha=args.alpha,
            max_shift=args.max_shift, mask_radius=args.mask_radius,
            lowpass_cutoff=args.lowpass, workers=args.workers,
            progress=lambda done, total: bar.update(done - bar.n))
    record = summary(result, particles=str(args.particles), reference_name=ref.name,
                     imagej_version=str(handle.version))
    with output as directory:
        io.write_json(directory / "check.json", record)
        check_figures.save_check_figure(result, directory / "check.png")
        _write_csv(directory / "frc.csv", frc_rows(result))
    cc = record["cc"]
    print(f"CC(aligned average, template) = {cc['observed']:.4f}; null ({record['null']['draws']} "
          f"phase-randomised draws) {cc['null_mean']:.4f} ± {cc['null_sd']:.4f}; "
          f"z = {cc['z']:.2f}, p = {cc['p_value']:.3g}")
    print(("SIGNIFICANT: " if record["signal_beyond_bias"] else "not significant: ")
          + record["verdict"])
    half = record.get("half_set_frc")
    if half:
        print(f"half-set FRC > {half['threshold']:g} up to "
              f"{half['same_template_last_frequency_above_threshold']} cycles/px with the "
              f"template, {half['lowpass_template_last_frequency_above_threshold']} with it "
              f"low-passed at {half['lowpass_cutoff']:g}")
    print(f"wrote {output.out}/ ({', '.join(CHECK_FILES)})")
    return 0
