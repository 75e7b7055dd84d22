"""Particles keep their pixel size (MRC header / ImageJ calibration) into the output TIFFs."""

from __future__ import annotations

import json

import mrcfile
import numpy as np
import pytest
import tifffile

from fiji_bridge import cli, io
from fiji_bridge.particles import read_pixel_size


def _mrc(path, n=4, size=16, voxel=1.34):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.random.default_rng(0).standard_normal((n, size, size)).astype(np.float32))
        mrc.set_image_stack()
        if voxel is not None:
            mrc.voxel_size = voxel
    return path


def test_read_pixel_size_mrc_and_tiff(tmp_path):
    assert read_pixel_size(_mrc(tmp_path / "a.mrcs")) == pytest.approx(1.34, rel=1e-6)
    assert read_pixel_size(_mrc(tmp_path / "b.mrcs", voxel=None)) is None
    path = io.write_imagej_tiff(tmp_path / "c.tif", np.zeros((2, 8, 8)), pixel_size=2.5)
    assert read_pixel_size(path) == pytest.approx(2.5, rel=1e-6)
    assert read_pixel_size(io.write_imagej_tiff(tmp_path / "d.tif", np.zeros((8, 8)))) is None
    with pytest.raises(FileNotFoundError):
        read_pixel_size(tmp_path / "missing.mrc")


@pytest.mark.imagej
def test_imagej_reads_the_calibration(ij, tmp_path):
    from fiji_bridge import imagej

    path = io.write_imagej_tiff(tmp_path / "cal.tif", np.zeros((2, 8, 8)), labels=["a", "b"],
                                pixel_size=1.34)
    cal = imagej.open_image(path).getCalibration()
    assert cal.pixelWidth == pytest.approx(1.34, rel=1e-6)
    assert cal.pixelHeight == pytest.approx(1.34, rel=1e-6)
    assert str(cal.getUnit()) == "\u00c5"


@pytest.mark.imagej
@pytest.mark.parametrize("size, resample, expected", [(16, [], 1.34), (8, ["--resample-particles"], 2.68)])
def test_run_with_particles_calibrates_its_tiffs(ij, tmp_path, size, resample, expected):
    out = tmp_path / "out"
    argv = ["run", "--size", str(size), "--counts", "4", "--examples", "2", "--out", str(out),
            "--particles", str(_mrc(tmp_path / "p.mrcs")), *resample]
    assert cli.main(argv) == 0
    assert json.loads((out / "results.json").read_text())["pixel_size_angstrom"] == \
        pytest.approx(expected)
    for name in ("averages.tif", "reference.tif", "aligned_examples.tif"):
        assert read_pixel_size(out / name) == pytest.approx(expected, rel=1e-6)
        with tifffile.TiffFile(out / name) as tif:
            assert tif.imagej_metadata["unit"] == "A"
