r"""Real particle images: load a stack, match it to the reference, compare with pure noise.

A cryo-EM user who suspects template bias in their own data runs the same alignment on their
particles and on the same number of pure-noise images (:func:`compare_with_noise`): if the
average of the aligned particles does not resemble the reference clearly more than the average
of aligned noise does, the resemblance may well come from the reference ("Einstein from noise").

Pure numpy / ``mrcfile`` / ``tifffile`` / scikit-image; no Java.

Normalisation
-------------
Every particle ``x`` is normalised on its own, as the reference is by ImageJ
(:mod:`fiji_bridge.reference`, ``v = (v - mean) / stdev`` with ImageJ's *sample* standard
deviation):

.. math::

    \hat x[p] = \frac{x[p] - \bar x}{s}, \qquad
    s = \sqrt{\frac{1}{HW - 1} \sum_p (x[p] - \bar x)^2} \quad (\text{ddof} = 1),

computed in float64 and returned as float32. (The alignment itself does not depend on the
particles' offset or scale; the normalisation makes their averages comparable with averages of
N(0, 1) noise.)

Command line
------------
The ``run`` command takes ``--particles FILE`` (an MRC/MRCS or TIFF stack) and
``--resample-particles``; wire them as::

    particles = load_particles(args.particles)                     # no resampling here
    particles = check_particles_match(particles, reference.image.shape,
                                      allow_resample=args.resample_particles)
    result = compare_with_noise(particles, reference.image, seed=seed)

:func:`check_particles_match` raises a :class:`ValueError` whose message names the flags, e.g.
``particles are 100x100 but the reference is 128x128. Fix: pass --size 100 to match the reference
to them, or --resample-particles to resample the particles to 128x128.``
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fiji_bridge import checks
from fiji_bridge.align import align_to_reference
from fiji_bridge.stacks import as_stack, normalize_images
from fiji_bridge.engine import stream_alignment
from fiji_bridge.metrics import pearson_cc
from fiji_bridge.noise import noise_images

__all__ = [
    "PARTICLE_FORMATS",
    "aligned_noise_average",
    "check_particles_match",
    "compare_with_noise",
    "load_particles",
    "particles_versus_noise",
    "read_pixel_size",
    "resample_particles",
]

#: File extensions (lower case) understood by :func:`load_particles`, and their format.
PARTICLE_FORMATS = {".mrc": "mrc", ".mrcs": "mrc", ".tif": "tiff", ".tiff": "tiff"}

#: Images aligned per call of :func:`fiji_bridge.align.align_to_reference`.
_BLOCK = 256


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _as_particle_stack(particles, name: str = "particles") -> np.ndarray:
    arr = as_stack(particles, name)
    if arr.shape[0] < 1:
        raise ValueError(f"{name} is an empty stack (N = 0). Fix: pass at least one particle.")
    return arr


def _normalise(stack: np.ndarray, source: str) -> np.ndarray:
    """Per-image mean 0, sample sd 1 (float32 result); errors name the 0-based index."""
    return normalize_images(
        stack, dtype=np.float32,
        label=lambda i: f"particle {i} (0-based; slice {i + 1} in ImageJ) of {source}",
    )


def _centre_crop(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Largest centred region of ``image`` with the aspect ratio of ``shape``.

    For a square ``shape`` this is the centred square of side ``min(H, W)`` at offset
    ``((H - side) // 2, (W - side) // 2)``, the rule :mod:`fiji_bridge.reference` uses.
    """
    H, W = image.shape
    h, w = shape
    if H * w > W * h:  # too tall: keep the full width
        ch, cw = max(1, round(W * h / w)), W
    else:  # too wide (or exact): keep the full height
        ch, cw = H, max(1, round(H * w / h))
    y0, x0 = (H - ch) // 2, (W - cw) // 2
    return image[y0 : y0 + ch, x0 : x0 + cw]


# --------------------------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------------------------
def resample_particles(particles: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    """Centre-crop and resize particles to ``shape``, then normalise each one.

    For each image: crop the largest centred region with the aspect ratio of ``shape`` (the
    centred square ``min(H, W)`` x ``min(H, W)`` for a square ``shape``), resize it with
    ``skimage.transform.resize(crop, shape, order=1, anti_aliasing=True, preserve_range=True)``
    (bilinear; a Gaussian pre-filter of sigma ``(factor - 1) / 2`` when downsizing), then
    normalise to mean 0, sample sd 1 (module docstring). Images already of ``shape`` are only
    normalised.

    Parameters
    ----------
    particles : array_like
        ``(N, H, W)`` real images (``(H, W)`` is one image).
    shape : tuple of int
        Target ``(h, w)``, each >= 2.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, h, w)``.

    Raises
    ------
    ValueError
        Bad ``shape``, a non-real or non-finite input, or a constant image (named by index).
    """
    from skimage.transform import resize

    shape = checks.shape(shape, "shape", minimum=2)
    stack = _as_particle_stack(particles)
    if stack.shape[1:] == shape:
        return _normalise(stack, "the particles")
    out = np.empty((stack.shape[0],) + shape, dtype=np.float64)
    for i in range(stack.shape[0]):
        crop = _centre_crop(np.asarray(stack[i], dtype=np.float64), shape)
        if not np.isfinite(crop).all():
            raise ValueError(
                f"particle {i} (0-based; slice {i + 1} in ImageJ) of the particles contains NaN "
                "or infinite values. Fix: replace them (e.g. np.nan_to_num) or remove that image."
            )
        out[i] = resize(crop, shape, order=1, anti_aliasing=True, preserve_range=True)
    return _normalise(out, "the resampled particles")


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def _read_mrc(path: Path) -> np.ndarray:
    import mrcfile

    try:
        with mrcfile.open(path, mode="r", permissive=False) as mrc:
            data = np.array(mrc.data)
            mode = int(mrc.header.mode)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(
            f"cannot read {path} as an MRC file: {exc}. The file is corrupt, truncated or not "
            "an MRC file. Fix: re-export the particle stack (e.g. with mrcfile or RELION)."
        ) from None
    if np.iscomplexobj(data):
        raise ValueError(
            f"{path} holds complex (Fourier-space) data (MRC mode {mode}). Fix: save the "
            "particles as real-space images."
        )
    if data.ndim == 2:
        return data[np.newaxis]
    if data.ndim == 3:
        return data
    raise ValueError(
        f"{path} holds an MRC array of shape {data.shape} (a stack of volumes). Fix: save the "
        "particles as a stack of 2-D images (N, H, W)."
    )


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            shapes = [tuple(series.shape) for series in tif.series]
            axes = tif.series[0].axes if len(shapes) == 1 else ""
            data = tif.series[0].asarray() if len(shapes) == 1 else None
    except (ValueError, OSError, EOFError) as exc:  # tifffile.TiffFileError is a ValueError
        raise ValueError(
            f"cannot read {path} as a TIFF stack: {exc}. The file is corrupt, truncated or not "
            "a TIFF file. Fix: re-save it, e.g. with tifffile.imwrite or ImageJ's File > Save As "
            "> Tiff."
        ) from None
    if data is None:
        raise ValueError(
            f"{path} holds {len(shapes)} image series of shapes {shapes}, not one stack of "
            "equally sized images. Fix: save the particles as one (N, H, W) stack."
        )
    if "Y" not in axes or "X" not in axes or axes[-2:] != "YX":
        raise ValueError(
            f"{path} has axes {axes!r} and shape {data.shape}: not a stack of grey-level "
            "images (an RGB image has its colour samples last, 'YXS'). Fix: convert the "
            "particles to 32-bit grey and save them as an (N, H, W) stack."
        )
    if data.dtype == np.bool_ or not (
        np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)
    ):
        raise ValueError(
            f"{path} holds {data.dtype} pixels, not real numbers. Fix: save the particles as "
            "integer or float (e.g. 32-bit) images."
        )
    # every axis before Y, X (Z, T, C, Q, planar S, ...) is a stack axis, in file order
    return data.reshape((-1,) + data.shape[-2:])


def load_particles(path: str | os.PathLike, *, size: int | None = None) -> np.ndarray:
    """Load a particle stack and normalise every particle (mean 0, sample sd 1).

    Formats (by extension, case-insensitive, see :data:`PARTICLE_FORMATS`):

    * ``.mrc``, ``.mrcs`` -- read with ``mrcfile.open(path, permissive=False)``; a 3-D array is
      ``N`` images whatever the header's space group says (image stack or volume), a 2-D one is
      ``N = 1``.
    * ``.tif``, ``.tiff`` -- read with ``tifffile``; all axes before ``Y, X`` (ImageJ's slices,
      frames, channels...) are flattened, in file order, into the stack axis, a single image is
      ``N = 1``. A colour (RGB) TIFF is refused.

    Each particle is then normalised to mean 0 and sample standard deviation 1 (``ddof = 1``,
    as ImageJ normalises the reference; see the module docstring), in float64, returned as
    float32.

    Parameters
    ----------
    path : str or os.PathLike
        The particle file.
    size : int, optional
        If given, every image that is not ``size`` x ``size`` is **resampled**: centre-cropped
        to a square of side ``min(H, W)`` and resized to ``size`` x ``size`` with
        ``skimage.transform.resize(order=1, anti_aliasing=True)`` (see
        :func:`resample_particles`), before the normalisation. If None (default) the images are
        returned at their own size; a caller that needs another size checks it
        (:func:`check_particles_match`) and raises.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)`` (``(N, size, size)`` with ``size``).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Unknown extension, a directory, a corrupt/truncated MRC or TIFF file, a file that is not
        a stack of 2-D grey-level images, complex data, an empty stack, a bad ``size``, or a
        constant or non-finite particle (named by its 0-based index and its ImageJ slice
        number).
    """
    if size is not None:
        size = checks.integer(
            size, "size", minimum=2,
            fix="pass e.g. size=128, or size=None to keep the particles as they are",
        )
    p = Path(os.fspath(path))
    if not p.exists():
        raise FileNotFoundError(
            f"particle file {p} does not exist. Fix: check the path given to --particles."
        )
    if p.is_dir():
        raise ValueError(
            f"{p} is a directory. Fix: give --particles one MRC/MRCS or TIFF stack file."
        )
    fmt = PARTICLE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"unknown particle file extension {p.suffix!r} for {p}. Fix: use an MRC stack "
            "(.mrc, .mrcs) or a TIFF stack (.tif, .tiff)."
        )
    data = _read_mrc(p) if fmt == "mrc" else _read_tiff(p)
    if data.shape[0] == 0 or min(data.shape[1:]) < 2:
        raise ValueError(
            f"{p} holds an array of shape {data.shape}: no particles of at least 2 x 2 pixels. "
            "Fix: check that the file holds the particle stack."
        )
    if size is not None and data.shape[1:] != (size, size):
        return resample_particles(data, (size, size))
    return _normalise(data, str(p))


def check_particles_match(
    particles: ArrayLike, reference_shape: tuple[int, int], *, allow_resample: bool
) -> np.ndarray:
    """Make sure the particles have the reference's shape, or say which flag fixes it.

    Parameters
    ----------
    particles : array_like
        ``(N, H, W)`` particles, e.g. from :func:`load_particles`.
    reference_shape : tuple of int
        ``(h, w)`` of the reference (``reference.image.shape``).
    allow_resample : bool
        The ``--resample-particles`` flag: if True, particles of another shape are resampled to
        ``reference_shape`` (:func:`resample_particles`: centre crop to the reference's aspect
        ratio, bilinear resize with anti-aliasing, per-image normalisation).

    Returns
    -------
    numpy.ndarray
        ``particles`` unchanged (the same array) when the shapes match, else the resampled
        float32 ``(N, h, w)`` stack.

    Raises
    ------
    ValueError
        Shapes differ and ``allow_resample`` is False. The message is written for the command
        line, e.g. ``particles are 100x100 but the reference is 128x128. Fix: pass --size 100
        to match the reference to them, or --resample-particles to resample the particles to
        128x128.``. Non-square particles (or particles smaller than the smallest ``--size``, 8)
        only get the ``--resample-particles`` advice.
    """
    if not isinstance(allow_resample, (bool, np.bool_)):
        raise TypeError(
            f"allow_resample must be True or False, got {allow_resample!r}. "
            "Fix: pass the --resample-particles flag as a bool."
        )
    h, w = checks.shape(reference_shape, "reference_shape", minimum=2)
    stack = _as_particle_stack(particles)
    H, W = stack.shape[1:]
    if (H, W) == (h, w):
        return particles if isinstance(particles, np.ndarray) and particles.ndim == 3 else stack
    if allow_resample:
        return resample_particles(stack, (h, w))
    resample = f"--resample-particles to resample the particles to {h}x{w}"
    if H != W:
        advice = (
            f"the particles are not square, so --size cannot match them: pass {resample} "
            "(centre-cropped to squares first)"
        )
    elif H < checks.MIN_SIZE:
        advice = f"pass {resample} (--size must be >= {checks.MIN_SIZE})"
    else:
        advice = f"pass --size {H} to match the reference to them, or {resample}"
    raise ValueError(f"particles are {H}x{W} but the reference is {h}x{w}. Fix: {advice}.")


# --------------------------------------------------------------------------------------------
# particles versus noise
# --------------------------------------------------------------------------------------------
def aligned_noise_average(
    reference: ArrayLike, n_images: int, *, seed: int, workers: int | None = None,
    max_shift: int | None = None, mask_radius: float | None = None,
) -> tuple[np.ndarray, float]:
    r"""Average of ``n_images`` pure-noise images aligned to the reference, and their mean peak.

    ``n_i = noise_images(seed, i, i + 1, (H, W))[0]`` for ``i < n_images``, aligned as
    :func:`fiji_bridge.align.align_to_reference` does, averaged by the streaming engine
    (:func:`fiji_bridge.engine.stream_alignment`, bounded memory, float64 sums):
    ``n̄ = (1/N) sum_i roll(n_i, -d_i)``. This is the template-bias baseline that particles are
    compared with.

    With a search space (``max_shift``, ``mask_radius``: see
    :func:`fiji_bridge.align.align_to_reference`) the same images are aligned within it, in
    blocks of ``_BLOCK`` images (the streaming engine searches the whole box).

    Returns
    -------
    average : numpy.ndarray
        float64 ``(H, W)``.
    mean_peak : float
        Mean of the correlation peaks ``c_i[d_i]``.
    """
    if max_shift is None and mask_radius is None:
        res = stream_alignment(reference, n_images, seed=seed, counts=[n_images],
                               keep_examples=0, keep_shifts=False, workers=workers)
        return res.aligned_means[0], res.peak_summary["mean"]
    ref = np.asarray(reference)
    total = np.zeros(ref.shape, dtype=np.float64)
    peak_sum = 0.0
    for i0 in range(0, n_images, _BLOCK):
        block = noise_images(seed, i0, min(i0 + _BLOCK, n_images), ref.shape)
        res = align_to_reference(block, ref, workers=workers, max_shift=max_shift,
                                 mask_radius=mask_radius)
        total += res.aligned.sum(axis=0, dtype=np.float64)
        peak_sum += float(np.sum(res.peaks, dtype=np.float64))
    return total / n_images, peak_sum / n_images


def particles_versus_noise(
    particle_average: ArrayLike,
    reference: ArrayLike,
    n_images: int,
    *,
    seed: int,
    workers: int | None = None,
    max_shift: int | None = None,
    mask_radius: float | None = None,
) -> dict[str, Any]:
    """CC with the reference of an average of aligned particles and of as many aligned noise images.

    ``particle_average`` is the mean of the ``n_images`` aligned particles; the noise arm is
    :func:`aligned_noise_average` of the same count, in the same search space (``max_shift``,
    ``mask_radius``) as the particles. This is the ``particles_vs_noise`` record of
    the ``run`` command's results.

    Returns
    -------
    dict
        ``n_images`` (int), ``cc_particles`` = ``CC(particle_average, r)`` and ``cc_pure_noise``
        = ``CC(n̄, r)`` (Pearson, floats), in this order.
    """
    noise_average, _ = aligned_noise_average(reference, n_images, seed=seed, workers=workers,
                                             max_shift=max_shift, mask_radius=mask_radius)
    return {
        "n_images": int(n_images),
        "cc_particles": float(pearson_cc(particle_average, reference)),
        "cc_pure_noise": float(pearson_cc(noise_average, reference)),
    }


def compare_with_noise(
    particles: ArrayLike, reference: ArrayLike, *, seed: int, workers: int | None = None
) -> dict[str, Any]:
    r"""Align the particles and the same number of pure-noise images to the reference.

    With ``N`` particles ``x_i`` and the noise ``n_i`` = ``noise_images(seed, 0, N, (H, W))``
    (i.i.d. N(0, 1) pixels), both aligned as :func:`fiji_bridge.align.align_to_reference` does
    (``a_i = roll(x_i, -d_i)``, ``d_i = argmax_d sum_p x_i[p + d] r[p]``; the noise arm is
    :func:`aligned_noise_average`, streamed):

    .. math::

        \bar x = \frac1N \sum_i \mathrm{roll}(x_i, -d_i), \qquad
        \bar n = \frac1N \sum_i \mathrm{roll}(n_i, -d'_i),

    and returns ``CC(x̄, r)`` and ``CC(n̄, r)`` (Pearson). ``CC(n̄, r)`` is the correlation that
    template bias alone produces with this many images; particles that really contain the
    reference give a clearly higher ``CC(x̄, r)``. The particles should be normalised like the
    noise (:func:`load_particles` does it) so that the two averages have comparable contrast.

    Parameters
    ----------
    particles : array_like
        ``(N, H, W)`` real images (``(H, W)`` is one), of the reference's shape.
    reference : array_like
        ``(H, W)`` real, finite, non-constant reference.
    seed : int
        Seed of the noise (:func:`fiji_bridge.noise.noise_images`).
    workers : int, optional
        Threads for the FFTs.

    Returns
    -------
    dict
        ``cc_particles`` (float), ``cc_noise`` (float), ``average_particles`` and
        ``average_noise`` (float64 ``(H, W)``), ``mean_peak_particles`` and
        ``mean_peak_noise`` (mean correlation peak, float), ``n_images`` (int), ``seed`` (int).

    Raises
    ------
    TypeError
        Non-real input, a seed that is not an integer.
    ValueError
        A negative seed, particles and reference of different shapes (resample with
        :func:`resample_particles` or :func:`load_particles` ``size=``), a constant reference
        or average, non-finite input.
    """
    seed = checks.seed(seed)
    stack = _as_particle_stack(particles)
    ref = checks.real_array(reference, "reference")
    if ref.ndim != 2:
        raise ValueError(
            f"reference must be one 2-D image (H, W), got shape {ref.shape}. "
            "Fix: pass a single reference."
        )
    if stack.shape[1:] != ref.shape:
        raise ValueError(
            f"particles are {stack.shape[1]}x{stack.shape[2]} but the reference is "
            f"{ref.shape[0]}x{ref.shape[1]}. Fix: resample them with "
            "resample_particles(particles, reference.shape) or load_particles(path, size=...)."
        )
    n = stack.shape[0]
    total = np.zeros(ref.shape, dtype=np.float64)
    peak_sum = 0.0
    for i0 in range(0, n, _BLOCK):
        res = align_to_reference(stack[i0 : i0 + _BLOCK], ref, workers=workers)
        total += res.aligned.sum(axis=0, dtype=np.float64)
        peak_sum += float(np.sum(res.peaks, dtype=np.float64))
    average_particles = total / n
    average_noise, mean_peak_noise = aligned_noise_average(ref, n, seed=seed, workers=workers)
    return {
        "n_images": int(n),
        "seed": seed,
        "average_particles": average_particles,
        "average_noise": average_noise,
        "mean_peak_particles": peak_sum / n,
        "mean_peak_noise": mean_peak_noise,
        "cc_particles": float(pearson_cc(average_particles, ref)),
        "cc_noise": float(pearson_cc(average_noise, ref)),
    }


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------
def read_pixel_size(path) -> float | None:
    """Pixel size in ångström of a particle file, or None where the file does not say.

    * MRC/MRCS: the header's ``voxel_size.x`` (``cella.x / mx``, ångström, as mrcfile reads
      it); None when it is 0 (unset) or when x and y differ.
    * TIFF: ImageJ's calibration, ``1 / XResolution`` with the ImageJ unit ``A``, ``Å``,
      ``angstrom`` (or ``nm``, times 10); None otherwise.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_particles` for a missing, unknown or unreadable file.
    """
    p = Path(os.fspath(path))
    if not p.exists():
        raise FileNotFoundError(f"particle file {p} does not exist; check the path")
    fmt = PARTICLE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown particle file extension {p.suffix!r} for {p}: use an MRC "
                         "stack (.mrc, .mrcs) or a TIFF stack (.tif, .tiff)")
    if fmt == "mrc":
        import mrcfile

        try:
            with mrcfile.open(p, mode="r", permissive=True, header_only=True) as mrc:
                x, y = float(mrc.voxel_size.x), float(mrc.voxel_size.y)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"cannot read the header of {p}: {exc}") from None
        return x if x > 0 and np.isclose(x, y, rtol=1e-6) else None
    import tifffile

    try:
        with tifffile.TiffFile(p) as tif:
            unit = str((tif.imagej_metadata or {}).get("unit", ""))
            tag = tif.pages[0].tags.get("XResolution")
            resolution = tag.value if tag is not None else None
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"cannot read {p} as a TIFF file: {exc}") from None
    scale = {"A": 1.0, "\u00c5": 1.0, "angstrom": 1.0, "nm": 10.0}.get(unit.strip())
    if scale is None or resolution is None or resolution[0] <= 0 or resolution[1] <= 0:
        return None
    return scale * resolution[1] / resolution[0]
