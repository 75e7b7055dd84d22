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

Every parameter lives in one frozen :class:`fiji_bridge.config.ExperimentConfig`, checked once
when it is made, so bad input fails before Java starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from fiji_bridge import __version__, align, imagej, metrics, noise, search_space
from fiji_bridge import particles as particle_io
from fiji_bridge.imagej import convert
from fiji_bridge.config import KEPT_SHIFTS_MAX, ExperimentConfig, check_streaming, configure
from fiji_bridge.reference import Reference, prepare_reference

__all__ = ["einstein_from_noise"]

#: Alignment batch (images) between progress updates on the in-memory path.
_BATCH = 250


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "std": float(values.std()),
            "min": float(values.min()), "max": float(values.max())}


def einstein_from_noise(
    reference: str | os.PathLike | np.ndarray | Any = None,
    config: ExperimentConfig | None = None,
    *,
    particles: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> xr.Dataset:
    """Align pure-noise images to a reference and average them, as in the blog.

    Parameters
    ----------
    reference : path, array or None
        Image file or array; default the bundled public-domain portrait.
    config : ExperimentConfig, optional
        Every parameter of the run (default ``ExperimentConfig()``: the blog's experiment).
    particles : (N, H, W) array, optional, keyword-only
        The user's images (normalised per image, e.g. by
        :func:`fiji_bridge.particles.load_particles`) replace the pure noise; the same count of
        pure noise is aligned too, for comparison (``attrs["particles_vs_noise"]``).
        ``n_images`` becomes N; with a search space, the pure noise is aligned in the same one.
    progress : callable, optional, keyword-only
        ``progress(done, total)`` during alignment.
    **overrides
        Fields of :class:`ExperimentConfig` (``size=64, counts=(10, 100), seed=1, ...``),
        applied over ``config`` and checked like it.

    Returns
    -------
    xarray.Dataset
        ``reference`` (y, x); ``averages`` and ``unaligned_averages`` (count, y, x); ``cc`` and
        ``cc_unaligned`` (count); ``shifts`` (image, axis=[dy, dx]); ``peaks`` (image);
        ``noise_examples``, ``aligned_examples``, ``correlation_maps`` (example, y, x; maps
        peak-centred as ImageJ shows them); with ``keep_stacks`` also ``noise`` and ``aligned``;
        ``frc`` (count, frequency): Fourier ring correlation of each average with the
        reference.  Coordinates carry ``units``: ``y``, ``x`` pixels (indices), ``count``
        counts, ``frequency`` cycles/pixel (:func:`fiji_bridge.netcdf.add_units`); save with
        :func:`fiji_bridge.netcdf.save`.
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
    config = configure(config, overrides, particles)
    if particles is not None:
        particles = np.asarray(particles, dtype=np.float32)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    handle = imagej.start(config.imagej_location, display=config.display)
    timings["imagej_start_s"] = time.perf_counter() - started

    started = time.perf_counter()
    ref: Reference = prepare_reference(reference, size=config.size)
    timings["reference_s"] = time.perf_counter() - started
    shape = ref.image.shape
    if particles is not None:
        particles = particle_io.check_particles_match(particles, shape, allow_resample=False)
    total = config.total
    if config.streaming:
        check_streaming(config, shape, particles is not None)
        return _streaming(ref, handle, config, progress, timings)

    started = time.perf_counter()
    noise_stack = noise.noise_images(config.seed, 0, total, shape) if particles is None \
        else particles
    timings["noise_s"] = time.perf_counter() - started

    started = time.perf_counter()
    examples = min(config.examples, total)
    if config.engine == "numpy":
        shifts, peaks, aligned_stack = _align_in_batches(noise_stack, ref.image, config,
                                                         progress)
        maps = align.centered(align.correlation_maps(noise_stack[:examples], ref.image,
                                                     mask_radius=config.mask_radius)) \
            if examples else np.zeros((0, *shape), np.float32)
    else:
        shifts, peaks, maps = imagej.fht_align(noise_stack, ref.image, keep_maps=examples,
                                               progress=progress)
        aligned_stack = align.apply_shifts(noise_stack, shifts)
    timings["alignment_s"] = time.perf_counter() - started

    started = time.perf_counter()
    averages, zproject_check = _imagej_averages(aligned_stack, config.counts)
    timings["z_project_s"] = time.perf_counter() - started
    # The control is not a step of the blog: numpy's running mean is enough (and halves the
    # time ImageJ spends projecting).
    unaligned = _running_means(noise_stack, config.counts).astype(np.float32)

    data = _dataset(ref, config.counts, averages=averages, unaligned=unaligned, shifts=shifts,
                    peaks=peaks, noise_examples=noise_stack[:examples],
                    aligned_examples=aligned_stack[:examples], maps=maps)
    if config.keep_stacks:
        data["noise"] = (("image", "y", "x"), noise_stack)
        data["aligned"] = (("image", "y", "x"), aligned_stack)
    _finish(data, ref, handle, config.seed, total, config.engine, "imagej_z_project", timings,
            zproject_check)
    if particles is not None:
        # The particles are aligned already; only the same count of pure noise (the seed's
        # noise, streamed in bounded memory) is aligned beside them.
        data.attrs["input"] = "particles"
        data.attrs["particles_vs_noise"] = particle_io.particles_versus_noise(
            aligned_stack.mean(axis=0, dtype=np.float64), ref.image, total, seed=config.seed,
            workers=config.workers, **(config.search_space or {}))
    else:
        data.attrs["input"] = "pure Gaussian noise"
    if config.search_space is not None:
        data.attrs["search_space"] = {**config.search_space, "mask_edge": search_space.MASK_EDGE}
    if config.half_sets:
        started = time.perf_counter()
        data.attrs["control_half_set_frc"] = _half_set_control(noise_stack, ref.image, config)
        timings["half_sets_s"] = time.perf_counter() - started
        data.attrs["timings"] = dict(timings)
    if config.controls_asked:
        started = time.perf_counter()
        _add_controls(data, ref, noise_stack, config)
        timings["controls_s"] = time.perf_counter() - started
        data.attrs["timings"] = dict(timings)
    return data


def _align_in_batches(stack: np.ndarray, reference: np.ndarray, config: ExperimentConfig,
                      progress: Callable[[int, int], None] | None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy alignment of the whole stack in batches of ``_BATCH`` (in the config's search
    space): shifts, peaks, aligned."""
    total = len(stack)
    shifts = np.empty((total, 2), dtype=np.int64)
    peaks = np.empty(total, dtype=np.float32)
    aligned = np.empty_like(stack)
    for first in range(0, total, _BATCH):
        batch = align.align_to_reference(stack[first:first + _BATCH], reference,
                                         workers=config.workers, **(config.search_space or {}))
        stop = first + len(batch.shifts)
        shifts[first:stop] = batch.shifts
        peaks[first:stop] = batch.peaks
        aligned[first:stop] = batch.aligned
        if progress is not None:
            progress(stop, total)
    return shifts, peaks, aligned


def _dataset(ref: Reference, counts: Sequence[int], *, averages: np.ndarray,
             unaligned: np.ndarray, shifts: np.ndarray, peaks: np.ndarray,
             noise_examples: np.ndarray, aligned_examples: np.ndarray,
             maps: np.ndarray) -> xr.Dataset:
    """The one layout of a run's Dataset, for the in-memory and the streaming path."""
    return xr.Dataset(
        {
            "reference": (("y", "x"), ref.image),
            "averages": (("count", "y", "x"), averages),
            "unaligned_averages": (("count", "y", "x"), unaligned),
            "shifts": (("image", "axis"), shifts),
            "peaks": (("image",), peaks),
            "noise_examples": (("example", "y", "x"), noise_examples),
            "aligned_examples": (("example", "y", "x"), aligned_examples),
            "correlation_maps": (("example", "y", "x"), np.asarray(maps, np.float32)),
        },
        coords={"count": list(counts), "axis": ["dy", "dx"],
                "label": ("count", [f"N={n}" for n in counts])},
    )


def _add_controls(data: xr.Dataset, ref: Reference, images: np.ndarray,
                  config: ExperimentConfig) -> None:
    """The controls of :func:`einstein_from_noise`, as ``control_images`` and attrs."""
    from fiji_bridge import controls

    size, rotation_step = config.size, config.rotation_step
    control_reference, class_references = config.control_reference, config.class_references
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
            "reference_spectral_flatness": [metrics.spectral_flatness(r)
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
            "Fix: please report it with `einstein-from-noise doctor` output."
        )
    return result.astype(np.float32), difference


def _streaming(ref: Reference, handle: imagej.ImageJ, config: ExperimentConfig,
               progress: Callable[[int, int], None] | None,
               timings: dict[str, float]) -> xr.Dataset:
    """Large N or Dask: the streaming engine's running sums (no full stacks, no Z Project)."""
    from fiji_bridge import engine as stream_engine

    started = time.perf_counter()
    total = config.total
    keep_shifts = total <= KEPT_SHIFTS_MAX
    result = stream_engine.stream_alignment(
        ref.image, total, seed=config.seed, counts=config.counts,
        keep_examples=min(config.examples, total), progress=progress,
        scheduler=config.scheduler, block_size=config.block_size, workers=config.workers,
        keep_shifts=keep_shifts)
    timings["alignment_s"] = time.perf_counter() - started
    if keep_shifts:
        shifts, peaks, summaries = result.shifts, result.peaks, None
    else:  # the examples' shifts and peaks; statistics of all images from the summaries
        shifts = result.example_shifts
        peaks = result.example_maps.reshape(len(shifts), -1).max(axis=1)
        summaries = _histogram_statistics(result.shift_histogram, result.peak_summary)
    data = _dataset(ref, config.counts, averages=result.aligned_means.astype(np.float32),
                    unaligned=result.unaligned_means.astype(np.float32), shifts=shifts,
                    peaks=peaks, noise_examples=result.example_noise,
                    aligned_examples=result.example_aligned,
                    maps=align.centered(result.example_maps))
    _finish(data, ref, handle, config.seed, total, "numpy", "python_running_sums", timings, None)
    if summaries is not None:
        data.attrs.update(summaries)
    data.attrs["scheduler"] = result.scheduler
    data.attrs["input"] = "pure Gaussian noise"
    return data


def _histogram_statistics(histogram: np.ndarray, peak_summary: dict) -> dict[str, Any]:
    """``shift_dy``, ``shift_dx``, ``zero_shift_fraction`` and ``peak`` attrs of every image,
    from the engine's shift histogram (counts at index ``d mod (H, W)``) and peak summary."""
    h, w = histogram.shape
    n = int(histogram.sum())
    out: dict[str, Any] = {}
    for name, axis, side in (("shift_dy", 1, h), ("shift_dx", 0, w)):
        weights = histogram.sum(axis=axis).astype(np.float64)
        index = np.arange(side)
        signed = (index + side // 2) % side - side // 2  # as fiji_bridge.align's shifts
        mean = float((weights * signed).sum() / n)
        present = signed[weights > 0]
        out[name] = {"mean": mean,
                     "std": float(np.sqrt((weights * (signed - mean) ** 2).sum() / n)),
                     "min": float(present.min()), "max": float(present.max())}
    out["zero_shift_fraction"] = float(histogram[0, 0] / n)
    out["peak"] = {key: float(peak_summary[key]) for key in ("mean", "std", "min", "max")}
    out["shifts_kept"] = (f"shifts and peaks of the example images only (N > {KEPT_SHIFTS_MAX}); "
                          "the shift and peak statistics cover all images")
    return out


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
    _add_frc_and_units(data, ref)


def _add_frc_and_units(data: xr.Dataset, ref: Reference) -> None:
    """``frc`` (count, frequency): Fourier ring correlation of each average with the reference
    (:func:`fiji_bridge.metrics.frc`, rings in cycles/pixel); units on the coordinates
    (:func:`fiji_bridge.netcdf.add_units`)."""
    from fiji_bridge import netcdf

    rows = [metrics.frc(average, ref.image) for average in data["averages"].values]
    data.coords["frequency"] = ("frequency", rows[0][0])
    data["frc"] = (("count", "frequency"), np.stack([values for _, values in rows]))
    data["frc"].attrs["description"] = "Fourier ring correlation of the aligned average with " \
                                       "the reference"
    netcdf.add_units(data)


def _half_set_control(images: np.ndarray, reference: np.ndarray,
                      config: ExperimentConfig) -> dict:
    """``attrs["control_half_set_frc"]``: the half-set FRC curves and where they cross 0.143."""
    from fiji_bridge import bias_check

    cutoff = config.half_set_cutoff
    half = bias_check.half_set_frc(images, reference, lowpass_cutoff=cutoff,
                                   workers=config.workers, **(config.search_space or {}))
    freqs = half["frequency"]

    def last_above(values):
        return bias_check.last_above_threshold(freqs, values, bias_check.FRC_THRESHOLD)

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
