"""The blog's "Einstein from noise" experiment end to end, returning an ``xarray.Dataset``.

1. Reference: ImageJ crops, resizes, converts to 32-bit and normalises it
   (:func:`fiji_bridge.reference.prepare_reference`).
2. Noise: ``max(counts)`` float32 N(0, 1) images from the seed (:mod:`fiji_bridge.noise`).
3. Alignment: cyclic FFT cross-correlation with the reference, translation at the peak
   (:mod:`fiji_bridge.align`), or ImageJ's own FHT (``engine="imagej"``); both give the same
   shifts.
4. Averages: ImageJ Image>Stacks>Z Project "Average Intensity" over slices 1..n of the aligned
   stack, for each n in ``counts``, checked against numpy's mean.
5. Control: the same averages without alignment (numpy running means).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from fiji_bridge import __version__, align, convert, imagej, metrics, noise
from fiji_bridge.reference import Reference, prepare_reference

__all__ = ["DEFAULT_COUNTS", "DEFAULT_SEED", "ENGINES", "check_counts", "einstein_from_noise"]

#: The blog's counts of averaged images.
DEFAULT_COUNTS = (25, 100, 500, 1000)
#: Default seed (Henderson's "Avoiding the pitfalls of single particle cryo-EM: Einstein from
#: noise" appeared in 2013).
DEFAULT_SEED = 2013
ENGINES = ("numpy", "imagej")
#: Alignment batch (images) between progress updates on the in-memory path.
_BATCH = 250
#: Above this many bytes of noise stack the ImageJ Z Project route is not used: the averages
#: come from the streaming engine's running sums instead (memory stays flat).
IN_MEMORY_BYTES = 512 * 2**20


def check_counts(counts: Iterable[Any]) -> tuple[int, ...]:
    """Sorted unique positive ints; a clear ValueError otherwise."""
    try:
        values = [int(c) for c in counts]
        exact = all(float(c) == int(c) for c in counts)
    except (TypeError, ValueError):
        raise ValueError(
            f"counts={counts!r} must be positive whole numbers, e.g. 25,100,500,1000."
        ) from None
    if not values or not exact or min(values) < 1:
        raise ValueError(
            f"counts={list(counts)!r}: every count must be a positive whole number and at least "
            "one is needed. Fix: e.g. --counts 25,100,500,1000."
        )
    return tuple(sorted(set(values)))


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max())}


def einstein_from_noise(
    reference: str | os.PathLike | np.ndarray | Any = None,
    *,
    size: int = 128,
    counts: Sequence[int] = DEFAULT_COUNTS,
    n_images: int | None = None,
    seed: int = DEFAULT_SEED,
    engine: str = "numpy",
    examples: int = 16,
    imagej_location: str | None = None,
    display: str = "auto",
    keep_stacks: bool = False,
    progress: Callable[[int, int], None] | None = None,
    particles: np.ndarray | None = None,
    control_reference: str | os.PathLike | np.ndarray | None = None,
    class_references: Sequence[Any] = (),
    rotation_step: float | None = None,
    scheduler: str | None = None,
    block_size: int | None = None,
    workers: int | None = None,
    max_shift: int | None = None,
    mask_radius: float | None = None,
    half_sets: bool = False,
    half_set_cutoff: float = 0.125,
) -> xr.Dataset:
    """Align pure-noise images to a reference and average them, as in the blog.

    Parameters
    ----------
    reference : path, array or None
        Image file or array; default the bundled public-domain portrait.
    size : int, keyword-only
        Side of the square reference (>= 8).  ``engine="imagej"`` needs a power of 2.
    counts : sequence of int, keyword-only
        Average the first n aligned images for each n.
    n_images : int, optional, keyword-only
        Number of noise images; default ``max(counts)``.  Every count must be <= n_images.
    seed : int, keyword-only
        Seed of the noise (image i depends only on the seed and i).
    engine : {"numpy", "imagej"}, keyword-only
        Who finds the shifts: numpy's FFT or ImageJ's FHT.
    examples : int, keyword-only
        How many of the first images to keep with their correlation maps.
    imagej_location, display : keyword-only
        Passed to :func:`fiji_bridge.imagej.start`.
    keep_stacks : bool, keyword-only
        Also return the full ``noise`` and ``aligned`` stacks.
    progress : callable, optional, keyword-only
        ``progress(done, total)`` during alignment.
    particles : (N, H, W) array, optional, keyword-only
        The user's images (normalised per image, e.g. by
        :func:`fiji_bridge.particles.load_particles`) replace the pure noise; the same count of
        pure noise is aligned too, for comparison (``attrs["particles_vs_noise"]``).
    control_reference : path or array, optional, keyword-only
        Control: align the same noise to this other reference; its average follows the
        reference it was aligned to, not the data.
    class_references : sequence of paths or arrays, keyword-only
        Control: multi-reference classification of the same noise against the reference plus
        these; class sizes and class averages.
    rotation_step : float, optional, keyword-only
        Control: rotation + translation alignment with in-plane angles at this step (degrees).
    scheduler : str, optional, keyword-only
        ``"local"`` or a Dask scheduler address (``tcp://host:port``): align on a Dask cluster
        with the streaming engine (averages from its exact running sums; no ImageJ Z Project).
    block_size, workers : int, optional, keyword-only
        Streaming block size (images) and FFT threads; results do not depend on them.
    max_shift, mask_radius : optional, keyword-only
        The search space (:func:`fiji_bridge.align.align_to_reference`): shifts up to
        ``max_shift`` pixels per axis, a soft circular mask of radius ``mask_radius`` applied to
        the images and the reference before correlation. ``engine="numpy"``, in-memory path
        only; recorded in ``attrs["search_space"]``. The particles' pure-noise comparison uses
        the same search space.
    half_sets : bool, keyword-only
        Control: half-set FRC (:func:`fiji_bridge.bias_check.half_set_frc`): the images split
        in two halves, each aligned to the reference and to the reference low-passed at
        ``half_set_cutoff`` cycles/pixel; FRC between the half averages in
        ``attrs["control_half_set_frc"]``.

    Returns
    -------
    xarray.Dataset
        ``reference`` (y, x); ``averages`` and ``unaligned_averages`` (count, y, x); ``cc`` and
        ``cc_unaligned`` (count); ``shifts`` (image, axis=[dy, dx]); ``peaks`` (image);
        ``noise_examples``, ``aligned_examples``, ``correlation_maps`` (example, y, x; maps
        peak-centred as ImageJ shows them); with ``keep_stacks`` also ``noise`` and ``aligned``.
        ``attrs`` hold every parameter, versions and checks (see ``results.json``).

    Notes
    -----
    Shift convention (:mod:`fiji_bridge.align`): ``c[d] = Σ_p n[p + d] r[p]``, ``d`` at the
    maximum, aligned image ``np.roll(n, (-dy, -dx), axis=(0, 1))``.

    References
    ----------
    .. [1] Shatsky M, Hall RJ, Brenner SE, Glaeser RM (2009). A method for the alignment of
       heterogeneous macromolecules from electron microscopy. J Struct Biol 166:67-78.
    .. [2] Henderson R (2013). Avoiding the pitfalls of single particle cryo-electron
       microscopy: Einstein from noise. PNAS 110:18037-18041.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is not one of {ENGINES}. Fix: --engine numpy.")
    counts = check_counts(counts)
    if particles is not None:
        particles = np.asarray(particles, dtype=np.float32)
        if n_images is not None and int(n_images) != len(particles):
            raise ValueError("n_images must equal the number of particles (or be left out).")
        n_images = len(particles)
    total = counts[-1] if n_images is None else int(n_images)
    if total < counts[-1]:
        raise ValueError(
            f"count {counts[-1]} is larger than the number of noise images ({total}). Fix: "
            "lower --counts or raise the number of images."
        )
    if rotation_step is not None and not 0 < float(rotation_step) <= 180:
        raise ValueError(
            f"rotation step {rotation_step!r}: the angle step must be in (0, 180] degrees. "
            "Fix: e.g. --rotation-step 10."
        )
    if isinstance(examples, bool) or int(examples) < 0:
        raise ValueError(f"examples={examples!r} must be >= 0.")
    examples = min(int(examples), total)
    for name, value in (("block_size", block_size), ("workers", workers)):
        if value is not None and (isinstance(value, bool) or int(value) < 1):
            raise ValueError(f"{name}={value!r} must be a whole number >= 1. Fix: e.g. "
                             f"--{name.replace('_', '-')} {64 if name == 'block_size' else 2}.")
    search_space = {"max_shift": max_shift, "mask_radius": mask_radius}
    if max_shift is not None or mask_radius is not None:
        align.search_window((8, 8), 0 if max_shift is None else max_shift)  # type/value checks
        if mask_radius is not None:
            align.soft_circular_mask((8, 8), mask_radius)
        if engine != "numpy" or scheduler is not None:
            raise ValueError("--max-shift and --mask-radius are applied by the numpy alignment "
                             "in this process. Fix: use --engine numpy without --scheduler.")
    if engine == "imagej":
        imagej._check_fht_size(int(size), int(size))
        if scheduler is not None:
            raise ValueError("engine='imagej' runs in this process; --scheduler needs "
                             "--engine numpy.")
    timings: dict[str, float] = {}

    started = time.perf_counter()
    handle = imagej.start(imagej_location, display=display)
    timings["imagej_start_s"] = time.perf_counter() - started

    started = time.perf_counter()
    ref: Reference = prepare_reference(reference, size=size)
    timings["reference_s"] = time.perf_counter() - started
    shape = ref.image.shape
    controls_asked = (control_reference is not None or len(class_references) > 0
                      or rotation_step is not None)
    if particles is not None:
        from fiji_bridge import particles as particle_io

        particles = particle_io.check_particles_match(particles, shape, allow_resample=False)
    streaming = scheduler is not None or total * shape[0] * shape[1] * 4 > IN_MEMORY_BYTES
    if streaming:
        if particles is not None or controls_asked or half_sets or max_shift is not None \
                or mask_radius is not None:
            raise ValueError(
                "Particles and controls run in this process on the in-memory path (at most "
                f"{IN_MEMORY_BYTES // 2**20} MiB of images, no --scheduler). Fix: use fewer "
                "images or leave out --scheduler."
            )
        if engine == "imagej" or keep_stacks:
            raise ValueError(
                f"{total} images of {shape[0]}x{shape[1]} do not fit the in-memory path "
                f"(> {IN_MEMORY_BYTES // 2**20} MiB per stack) that engine='imagej' and saved "
                "stacks need. Fix: use fewer images, or --engine numpy without --save-stacks."
            )
        return _streaming(ref, handle, counts, total, seed, examples, progress, timings,
                          scheduler=scheduler, block_size=block_size, workers=workers)

    started = time.perf_counter()
    noise_stack = noise.noise_images(seed, 0, total, shape) if particles is None else particles
    timings["noise_s"] = time.perf_counter() - started

    started = time.perf_counter()
    if engine == "numpy":
        shifts = np.empty((total, 2), dtype=np.int64)
        peaks = np.empty(total, dtype=np.float32)
        aligned_stack = np.empty_like(noise_stack)
        for first in range(0, total, _BATCH):
            batch = align.align_to_reference(noise_stack[first:first + _BATCH], ref.image,
                                             workers=workers, **search_space)
            stop = first + len(batch.shifts)
            shifts[first:stop] = batch.shifts
            peaks[first:stop] = batch.peaks
            aligned_stack[first:stop] = batch.aligned
            if progress is not None:
                progress(stop, total)
        maps = align.centered(align.correlation_maps(noise_stack[:examples], ref.image,
                                                     mask_radius=mask_radius)) \
            if examples else np.zeros((0, *shape), np.float32)
    else:
        shifts, peaks, maps = imagej.fht_align(noise_stack, ref.image, keep_maps=examples,
                                               progress=progress)
        aligned_stack = align.apply_shifts(noise_stack, shifts)
    timings["alignment_s"] = time.perf_counter() - started

    started = time.perf_counter()
    labels = [f"N={n}" for n in counts]
    averages, zproject_check = _imagej_averages(aligned_stack, counts)
    timings["z_project_s"] = time.perf_counter() - started
    # The control is not a step of the blog: numpy's running mean is enough (and halves the
    # time ImageJ spends projecting).
    unaligned = _running_means(noise_stack, counts).astype(np.float32)

    data = xr.Dataset(
        {
            "reference": (("y", "x"), ref.image),
            "averages": (("count", "y", "x"), averages),
            "unaligned_averages": (("count", "y", "x"), unaligned),
            "shifts": (("image", "axis"), shifts),
            "peaks": (("image",), peaks),
            "noise_examples": (("example", "y", "x"), noise_stack[:examples]),
            "aligned_examples": (("example", "y", "x"), aligned_stack[:examples]),
            "correlation_maps": (("example", "y", "x"), np.asarray(maps, np.float32)),
        },
        coords={"count": list(counts), "axis": ["dy", "dx"],
                "label": ("count", labels)},
    )
    if keep_stacks:
        data["noise"] = (("image", "y", "x"), noise_stack)
        data["aligned"] = (("image", "y", "x"), aligned_stack)
    _finish(data, ref, handle, seed, total, engine, "imagej_z_project", timings,
            zproject_check)
    if particles is not None:
        # The particles are aligned already; only the same count of pure noise (the seed's
        # noise, streamed in bounded memory) is aligned beside them.
        from fiji_bridge import engine as stream_engine

        if max_shift is None and mask_radius is None:
            pure_noise = stream_engine.stream_alignment(
                ref.image, total, seed=seed, counts=[total], keep_examples=0,
                workers=workers).aligned_means[0]
        else:
            pure_noise = _aligned_noise_mean(ref.image, total, seed, workers, search_space)
        data.attrs["input"] = "particles"
        data.attrs["particles_vs_noise"] = {
            "n_images": int(total),
            "cc_particles": float(metrics.pearson_cc(aligned_stack.mean(axis=0, dtype=np.float64),
                                                     ref.image)),
            "cc_pure_noise": float(metrics.pearson_cc(pure_noise, ref.image)),
        }
    else:
        data.attrs["input"] = "pure Gaussian noise"
    if max_shift is not None or mask_radius is not None:
        data.attrs["search_space"] = {
            "max_shift": None if max_shift is None else int(max_shift),
            "mask_radius": None if mask_radius is None else float(mask_radius),
            "mask_edge": align.MASK_EDGE,
        }
    if half_sets:
        started = time.perf_counter()
        data.attrs["control_half_set_frc"] = _half_set_control(
            noise_stack, ref.image, half_set_cutoff, workers, search_space)
        timings["half_sets_s"] = time.perf_counter() - started
        data.attrs["timings"] = dict(timings)
    if controls_asked:
        started = time.perf_counter()
        _add_controls(data, ref, noise_stack, size, control_reference, class_references,
                      rotation_step)
        timings["controls_s"] = time.perf_counter() - started
        data.attrs["timings"] = dict(timings)
    return data


def _add_controls(data: xr.Dataset, ref: Reference, images: np.ndarray, size: int,
                  control_reference: Any, class_references: Sequence[Any],
                  rotation_step: float | None) -> None:
    """The controls of :func:`einstein_from_noise`, as ``control_images`` and attrs."""
    from fiji_bridge import controls

    panels: list[np.ndarray] = []
    titles: list[str] = []
    if control_reference is not None:
        other = prepare_reference(control_reference, size=size)
        result = controls.different_reference_control(images, ref.image, other.image)
        # cc[i, j] = CC(average aligned to reference i, reference j); i, j = 0 (ours), 1 (other)
        data.attrs["control_other_reference"] = {
            "name": other.name,
            "cc_with_other": float(result.cc[1, 1]),
            "cc_with_reference": float(result.cc[1, 0]),
        }
        panels.append(result.average_b)
        titles.append(f"aligned to {other.name}\nCC other={result.cc[1, 1]:.2f} "
                      f"ours={result.cc[1, 0]:.2f}")
    if class_references:
        others = [prepare_reference(item, size=size) for item in class_references]
        references = np.stack([ref.image] + [o.image for o in others])
        names = [ref.name] + [o.name for o in others]
        result = controls.classify(images, references)
        data.attrs["control_classification"] = {
            "references": names,
            "class_sizes": [int(n) for n in result.class_sizes],
            "cross_cc": np.asarray(result.cross_cc).tolist(),
            "class_mean_peak": [None if np.isnan(v) else float(v)
                                for v in controls.class_mean_peaks(result)],
            "reference_mean_peak": [float(v) for v in result.reference_mean_peaks],
            "reference_spectral_flatness": [controls.spectral_flatness(r)
                                            for r in result.references],
        }
        for k, name in enumerate(names):
            panels.append(result.class_averages[k])
            titles.append(f"class {k} {name} (n={int(result.class_sizes[k])})\n"
                          f"CC own={result.cross_cc[k, k]:.2f}")
    if rotation_step is not None:
        result = controls.align_rotations(images, ref.image, angle_step=rotation_step)
        cc = float(metrics.pearson_cc(result.average, ref.image))
        data.attrs["control_rotation"] = {"angle_step": float(rotation_step), "cc": cc}
        panels.append(result.average)
        titles.append(f"rotation+translation\nstep {rotation_step:g}° CC={cc:.2f}")
    data["control_images"] = (("control", "y", "x"), np.stack(panels).astype(np.float32))
    data.coords["control_title"] = ("control", titles)


def _running_means(stack: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """float64 means of slices 1..n of ``stack`` for each n in ``counts`` (sorted)."""
    cumulative = np.cumsum(stack[: counts[-1]], axis=0, dtype=np.float64)
    return np.stack([cumulative[n - 1] / n for n in counts])


def _imagej_averages(stack: np.ndarray, counts: Sequence[int]) -> tuple[np.ndarray, float]:
    """ImageJ Z Project Average of slices 1..n for each n, and the largest |ImageJ - numpy|."""
    imp = convert.to_imageplus(stack[: counts[-1]], title="stack")
    result = np.stack([
        convert.from_imageplus(imagej.z_project_average(imp, 1, n)).values for n in counts
    ])
    python_means = _running_means(stack, counts)
    difference = float(np.abs(result - python_means).max())
    # ImageJ averages in double and rounds to float32: anything beyond float rounding is a bug.
    tolerance = 1e-5 * max(1.0, float(np.abs(python_means).max()))
    if difference > tolerance:
        raise imagej.ImageJError(
            f"ImageJ's Z Project average differs from numpy's mean by {difference:.3g} "
            f"(tolerance {tolerance:.1g}); this ImageJ's ZProjector is not trustworthy here. "
            "Please report it with `einstein-from-noise doctor` output."
        )
    return result.astype(np.float32), difference


def _streaming(ref, handle, counts, total, seed, examples, progress, timings, *,
               scheduler=None, block_size=None, workers=None) -> xr.Dataset:
    """Large N or Dask: the streaming engine's running sums (no full stacks, no Z Project)."""
    from fiji_bridge import engine as stream_engine

    started = time.perf_counter()
    result = stream_engine.stream_alignment(
        ref.image, total, seed=seed, counts=counts, keep_examples=examples, progress=progress,
        scheduler=scheduler, block_size=block_size, workers=workers)
    timings["alignment_s"] = time.perf_counter() - started
    data = xr.Dataset(
        {
            "reference": (("y", "x"), ref.image),
            "averages": (("count", "y", "x"), result.aligned_means.astype(np.float32)),
            "unaligned_averages": (("count", "y", "x"),
                                   result.unaligned_means.astype(np.float32)),
            "shifts": (("image", "axis"), result.shifts),
            "peaks": (("image",), result.peaks),
            "noise_examples": (("example", "y", "x"), result.example_noise),
            "aligned_examples": (("example", "y", "x"), result.example_aligned),
            "correlation_maps": (("example", "y", "x"), align.centered(result.example_maps)),
        },
        coords={"count": list(counts), "axis": ["dy", "dx"],
                "label": ("count", [f"N={n}" for n in counts])},
    )
    _finish(data, ref, handle, seed, total, "numpy", "python_running_sums", timings, None)
    data.attrs["scheduler"] = result.scheduler
    data.attrs["input"] = "pure Gaussian noise"
    return data


def _finish(data: xr.Dataset, ref: Reference, handle: imagej.ImageJ, seed: int, total: int,
            engine: str, averaged_by: str, timings: dict, zproject_check: float | None) -> None:
    cc = metrics.pearson_cc(data["averages"].values, ref.image)
    cc_unaligned = metrics.pearson_cc(data["unaligned_averages"].values, ref.image)
    data["cc"] = ("count", np.asarray(cc, dtype=np.float64))
    data["cc_unaligned"] = ("count", np.asarray(cc_unaligned, dtype=np.float64))
    shifts = data["shifts"].values
    data.attrs.update({
        "package_version": __version__,
        "imagej_version": handle.version,
        "imagej_backend": handle.backend,
        "imagej_source": handle.source.location,
        "imagej_quirks": sorted(handle.quirks),
        "engine": engine,
        "averaged_by": averaged_by,
        "zproject_vs_numpy_max_abs_diff": zproject_check,
        "seed": int(seed),
        "n_images": int(total),
        "size": int(ref.image.shape[0]),
        "reference_name": ref.name,
        "reference_mean": ref.mean,
        "reference_stdev": ref.stdev,
        "reference_original_shape": list(ref.original_shape),
        "reference_crop_xywh": list(ref.crop),
        "shift_dy": _stats(shifts[:, 0]),
        "shift_dx": _stats(shifts[:, 1]),
        "zero_shift_fraction": float(np.mean(np.all(shifts == 0, axis=1))),
        "peak": _stats(data["peaks"].values),
        "timings": dict(timings),
    })


def _aligned_noise_mean(reference: np.ndarray, total: int, seed: int, workers, search_space):
    """Mean of the seed's first ``total`` noise images aligned within ``search_space``."""
    shape = reference.shape
    acc = np.zeros(shape, dtype=np.float64)
    for first in range(0, total, _BATCH):
        stop = min(first + _BATCH, total)
        batch = align.align_to_reference(noise.noise_images(seed, first, stop, shape), reference,
                                         workers=workers, **search_space)
        acc += batch.aligned.sum(axis=0, dtype=np.float64)
    return acc / total


def _half_set_control(images: np.ndarray, reference: np.ndarray, cutoff: float, workers,
                      search_space) -> dict:
    """``attrs["control_half_set_frc"]``: the half-set FRC curves and where they cross 0.143."""
    from fiji_bridge import bias_check

    half = bias_check.half_set_frc(images, reference, lowpass_cutoff=cutoff, workers=workers,
                                   **search_space)
    freqs = half["frequency"]

    def last_above(values):
        below = np.flatnonzero(~(values > bias_check.FRC_THRESHOLD))
        stop = int(below[0]) if below.size else values.size
        return None if stop == 0 else float(freqs[stop - 1])

    return {
        "split": "even / odd image indices",
        "half_sizes": half["half_sizes"],
        "lowpass_cutoff": float(cutoff),
        "threshold": bias_check.FRC_THRESHOLD,
        "frequency": [float(f) for f in freqs],
        "frc_same_template": [float(v) for v in half["frc_same_template"]],
        "frc_lowpass_template": [float(v) for v in half["frc_lowpass_template"]],
        "same_template_last_frequency_above_threshold": last_above(half["frc_same_template"]),
        "lowpass_template_last_frequency_above_threshold":
            last_above(half["frc_lowpass_template"]),
    }
