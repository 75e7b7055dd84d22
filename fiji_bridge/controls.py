r"""Controls of the "Einstein from noise" experiment (pure numpy/scipy, no Java).

The experiment (``shared/README.md`` section 1) aligns pure-noise images ``n_i`` to a reference
``r`` by the peak of their cyclic cross-correlation and averages them; the average converges to an
image whose Fourier phases are those of ``r``. The controls here show that this is a property of
the *procedure*, not of the data, in the settings a cryo-EM user meets:

* :func:`classify` -- multi-reference classification (the assignment step of 2-D
  classification): each noise image goes to the reference it correlates best with; every class
  average then resembles *its own* reference.
* :func:`align_rotations` -- rotation + translation search, as 2-D classification does: the
  average of noise aligned over in-plane rotations still resembles the (unrotated) reference.
* :func:`different_reference_control` / :func:`cross_reference_cc` -- the same noise aligned to
  reference ``B`` gives an average that resembles ``B``, not ``A``: the average follows the
  reference, not the data.

Conventions are those of :mod:`fiji_bridge.align`: ``c[d] = sum_p n[p + d] r[p]`` (indices modulo
``(H, W)``), signed peak shift ``d = (dy, dx)``, aligned image ``np.roll(n, (-dy, -dx))``.
Correlation maps are computed by :func:`fiji_bridge.align.correlation_maps` in chunks of
:data:`IMAGE_CHUNK` images, so memory stays ``O(IMAGE_CHUNK * H * W)`` whatever the number of
images, references or angles; sums are accumulated in float64.

References
----------
.. [1] M. Shatsky et al., "A method for the alignment of heterogeneous macromolecules from
       electron microscopy", J. Struct. Biol. 166:67-78 (2009).
.. [2] A. Balanov, W. Huleihel and T. Bendory, "Einstein from Noise: Statistical Analysis",
       arXiv:2407.05277 (2024).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
from numpy.typing import ArrayLike

from fiji_bridge import checks
from fiji_bridge.align import align_to_reference, apply_shifts, correlation_maps, peak_shifts
from fiji_bridge.metrics import pearson_cc
from fiji_bridge.stacks import as_stack, normalize_images

__all__ = [
    "IMAGE_CHUNK",
    "ROTATION_MODE",
    "ROTATION_ORDER",
    "ClassificationResult",
    "DifferentReferenceResult",
    "RotationResult",
    "align_rotations",
    "class_mean_peaks",
    "classify",
    "cross_reference_cc",
    "different_reference_control",
    "rotate_images",
    "rotation_grid",
]

#: Images per call of :func:`fiji_bridge.align.correlation_maps` (a multiple of align's internal
#: chunk of 8): 256 maps of 128 x 128 float32 are 16 MiB.
IMAGE_CHUNK = 256

#: Interpolation of every rotation (scipy.ndimage spline order 1: bilinear).
ROTATION_ORDER = 1
#: Boundary mode of every rotation: pixels that come from outside the image are ``cval = 0``.
ROTATION_MODE = "constant"


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _chunks(n: int):
    for i0 in range(0, n, IMAGE_CHUNK):
        yield i0, min(i0 + IMAGE_CHUNK, n)


def _best_over_templates(
    stack: np.ndarray, templates: Iterable[np.ndarray], workers: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(index, shifts, peaks, peak_sums)``: the highest correlation peak of each image over
    templates, and for each template the sum over all images of its own peak.

    ``index[i]`` is the template whose map of image ``i`` has the highest peak, ``shifts[i]``
    (int64 signed ``(dy, dx)``) and ``peaks[i]`` (float32) its peak. Ties go to the lowest
    template index, and within a map to the first maximum in C order. ``peak_sums[k]``
    (float64) is ``sum_i max_d c_{ik}[d]``, whether template ``k`` wins or not. Maps are computed
    template by template in chunks of :data:`IMAGE_CHUNK` images.
    """
    n = stack.shape[0]
    index = np.zeros(n, dtype=np.int64)
    shifts = np.zeros((n, 2), dtype=np.int64)
    peaks = np.full(n, -np.inf, dtype=np.float32)
    peak_sums: list[float] = []
    for k, template in enumerate(templates):
        peak_sums.append(0.0)
        for i0, i1 in _chunks(n):
            sh, pk = peak_shifts(correlation_maps(stack[i0:i1], template, workers=workers))
            peak_sums[k] += float(np.sum(pk, dtype=np.float64))
            better = pk > peaks[i0:i1]  # strict: ties keep the lower index
            idx = np.flatnonzero(better) + i0
            peaks[idx] = pk[better]
            shifts[idx] = sh[better]
            index[idx] = k
    return index, shifts, peaks, np.asarray(peak_sums, dtype=np.float64)


def _images(images) -> np.ndarray:
    """A non-empty stack of real images (``(H, W)`` is one image)."""
    stack = as_stack(images, "images")
    if stack.shape[0] < 1:
        raise ValueError("images is an empty stack (N = 0). Fix: pass at least one image.")
    return stack


def _cc_or_nan(average: np.ndarray, references: np.ndarray) -> np.ndarray:
    """CC of one average with every reference; NaN where the average is constant (empty)."""
    if not np.any(average != average.flat[0]):
        return np.full(references.shape[0], np.nan)
    return np.atleast_1d(pearson_cc(references, average)).astype(np.float64)


# --------------------------------------------------------------------------------------------
# multi-reference classification
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ClassificationResult:
    """Result of :func:`classify`.

    Attributes
    ----------
    labels : numpy.ndarray
        int64 ``(N,)``: index ``k`` of the reference each image was assigned to.
    shifts : numpy.ndarray
        int64 ``(N, 2)``: signed peak shift ``(dy, dx)`` of each image with its own reference.
    peaks : numpy.ndarray
        float32 ``(N,)``: the winning correlation peak ``c_{i k_i}[d_i]``.
    class_sizes : numpy.ndarray
        int64 ``(K,)``: number of images per class (sums to ``N``; 0 for an empty class).
    class_averages : numpy.ndarray
        float64 ``(K, H, W)``: mean of the aligned images of each class; all zeros for an
        empty class (never NaN).
    cross_cc : numpy.ndarray
        float64 ``(K, K)``: ``cross_cc[k, j]`` = Pearson CC of class average ``k`` with
        reference ``j``; row ``k`` is NaN for an empty class (the CC of a constant image is
        undefined).
    references : numpy.ndarray
        float32 ``(K, H, W)``: the normalised references the images were correlated with.
    reference_mean_peaks : numpy.ndarray
        float64 ``(K,)``: ``mean_i max_d c_{ik}[d]`` over **all** images, the peak height each
        reference reaches on average whether it wins or not (see
        :func:`fiji_bridge.metrics.spectral_flatness`).
    """

    labels: np.ndarray
    shifts: np.ndarray
    peaks: np.ndarray
    class_sizes: np.ndarray
    class_averages: np.ndarray
    cross_cc: np.ndarray
    references: np.ndarray
    reference_mean_peaks: np.ndarray | None = None


def classify(
    images: ArrayLike, references: ArrayLike, *, workers: int | None = None
) -> ClassificationResult:
    r"""Multi-reference classification of images, as the assignment step of 2-D classification.

    The ``K`` references are normalised, ``\hat r_k = (r_k - \bar r_k) / s_k`` (sample sd,
    :func:`normalize_images`), so that they all have the same norm and their correlation peaks
    compare fairly. For each image ``n_i``:

    .. math::

        c_{ik}[d] = \sum_p n_i[p + d]\, \hat r_k[p], \qquad
        (k_i, d_i) = \operatorname*{arg\,max}_{k,\, d} c_{ik}[d], \qquad
        a_i = \mathrm{roll}(n_i, -d_i)

    (cyclic indices; ties go to the lowest ``k``, and within a map to the first maximum in C
    order, as :func:`fiji_bridge.align.peak_shifts`). Class ``k`` is
    ``C_k = {i : k_i = k}``, its average ``A_k = (1/|C_k|) \sum_{i \in C_k} a_i`` (zeros if
    ``C_k`` is empty) and

    .. math::

        \mathrm{cross\_cc}[k, j] = \mathrm{CC}(A_k, r_j)

    (Pearson). With pure noise ``n_i``, ``cross_cc`` is dominated by its diagonal: each class
    average resembles the reference that selected it -- template bias in classification [1]_.

    Parameters
    ----------
    images : array_like
        ``(N, H, W)`` real images (``(H, W)`` is one image), ``N >= 1``; correlated in float32
        (as :func:`fiji_bridge.align.correlation_maps`), averaged in float64. Not normalised.
    references : array_like
        ``(K, H, W)`` real, finite, non-constant references, ``K >= 1`` (``(H, W)`` is ``K = 1``).
    workers : int, optional
        Threads for the FFTs (default all cores); the result does not depend on it.

    Returns
    -------
    ClassificationResult
        ``labels``, ``shifts``, ``peaks``, ``class_sizes``, ``class_averages``, ``cross_cc``,
        ``references``.

    Raises
    ------
    ValueError
        ``K < 1``, ``N < 1``, images and references of different shapes, a constant or
        non-finite reference, non-finite images.

    Notes
    -----
    Maps are computed per reference in chunks of :data:`IMAGE_CHUNK` images, keeping only the
    running best peak, shift and label per image: memory is ``O(N + IMAGE_CHUNK * H * W)``,
    never ``N * K`` maps. Cost: ``K`` correlation maps per image.

    References
    ----------
    .. [1] M. Shatsky, R. J. Hall, S. E. Brenner, R. M. Glaeser, J. Struct. Biol. 166:67-78 (2009).
    """
    refs_in = as_stack(references, "references")
    if refs_in.shape[0] < 1:
        raise ValueError(
            "references must hold at least one reference (K >= 1), got an empty stack of shape "
            f"{refs_in.shape}. Fix: pass a (K, H, W) stack with K >= 1."
        )
    refs = normalize_images(refs_in, name="references").astype(np.float32)
    stack = _images(images)
    if stack.shape[1:] != refs.shape[1:]:
        raise ValueError(
            f"images are {stack.shape[1]}x{stack.shape[2]} but the references are "
            f"{refs.shape[1]}x{refs.shape[2]}. Fix: crop or resize one to the other's shape."
        )
    n, k_refs = stack.shape[0], refs.shape[0]
    labels, shifts, peaks, peak_sums = _best_over_templates(stack, refs, workers)
    sums = np.zeros(refs.shape, dtype=np.float64)
    for i0, i1 in _chunks(n):
        aligned = apply_shifts(stack[i0:i1], shifts[i0:i1])
        lab = labels[i0:i1]
        for k in np.unique(lab):
            sums[k] += aligned[lab == k].sum(axis=0, dtype=np.float64)
    sizes = np.bincount(labels, minlength=k_refs).astype(np.int64)
    averages = sums / np.maximum(sizes, 1)[:, None, None]
    cross = np.stack([_cc_or_nan(averages[k], refs) for k in range(k_refs)])
    return ClassificationResult(
        labels=labels,
        shifts=shifts,
        peaks=peaks,
        class_sizes=sizes,
        class_averages=averages,
        cross_cc=cross,
        references=refs,
        reference_mean_peaks=peak_sums / n,
    )


# --------------------------------------------------------------------------------------------
# rotation + translation alignment
# --------------------------------------------------------------------------------------------
def rotation_grid(angle_step: float) -> np.ndarray:
    """In-plane angles searched by :func:`align_rotations`: ``np.arange(0, 360, angle_step)``.

    Parameters
    ----------
    angle_step : float
        Degrees, in ``(0, 180]``.

    Returns
    -------
    numpy.ndarray
        float64 angles in degrees, starting at 0 (a step of 180 gives ``[0, 180]``).

    Raises
    ------
    TypeError
        If ``angle_step`` is not a real number (bools and strings included).
    ValueError
        If ``angle_step`` is not finite or not in ``(0, 180]``.
    """
    if isinstance(angle_step, (bool, np.bool_)) or not isinstance(angle_step, numbers.Real):
        raise TypeError(
            f"angle step must be a number of degrees in (0, 180], got "
            f"{type(angle_step).__name__} {angle_step!r}. Fix: pass e.g. angle_step=5."
        )
    step = float(angle_step)
    if not (math.isfinite(step) and 0.0 < step <= 180.0):
        raise ValueError(
            f"angle step must be in (0, 180] degrees, got {angle_step!r}. "
            "Fix: pass e.g. angle_step=5."
        )
    return np.arange(0.0, 360.0, step, dtype=np.float64)


def rotate_images(images: ArrayLike, angle: float) -> np.ndarray:
    """Rotate images about their centre by ``angle`` degrees (bilinear, zero outside).

    ``scipy.ndimage.rotate(images, angle, axes=(1, 2), reshape=False, order=1,
    mode="constant", cval=0)`` on the ``(N, H, W)`` stack: the rotation centre is
    ``((H - 1)/2, (W - 1)/2)``, positive angles turn the image counter-clockwise as displayed
    (row 0 at the top): ``rotate_images(x, 90)`` equals ``np.rot90(x, 1, axes=(1, 2))`` for a
    square image, exactly. A multiple of 360 degrees returns an unchanged float64 copy.

    Why ``mode="constant"`` (and not ``"wrap"``): a particle (or the reference) is not periodic;
    wrapping would fill the corners of a rotated image with pixels from the opposite edge. With
    ``cval = 0`` -- the mean of a normalised reference and of the noise -- the corners that come
    from outside the image are neutral. Rotations by multiples of 90 degrees of a square image
    lose nothing.

    Parameters
    ----------
    images : array_like
        ``(H, W)`` or ``(N, H, W)`` real images.
    angle : float
        Degrees.

    Returns
    -------
    numpy.ndarray
        float64, ``(N, H, W)``.
    """
    stack = as_stack(images, "images").astype(np.float64)
    if float(angle) % 360.0 == 0.0:
        return stack.copy()
    return scipy.ndimage.rotate(
        stack,
        float(angle),
        axes=(1, 2),
        reshape=False,
        order=ROTATION_ORDER,
        mode=ROTATION_MODE,
        cval=0.0,
    )


@dataclass(frozen=True, eq=False)
class RotationResult:
    """Result of :func:`align_rotations`.

    Attributes
    ----------
    angles : numpy.ndarray
        float64 ``(N,)``: the angle ``θ_i`` (degrees, from :attr:`angle_grid`) of the best
        rotated reference for each image.
    shifts : numpy.ndarray
        int64 ``(N, 2)``: signed peak shift ``(dy, dx)`` with that rotated reference.
    peaks : numpy.ndarray
        float32 ``(N,)``: the peak ``c_{iθ_i}[d_i]``.
    average : numpy.ndarray
        float64 ``(H, W)``: mean of the aligned images.
    angle_grid : numpy.ndarray
        float64: the angles searched, ``np.arange(0, 360, angle_step)``.
    aligned : numpy.ndarray or None
        float64 ``(N, H, W)`` aligned images when asked (``return_aligned=True``).
    """

    angles: np.ndarray
    shifts: np.ndarray
    peaks: np.ndarray
    average: np.ndarray
    angle_grid: np.ndarray
    aligned: np.ndarray | None = None


def align_rotations(
    images: ArrayLike,
    reference: ArrayLike,
    *,
    angle_step: float,
    workers: int | None = None,
    return_aligned: bool = False,
) -> RotationResult:
    r"""Align images to a reference over in-plane rotations and cyclic shifts, then average.

    This is the rotation + translation search of 2-D classification, on a grid of angles
    ``θ ∈ {0, s, 2s, ...} < 360`` (``s = angle_step``, :func:`rotation_grid`):

    1. The reference is normalised (:func:`normalize_images`) and rotated by each ``θ``
       (:func:`rotate_images`: bilinear, about the centre, zero outside), then each rotated
       reference is normalised again, ``R_θ = \mathrm{norm}(\mathrm{rot}_θ(\hat r))``, so that
       all have the same norm and their peaks compare fairly (a non-right angle leaves zeros in
       the corners).
    2. Every image is correlated with every ``R_θ`` (FFT,
       :func:`fiji_bridge.align.correlation_maps`):

       .. math::

           c_{iθ}[d] = \sum_p n_i[p + d]\, R_θ[p], \qquad
           (θ_i, d_i) = \operatorname*{arg\,max}_{θ,\, d} c_{iθ}[d]

       (ties go to the smallest angle, then to the first maximum in C order).
    3. The inverse transform is applied to the *image*, shift first, then rotation:

       .. math::

           a_i = \mathrm{rot}_{-θ_i}\big(\mathrm{roll}(n_i, -d_i)\big), \qquad
           \bar a = \frac{1}{N} \sum_i a_i

       ``roll(n_i, -d_i)`` matches ``R_θ`` (the rotated reference); rotating it back by
       ``-θ_i`` about the centre makes it match the unrotated reference ``r``. For example an
       image ``n = np.roll(rotate_images(r, θ)[0], d, axis=(0, 1))`` with ``θ`` on the grid gives
       ``θ_i = θ``, ``d_i = d`` and, for a multiple of 90 degrees on a square image,
       ``a_i = r`` up to rounding (the bilinear rotation by 90 degrees is exact).

    Applied to pure noise, ``\bar a`` still converges to an image correlated with ``r``
    (Einstein from noise survives the rotation search) but it is blurred by the bilinear
    interpolation of every image and by the angular sampling (the peak picks the nearest grid
    angle), and its corners are attenuated (pixels rotated in from outside are zeros).

    Parameters
    ----------
    images : array_like
        ``(N, H, W)`` real images (``(H, W)`` is one image), ``N >= 1``; not normalised.
    reference : array_like
        ``(H, W)`` real, finite, non-constant reference.
    angle_step : float
        Angular sampling in degrees, in ``(0, 180]``.
    workers : int, optional
        Threads for the FFTs (default all cores); the result does not depend on it.
    return_aligned : bool, optional
        Also return the aligned images (float64, ``N`` x ``H`` x ``W`` in memory).

    Returns
    -------
    RotationResult
        ``angles``, ``shifts``, ``peaks``, ``average``, ``angle_grid`` and ``aligned`` (or None).

    Raises
    ------
    ValueError
        ``angle_step`` outside ``(0, 180]`` ("angle step must be in (0, 180] degrees"), shape
        mismatch, ``N < 1``, constant or non-finite reference, non-finite images.

    Notes
    -----
    Cost: one correlation map per image and angle (``360 / s`` of them), computed in chunks of
    :data:`IMAGE_CHUNK` images, angles in the outer loop; memory ``O(N + IMAGE_CHUNK H W)``
    besides the optional aligned stack.
    """
    grid = rotation_grid(angle_step)
    ref_in = as_stack(reference, "reference")
    if ref_in.shape[0] != 1:
        raise ValueError(
            f"reference must be one 2-D image (H, W), got shape {np.shape(reference)}. "
            "Fix: pass a single reference."
        )
    ref = normalize_images(ref_in, name="reference")
    stack = _images(images)
    if stack.shape[1:] != ref.shape[1:]:
        raise ValueError(
            f"images are {stack.shape[1]}x{stack.shape[2]} but the reference is "
            f"{ref.shape[1]}x{ref.shape[2]}. Fix: crop or resize one to the other's shape."
        )
    n = stack.shape[0]

    def rotated_references():  # R_θ for θ in the grid, made one at a time
        for theta in grid:
            try:
                yield normalize_images(rotate_images(ref, theta), name="rotated reference",
                                       dtype=np.float32)[0]
            except ValueError:
                raise ValueError(
                    f"the reference rotated by {theta:g} degrees is constant (all its detail is "
                    "in the corners). Fix: centre the reference's content or use a larger image."
                ) from None

    best_j, shifts, peaks, _ = _best_over_templates(stack, rotated_references(), workers)
    total = np.zeros(ref.shape[1:], dtype=np.float64)
    aligned_all = np.empty((n,) + ref.shape[1:], dtype=np.float64) if return_aligned else None
    for i0, i1 in _chunks(n):
        shifted = apply_shifts(stack[i0:i1].astype(np.float64), shifts[i0:i1])
        for j in np.unique(best_j[i0:i1]):
            sel = np.flatnonzero(best_j[i0:i1] == j)
            back = rotate_images(shifted[sel], -grid[j])
            total += back.sum(axis=0)
            if return_aligned:
                aligned_all[i0 + sel] = back
    return RotationResult(
        angles=grid[best_j],
        shifts=shifts,
        peaks=peaks,
        average=total / n,
        angle_grid=grid,
        aligned=aligned_all,
    )


# --------------------------------------------------------------------------------------------
# different-reference control
# --------------------------------------------------------------------------------------------
def _reference_pair(reference_a, reference_b):
    a = as_stack(reference_a, "reference_a")
    b = as_stack(reference_b, "reference_b")
    if a.shape[0] != 1 or b.shape[0] != 1:
        raise ValueError(
            "reference_a and reference_b must each be one 2-D image (H, W), got shapes "
            f"{np.shape(reference_a)} and {np.shape(reference_b)}. Fix: pass two single images."
        )
    if a.shape != b.shape:
        raise ValueError(
            f"reference_a is {a.shape[1]}x{a.shape[2]} but reference_b is "
            f"{b.shape[1]}x{b.shape[2]}. Fix: resize them to the same shape."
        )
    return (
        normalize_images(a, name="reference_a")[0],
        normalize_images(b, name="reference_b")[0],
    )


def cross_reference_cc(
    average: ArrayLike, reference_a: ArrayLike, reference_b: ArrayLike
) -> tuple[float, float]:
    """Pearson CC of one average with two references: ``(CC(average, A), CC(average, B))``.

    For an average of noise aligned to ``A``, expect ``CC(average, A) > CC(average, B)``
    (see :func:`different_reference_control`).

    Parameters
    ----------
    average : array_like
        ``(H, W)`` non-constant image.
    reference_a, reference_b : array_like
        ``(H, W)`` non-constant references of the same shape.

    Returns
    -------
    tuple of float
    """
    a, b = _reference_pair(reference_a, reference_b)
    return float(pearson_cc(average, a)), float(pearson_cc(average, b))


@dataclass(frozen=True, eq=False)
class DifferentReferenceResult:
    """Result of :func:`different_reference_control`.

    Attributes
    ----------
    average_a, average_b : numpy.ndarray
        float64 ``(H, W)``: mean of the images aligned to reference A, resp. B.
    cc : numpy.ndarray
        float64 ``(2, 2)``: ``cc[i, j]`` = CC(average aligned to reference ``i``, reference
        ``j``), with 0 = A, 1 = B.
    """

    average_a: np.ndarray
    average_b: np.ndarray
    cc: np.ndarray


def different_reference_control(
    images: ArrayLike,
    reference_a: ArrayLike,
    reference_b: ArrayLike,
    *,
    workers: int | None = None,
) -> DifferentReferenceResult:
    r"""Align the *same* images to two references: the average follows the reference.

    With ``\bar a^{(X)} = \frac1N \sum_i \mathrm{roll}(n_i, -d_i^{(X)})`` the average of the
    images aligned to reference ``X`` (:func:`fiji_bridge.align.align_to_reference`),

    .. math::

        \mathrm{cc}[i, j] = \mathrm{CC}\big(\bar a^{(X_i)}, X_j\big), \qquad X_0 = A,\; X_1 = B.

    For pure noise the diagonal dominates: ``cc[0, 0] > cc[0, 1]`` and ``cc[1, 1] > cc[1, 0]``.
    The data are identical in both runs; only the reference changed -- so the structure in the
    average comes from the reference, not from the data. (With real particles of A, the
    average aligned to B is still pulled towards B: compare ``cc[1, 1]`` with the same count of
    pure noise, :func:`fiji_bridge.particles.compare_with_noise`.)

    Parameters
    ----------
    images : array_like
        ``(N, H, W)`` real images, e.g. ``fiji_bridge.noise.noise_images(seed, 0, N, (H, W))``.
    reference_a, reference_b : array_like
        ``(H, W)`` non-constant references of the same shape. The alignment does not depend on
        their offset or positive scale; they are normalised anyway.
    workers : int, optional
        Threads for the FFTs.

    Returns
    -------
    DifferentReferenceResult
        ``average_a``, ``average_b``, ``cc`` (2 x 2).
    """
    a, b = _reference_pair(reference_a, reference_b)
    stack = _images(images)
    averages = []
    for ref in (a, b):
        total = np.zeros(ref.shape, dtype=np.float64)
        for i0, i1 in _chunks(stack.shape[0]):
            res = align_to_reference(stack[i0:i1], ref, workers=workers)
            total += res.aligned.sum(axis=0, dtype=np.float64)
        averages.append(total / stack.shape[0])
    cc = np.array([[pearson_cc(avg, a), pearson_cc(avg, b)] for avg in averages])
    return DifferentReferenceResult(average_a=averages[0], average_b=averages[1], cc=cc)


# --------------------------------------------------------------------------------------------
# why one class takes most of the noise: peak heights (and metrics.spectral_flatness)
# --------------------------------------------------------------------------------------------
def class_mean_peaks(result: ClassificationResult) -> np.ndarray:
    """Mean winning correlation peak of each class of a :func:`classify` result.

    ``mean_{i in C_k} c_{i k}[d_i]`` (float64 ``(K,)``; NaN for an empty class). With pure
    noise every reference's map has the same marginal distribution at each shift (N(0,
    ``||r_k||^2``), and the references are normalised to the same norm); what differs is how
    many nearly independent values the maximum is taken over, so the class whose reference has
    the flatter power spectrum (:func:`fiji_bridge.metrics.spectral_flatness`) gets the higher
    peaks and wins the argmax for most images.
    """
    k = result.class_sizes.size
    sums = np.bincount(result.labels, weights=result.peaks.astype(np.float64), minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(result.class_sizes > 0, sums / np.maximum(result.class_sizes, 1), np.nan)
