"""Command line: ``einstein-from-noise doctor | run | study | check``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

DEFAULT_COUNTS_TEXT = "25,100,500,1000"


def _add_imagej_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--imagej", metavar="PATH_OR_ENDPOINT", default=None,
        help="Fiji.app folder, Maven endpoint (sc.fiji:fiji) or ij.jar; default "
             "$FIJI_BRIDGE_IMAGEJ, a Fiji.app in a usual place, $IJ_JAR, /usr/share/java/ij.jar",
    )
    parser.add_argument(
        "--display", choices=("auto", "xvfb", "existing", "headless"), default="auto",
        help="AWT display for ImageJ 1.x menu commands and macros (default: auto = $DISPLAY, "
             "else Xvfb if installed, else headless)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einstein-from-noise",
        description="Reproduce and measure the 'Einstein from noise' experiment with real "
                    "ImageJ/Fiji.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="report Java, ImageJ, display; advise fixes")
    _add_imagej_options(doctor)
    run = commands.add_parser(
        "run", help="the blog's experiment: align noise to a reference, average, write figures",
        description="Align pure Gaussian noise images to a reference by FFT cross-correlation, "
                    "average them with ImageJ's Z Project, and write Fiji-ready files.")
    run.add_argument("--reference", metavar="PATH", default=None,
                     help="image file ImageJ opens (default: bundled public-domain portrait)")
    run.add_argument("--size", type=int, default=128, help="reference side in pixels (>= 8)")
    run.add_argument("--counts", default=DEFAULT_COUNTS_TEXT,
                     help="comma-separated numbers of images to average (default 25,100,500,1000)")
    run.add_argument("--seed", type=int, default=None, help="noise seed (default 2013)")
    run.add_argument("--engine", choices=("numpy", "imagej"), default="numpy",
                     help="who finds the shifts: numpy FFT or ImageJ's FHT")
    run.add_argument("--out", default="results", help="output directory (default results/)")
    run.add_argument("--examples", type=int, default=16,
                     help="noise images kept with their correlation maps (default 16)")
    run.add_argument("--save-stacks", action="store_true",
                     help="also write the full noise and aligned stacks")
    run.add_argument("--force", action="store_true", help="overwrite existing output files")
    scale = run.add_argument_group("speed and scale (results do not depend on these)")
    scale.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="run the alignment on Dask: 'local' (2-worker cluster on this "
                            "machine) or a scheduler address tcp://host:port")
    scale.add_argument("--block-size", type=int, default=None,
                       help="images per streaming block / Dask task")
    scale.add_argument("--workers", type=int, default=None, help="FFT threads (default: cores)")
    controls = run.add_argument_group("controls and your own data")
    controls.add_argument("--control-reference", metavar="PATH", default=None,
                          help="also align the same noise to this other reference")
    controls.add_argument("--classes", metavar="PATH", nargs="+", default=(),
                          help="multi-reference classification against the reference and these")
    controls.add_argument("--rotation-step", metavar="DEG", type=float, default=None,
                          help="rotation + translation alignment, in-plane angles at this step")
    controls.add_argument("--particles", metavar="FILE", default=None,
                          help="your images (MRC/MRCS or TIFF stack) instead of pure noise")
    controls.add_argument("--resample-particles", action="store_true",
                          help="resample particles to the reference size when they differ")
    controls.add_argument("--max-shift", metavar="PX", type=int, default=None,
                          help="search shifts up to PX pixels per axis (default: whole box)")
    controls.add_argument("--mask-radius", metavar="PX", type=float, default=None,
                          help="soft circular mask (5 px cosine edge) on images and reference "
                               "before correlation")
    controls.add_argument("--half-sets", action="store_true",
                          help="half-set FRC control: two halves aligned to the reference and "
                               "to it low-passed at 0.125 cycles/px")
    _add_imagej_options(run)
    run.set_defaults(handler=_run)
    from fiji_bridge import study as study_module

    study = commands.add_parser(
        "study", help="Monte Carlo: CC and Fourier-phase error vs N, power-spectrum effect",
        description="Monte Carlo trials of the experiment over a list of N: CC and Fourier-phase "
                    "MSE vs N with fitted log-log slopes by Fourier-magnitude group, and the "
                    "reference zero-padded into larger canvases.")
    study_module.configure_parser(study)  # adds --imagej/--display too
    study.set_defaults(handler=study_module.main)
    from fiji_bridge import check_command

    check = commands.add_parser(
        "check", help="is there signal in your particles beyond template bias? (matched null)",
        description="Align your particles to the template and compare CC(average, template) "
                    "and the FRC with K phase-randomised null stacks of the same power "
                    "spectrum: z-score, empirical p-value, half-set FRC.")
    check_command.configure_parser(check)  # adds --imagej/--display too
    check.set_defaults(handler=check_command.main)
    return parser


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fiji_bridge import experiment, io

    from fiji_bridge.study import parse_int_list

    counts = experiment.check_counts(
        parse_int_list(args.counts, "--counts", example=DEFAULT_COUNTS_TEXT))
    particles = None
    pixel_size = None
    if args.particles is not None:
        from fiji_bridge import particles as particle_io

        loaded = particle_io.load_particles(args.particles)
        particles = particle_io.check_particles_match(
            loaded, (args.size, args.size), allow_resample=args.resample_particles)
        pixel_size = particle_io.read_pixel_size(args.particles)
        if pixel_size is not None and particles is not loaded:  # resampled: centre crop, resize
            pixel_size *= min(loaded.shape[1:]) / args.size
        if args.counts == DEFAULT_COUNTS_TEXT:  # default counts: those the particles allow
            counts = tuple(c for c in counts if c < len(particles)) + (len(particles),)
    if args.examples < 0:
        raise ValueError(f"--examples {args.examples} must be >= 0.")
    names = list(io.RUN_FILES) + (list(io.STACK_FILES) if args.save_stacks else [])
    if args.control_reference or args.classes or args.rotation_step is not None:
        names += list(io.CONTROL_FILES)
    for name in ("block_size", "workers"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} {value} must be >= 1.")
    output = io.output_directory(args.out, names, force=args.force)  # checked before work
    if args.save_stacks:
        needed = 2 * counts[-1] * args.size * args.size * 4 * 1.01 + 2**20
        io.check_free_space(args.out, needed, what="--save-stacks (noise and aligned stacks)")
    if args.scheduler is not None and args.scheduler != "local":
        from fiji_bridge import engine

        engine.check_scheduler(args.scheduler)  # fail in seconds, before ImageJ starts
    seed = experiment.DEFAULT_SEED if args.seed is None else args.seed
    with tqdm(total=counts[-1], desc="aligning", unit="img", file=sys.stderr,
              disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        data = experiment.einstein_from_noise(
            args.reference, size=args.size, counts=counts, seed=seed, engine=args.engine,
            examples=args.examples, imagej_location=args.imagej, display=args.display,
            keep_stacks=args.save_stacks, progress=progress, particles=particles,
            control_reference=args.control_reference, class_references=args.classes,
            rotation_step=args.rotation_step, scheduler=args.scheduler,
            block_size=args.block_size, workers=args.workers, max_shift=args.max_shift,
            mask_radius=args.mask_radius, half_sets=args.half_sets)
    if pixel_size is not None:
        data.attrs["pixel_size_angstrom"] = float(pixel_size)
    with output as directory:
        io.write_run_outputs(data, directory, save_stacks=args.save_stacks)
    _print_summary(data, output.out)
    return 0


def _print_summary(data, out) -> None:
    attrs = data.attrs
    print(f"Einstein from noise: {attrs['n_images']} noise images aligned to "
          f"{attrs['reference_name']} ({attrs['size']}x{attrs['size']}), seed {attrs['seed']}, "
          f"engine {attrs['engine']}")
    print(f"ImageJ {attrs['imagej_version']} ({attrs['imagej_backend']}); averages by "
          f"{attrs['averaged_by']}")
    print(f"reference mean {attrs['reference_mean']:.4g}, stdev {attrs['reference_stdev']:.4g} "
          "(ImageJ, before v=(v-mean)/stdev)")
    print("     N   CC(aligned avg, ref)   CC(unaligned avg, ref)")
    for n, cc, cc0 in zip(data["count"].values, data["cc"].values, data["cc_unaligned"].values):
        print(f"{int(n):>6}   {cc:>20.3f}   {cc0:>22.3f}")
    print(f"shifts: dy mean {attrs['shift_dy']['mean']:.2f} sd {attrs['shift_dy']['std']:.1f}, "
          f"dx mean {attrs['shift_dx']['mean']:.2f} sd {attrs['shift_dx']['std']:.1f}")
    if "particles_vs_noise" in attrs:
        comparison = attrs["particles_vs_noise"]
        print(f"your particles: CC(average, reference) = {comparison['cc_particles']:.3f}; the "
              f"same count of pure noise gives {comparison['cc_pure_noise']:.3f}")
    if "control_other_reference" in attrs:
        other = attrs["control_other_reference"]
        print(f"control: aligned to {other['name']}, the average correlates "
              f"{other['cc_with_other']:.3f} with it and {other['cc_with_reference']:.3f} "
              "with the reference")
    if "control_classification" in attrs:
        classes = attrs["control_classification"]
        own = [row[k] for k, row in enumerate(classes["cross_cc"])]
        print("control: classification sizes " + ", ".join(
            f"{name}={size} (CC own {cc:.2f})"
            for name, size, cc in zip(classes["references"], classes["class_sizes"], own)))
        if "class_mean_peak" in classes:
            print("control: class mean peak " + ", ".join(
                "n/a" if v is None else f"{v:.1f}" for v in classes["class_mean_peak"])
                + "; each reference's mean peak over all images " + ", ".join(
                f"{v:.1f}" for v in classes["reference_mean_peak"])
                + "; reference spectral flatness " + ", ".join(
                f"{v:.3f}" for v in classes["reference_spectral_flatness"]))
    if "search_space" in attrs:
        space = attrs["search_space"]
        print(f"search space: max shift {space['max_shift']} px, mask radius "
              f"{space['mask_radius']} px")
    if "control_half_set_frc" in attrs:
        half = attrs["control_half_set_frc"]
        print(f"control: half-set FRC > {half['threshold']:g} up to "
              f"{half['same_template_last_frequency_above_threshold']} cycles/px with the "
              f"reference, {half['lowpass_template_last_frequency_above_threshold']} with it "
              f"low-passed at {half['lowpass_cutoff']:g}")
    if "control_rotation" in attrs:
        rotation = attrs["control_rotation"]
        print(f"control: rotation+translation (step {rotation['angle_step']:g} deg) "
              f"CC {rotation['cc']:.3f}")
    print(f"wrote {out}/ (figure.png, results.json, averages.tif, ...)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from fiji_bridge import doctor

        return doctor.checkup(imagej_location=args.imagej, display=args.display)
    from fiji_bridge import imagej, io

    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, ConnectionError, imagej.ImageJError,
            io.OutputError) as exc:
        # One line, no traceback: these are the user's input or machine, not a bug.
        print(f"einstein-from-noise {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"einstein-from-noise {args.command}: interrupted; nothing was written.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
