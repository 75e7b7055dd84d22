"""Every parameter of a run in one frozen :class:`ExperimentConfig`, checked once when it is
made (:mod:`fiji_bridge.checks`), so bad input fails before Java starts; and what a run will
take (:func:`estimate`), also before any work. Pure Python: no xarray, no Java.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from fiji_bridge import checks
from fiji_bridge.scheduler import check_scheduler_spec

__all__ = ["DEFAULT_COUNTS", "DEFAULT_SEED", "ENGINES", "IN_MEMORY_BYTES", "KEPT_SHIFTS_MAX",
           "Estimate", "ExperimentConfig", "alignment_seconds", "check_streaming", "configure", "estimate"]

#: The blog's counts of averaged images.
DEFAULT_COUNTS = (25, 100, 500, 1000)
#: Default seed (Henderson's "Avoiding the pitfalls of single particle cryo-EM: Einstein from
#: noise" appeared in 2013).
DEFAULT_SEED = 2013
ENGINES = ("numpy", "imagej")
#: Above this many bytes of noise stack the ImageJ Z Project route is not used: the averages
#: come from the streaming engine's running sums instead (memory stays flat).
IN_MEMORY_BYTES = 512 * 2**20
#: Above this many images the streaming path keeps the shift and peak of the example images
#: only; statistics of all of them come from the engine's shift histogram and peak summary, so
#: memory stays flat at any N (every image's shift would take 8 bytes).
KEPT_SHIFTS_MAX = 2**20
#: Seconds per pixel and FFT thread of the numpy alignment: 19,600 images/s of 128 x 128 on 2
#: threads (README, "Speed and scale", ``make bench``).
_SECONDS_PER_PIXEL = 2 / (19600 * 128 * 128)
#: The same for ImageJ's FHT loop (one thread): 1,490 images/s of 128 x 128.
_SECONDS_PER_PIXEL_IMAGEJ = 1 / (1490 * 128 * 128)
#: Python, numpy, xarray and the JVM with ImageJ, before any image (peak RSS, VmHWM, of
#: ``run --counts 25`` at 128 x 128: 295 MiB; rounded up).
_BASELINE_BYTES = 512 * 2**20
#: Peak memory of the in-memory path in copies of the noise stack (``run --counts 4000`` at
#: 128 x 128, a 250 MiB stack: VmHWM 2.06 GiB, i.e. 295 MiB + 7.1 stacks; rounded up).
_IN_MEMORY_COPIES = 8


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Every parameter of :func:`einstein_from_noise`, checked once when the config is made.

    Values are normalised on construction (``counts`` sorted and unique, ints as ``int``,
    ``class_references`` a tuple); :func:`dataclasses.replace` makes a checked copy.

    Attributes
    ----------
    size : int
        Side of the square reference (>= :data:`fiji_bridge.checks.MIN_SIZE`).
        ``engine="imagej"`` needs a power of 2.
    counts : tuple of int
        Average the first n aligned images for each n.
    n_images : int or None
        Number of noise images; None means ``max(counts)``.  Every count must be <= n_images.
    seed : int
        Seed of the noise (image i depends only on the seed and i).
    engine : {"numpy", "imagej"}
        Who finds the shifts: numpy's FFT or ImageJ's FHT.
    examples : int
        How many of the first images to keep with their correlation maps (>= 0).
    imagej_location, display
        Passed to :func:`fiji_bridge.imagej.start`.
    keep_stacks : bool
        Also return the full ``noise`` and ``aligned`` stacks.
    control_reference : path or array, optional
        Control: align the same noise to this other reference; its average follows the
        reference it was aligned to, not the data.
    class_references : tuple of paths or arrays
        Control: multi-reference classification of the same noise against the reference plus
        these; class sizes and class averages.
    rotation_step : float, optional
        Control: rotation + translation alignment with in-plane angles at this step (degrees,
        in (0, 180]).
    scheduler : str, optional
        ``"local"`` or a Dask scheduler address (``tcp://host:port``): align on a Dask cluster
        with the streaming engine (averages from its exact running sums; no ImageJ Z Project).
    block_size, workers : int, optional
        Streaming block size (images) and FFT threads; results do not depend on them.
    max_shift, mask_radius : optional
        The search space (:func:`fiji_bridge.align.align_to_reference`): shifts up to
        ``max_shift`` pixels per axis (:func:`fiji_bridge.checks.max_shift`), a soft circular
        mask of radius ``mask_radius`` pixels (:func:`fiji_bridge.checks.mask_radius`) applied
        to the images and the reference before correlation. ``engine="numpy"``, in-memory path
        only; recorded in ``attrs["search_space"]``.
    half_sets : bool
        Control: half-set FRC (:func:`fiji_bridge.bias_check.half_set_frc`): the images split
        in two halves, each aligned to the reference and to the reference low-passed at
        ``half_set_cutoff`` cycles/pixel; FRC between the half averages in
        ``attrs["control_half_set_frc"]``. In-memory path only.
    half_set_cutoff : float
        Cutoff of the low-passed reference of the half-set control, in (0, 0.5] cycles/pixel.

    Raises
    ------
    TypeError, ValueError
        On construction, for the first bad parameter (the message says the fix).
    """

    size: int = 128
    counts: Sequence[int] = DEFAULT_COUNTS
    n_images: int | None = None
    seed: int = DEFAULT_SEED
    engine: str = "numpy"
    examples: int = 16
    imagej_location: str | None = None
    display: str = "auto"
    keep_stacks: bool = False
    control_reference: str | os.PathLike | np.ndarray | None = None
    class_references: Sequence[Any] = ()
    rotation_step: float | None = None
    scheduler: str | None = None
    block_size: int | None = None
    workers: int | None = None
    max_shift: int | None = None
    mask_radius: float | None = None
    half_sets: bool = False
    half_set_cutoff: float = 0.125

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if self.engine not in ENGINES:
            raise ValueError(f"engine={self.engine!r} is not one of {ENGINES}. "
                             "Fix: --engine numpy.")
        checks.display(self.display)
        put("size", checks.size(self.size))
        if self.n_images is not None:
            put("n_images", checks.integer(self.n_images, "n_images", minimum=1,
                                           fix="leave it out to use max(counts)"))
        put("counts", checks.counts(self.counts, maximum=self.n_images))
        put("seed", checks.seed(self.seed))
        put("examples", checks.integer(self.examples, "examples", minimum=0,
                                       fix="e.g. --examples 16"))
        put("keep_stacks", bool(self.keep_stacks))
        put("class_references", tuple(self.class_references))
        if self.rotation_step is not None:
            if isinstance(self.rotation_step, bool) or not isinstance(self.rotation_step,
                                                                      numbers.Real):
                raise TypeError(f"rotation_step must be a number of degrees, got "
                                f"{self.rotation_step!r}. Fix: e.g. --rotation-step 10.")
            if not 0 < float(self.rotation_step) <= 180:
                raise ValueError(
                    f"rotation step {self.rotation_step!r}: the angle step must be in (0, 180] "
                    "degrees. Fix: e.g. --rotation-step 10.")
            put("rotation_step", float(self.rotation_step))
        put("block_size", checks.block_size(self.block_size))
        if self.workers is not None:
            put("workers", checks.workers(self.workers))
        check_scheduler_spec(self.scheduler)
        put("max_shift", checks.max_shift(self.max_shift))
        put("mask_radius", checks.mask_radius(self.mask_radius))
        put("half_sets", bool(self.half_sets))
        put("half_set_cutoff", checks.real(self.half_set_cutoff, "half_set_cutoff", low=0.0,
                                           high=0.5, fix="pass e.g. half_set_cutoff=0.125"))
        if self.search_space is not None and (self.engine != "numpy"
                                              or self.scheduler is not None):
            raise ValueError("--max-shift and --mask-radius are applied by the numpy alignment "
                             "in this process. Fix: use --engine numpy without --scheduler.")
        if self.engine == "imagej":
            checks.fht_size(self.size, self.size)
            if self.scheduler is not None:
                raise ValueError("engine='imagej' runs in this process; --scheduler needs "
                                 "--engine numpy. Fix: leave out --scheduler, or use "
                                 "--engine numpy.")
        if self.streaming:
            check_streaming(self, (self.size, self.size), with_particles=False)

    @property
    def total(self) -> int:
        """Number of noise images: ``n_images``, or ``max(counts)`` when it is None."""
        return self.counts[-1] if self.n_images is None else self.n_images

    @property
    def streaming(self) -> bool:
        """Whether the run takes the streaming path: Dask, or more than
        :data:`IN_MEMORY_BYTES` of noise images (no full stacks, no ImageJ Z Project)."""
        return (self.scheduler is not None
                or self.total * self.size * self.size * 4 > IN_MEMORY_BYTES)

    @property
    def search_space(self) -> dict[str, Any] | None:
        """``{"max_shift", "mask_radius"}`` when either is set, else None (the whole box)."""
        if self.max_shift is None and self.mask_radius is None:
            return None
        return {"max_shift": self.max_shift, "mask_radius": self.mask_radius}

    @property
    def controls_asked(self) -> bool:
        """Whether any control (other reference, classes, rotations) is asked for."""
        return (self.control_reference is not None or len(self.class_references) > 0
                or self.rotation_step is not None)


_FIELDS = tuple(f.name for f in dataclasses.fields(ExperimentConfig))


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What a run will take, estimated from its config before any work (:func:`estimate`).

    Attributes
    ----------
    seconds : float
        Alignment time: ``images x pixels x seconds per pixel / threads`` with the rates
        measured by ``make bench`` on a 2-core machine (JVM start and writing not included).
    memory_bytes : int
        Peak memory of the process: a baseline (Python, xarray, the JVM) plus, on the
        in-memory path, eight copies of the noise stack (noise, aligned, ImageJ's copy for Z
        Project, float64 running sums, temporaries: 7.1 measured), two more with controls; on
        the streaming path the running sums and, up to :data:`KEPT_SHIFTS_MAX` images, 8 bytes
        per image.
    streaming : bool
        :attr:`ExperimentConfig.streaming`.
    """

    seconds: float
    memory_bytes: int
    streaming: bool


def alignment_seconds(pixels: float, *, engine: str = "numpy", workers: int | None = None
                      ) -> float:
    """Estimated seconds to align images of ``pixels`` pixels in all (images x H x W), at the
    rates ``make bench`` measured (numpy: 19,600 images/s of 128 x 128 on 2 threads, scaled by
    the threads; ImageJ's FHT loop: 1,490 images/s, one thread)."""
    if engine == "imagej":
        return float(pixels * _SECONDS_PER_PIXEL_IMAGEJ)
    return float(pixels * _SECONDS_PER_PIXEL / checks.workers(workers))


def estimate(config: ExperimentConfig) -> Estimate:
    """Time and memory of a run of ``config`` (see :class:`Estimate`), before any work."""
    pixels = config.size * config.size
    total = config.total
    seconds = alignment_seconds(total * pixels, engine=config.engine, workers=config.workers)
    stack = total * pixels * 4
    if config.streaming:
        threads = checks.workers(config.workers)
        memory = (_BASELINE_BYTES + (len(config.counts) * 2 + 8 * threads + 3 * config.examples)
                  * pixels * 8 + (8 * total if total <= KEPT_SHIFTS_MAX else 0))
    else:
        memory = _BASELINE_BYTES + (_IN_MEMORY_COPIES + 2 * config.controls_asked) * stack
    return Estimate(seconds=seconds, memory_bytes=int(memory), streaming=config.streaming)


def configure(config: ExperimentConfig | None, overrides: dict[str, Any],
               particles: np.ndarray | None) -> ExperimentConfig:
    """``config`` (default :class:`ExperimentConfig`) with ``overrides``, fitted to particles.

    Raises TypeError for an unknown override or a config that is not an ExperimentConfig,
    ValueError when ``n_images`` disagrees with the number of particles.
    """
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        raise TypeError(f"einstein_from_noise() got unknown parameters {unknown}. Fix: use the "
                        f"fields of ExperimentConfig: {', '.join(_FIELDS)}.")
    if config is not None and not isinstance(config, ExperimentConfig):
        raise TypeError(f"config must be an ExperimentConfig, got {type(config).__name__}. "
                        "Fix: pass ExperimentConfig(...) or keyword parameters.")
    config = ExperimentConfig(**overrides) if config is None \
        else dataclasses.replace(config, **overrides)
    if particles is not None:
        if config.n_images is not None and config.n_images != len(particles):
            raise ValueError(f"n_images={config.n_images} differs from the number of particles "
                             f"({len(particles)}). Fix: leave n_images out.")
        config = dataclasses.replace(config, n_images=len(particles))
    return config


def check_streaming(config: ExperimentConfig, shape: tuple[int, int],
                     with_particles: bool) -> None:
    """ValueError for what the streaming path (large N or Dask) cannot do, before any work."""
    if with_particles or config.controls_asked or config.half_sets \
            or config.search_space is not None:
        raise ValueError(
            "Particles and controls run in this process on the in-memory path (at most "
            f"{IN_MEMORY_BYTES // 2**20} MiB of images, no --scheduler). Fix: use fewer "
            "images or leave out --scheduler."
        )
    if config.engine == "imagej" or config.keep_stacks:
        raise ValueError(
            f"{config.total} images of {shape[0]}x{shape[1]} do not fit the in-memory path "
            f"(> {IN_MEMORY_BYTES // 2**20} MiB per stack) that engine='imagej' and saved "
            "stacks need. Fix: use fewer images, or --engine numpy without --save-stacks."
        )
