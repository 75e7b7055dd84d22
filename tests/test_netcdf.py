"""The run's Dataset as netCDF: read back identical, attrs JSON-safe, units on coordinates."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import xarray as xr

from fiji_bridge import netcdf

ENGINES = [engine for engine, module in (("scipy", "scipy"), ("h5netcdf", "h5netcdf"),
                                         ("netcdf4", "netCDF4"))
           if importlib.util.find_spec(module) is not None]


@pytest.fixture(scope="module")
def run_data(ij):
    import skimage.data

    import fiji_bridge

    return fiji_bridge.einstein_from_noise(
        size=16, counts=(5, 20), seed=11, examples=2, control_reference=skimage.data.camera(),
        rotation_step=90)


@pytest.mark.parametrize("engine", ENGINES)
def test_run_dataset_round_trips(run_data, tmp_path, engine):
    path = netcdf.save(run_data, tmp_path / "results.nc", engine=engine)
    back = netcdf.load(path, engine=engine)
    xr.testing.assert_identical(back, run_data)
    assert back.attrs == run_data.attrs  # nested dicts, lists, None and all
    for name in run_data.variables:
        np.testing.assert_array_equal(back[name].values, run_data[name].values)
    # control titles hold newlines and a degree sign
    assert list(back["control_title"].values) == list(run_data["control_title"].values)


def test_units_on_coordinates(run_data):
    assert run_data["y"].attrs["units"] == run_data["x"].attrs["units"] == "pixels"
    assert run_data["count"].attrs["units"] == "counts"
    assert run_data["frequency"].attrs["units"] == "cycles/pixel"
    np.testing.assert_array_equal(run_data["y"].values, np.arange(16))
    # FRC rings up to Nyquist; FRC of an average with itself-like reference lies in [-1, 1]
    assert run_data["frequency"].values[-1] == pytest.approx(0.5)
    assert run_data["frc"].dims == ("count", "frequency")
    assert np.nanmax(np.abs(run_data["frc"].values)) <= 1


def test_stored_attrs_are_plain_netcdf_and_json(run_data, tmp_path):
    path = netcdf.save(run_data, tmp_path / "results.nc")
    with xr.open_dataset(path) as raw:  # any netCDF reader: no fiji_bridge decoding
        listed = json.loads(raw.attrs[netcdf.JSON_ATTRS])
        assert "shift_dy" in listed and "imagej_quirks" in listed
        for key in listed:
            assert isinstance(raw.attrs[key], str)
            json.loads(raw.attrs[key])
        assert raw.attrs["imagej_version"] == run_data.attrs["imagej_version"]
        assert raw["count"].attrs["units"] == "counts"


def test_awkward_attrs_round_trip(tmp_path):
    attrs = {"none": None, "flag": True, "big": 2**40, "small": -3, "pi": 3.5, "nan": np.nan,
             "text": "Δφ °", "nested": {"a": [1, 2, {"b": None}]}, "names": ["x", "y"],
             "empty": [], "numpy": np.float32(0.25)}
    data = xr.Dataset({"v": (("y", "x"), np.arange(6.0).reshape(2, 3), {"note": ["a", "b"]})},
                      attrs=attrs)
    netcdf.add_units(data)
    back = netcdf.load(netcdf.save(data, tmp_path / "a.nc"))
    assert back.attrs["none"] is None and back.attrs["flag"] is True
    assert back.attrs["big"] == 2**40 and back.attrs["small"] == -3 and back.attrs["pi"] == 3.5
    assert np.isnan(back.attrs["nan"]) and back.attrs["text"] == "Δφ °"
    assert back.attrs["nested"] == {"a": [1, 2, {"b": None}]} and back.attrs["names"] == ["x", "y"]
    assert back.attrs["empty"] == [] and back.attrs["numpy"] == 0.25
    assert back["v"].attrs["note"] == ["a", "b"]
    assert back["x"].attrs["units"] == "pixels"


def test_bad_input_leaves_nothing(tmp_path):
    with pytest.raises(TypeError, match="xarray.Dataset.*Fix"):
        netcdf.save(np.zeros(3), tmp_path / "a.nc")
    data = xr.Dataset(attrs={"thing": object()})
    with pytest.raises(TypeError, match="attr 'thing'.*Fix"):
        netcdf.save(data, tmp_path / "b.nc")
    with pytest.raises(ValueError, match="encoded already.*Fix"):
        netcdf.encode(netcdf.encode(xr.Dataset(attrs={"d": {"a": 1}})))
    with pytest.raises(FileNotFoundError, match="does not exist.*Fix"):
        netcdf.load(tmp_path / "missing.nc")
    assert list(tmp_path.iterdir()) == []
