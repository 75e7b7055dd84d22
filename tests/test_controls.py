"""Controls of the Einstein-from-noise experiment: classification, rotations, other reference.

Pure numpy/scipy (no Java). References are scikit-image's public-domain ``camera`` and
``astronaut``, grey, centre-cropped, resized and normalised; noise from fiji_bridge.noise.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from skimage import color, data, transform

from fiji_bridge import controls as C
from fiji_bridge.align import align_to_reference, apply_shifts, correlation_maps, peak_shifts
from fiji_bridge.metrics import frc, pearson_cc
from fiji_bridge.noise import noise_images
from fiji_bridge.stacks import normalize_images


@functools.lru_cache(maxsize=None)
def _reference(name: str, n: int) -> np.ndarray:
    img = getattr(data, name)()
    if img.ndim == 3:
        img = color.rgb2gray(img)
    side = min(img.shape)
    y0, x0 = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    img = transform.resize(img[y0 : y0 + side, x0 : x0 + side], (n, n), order=1,
                           anti_aliasing=True)
    img = (img - img.mean()) / img.std(ddof=1)
    img.setflags(write=False)
    return img


def _pair(n):
    return _reference("camera", n), _reference("astronaut", n)


def _normalised(x):
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean()) / x.std(ddof=1)


# ------------------------------------------------------------------------------ normalise
def test_normalize_images_sample_sd_and_constant_error():
    x = np.random.default_rng(0).standard_normal((3, 7, 9)) * [[[2.0]], [[5.0]], [[0.5]]] + 4
    out = normalize_images(x)
    assert out.dtype == np.float64 and out.shape == (3, 7, 9)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(1, 2), ddof=1), 1, rtol=1e-12)
    x[2] = 3.0
    with pytest.raises(ValueError, match=r"images\[2\] is constant"):
        normalize_images(x)


def test_normalize_images_blocks_dtype_and_input_untouched(monkeypatch):
    import fiji_bridge.stacks as stacks

    x = np.random.default_rng(1).standard_normal((7, 6, 5)) * 3 + 2
    before = x.copy()
    whole = normalize_images(x)
    monkeypatch.setattr(stacks, "NORMALIZE_BLOCK", 2)
    np.testing.assert_array_equal(normalize_images(x), whole)  # blocks change nothing
    np.testing.assert_array_equal(x, before)  # the caller's float64 array is not modified
    out32 = normalize_images(x, dtype=np.float32, label=lambda i: f"slice {i + 1}")
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32, whole.astype(np.float32))
    x[4, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"^slice 5 contains NaN.*Fix: "):
        normalize_images(x, label=lambda i: f"slice {i + 1}")


# ------------------------------------------------------------------------------ classify
@pytest.mark.parametrize("n", [32, 33])
def test_classify_pure_noise_each_class_resembles_its_own_reference(n):
    a, b = _pair(n)
    noise = noise_images(11, 0, 600, (n, n))
    res = C.classify(noise, np.stack([a, b]), workers=2)

    assert res.labels.shape == (600,) and set(np.unique(res.labels)) <= {0, 1}
    assert res.class_sizes.sum() == 600
    assert (res.class_sizes > 0).all(), res.class_sizes
    np.testing.assert_array_equal(res.class_sizes, np.bincount(res.labels, minlength=2))
    assert res.class_averages.shape == (2, n, n) and res.class_averages.dtype == np.float64
    assert np.isfinite(res.class_averages).all()
    # acceptance criterion: each class average correlates more with its own reference
    cc = res.cross_cc
    assert cc.shape == (2, 2)
    assert cc[0, 0] > cc[0, 1] and cc[1, 1] > cc[1, 0], cc
    assert cc[0, 0] == pytest.approx(pearson_cc(res.class_averages[0], a))
    assert cc[1, 0] == pytest.approx(pearson_cc(res.class_averages[1], a))

    # the class averages are the means of the images rolled by their shifts
    aligned = apply_shifts(noise, res.shifts)
    for k in range(2):
        np.testing.assert_allclose(
            res.class_averages[k], aligned[res.labels == k].mean(axis=0, dtype=np.float64),
            rtol=1e-10, atol=1e-12)


def test_classify_labels_are_the_argmax_over_references_and_shifts():
    n = 16
    rng = np.random.default_rng(3)
    refs = rng.standard_normal((3, n, n)) * 2 + 1
    images = rng.standard_normal((40, n, n)).astype(np.float32)
    res = C.classify(images, refs)
    # brute force on the normalised references
    nref = np.stack([_normalised(r) for r in refs]).astype(np.float32)
    peaks = np.stack([peak_shifts(correlation_maps(images, r))[1] for r in nref])  # (K, N)
    np.testing.assert_array_equal(res.labels, peaks.argmax(axis=0))
    np.testing.assert_allclose(res.peaks, peaks.max(axis=0), rtol=1e-6)
    for i in range(40):
        sh, _ = peak_shifts(correlation_maps(images[i], nref[res.labels[i]]))
        np.testing.assert_array_equal(res.shifts[i], sh)
    np.testing.assert_allclose(res.references, nref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(20, 20), (15, 18)])
def test_classify_known_answer_shifted_copies(shape):
    rng = np.random.default_rng(1)
    refs = rng.standard_normal((3,) + shape)
    truth = np.array([0, 2, 1, 2, 0, 2])
    shifts = rng.integers(-5, 6, size=(6, 2))
    images = np.stack([np.roll(3.0 * refs[k] + 1.0, tuple(d), axis=(0, 1))
                       for k, d in zip(truth, shifts)])
    res = C.classify(images, refs)
    np.testing.assert_array_equal(res.labels, truth)
    np.testing.assert_array_equal(res.shifts, shifts)
    np.testing.assert_array_equal(res.class_sizes, [2, 1, 3])
    for k in range(3):
        np.testing.assert_allclose(res.class_averages[k], 3.0 * refs[k] + 1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(res.cross_cc), 1.0, atol=1e-12)


def test_classify_empty_class_gives_zeros_and_nan_cc_row():
    rng = np.random.default_rng(2)
    refs = rng.standard_normal((2, 12, 12))
    images = np.stack([np.roll(refs[0], (i, -i), axis=(0, 1)) for i in range(5)])
    res = C.classify(images, refs)
    np.testing.assert_array_equal(res.class_sizes, [5, 0])
    assert not np.isnan(res.class_averages).any()
    assert (res.class_averages[1] == 0).all()
    assert np.isnan(res.cross_cc[1]).all() and np.isfinite(res.cross_cc[0]).all()


def test_classify_single_reference_and_single_image():
    r = _reference("camera", 16)
    res = C.classify(np.roll(r, (2, 3), axis=(0, 1)), r)  # (H, W) each: N = 1, K = 1
    np.testing.assert_array_equal(res.labels, [0])
    np.testing.assert_array_equal(res.shifts, [[2, 3]])
    assert res.cross_cc.shape == (1, 1)


def test_classify_chunking_and_workers_do_not_change_the_result(monkeypatch):
    a, b = _pair(16)
    noise = noise_images(5, 0, 100, (16, 16))
    ref = C.classify(noise, np.stack([a, b]), workers=1)
    monkeypatch.setattr(C, "IMAGE_CHUNK", 16)
    other = C.classify(noise, np.stack([a, b]), workers=2)
    for field in ("labels", "shifts", "peaks", "class_sizes", "class_averages"):
        np.testing.assert_array_equal(getattr(other, field), getattr(ref, field))


def test_classify_errors():
    r = np.random.default_rng(0).standard_normal((2, 16, 16))
    imgs = np.zeros((4, 16, 16))
    with pytest.raises(ValueError, match=r"at least one reference \(K >= 1\)"):
        C.classify(imgs, np.empty((0, 16, 16)))
    with pytest.raises(ValueError, match="images are 16x15 but the references are 16x16"):
        C.classify(np.zeros((4, 16, 15)), r)
    with pytest.raises(ValueError, match=r"references\[1\] is constant"):
        C.classify(imgs, np.stack([r[0], np.ones((16, 16))]))
    with pytest.raises(ValueError, match="N = 0"):
        C.classify(np.empty((0, 16, 16)), r)
    with pytest.raises(ValueError, match="stack"):
        C.classify(np.zeros((1, 4, 16, 16)), r)


# ------------------------------------------------------------------------------ rotations
@pytest.mark.parametrize("n", [32, 33])
def test_rotate_images_right_angles_are_np_rot90(n):
    x = _reference("astronaut", n)
    for k in range(4):
        np.testing.assert_allclose(C.rotate_images(x, 90 * k)[0], np.rot90(x, k), atol=1e-12)
    np.testing.assert_array_equal(C.rotate_images(x, 0)[0], x)


@pytest.mark.parametrize("n", [32, 33])
@pytest.mark.parametrize("theta, step, shift", [
    (90, 15, (3, -5)), (180, 15, (-2, 7)), (270, 90, (0, 1)), (30, 15, (4, 4)), (45, 7.5, (-6, 2)),
])
def test_align_rotations_recovers_known_rotation_and_shift(n, theta, step, shift):
    ref = _reference("astronaut", n)
    image = np.roll(C.rotate_images(ref, theta)[0], shift, axis=(0, 1))
    res = C.align_rotations(image, ref, angle_step=step, return_aligned=True)
    assert res.angles.tolist() == [theta]
    assert res.shifts.tolist() == [list(shift)]
    # definition of the inverse transform: cyclic shift first, then rotation by -theta
    expected = C.rotate_images(np.roll(image, (-shift[0], -shift[1]), axis=(0, 1)), -theta)[0]
    np.testing.assert_allclose(res.aligned[0], expected, atol=1e-12)
    np.testing.assert_allclose(res.average, res.aligned[0], atol=1e-12)
    if theta % 90 == 0:  # bilinear rotation by right angles of a square image is exact
        np.testing.assert_allclose(res.aligned[0], ref, atol=1e-9)
    else:
        assert pearson_cc(res.aligned[0], ref) > pearson_cc(image, ref)


def test_align_rotations_off_grid_angle_gives_nearest_grid_angle():
    ref = _reference("camera", 32)
    image = np.roll(C.rotate_images(ref, 33)[0], (1, -2), axis=(0, 1))
    res = C.align_rotations(image, ref, angle_step=15)
    assert res.angles[0] == 30.0
    assert res.shifts[0].tolist() == [1, -2]


def test_align_rotations_pure_noise_still_correlates_but_is_blurred():
    n, m = 32, 300
    ref = _reference("astronaut", n)
    noise = noise_images(3, 0, m, (n, n))
    res = C.align_rotations(noise, ref, angle_step=15, workers=2)
    assert res.angle_grid.size == 24 and set(np.unique(res.angles)) <= set(res.angle_grid)
    assert len(np.unique(res.angles)) > 12  # noise picks all sorts of angles
    cc_rot = pearson_cc(res.average, ref)
    assert cc_rot > 0.3  # unaligned averages: |CC| ~ 1/n = 0.03
    assert abs(pearson_cc(noise.mean(axis=0), ref)) < 0.15
    # blurred against translation-only alignment: lower agreement at high spatial frequency
    trans = align_to_reference(noise, ref).aligned.mean(axis=0, dtype=np.float64)
    _, f_rot = frc(res.average, ref, n_rings=8)
    _, f_trans = frc(trans, ref, n_rings=8)
    assert f_rot[4:].mean() < f_trans[4:].mean()


def test_align_rotations_average_is_mean_of_aligned_and_chunking_invariant(monkeypatch):
    ref = _reference("camera", 17)
    noise = noise_images(4, 0, 40, (17, 17))
    full = C.align_rotations(noise, ref, angle_step=45, return_aligned=True)
    np.testing.assert_allclose(full.average, full.aligned.mean(axis=0), atol=1e-12)
    monkeypatch.setattr(C, "IMAGE_CHUNK", 8)
    other = C.align_rotations(noise, ref, angle_step=45)
    assert other.aligned is None
    np.testing.assert_array_equal(other.angles, full.angles)
    np.testing.assert_array_equal(other.shifts, full.shifts)
    np.testing.assert_allclose(other.average, full.average, atol=1e-12)


@pytest.mark.parametrize("step", [0, -5, 180.5, 360, float("nan"), float("inf")])
def test_align_rotations_bad_angle_step(step):
    ref = _reference("camera", 16)
    with pytest.raises(ValueError, match=r"angle step must be in \(0, 180\] degrees.*Fix: "):
        C.align_rotations(np.zeros((2, 16, 16)), ref, angle_step=step)


@pytest.mark.parametrize("step", ["5", True, None])
def test_align_rotations_angle_step_of_wrong_type(step):
    ref = _reference("camera", 16)
    with pytest.raises(TypeError, match=r"angle step must be a number of degrees.*Fix: "):
        C.align_rotations(np.zeros((2, 16, 16)), ref, angle_step=step)


def test_rotation_grid_and_shape_errors():
    np.testing.assert_array_equal(C.rotation_grid(180), [0.0, 180.0])
    assert C.rotation_grid(7.5).size == 48
    ref = _reference("camera", 16)
    with pytest.raises(ValueError, match="images are 16x17 but the reference is 16x16"):
        C.align_rotations(np.zeros((2, 16, 17)), ref, angle_step=90)
    with pytest.raises(ValueError, match="one 2-D image"):
        C.align_rotations(np.zeros((2, 16, 16)), np.stack([ref, ref]), angle_step=90)


# ------------------------------------------------------------------------------ other reference
@pytest.mark.parametrize("n", [32, 31])
def test_same_noise_follows_the_reference_not_the_data(n):
    a, b = _pair(n)
    noise = noise_images(21, 0, 500, (n, n))
    res = C.different_reference_control(noise, a, b, workers=2)
    cc = res.cc
    assert cc[0, 0] > cc[0, 1] and cc[1, 1] > cc[1, 0], cc
    # the same thing with the plain alignment and the helper
    avg_a = align_to_reference(noise, a).aligned.mean(axis=0, dtype=np.float64)
    avg_b = align_to_reference(noise, b).aligned.mean(axis=0, dtype=np.float64)
    np.testing.assert_allclose(res.average_a, avg_a, atol=1e-9)
    np.testing.assert_allclose(res.average_b, avg_b, atol=1e-9)
    cc_aa, cc_ab = C.cross_reference_cc(avg_a, a, b)
    cc_ba, cc_bb = C.cross_reference_cc(avg_b, a, b)
    assert cc_aa > cc_ab and cc_bb > cc_ba
    np.testing.assert_allclose([[cc_aa, cc_ab], [cc_ba, cc_bb]], cc, atol=1e-9)


def test_different_reference_errors():
    a, b = _pair(16)
    with pytest.raises(ValueError, match="reference_a is 16x16 but reference_b is 17x17"):
        C.cross_reference_cc(a, a, _reference("astronaut", 17))
    with pytest.raises(ValueError, match=r"reference_b\[0\] is constant"):
        C.different_reference_control(np.zeros((3, 16, 16)), a, np.ones((16, 16)))
