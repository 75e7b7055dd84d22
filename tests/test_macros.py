"""The .ijm macros of the experiment, run in the real ImageJ of this process (Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest

from fiji_bridge import imagej
from fiji_bridge.imagej import convert, macros

pytestmark = pytest.mark.imagej

SHIFTS = [(0, 0), (3, -5), (-32, 31), (31, -32), (-1, 1), (0, 7), (9, 0), (-20, -13)]


def _numpy_correlation(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """cc[H/2 + dy, W/2 + dx] = sum_p image[p + d] * reference[p] (the documented layout)."""
    product = np.fft.rfft2(image.astype(np.float64)) * np.conj(np.fft.rfft2(reference))
    return np.fft.fftshift(np.fft.irfft2(product, s=image.shape))


def _normalized(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.float64)
    return ((array - array.mean()) / array.std(ddof=1)).astype(np.float32)


def _blobs(size: int) -> np.ndarray:
    """A smooth synthetic reference: two Gaussian blobs and a ramp."""
    y, x = np.mgrid[:size, :size] / size
    return (np.exp(-((y - 0.35) ** 2 + (x - 0.6) ** 2) / 0.02)
            + 0.6 * np.exp(-((y - 0.7) ** 2 + (x - 0.3) ** 2) / 0.008) + 0.3 * x)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


# ---------------------------------------------------------------------------------------------
# macro_path
# ---------------------------------------------------------------------------------------------


def test_macro_path_finds_the_macros_beside_the_package():
    repo_macros = macros.macro_dirs()[0]
    for name in ("normalize.ijm", "average.ijm", "einstein_from_noise.ijm"):
        assert macros.macro_path(name) == repo_macros / name
    assert macros.macro_path("average") == repo_macros / "average.ijm"


def test_macro_path_says_where_it_looked():
    with pytest.raises(FileNotFoundError) as info:
        macros.macro_path("no_such_macro.ijm")
    for folder in macros.macro_dirs():
        assert str(folder) in str(info.value)
    with pytest.raises(ValueError):
        macros.macro_path("../macros/normalize.ijm")


def test_parse_fields_keeps_shifts_whole():
    fields = macros.parse_fields("a=1 b=x.y flag shifts=1,2;-3,4")
    assert fields == {"a": "1", "b": "x.y", "flag": "true", "shifts": "1,2;-3,4"}


# ---------------------------------------------------------------------------------------------
# normalize.ijm
# ---------------------------------------------------------------------------------------------


def test_normalize_macro_equals_api_route(ij_commands):
    array = np.random.default_rng(11).integers(3, 250, (23, 17), dtype=np.uint8)
    by_api, api_mean, api_stdev = imagej.normalize(convert.to_imageplus(array), route="api")
    imp = convert.to_imageplus(array)
    result, mean, stdev = macros.normalize_with_macro(imp)
    assert result is imp and int(imp.getBitDepth()) == 32
    # The returned numbers are ImageJ's statistics of the 32-bit image, digit for digit.
    stats = imagej.statistics(imagej.convert_to_32bit(convert.to_imageplus(array)))
    assert mean == pytest.approx(stats["mean"], rel=1e-15)
    assert stdev == pytest.approx(stats["stdev"], rel=1e-15)
    assert (mean, stdev) == pytest.approx((api_mean, api_stdev), rel=1e-15)
    assert stdev == pytest.approx(array.std(ddof=1), rel=1e-12)  # sample stdev
    values = convert.from_imageplus(result).values
    np.testing.assert_allclose(values, convert.from_imageplus(by_api).values, atol=1e-5)
    # Not 4 decimals: the full-precision mean leaves no offset.
    assert abs(values.astype(np.float64).mean()) < 1e-6
    assert values.astype(np.float64).std(ddof=1) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("depth", [2, 3], ids=["image", "stack"])
def test_normalize_macro_negative_mean_and_stacks(ij_commands, depth):
    # A negative mean must not turn "v-(-3)" into the decrement operator "v--3".
    shape = (3, 9, 11) if depth == 3 else (9, 11)
    array = (np.random.default_rng(depth).standard_normal(shape) * 2 - 3).astype(np.float32)
    imp, mean, stdev = macros.normalize_with_macro(convert.to_imageplus(array))
    wide = array.astype(np.float64)
    assert mean == pytest.approx(wide.mean(), rel=1e-9) and mean < 0
    assert stdev == pytest.approx(wide.std(ddof=1), rel=1e-9)  # all slices together
    np.testing.assert_allclose(convert.from_imageplus(imp).values,
                               (wide - wide.mean()) / wide.std(ddof=1), atol=1e-5)


def test_normalize_macro_refuses_constant_and_nan_images(ij_commands):
    with pytest.raises(imagej.ImageJCommandError, match="constant"):
        macros.normalize_with_macro(convert.to_imageplus(np.full((8, 8), 7, np.uint8)))
    array = np.arange(64, dtype=np.float32).reshape(8, 8)
    array[2, 3] = np.nan
    with pytest.raises(imagej.ImageJCommandError, match="NaN"):
        macros.normalize_with_macro(convert.to_imageplus(array))


# ---------------------------------------------------------------------------------------------
# average.ijm
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start,stop", [(1, 1), (1, 2), (1, 5), (1, 7), (3, 6), (7, 7)])
def test_average_macro_is_the_true_mean(ij_commands, start, stop):
    stack = np.random.default_rng(stop).standard_normal((7, 12, 10)).astype(np.float32)
    imp = convert.to_imageplus(stack)
    result = macros.average_with_macro(imp, stop, start=start)
    assert int(result.getStackSize()) == 1 and int(result.getBitDepth()) == 32
    title = f"AVG_n={stop}" if start == 1 else f"AVG_{start}-{stop}"
    assert str(result.getTitle()) == title
    np.testing.assert_allclose(
        convert.from_imageplus(result).values,
        stack[start - 1:stop].mean(axis=0, dtype=np.float64), atol=3e-7,
    )
    # The macro's own known-answer probe agrees with the one fiji_bridge.imagej ran at start.
    fields = macros.parse_fields(str(result.getProperty("fiji_bridge.macro")))
    assert fields["workaround"] == ("yes" if "zproject_avg_drops_last_slice" in ij_commands.quirks
                                    else "no")
    assert fields["slices"] == f"{start}-{stop}"
    np.testing.assert_array_equal(convert.from_imageplus(imp).values, stack)  # untouched


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_average_macro_of_integer_stacks_is_not_rounded(ij_commands, dtype):
    stack = np.random.default_rng(3).integers(0, 200, (4, 6, 5)).astype(dtype)
    result = macros.average_with_macro(convert.to_imageplus(stack), 3)
    values = convert.from_imageplus(result).values
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, stack[:3].mean(axis=0), atol=1e-5)


def test_average_macro_refuses_a_bad_range(ij_commands):
    with pytest.raises(imagej.ImageJCommandError, match="outside"):
        macros.average_with_macro(convert.to_imageplus(np.zeros((3, 4, 4), np.float32)), 4)


# ---------------------------------------------------------------------------------------------
# einstein_from_noise.ijm
# ---------------------------------------------------------------------------------------------


def test_experiment_macro_recovers_known_cyclic_shifts(ij_commands):
    """The sign and the wrap-around of the macro's alignment, with exact answers.

    The noise images are the (normalised) reference rolled by known shifts: the macro must
    report exactly those shifts (FD Math's peak at size/2 + d) and undo them cyclically, so
    every average is the reference again.  A wrong sign would give np.roll(ref, 2 d); a
    zero-filling Translate would leave zero bands; either differs from the reference.
    """
    size = 64
    reference = _normalized(np.random.default_rng(5).standard_normal((size, size)))
    noise = np.stack([np.roll(reference, shift, axis=(0, 1)) for shift in SHIFTS])
    out = macros.run_experiment_macro(
        convert.to_imageplus(reference, title="reference"), size=size, n=len(SHIFTS),
        counts=[1, 3, len(SHIFTS)], seed=1, noise=convert.to_imageplus(noise, title="reference"),
    )
    np.testing.assert_array_equal(out["shifts"], np.array(SHIFTS))
    averages = convert.from_imageplus(out["averages"]).values
    assert averages.shape == (3, size, size)
    assert out["labels"] == ["N=1", "N=3", f"N={len(SHIFTS)}"]
    for average in averages:
        np.testing.assert_allclose(average, reference, atol=1e-5)
    assert out["fields"]["noise"].startswith("fiji_bridge_noise_")
    assert out["ref_stdev"] == pytest.approx(1.0, rel=1e-6)  # the reference came normalised


def test_experiment_macro_matches_numpy_on_the_same_noise(ij_commands):
    """Shifts and averages of the macro equal numpy's (np.roll(noise, -shift)) for given noise."""
    size, count = 64, 24
    reference = _normalized(_blobs(size))
    rng = np.random.default_rng(8)
    noise = rng.standard_normal((count, size, size)).astype(np.float32)
    out = macros.run_experiment_macro(
        convert.to_imageplus(reference), size=size, n=count, counts=[5, count], seed=1,
        noise=convert.to_imageplus(noise),
    )
    shifts = out["shifts"]
    assert shifts.shape == (count, 2)
    checked = 0
    for image, found in zip(noise, shifts):
        cc = _numpy_correlation(image, reference)
        top, second = np.sort(cc.ravel())[-2:][::-1]
        if top - second > 1e-4 * abs(top):  # skip near-ties that float rounding may flip
            row, col = np.unravel_index(np.argmax(cc), cc.shape)
            assert tuple(found) == (row - size // 2, col - size // 2)
            checked += 1
    assert checked >= count - 2
    aligned = np.stack([np.roll(image, (-dy, -dx), axis=(0, 1))
                        for image, (dy, dx) in zip(noise, shifts)])
    averages = convert.from_imageplus(out["averages"]).values
    np.testing.assert_allclose(averages[0], aligned[:5].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(averages[1], aligned.mean(axis=0), atol=1e-5)


def test_experiment_macro_reference_steps_match_python(ij_commands):
    """Centre crop, Size (bilinear, averaging), 32-bit and normalisation, as fiji_bridge.imagej
    does them: rolled copies of Python's reference come back as that reference."""
    base = np.random.default_rng(6).integers(0, 256, (50, 72), dtype=np.uint8)
    python_ref = imagej.crop(convert.to_imageplus(base), (72 - 50) // 2, 0, 50, 50)
    python_ref = imagej.resize(python_ref, 32, 32)
    python_ref, _, _ = imagej.normalize(python_ref)
    reference = convert.from_imageplus(python_ref).values
    shifts = [(5, -9), (-16, 15)]
    noise = np.stack([np.roll(reference, shift, axis=(0, 1)) for shift in shifts])
    out = macros.run_experiment_macro(
        convert.to_imageplus(base), size=32, n=2, counts=[2], seed=1,
        noise=convert.to_imageplus(noise),
    )
    np.testing.assert_array_equal(out["shifts"], np.array(shifts))
    np.testing.assert_allclose(convert.from_imageplus(out["averages"]).values, reference,
                               atol=1e-4)


def test_experiment_macro_einstein_from_imagej_noise(ij_commands):
    """The experiment with ImageJ's own noise: averages of aligned noise look like the reference."""
    size, count = 64, 60
    out = macros.run_experiment_macro(
        convert.to_imageplus(_blobs(size).astype(np.float32)), size=size, n=count,
        counts=[20, count], seed=1,
    )
    averages = convert.from_imageplus(out["averages"]).values
    assert averages.shape == (2, size, size) and averages.dtype == np.float32
    assert out["labels"] == ["N=20", "N=60"] and out["counts"] == [20, 60]
    assert out["shifts"].shape == (count, 2)
    assert (out["shifts"] >= -size // 2).all() and (out["shifts"] < size // 2).all()
    assert out["zproject_workaround"] == ("zproject_avg_drops_last_slice" in ij_commands.quirks)
    reference = _normalized(_blobs(size))
    cc20, cc60 = (_pearson(average, reference) for average in averages)
    print(f"Pearson CC with the reference: N=20 {cc20:.3f}, N=60 {cc60:.3f}; "
          f"std {averages[1].std():.3f}; macro {out['seconds']:.2f} s")
    assert cc60 > 0.1, (cc20, cc60)
    assert cc60 > cc20 - 0.05  # more images do not make it worse (noise permitting)
    # The average of N aligned unit-variance noise images has sigma about 1/sqrt(N) per pixel
    # plus the signal; far from 1 (no alignment: exactly 1/sqrt(N)).
    assert 0.5 / np.sqrt(count) < averages[1].std() < 1.0


def test_experiment_macro_noise_follows_the_seed(ij_commands):
    """random("seed", s) seeds Add Specified Noise: same seed, same run; another seed differs."""
    reference = convert.to_imageplus(_blobs(32).astype(np.float32))

    def run(seed):
        out = macros.run_experiment_macro(reference, size=32, n=6, counts=[1, 6], seed=seed)
        return out["shifts"], convert.from_imageplus(out["averages"]).values

    shifts_a, averages_a = run(3)
    shifts_b, averages_b = run(3)
    _, averages_c = run(4)
    np.testing.assert_array_equal(shifts_a, shifts_b)
    np.testing.assert_array_equal(averages_a, averages_b)
    assert not np.array_equal(averages_a, averages_c)
    # N=1 is one aligned (rolled) noise image: Add Specified Noise gives sigma 1, mean 0.
    first = averages_a[0].astype(np.float64)
    assert abs(first.mean()) < 0.15 and first.std() == pytest.approx(1.0, abs=0.15)


def test_experiment_macro_keeps_the_aligned_stack_when_asked(ij_commands):
    path = str(macros.macro_path("einstein_from_noise.ijm")).replace("\\", "/")
    code = (
        f'value = runMacro("{path}", "size=32 n=5 counts=2,5 seed=2 keep_aligned");\n'
        'selectImage("aligned");\n'
        'slices = nSlices;\n'
        'selectImage("averages");\n'
        'return "" + slices + " " + getInfo("slice.label");\n'
    )
    reference = convert.to_imageplus(_blobs(32).astype(np.float32))
    result = imagej.run_macro("", images=[reference], code=code)
    assert result.value == "5 N=2"  # the spare slice of the 1.53t correction is removed


@pytest.mark.parametrize("kwargs,message", [
    ({"size": 48, "n": 4, "counts": [4]}, "power of 2"),
    ({"size": 32, "n": 4, "counts": [5]}, "between 1 and n"),
])
def test_experiment_macro_refuses_bad_settings(ij_commands, kwargs, message):
    reference = convert.to_imageplus(_blobs(32).astype(np.float32))
    with pytest.raises(imagej.ImageJCommandError, match=message):
        macros.run_experiment_macro(reference, seed=1, **kwargs)
