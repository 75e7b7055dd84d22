"""Command line: ``einstein-from-noise doctor | run | study | check``.

All argument parsing lives here, and every argument is checked (:mod:`fiji_bridge.checks`,
:class:`fiji_bridge.config.ExperimentConfig`, :func:`fiji_bridge.bias_check.check_options`)
before Java starts. Nothing imports this module back.

What every command that writes results does (one copy, :mod:`fiji_bridge.command` and
:func:`main`):

* bad input or an unusable machine: one line ``einstein-from-noise CMD: error: ...``, status 2;
* the output folder is checked, its free space compared with an estimate of the bytes to be
  written, and locked (a second run to the same ``--out`` fails at once), all before Java
  starts; files are staged inside ``--out`` and moved into place at the end
  (:class:`fiji_bridge.io.output_directory`);
* progress on stderr (:func:`fiji_bridge.progress.progress`): a bar on a terminal, a plain
  line about every 10 s otherwise;
* SIGINT (Ctrl-C) or SIGTERM in any phase: the worker threads finish their block, ImageJ and
  its Xvfb are stopped, staged files removed, one line ``interrupted: nothing was written to
  OUT``, status 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import warnings
from collections.abc import Sequence

from fiji_bridge import command

__all__ = ["build_parser", "main", "parse_int_list", "parse_pad"]

DEFAULT_COUNTS_TEXT = "25,100,500,1000"
#: Disk space asked of ``study`` and ``check``: a JSON record, a CSV table and one or two PNG
#: figures (a few hundred KiB each), with room to spare.
_SMALL_RESULT_BYTES = 8 * 2**20


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


def _imagej_options(parser: argparse.ArgumentParser) -> None:
    from fiji_bridge import imagej  # light: Java starts only in imagej.start()

    parser.add_argument(
        "--imagej", metavar="PATH_OR_ENDPOINT", default=None,
        help="Fiji.app folder, Maven endpoint (sc.fiji:fiji) or ij.jar; default "
             "$FIJI_BRIDGE_IMAGEJ, a Fiji.app in a usual place, $IJ_JAR, /usr/share/java/ij.jar",
    )
    parser.add_argument(
        "--display", choices=imagej.DISPLAY_MODES, default="auto",
        help="AWT display for ImageJ 1.x menu commands and macros (default: auto = $DISPLAY, "
             "else Xvfb if installed, else headless)",
    )


def _common_options(parser: argparse.ArgumentParser, *, size: int, out: str) -> None:
    """--reference, --size, --seed, --out, --force (run and study)."""
    parser.add_argument("--reference", metavar="PATH", default=None,
                        help="image file ImageJ opens (default: bundled public-domain portrait)")
    parser.add_argument("--size", type=int, default=size,
                        help=f"reference side in pixels (>= 8; default {size})")
    parser.add_argument("--seed", type=int, default=None, help="noise seed (default 2013)")
    parser.add_argument("--out", default=out, help=f"output directory (default {out}/)")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")


def _search_space_options(parser) -> None:
    """--max-shift and --mask-radius (run, check and study)."""
    parser.add_argument("--max-shift", metavar="PX", type=int, default=None,
                        help="search shifts up to PX pixels per axis (default: the whole box)")
    parser.add_argument("--mask-radius", metavar="PX", type=float, default=None,
                        help="soft circular mask (5 px cosine edge) on images and reference "
                             "before correlation")


def _run_parser(run: argparse.ArgumentParser) -> None:
    _common_options(run, size=128, out="results")
    run.add_argument("--counts", default=DEFAULT_COUNTS_TEXT,
                     help="comma-separated numbers of images to average (default 25,100,500,1000)")
    run.add_argument("--engine", choices=("numpy", "imagej"), default="numpy",
                     help="who finds the shifts: numpy FFT or ImageJ's FHT")
    run.add_argument("--examples", type=int, default=16,
                     help="noise images kept with their correlation maps (default 16)")
    run.add_argument("--save-stacks", action="store_true",
                     help="also write the full noise and aligned stacks")
    run.add_argument("--netcdf", action="store_true",
                     help="also write results.nc: the whole xarray Dataset as netCDF")
    run.add_argument("--show", action="store_true",
                     help="then show the reference, averages and examples in ImageJ windows on "
                          "$DISPLAY and wait until ImageJ is closed")
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
    controls.add_argument("--half-sets", action="store_true",
                          help="half-set FRC control: two halves aligned to the reference and "
                               "to it low-passed at 0.125 cycles/px")
    _search_space_options(controls)
    _imagej_options(run)


def _study_parser(parser: argparse.ArgumentParser) -> None:
    from fiji_bridge import study  # numpy only: no xarray, no Java

    _common_options(parser, size=study.DEFAULT_SIZE, out="study")
    n_list = ",".join(map(str, study.DEFAULT_N_LIST))
    parser.add_argument("--n-list", default=n_list,
                        help=f"classic: comma-separated numbers of averaged images N "
                             f"(default {n_list})")
    parser.add_argument("--trials", type=int, default=study.DEFAULT_TRIALS,
                        help=f"classic: Monte Carlo trials, fresh noise each (default "
                             f"{study.DEFAULT_TRIALS}); trial t uses SeedSequence(seed).spawn "
                             "child t")
    parser.add_argument("--pad", default=study.DEFAULT_PAD,
                        help="classic: comma-separated canvas sizes (zero-padding): "
                             "'2x' = twice the reference side, a plain number = side in pixels "
                             f"(default {study.DEFAULT_PAD})")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler for the engine: 'local' or an address "
                             "tcp://host:8786 (default: in-process threads)")
    # issue 14: the five experiments; --n-list, --trials and --pad belong to 'classic'
    from fiji_bridge.study_experiments import EXPERIMENTS

    parser.add_argument("--experiments", default=",".join(EXPERIMENTS),
                        help="comma-separated experiments to run, from classic (CC and phase "
                             "MSE vs N per canvas; --n-list, --trials, --pad), "
                             f"{', '.join(EXPERIMENTS)}; 'all' = every one "
                             f"(default {','.join(EXPERIMENTS)})")
    parser.add_argument("--quick", action="store_true",
                        help="small N and 2 trials for the five experiments (a preview)")
    _search_space_options(parser.add_argument_group(
        "search space of every alignment (all experiments; default: the whole box, no mask)"))
    _imagej_options(parser)


def _check_parser(parser: argparse.ArgumentParser) -> None:
    from fiji_bridge.bias_check import DEFAULT_DRAWS  # numpy only: no Java

    parser.add_argument("--particles", metavar="FILE", required=True,
                        help="your particles: an MRC/MRCS or TIFF stack of square images")
    parser.add_argument("--reference", metavar="PATH", default=None,
                        help="the template, an image file ImageJ opens (default: the bundled "
                             "public-domain portrait); brought to the particles' box size")
    parser.add_argument("--out", default="check", help="output directory (default check/)")
    parser.add_argument("--force", action="store_true", help="overwrite existing output files")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS,
                        help=f"null draws K (default {DEFAULT_DRAWS}: p down to 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the null draws (default 0)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="level of the verdict (default 0.05)")
    _search_space_options(parser)
    parser.add_argument("--lowpass", metavar="CYCLES_PER_PX", type=float, default=0.125,
                        help="cutoff of the low-passed template of the half-set FRC "
                             "(default 0.125)")
    parser.add_argument("--workers", type=int, default=None, help="FFT threads (default: cores)")
    _imagej_options(parser)


def _study_experiments(text: str) -> tuple[bool, tuple[str, ...]]:
    """``--experiments`` -> (classic selected, the selected names of the five experiments)."""
    from fiji_bridge.study_experiments import parse_experiments

    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if [n.lower() for n in names] == ["all"]:
        return True, parse_experiments("all")
    classic = "classic" in names
    rest = [n for n in names if n != "classic"]
    if not rest:
        if not classic:
            parse_experiments(rest)  # raises: the list is empty
        return True, ()
    return classic, parse_experiments(rest)


def build_parser() -> argparse.ArgumentParser:
    """The ``einstein-from-noise`` parser with its four commands."""
    from fiji_bridge import __version__

    parser = argparse.ArgumentParser(
        prog="einstein-from-noise",
        description="Reproduce and measure the 'Einstein from noise' experiment with real "
                    "ImageJ/Fiji.",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s (fiji_bridge) {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="report Java, ImageJ, display; advise fixes")
    _imagej_options(doctor)
    doctor.set_defaults(handler=_doctor)
    run = commands.add_parser(
        "run", help="the blog's experiment: align noise to a reference, average, write figures",
        description="Align pure Gaussian noise images to a reference by FFT cross-correlation, "
                    "average them with ImageJ's Z Project, and write Fiji-ready files.")
    _run_parser(run)
    run.set_defaults(handler=_run)
    study = commands.add_parser(
        "study", help="Monte Carlo: true signal vs template bias, soft alignment, filtered "
                      "references, spectrum shape, convergence against theory",
        description="Monte Carlo study of the Einstein-from-noise bias, over independent trials "
                    "with standard errors: snr_sweep (a true image at amplitude s plus noise), "
                    "soft_alignment (Sigworth's weights), lowpass (filtered templates), "
                    "spectrum_shape (same phases, prescribed spectra: CC and fitted CC_inf), "
                    "convergence (phase MSE vs N and |R_k| against Balanov, Huleihel & "
                    "Bendory); 'classic' adds CC and phase MSE vs N per canvas (--n-list, "
                    "--trials, --pad). Writes study.json (one block per experiment) and "
                    "study_<experiment>.csv/.png (classic: study.csv, study_cc.png, "
                    "study_phase.png).")
    _study_parser(study)
    study.set_defaults(handler=_study)
    check = commands.add_parser(
        "check", help="is there signal in your particles beyond template bias? (matched null)",
        description="Align your particles to the template and compare CC(average, template) "
                    "and the FRC with K phase-randomised null stacks of the same power "
                    "spectrum: z-score, empirical p-value, half-set FRC.")
    _check_parser(check)
    check.set_defaults(handler=_check)
    return parser


def _doctor(args: argparse.Namespace) -> int:
    from fiji_bridge import doctor

    return doctor.checkup(imagej_location=args.imagej, display=args.display)


def _run(args: argparse.Namespace) -> int:
    from fiji_bridge import checks, experiment, io, outputs
    from fiji_bridge.config import DEFAULT_SEED, ExperimentConfig, estimate
    from fiji_bridge.progress import progress

    counts = typed = parse_int_list(args.counts, "--counts", example=DEFAULT_COUNTS_TEXT)
    command.check_files_exist(reference=args.reference, control_reference=args.control_reference,
                       classes=args.classes)
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
            counts = [c for c in counts if c < len(particles)] + [len(particles)]
    config = ExperimentConfig(  # every argument checked here, before Java starts
        size=args.size, counts=counts,
        n_images=None if particles is None else len(particles),
        seed=DEFAULT_SEED if args.seed is None else args.seed, engine=args.engine,
        examples=args.examples, imagej_location=args.imagej,
        display="existing" if args.show and args.display == "auto" else args.display,
        keep_stacks=args.save_stacks, control_reference=args.control_reference,
        class_references=args.classes, rotation_step=args.rotation_step,
        scheduler=args.scheduler, block_size=args.block_size, workers=args.workers,
        max_shift=args.max_shift, mask_radius=args.mask_radius, half_sets=args.half_sets)
    if args.counts != DEFAULT_COUNTS_TEXT:
        command.note_reordered(typed, config.counts, "--counts", "run")
    names = outputs.run_files(examples=config.examples > 0, controls=config.controls_asked,
                         save_stacks=config.keep_stacks, netcdf=args.netcdf)
    every_name = outputs.run_files(examples=True, controls=True, save_stacks=True, netcdf=True)
    n_controls = ((config.control_reference is not None) + (config.rotation_step is not None)
                  + (len(config.class_references) + 1 if config.class_references else 0))
    disk = io.estimate_run_bytes(names, size=config.size, n_images=config.total,
                                 n_counts=len(config.counts), examples=config.examples,
                                 n_controls=n_controls)
    cost = estimate(config)
    checks.fits_in_memory(cost.memory_bytes, f"{config.total:,} images of {config.size}x"
                          f"{config.size}", fix="use fewer images (--counts), a smaller --size, "
                          "or leave out --save-stacks and the controls")
    command.check_scheduler(config.scheduler)
    with command.output_folder(args, names, replaces=every_name, needed_bytes=disk) as output:
        command.announce("run", f"{config.total:,} images of {config.size}x{config.size}", cost.seconds,
                  cost.memory_bytes, disk, args.out)
        with progress(config.total, "aligning") as update:
            data = experiment.einstein_from_noise(args.reference, config, particles=particles,
                                                  progress=update)
        if pixel_size is not None:
            data.attrs["pixel_size_angstrom"] = float(pixel_size)
        if getattr(args, "startup_s", None) is not None:  # interpreter start, imports, parsing
            data.attrs.setdefault("timings", {})["startup_s"] = args.startup_s
        with command.staged(output, "run") as folder:
            outputs.write_run_outputs(data, folder, save_stacks=config.keep_stacks,
                                 netcdf=args.netcdf)
    _print_summary(data, output.out)
    if args.show:
        from fiji_bridge.imagej import show_run

        show_run(output.out)
    return 0


def _study(args: argparse.Namespace) -> int:
    from fiji_bridge import __version__, checks, imagej, io, outputs, study
    from fiji_bridge.config import DEFAULT_SEED, alignment_seconds
    from fiji_bridge.progress import progress
    from fiji_bridge.reference import prepare_reference
    from fiji_bridge.search_space import record as search_space_record
    from fiji_bridge.study_experiments import EXPERIMENTS

    started = time.perf_counter()
    size = checks.size(args.size)
    typed = parse_int_list(args.n_list, "--n-list")
    n_list = checks.counts(typed, name="n_list")
    command.note_reordered(typed, n_list, "--n-list", "study")
    trials = checks.integer(args.trials, "trials", minimum=1, fix="e.g. --trials 3")
    seed = checks.seed(DEFAULT_SEED if args.seed is None else args.seed)
    canvases = study.check_canvases(parse_pad(args.pad, size), (size, size))
    space = search_space_record(checks.max_shift(args.max_shift),
                                checks.mask_radius(args.mask_radius))
    in_space = "" if space is None else f"; search space: {_space_text(space)}"
    classic, experiments = _study_experiments(args.experiments)
    command.check_files_exist(reference=args.reference)
    command.check_scheduler(args.scheduler)
    files = outputs.study_files(classic=classic, experiments=experiments)
    total = trials * len(canvases) * n_list[-1] if classic else 0
    seconds = alignment_seconds(sum(int(c) ** 2 for c in canvases) * trials * n_list[-1]
                                if classic else 0)

    every_file = outputs.study_files(experiments=EXPERIMENTS)  # --force replaces them all
    with command.output_folder(args, files, replaces=every_file, needed_bytes=_SMALL_RESULT_BYTES) as output:
        if classic:
            command.announce("study", f"{total:,} images", seconds, 512 * 2**20, _SMALL_RESULT_BYTES,
                      args.out)
        imagej.start(args.imagej, display=args.display)
        ref = prepare_reference(args.reference, size=size)
        ds = slopes = None
        study_s = 0.0
        if classic:
            with progress(total, "study") as update:
                t0 = time.perf_counter()
                ds = study.run_study(ref.image, n_list=n_list, trials=trials, seed=seed,
                                     canvases=canvases, scheduler=args.scheduler,
                                     progress=update, max_shift=args.max_shift,
                                     mask_radius=args.mask_radius)
                study_s = time.perf_counter() - t0
            slopes = study.fit_slopes(ds)
        blocks, experiments_s = _run_experiments(ref.image, experiments, seed, args)
        extra = dict(fiji_bridge_version=__version__, reference=ref.name, reference_size=size,
                     scheduler=args.scheduler or "in-process", study_s=round(study_s, 3),
                     experiments=(["classic"] if classic else []) + list(experiments),
                     experiments_s=round(experiments_s, 3), quick=bool(args.quick),
                     search_space=space, total_s=round(time.perf_counter() - started, 3))
        if classic:
            record = outputs.study_record(ds, slopes, pad=args.pad, **extra)
        else:
            record = io.plain({**extra, "seed": seed})
        record.update(outputs.experiments_record(blocks))
        with command.staged(output, "study") as directory:
            outputs.write_study_outputs(ds, slopes, record, directory, blocks)
    if classic:
        header = (f"Einstein-from-noise study: reference {ref.name} ({size}x{size}), canvases "
                  f"{', '.join(str(int(c)) for c in canvases)}, {trials} trial(s) per N, seed "
                  f"{seed}; {study_s:.1f} s{in_space}")
        print(study.summary_text(ds, slopes, header=header))
    if blocks:
        print(f"Experiments on {ref.name} ({size}x{size}), seed {seed}, {experiments_s:.1f} s"
              f"{in_space} (± = standard error over independent trials):")
        for block in blocks.values():
            print(f"- {block['headline']}")
    print(f"wrote {output.out}/ ({', '.join(files)})")
    return 0


def _run_experiments(image, experiments: tuple[str, ...], seed: int,
                     args: argparse.Namespace) -> tuple[dict, float]:
    """The selected experiments of issue 14, with progress; ``(blocks, seconds)``."""
    if not experiments:
        return {}, 0.0
    from fiji_bridge import study_experiments
    from fiji_bridge.progress import progress

    options = study_experiments.QUICK if args.quick else None
    total = study_experiments.planned_images(experiments, options)
    with progress(total, "experiments") as update:
        t0 = time.perf_counter()
        blocks = study_experiments.run_experiments(
            image, experiments, seed=seed, scheduler=args.scheduler, progress=update,
            options=options, max_shift=args.max_shift, mask_radius=args.mask_radius)
    return blocks, time.perf_counter() - t0


def _check(args: argparse.Namespace) -> int:
    from fiji_bridge import bias_check, check_command, checks, io, outputs
    from fiji_bridge.progress import progress

    options = bias_check.check_options(  # every option checked here, before Java starts
        draws=args.draws, seed=args.seed, alpha=args.alpha, lowpass_cutoff=args.lowpass,
        max_shift=args.max_shift, mask_radius=args.mask_radius)
    workers = None if args.workers is None else checks.workers(args.workers)
    command.check_files_exist(particles=args.particles, reference=args.reference)
    with command.output_folder(args, outputs.check_files(), needed_bytes=_SMALL_RESULT_BYTES) as output:
        with progress(options["draws"] + 3, "null draws", unit="pass") as update:
            result, record = check_command.check_particles(
                args.particles, args.reference, options, workers=workers,
                imagej_location=args.imagej, display=args.display, progress=update)
        with command.staged(output, "check") as folder:
            outputs.write_check_outputs(result, record, folder)
    print(f"checked {record['n_particles']} particles from {args.particles} against "
          f"{record['reference_name']} prepared by ImageJ {record['imagej_version']}")
    print(check_command.summary_text(record))
    print(f"wrote {output.out}/ ({', '.join(outputs.check_files())})")
    return 0


def _space_text(space: dict) -> str:
    """``max shift 3 px, mask radius None px`` from a search-space record."""
    return f"max shift {space['max_shift']} px, mask radius {space['mask_radius']} px"


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
        print(f"search space: {_space_text(attrs['search_space'])}")
    if "control_half_set_frc" in attrs:
        from fiji_bridge.bias_check import half_set_line

        print("control: " + half_set_line(attrs["control_half_set_frc"], "reference"))
    if "control_rotation" in attrs:
        rotation = attrs["control_rotation"]
        print(f"control: rotation+translation (step {rotation['angle_step']:g} deg) "
              f"CC {rotation['cc']:.3f}")
    print(f"wrote {out}/ (report.html, figure.png, results.json, averages.tif, ...)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``einstein-from-noise`` with ``argv``; return the exit status.

    Bad input or an unusable machine: one line on stderr, status 2, nothing written.
    SIGINT or SIGTERM: one line ``interrupted: nothing was written to OUT``, status 130 or
    143 (128 + the signal), nothing written (see the module docstring).
    """
    args = build_parser().parse_args(argv)
    args.startup_s = command.process_age()
    if args.command == "doctor":
        return args.handler(args)
    from fiji_bridge import imagej, io

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"einstein-from-noise {args.command}: warning: {message}", file=sys.stderr)

    received: list[int] = []
    numbers = (signal.SIGINT, signal.SIGTERM)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {number: signal.getsignal(number) for number in numbers}
    shown = warnings.showwarning
    warnings.showwarning = one_line_warning  # e.g. an upscaled reference: one line, no source
    if in_main_thread:  # only there can Python handle signals
        for number in numbers:
            signal.signal(number, command.on_signal(received))
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, ConnectionError, imagej.ImageJError,
            io.OutputError) as exc:
        # One line, no traceback: these are the user's input or machine, not a bug.
        print(f"einstein-from-noise {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if in_main_thread:
            for number in numbers:
                signal.signal(number, signal.SIG_IGN)
        command.stop_imagej()
        output = getattr(args, "output", None)
        if output is not None and output.committed:
            what = f"the results in {output.out}/ were complete when it came"
        else:
            what = f"nothing was written to {args.out}"
        print(f"einstein-from-noise {args.command}: interrupted: {what}", file=sys.stderr)
        return 128 + (received[0] if received else signal.SIGINT)
    finally:  # as they were, for a caller in this process (a test, a notebook)
        warnings.showwarning = shown
        if in_main_thread and not received:  # after an interrupt, the end stays uncut
            for number, handler in previous.items():
                signal.signal(number, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
