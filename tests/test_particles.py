"""Particle stacks (MRC/MRCS, TIFF): loading, normalisation, resampling, errors, vs noise.

Pure numpy / mrcfile / tifffile / scikit-image (no Java). Files are written in tmp_path.
"""

from __future__ import annotations

import warnings

import mrcfile
import numpy as np
import pytest
import tifffile
from skimage import data, transform

from fiji_bridge import particles as P
from fiji_bridge.align import align_to_reference
from fiji_bridge.metrics import pearson_cc
from fiji_bridge.noise import noise_images


def _stack(n=5, shape=(33, 33), seed=0, dtype=np.float32):
    """Images with different offsets and contrasts (so per-image normalisation matters)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + shape) * rng.uniform(0.5, 20, (n, 1, 1))
    x += rng.uniform(-100, 100, (n, 1, 1))
    return x.astype(dtype)


def _norm(x):
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean()) / x.std(ddof=1)


def _write_mrc(path, array, image_stack=False):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(array)
        if image_stack:
            mrc.set_image_stack()
    return path


def _assert_normalised(out):
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(1, 2), dtype=np.float64), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=(1, 2), ddof=1, dtype=np.float64), 1, rtol=1e-5)


def _reference(n):
    img = transform.resize(data.camera()[:, :], (n, n), order=1, anti_aliasing=True)
    return _norm(img)


# ------------------------------------------------------------------------------ loading
@pytest.mark.parametrize("suffix, image_stack", [(".mrcs", True), (".mrc", False), (".MRC", False)])
def test_load_mrc_stack_normalised_per_image(tmp_path, suffix, image_stack):
    x = _stack(5, (33, 32))
    path = _write_mrc(tmp_path / f"parts{suffix}", x, image_stack=image_stack)
    out = P.load_particles(path)
    assert out.shape == (5, 33, 32)
    _assert_normalised(out)
    for i in range(5):
        np.testing.assert_allclose(out[i], _norm(x[i]), rtol=1e-5, atol=1e-5)


def test_load_mrc_integer_mode_and_single_image(tmp_path):
    x = (np.random.default_rng(1).integers(-300, 300, (3, 16, 16))).astype(np.int16)
    out = P.load_particles(_write_mrc(tmp_path / "int.mrcs", x, image_stack=True))
    np.testing.assert_allclose(out[1], _norm(x[1]), rtol=1e-5, atol=1e-5)
    single = P.load_particles(_write_mrc(tmp_path / "one.mrc", _stack(1, (20, 21))[0]))
    assert single.shape == (1, 20, 21)
    _assert_normalised(single)


def test_load_tiff_stacks(tmp_path):
    x = _stack(4, (31, 31))
    tifffile.imwrite(tmp_path / "ij.tif", x, imagej=True, metadata={"axes": "ZYX"})
    out = P.load_particles(tmp_path / "ij.tif")
    assert out.shape == (4, 31, 31)
    _assert_normalised(out)
    np.testing.assert_allclose(out[3], _norm(x[3]), rtol=1e-5, atol=1e-5)

    u16 = np.random.default_rng(2).integers(0, 60000, (3, 12, 14)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "u16.tiff", u16, photometric="minisblack")
    out = P.load_particles(tmp_path / "u16.tiff")
    assert out.shape == (3, 12, 14)
    np.testing.assert_allclose(out[2], _norm(u16[2]), rtol=1e-5, atol=1e-5)

    tifffile.imwrite(tmp_path / "one.tif", x[0])
    assert P.load_particles(tmp_path / "one.tif").shape == (1, 31, 31)

    hyper = _stack(6, (10, 12)).reshape(2, 3, 10, 12)
    tifffile.imwrite(tmp_path / "hyper.tif", hyper, imagej=True, metadata={"axes": "TZYX"})
    out = P.load_particles(tmp_path / "hyper.tif")
    assert out.shape == (6, 10, 12)
    np.testing.assert_allclose(out[4], _norm(hyper[1, 1]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [16, 33])
def test_load_with_size_resamples_centre_crop_then_resize(tmp_path, size):
    x = _stack(3, (40, 50), seed=3)
    path = _write_mrc(tmp_path / "big.mrcs", x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = P.load_particles(path, size=size)
    assert out.shape == (3, size, size)
    _assert_normalised(out)
    for i in range(3):
        crop = x[i, :, 5:45].astype(np.float64)  # centred 40 x 40 square
        expected = transform.resize(crop, (size, size), order=1, anti_aliasing=True,
                                    preserve_range=True)
        np.testing.assert_allclose(out[i], _norm(expected), rtol=1e-4, atol=1e-4)


def test_size_equal_to_the_images_does_not_resample(tmp_path):
    x = _stack(2, (20, 20))
    path = _write_mrc(tmp_path / "s.mrcs", x)
    np.testing.assert_array_equal(P.load_particles(path, size=20), P.load_particles(path))


@pytest.mark.parametrize("size,exc", [(0, ValueError), (1, ValueError), (-4, ValueError),
                                      (12.0, TypeError), (True, TypeError), ("16", TypeError)])
def test_bad_size(tmp_path, size, exc):
    path = _write_mrc(tmp_path / "s.mrcs", _stack(2, (20, 20)))
    with pytest.raises(exc, match="size must be .*>= 2.* Fix: pass e.g. size=128"):
        P.load_particles(path, size=size)


# ------------------------------------------------------------------------------ bad files
def test_constant_and_nan_images_are_named(tmp_path):
    x = _stack(4, (16, 16))
    x[2] = 7.5
    with pytest.raises(ValueError, match=r"particle 2 \(0-based; slice 3 in ImageJ\).*constant"):
        P.load_particles(_write_mrc(tmp_path / "c.mrcs", x))
    x = _stack(4, (16, 16))
    x[1, 3, 3] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", x, imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(ValueError, match=r"particle 1 .*NaN"):
        P.load_particles(tmp_path / "nan.tif")


def test_corrupt_mrc(tmp_path):
    good = _write_mrc(tmp_path / "good.mrcs", _stack(4, (16, 16)))
    truncated = tmp_path / "truncated.mrcs"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ValueError, match="cannot read .*truncated.mrcs as an MRC file"):
        P.load_particles(truncated)
    junk = tmp_path / "junk.mrc"
    junk.write_bytes(b"not an mrc file " * 100)
    with pytest.raises(ValueError, match="corrupt, truncated or not an MRC file"):
        P.load_particles(junk)


def test_corrupt_or_colour_tiff(tmp_path):
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff " * 50)
    with pytest.raises(ValueError, match="cannot read .*junk.tif as a TIFF stack"):
        P.load_particles(junk)
    rgb = np.random.default_rng(0).integers(0, 255, (16, 16, 3)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    with pytest.raises(ValueError, match="not a stack of grey-level images"):
        P.load_particles(tmp_path / "rgb.tif")
    with tifffile.TiffWriter(tmp_path / "mixed.tif") as tif:
        tif.write(np.ones((10, 12), np.float32))
        tif.write(np.ones((8, 8), np.float32))
    with pytest.raises(ValueError, match="2 image series"):
        P.load_particles(tmp_path / "mixed.tif")


def test_complex_and_volume_stack_mrc(tmp_path):
    z = (np.ones((2, 8, 8)) + 1j).astype(np.complex64)
    with pytest.raises(ValueError, match="complex"):
        P.load_particles(_write_mrc(tmp_path / "z.mrc", z))
    v = _stack(6, (8, 8)).reshape(2, 3, 8, 8)
    with pytest.raises(ValueError, match="stack of volumes"):
        P.load_particles(_write_mrc(tmp_path / "v.mrc", v))


def test_missing_file_unknown_extension_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*--particles"):
        P.load_particles(tmp_path / "nope.mrcs")
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match=r"unknown particle file extension '\.png'.*\.mrcs"):
        P.load_particles(png)
    with pytest.raises(ValueError, match="is a directory"):
        P.load_particles(tmp_path)


# ------------------------------------------------------------------------------ shape check
def test_check_particles_match_messages():
    square = np.zeros((2, 20, 20), np.float32)
    with pytest.raises(ValueError) as err:
        P.check_particles_match(square, (32, 32), allow_resample=False)
    assert str(err.value) == (
        "particles are 20x20 but the reference is 32x32. Fix: pass --size 20 to match the "
        "reference to them, or --resample-particles to resample the particles to 32x32."
    )
    with pytest.raises(ValueError) as err:
        P.check_particles_match(np.zeros((2, 20, 24)), (32, 32), allow_resample=False)
    msg = str(err.value)
    assert msg.startswith("particles are 20x24 but the reference is 32x32. Fix: ")
    assert "--resample-particles" in msg and "--size 20" not in msg
    with pytest.raises(ValueError) as err:
        P.check_particles_match(np.zeros((2, 6, 6)), (32, 32), allow_resample=False)
    assert "--size 6" not in str(err.value) and "--resample-particles" in str(err.value)
    with pytest.raises(TypeError, match="allow_resample must be True or False"):
        P.check_particles_match(square, (32, 32), allow_resample="yes")


def test_check_particles_match_returns_or_resamples():
    x = P.resample_particles(_stack(3, (21, 21)), (21, 21))
    assert P.check_particles_match(x, (21, 21), allow_resample=False) is x
    out = P.check_particles_match(_stack(3, (40, 30)), (16, 16), allow_resample=True)
    assert out.shape == (3, 16, 16)
    _assert_normalised(out)


# ------------------------------------------------------------------------------ vs noise
@pytest.mark.parametrize("n", [32, 33])
def test_compare_with_noise_real_signal_beats_pure_noise(n):
    ref = _reference(n)
    rng = np.random.default_rng(8)
    parts = np.stack([
        np.roll(0.3 * ref + rng.standard_normal((n, n)), tuple(rng.integers(-6, 7, 2)),
                axis=(0, 1))
        for _ in range(200)
    ])
    parts = P.resample_particles(parts, (n, n))  # only normalises (same shape)
    res = P.compare_with_noise(parts, ref, seed=4)
    assert res["n_images"] == 200 and res["seed"] == 4
    assert res["cc_particles"] > res["cc_noise"]
    assert res["mean_peak_particles"] > res["mean_peak_noise"]
    assert res["average_particles"].shape == (n, n) and res["average_noise"].dtype == np.float64
    # independent recomputation of the noise arm
    noise = noise_images(4, 0, 200, (n, n))
    avg = align_to_reference(noise, ref).aligned.mean(axis=0, dtype=np.float64)
    # The streamed arm averages the float64 noise (its spectra); noise_images rounds each
    # pixel once to float32 (relative error <= 2**-24), which bounds the difference of means.
    np.testing.assert_allclose(res["average_noise"], avg, rtol=0,
                               atol=2.0**-24 * float(np.abs(noise).max()))
    assert res["cc_noise"] == pytest.approx(pearson_cc(avg, ref))


def test_compare_with_noise_errors():
    ref = _reference(16)
    with pytest.raises(ValueError, match="particles are 17x17 but the reference is 16x16"):
        P.compare_with_noise(np.zeros((3, 17, 17)), ref, seed=0)
    with pytest.raises(ValueError, match="seed must be >= 0.*Fix: pass a non-negative integer"):
        P.compare_with_noise(np.ones((3, 16, 16)), ref, seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer"):
        P.compare_with_noise(np.ones((3, 16, 16)), ref, seed=1.0)


def test_particles_versus_noise_is_the_record_of_compare_with_noise():
    ref = _reference(16)
    parts = P.resample_particles(np.random.default_rng(3).standard_normal((40, 16, 16)), (16, 16))
    res = P.compare_with_noise(parts, ref, seed=9)
    rec = P.particles_versus_noise(res["average_particles"], ref, 40, seed=9)
    assert list(rec) == ["n_images", "cc_particles", "cc_pure_noise"]
    assert rec == {"n_images": 40, "cc_particles": res["cc_particles"],
                   "cc_pure_noise": res["cc_noise"]}
    average, mean_peak = P.aligned_noise_average(ref, 40, seed=9)
    np.testing.assert_array_equal(average, res["average_noise"])
    assert mean_peak == res["mean_peak_noise"]
