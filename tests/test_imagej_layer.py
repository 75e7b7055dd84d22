"""The ImageJ layer against the real ImageJ jar in this process (session fixture)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fiji_bridge import imagej
from fiji_bridge.imagej import convert

pytestmark = pytest.mark.imagej


@pytest.fixture(params=[(16, 16), (15, 21)], ids=["even", "odd"])
def shape(request):
    return request.param


def test_handle_reports_imagej_1_53t(ij):
    assert ij.backend == "imagej1"
    assert ij.version.startswith("1.")
    assert imagej.start() is ij  # a second start returns the same ImageJ


def test_second_start_cannot_switch(ij):
    other = "headless" if not ij.headless else "xvfb"
    with pytest.raises(imagej.ImageJStartError, match="once per process"):
        imagej.start(display=other)


@pytest.mark.parametrize("depth", [2, 3])
def test_float32_round_trip_is_exact(ij, shape, depth):
    rng = np.random.default_rng(depth)
    array = rng.standard_normal((4, *shape) if depth == 3 else shape).astype(np.float32)
    back = convert.from_imageplus(convert.to_imageplus(array))
    assert back.dtype == np.float32
    assert back.dims == (("z", "y", "x") if depth == 3 else ("y", "x"))
    np.testing.assert_array_equal(back.values, array)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_images_keep_their_type_and_convert_to_float32(ij, shape, dtype):
    rng = np.random.default_rng(1)
    array = rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)
    imp = convert.to_imageplus(array)
    assert int(imp.getBitDepth()) == 8 * np.dtype(dtype).itemsize
    np.testing.assert_array_equal(convert.from_imageplus(imp).values, array)
    imagej.convert_to_32bit(imp)
    back = convert.from_imageplus(imp).values
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, array.astype(np.float32))


def test_float64_becomes_float32(ij):
    array = np.linspace(0, 1, 12).reshape(3, 4)
    back = convert.from_imageplus(convert.to_imageplus(array)).values
    np.testing.assert_array_equal(back, array.astype(np.float32))


def test_xarray_dims_attrs_labels_and_title_survive(ij):
    data = xr.DataArray(
        np.arange(24, dtype=np.float32).reshape(2, 3, 4), dims=("pln", "row", "col"),
        name="stack", attrs={"units": "sigma", "seed": 7},
    ).assign_coords(label=("pln", ["N=25", "N=100"]))
    imp = convert.to_imageplus(data)
    assert str(imp.getTitle()) == "stack"
    assert str(imp.getStack().getSliceLabel(2)) == "N=100"
    back = convert.from_imageplus(imp)
    assert back.dims == ("z", "y", "x")
    assert back.attrs == {"units": "sigma", "seed": 7}
    assert list(back.coords["label"].values) == ["N=25", "N=100"]
    np.testing.assert_array_equal(back.values, data.values)


def test_rgb_round_trip(ij):
    rgb = np.random.default_rng(2).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    back = convert.from_imageplus(convert.to_imageplus(rgb))
    assert back.dims == ("y", "x", "c")
    np.testing.assert_array_equal(back.values, rgb)


def test_bad_arrays_are_refused(ij):
    with pytest.raises(ValueError, match="shape"):
        convert.to_imageplus(np.zeros((2, 2, 2, 2)))
    with pytest.raises(TypeError, match="real"):
        convert.to_imageplus(np.zeros((4, 4), complex))
    with pytest.raises(ValueError, match="labels"):
        convert.to_imageplus(np.zeros((3, 4, 4)), labels=["a"])


def test_statistics_are_imagejs_sample_stdev(ij, shape):
    array = np.random.default_rng(3).normal(5, 2, shape).astype(np.float32)
    stats = imagej.statistics(convert.to_imageplus(array))
    assert stats["n"] == array.size
    assert stats["mean"] == pytest.approx(array.mean(dtype=np.float64), rel=1e-6)
    assert stats["stdev"] == pytest.approx(array.std(ddof=1, dtype=np.float64), rel=1e-6)
    assert stats["stdev"] != pytest.approx(array.std(ddof=0, dtype=np.float64), rel=1e-6)


@pytest.mark.parametrize("route", ["api", "command"])
def test_normalize_8bit_to_mean_0_stdev_1(ij, route, shape):
    if route == "command" and not ij.can_run_commands:
        pytest.skip("menu commands need Xvfb")
    array = np.random.default_rng(4).integers(10, 240, shape, dtype=np.uint8)
    imp, mean, stdev = imagej.normalize(convert.to_imageplus(array), route=route)
    assert int(imp.getBitDepth()) == 32
    values = convert.from_imageplus(imp).values.astype(np.float64)
    assert mean == pytest.approx(array.mean(), rel=1e-9)
    assert stdev == pytest.approx(array.std(ddof=1), rel=1e-9)
    assert abs(values.mean()) < 1e-6
    assert values.std(ddof=1) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(values, (array - array.mean()) / array.std(ddof=1), atol=1e-5)


def test_normalize_refuses_constant_image(ij):
    with pytest.raises(ValueError, match="stdev 0"):
        imagej.normalize(convert.to_imageplus(np.full((8, 8), 3, np.uint8)))


def test_normalize_refuses_nan(ij):
    array = np.ones((8, 8), np.float32)
    array[2, 3] = np.nan
    array[0, 0] = 2
    with pytest.raises(ValueError, match="NaN"):
        imagej.normalize(convert.to_imageplus(array))


def test_quirk_probe_matches_imagej_version(ij):
    # 1.53t's 32-bit Average Intensity drops the last slice; the probe must have seen it.
    assert ("zproject_avg_drops_last_slice" in ij.quirks) == ij.version.startswith("1.53t")


@pytest.mark.parametrize("route", ["api", "command"])
@pytest.mark.parametrize("start,stop", [(1, 7), (1, 1), (2, 5), (7, 7)])
def test_z_project_average_equals_numpy_mean(ij, shape, route, start, stop):
    if route == "command" and not ij.can_run_commands:
        pytest.skip("menu commands need Xvfb")
    stack = np.random.default_rng(5).standard_normal((7, *shape)).astype(np.float32)
    result = imagej.z_project_average(convert.to_imageplus(stack), start, stop, route=route)
    assert int(result.getStackSize()) == 1
    np.testing.assert_allclose(
        convert.from_imageplus(result).values, stack[start - 1:stop].mean(axis=0, dtype=np.float64),
        atol=2e-7,
    )


def test_z_project_bad_range(ij):
    imp = convert.to_imageplus(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="outside the stack"):
        imagej.z_project_average(imp, 1, 4)


def test_crop_and_resize_follow_imagej(ij):
    array = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    cropped = imagej.crop(convert.to_imageplus(array), 5, 0, 20, 20)
    np.testing.assert_array_equal(convert.from_imageplus(cropped).values, array[:, 5:25])
    resized = convert.from_imageplus(imagej.resize(cropped, 10, 10)).values
    assert resized.shape == (10, 10)
    # a linear ramp stays a ramp: bilinear resampling with averaging keeps the mean
    assert resized.mean() == pytest.approx(array[:, 5:25].mean(), rel=1e-3)


@pytest.mark.parametrize("size", [16, 32])
def test_fht_correlation_equals_numpy(ij, size):
    rng = np.random.default_rng(size)
    image = rng.standard_normal((size, size)).astype(np.float32)
    reference = rng.standard_normal((size, size)).astype(np.float32)
    expected = np.fft.fftshift(
        np.fft.irfft2(np.fft.rfft2(image) * np.conj(np.fft.rfft2(reference)), s=image.shape))
    np.testing.assert_allclose(imagej.fht_correlation(image, reference), expected, atol=1e-3)


def test_fht_align_recovers_known_shifts(ij):
    rng = np.random.default_rng(9)
    reference = rng.standard_normal((32, 32)).astype(np.float32)
    shifts = np.array([(0, 0), (3, -5), (-16, 15), (15, -16), (-1, 1)])
    images = np.stack([np.roll(reference, (dy, dx), axis=(0, 1)) for dy, dx in shifts])
    found, peaks, maps = imagej.fht_align(images, reference, keep_maps=2)
    np.testing.assert_array_equal(found, shifts)
    np.testing.assert_allclose(peaks, (reference.astype(np.float64) ** 2).sum(), rtol=1e-4)
    assert maps.shape == (2, 32, 32)


def test_fht_needs_power_of_two(ij):
    with pytest.raises(ValueError, match="power of 2"):
        imagej.fht_correlation(np.zeros((24, 24)), np.zeros((24, 24)))


def test_macro_file_returns_value_and_image(ij_commands, tmp_path):
    macro = tmp_path / "double.ijm"
    macro.write_text(
        'factor = parseFloat(getArgument());\n'
        'run("Duplicate...", "title=doubled");\n'
        'run("Multiply...", "value=" + factor);\n'
        'return "factor " + factor;\n'
    )
    source = np.arange(16, dtype=np.float32).reshape(4, 4)
    imp = convert.to_imageplus(source, title="input")
    result = imagej.run_macro(macro, "2.5", images=[imp])
    assert result.value == "factor 2.5"
    assert str(result.image.getTitle()) == "doubled"
    np.testing.assert_allclose(convert.from_imageplus(result.image).values, 2.5 * source)
    np.testing.assert_array_equal(convert.from_imageplus(imp).values, source)  # untouched


@pytest.mark.parametrize("code,message", [
    ("x = undefinedThing + 1;", "Undefined variable"),
    ('run("No Such Command 42");', "Unrecognized command"),
    ('run("Add Noise");', "no images open"),
])
def test_macro_errors_raise_instead_of_hanging(ij_commands, code, message):
    with pytest.raises(imagej.ImageJCommandError, match=message):
        imagej.run_macro("", code=code)


def test_missing_macro_file(ij, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        imagej.run_macro(tmp_path / "nope.ijm")


def test_open_image_errors(ij, tmp_path):
    with pytest.raises(FileNotFoundError):
        imagej.open_image(tmp_path / "missing.png")
    with pytest.raises(imagej.ImageJError, match="is a folder"):
        imagej.open_image(tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(imagej.ImageJError, match="cannot open"):
        imagej.open_image(text)


@pytest.mark.parametrize("route", ["api", "command"])
def test_normalize_negative_mean(ij, route):
    # "v=(v--2.9)/s" would be ImageJ's decrement operator: the mean must be parenthesised
    if route == "command" and not ij.can_run_commands:
        pytest.skip("menu commands need Xvfb")
    array = np.random.default_rng(8).standard_normal((9, 8)).astype(np.float32) - 3
    imp, mean, stdev = imagej.normalize(convert.to_imageplus(array), route=route)
    assert mean < 0
    np.testing.assert_allclose(convert.from_imageplus(imp).values,
                               (array - array.mean()) / array.std(ddof=1), atol=1e-5)


def test_bad_math_expression_raises_instead_of_hanging(ij):
    with pytest.raises(imagej.ImageJCommandError, match="Math>Macro"):
        imagej.apply_math_macro(convert.to_imageplus(np.zeros((4, 4), np.float32)), "v=v+*2")


def test_macro_needing_an_image_raises(ij_commands):
    # ImageJ 1.53t's IJ.getImage() calls System.exit(0) without a main ImageJ instance
    with pytest.raises(imagej.ImageJCommandError, match="no images open"):
        imagej.run_macro("", code='v = getPixel(0, 0); return "v" + v;')
