"""The experiment's ``xarray.Dataset`` as a netCDF file, and the units of its coordinates.

Python users keep labelled arrays in netCDF (``Dataset.to_netcdf`` / ``xarray.open_dataset``).
A result Dataset of :func:`fiji_bridge.einstein_from_noise` holds attrs that netCDF cannot store
as they are (nested dicts such as ``shift_dy``, lists of strings, ``None``, booleans).  This
module writes them losslessly and reads them back:

* :func:`encode` returns a copy whose attrs are netCDF-ready: ``str``, ``float`` and ``int``
  that fit in 32 bits stay as they are (ncdump shows them); every other value is stored as a
  JSON string, and the names of those attrs are listed, as a JSON list, in the attr
  :data:`JSON_ATTRS` of the same object (the Dataset or one variable).
* :func:`decode` reverses it (``json.loads`` of each listed attr).
* :func:`save` / :func:`load` = ``encode(data).to_netcdf(path)`` / ``decode(open_dataset(path))``.

So ``load(save(ds, path))`` equals ``ds``: same variables, coordinates and values
(``xarray.testing.assert_identical``), attrs included.  The netCDF engine is xarray's default
for what is installed: netCDF4 or h5netcdf when present, else scipy's netCDF3 writer.  netCDF3
has no 64-bit integers: xarray stores int64 variables whose values fit as int32 and they read
back as int32 (equal values).

:func:`add_units` puts ``units`` on the coordinates (:data:`COORDINATE_UNITS`): ``y``, ``x`` in
pixels, ``count`` in counts (number of images averaged), ``image`` and ``example`` as image
indices, ``frequency`` in cycles/pixel.  Coordinates missing for a dimension ``y``/``x``
are created as pixel indices ``0 .. n-1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import xarray as xr

from fiji_bridge import checks

__all__ = ["COORDINATE_UNITS", "JSON_ATTRS", "add_units", "decode", "encode", "load", "save"]

#: Units of the coordinates of the result Datasets (CF ``units`` attribute).
COORDINATE_UNITS = {
    "y": "pixels",
    "x": "pixels",
    "count": "counts",
    "frequency": "cycles/pixel",
}
#: Name of the attr listing (as a JSON list) the attrs stored as JSON strings.
JSON_ATTRS = "json_attrs"

_INT32 = (-(2**31), 2**31 - 1)


def _plain(value: Any) -> bool:
    """True for attr values netCDF stores and reads back unchanged."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return True
    if isinstance(value, int):
        return _INT32[0] <= value <= _INT32[1]
    return isinstance(value, float)


def _encode_attrs(attrs: dict, where: str) -> dict:
    if JSON_ATTRS in attrs:
        raise ValueError(f"{where} already has an attr {JSON_ATTRS!r}: it is encoded already. "
                         "Fix: encode the Dataset once (or decode it first).")
    out: dict[str, Any] = {}
    as_json: list[str] = []
    for key, value in attrs.items():
        if _plain(value):
            out[key] = value
            continue
        try:
            out[key] = json.dumps(value, default=_json_default)
        except TypeError as exc:
            raise TypeError(f"{where} attr {key!r} cannot be stored ({exc}). Fix: store a "
                            "number, string, list or dict of those.") from None
        as_json.append(key)
    if as_json:
        out[JSON_ATTRS] = json.dumps(as_json)
    return out


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _decode_attrs(attrs: dict) -> dict:
    listed = attrs.get(JSON_ATTRS)
    if listed is None:
        return dict(attrs)
    keys = json.loads(listed)
    out = {}
    for key, value in attrs.items():
        if key == JSON_ATTRS:
            continue
        out[key] = json.loads(value) if key in keys else _scalar(value)
    return out


def _scalar(value: Any) -> Any:
    """numpy scalars read from a file as plain Python numbers."""
    item = getattr(value, "item", None)
    return item() if item is not None and getattr(value, "ndim", 1) == 0 else value


def encode(data: xr.Dataset) -> xr.Dataset:
    """A copy of ``data`` whose attrs netCDF can store (see the module docstring).

    Raises
    ------
    TypeError
        ``data`` is not a Dataset, or an attr holds something JSON cannot write.
    ValueError
        ``data`` is encoded already.
    """
    checks.dataset(data, "netcdf.encode")
    out = data.copy(deep=False)
    out.attrs = _encode_attrs(dict(data.attrs), "the Dataset")
    for name in list(out.variables):
        out[name].attrs = _encode_attrs(dict(data[name].attrs), f"variable {name!r}")
    return out


def decode(data: xr.Dataset) -> xr.Dataset:
    """Reverse :func:`encode`: JSON attrs become dicts, lists, ``None`` and booleans again."""
    checks.dataset(data, "netcdf.decode")
    out = data.copy(deep=False)
    out.attrs = _decode_attrs(dict(data.attrs))
    for name in list(out.variables):
        out[name].attrs = _decode_attrs(dict(data[name].attrs))
    return out


def add_units(data: xr.Dataset) -> xr.Dataset:
    """Put ``units`` (:data:`COORDINATE_UNITS`) on the coordinates of ``data``, in place.

    Dimensions ``y`` and ``x`` without a coordinate get pixel indices ``0 .. n-1``.  Returns
    ``data``.
    """
    checks.dataset(data, "netcdf.add_units")
    for dim in ("y", "x"):
        if dim in data.dims and dim not in data.coords:
            data.coords[dim] = (dim, range(data.sizes[dim]))
    for name, units in COORDINATE_UNITS.items():
        if name in data.coords:
            data.coords[name].attrs["units"] = units
    return data


def save(data: xr.Dataset, path: str | os.PathLike, *, engine: str | None = None) -> Path:
    """Write ``data`` to a netCDF file (``encode(data).to_netcdf(path)``); returns the path.

    ``engine`` is xarray's (``"netcdf4"``, ``"h5netcdf"``, ``"scipy"``); default: the best
    installed.
    """
    path = Path(path)
    encode(data).to_netcdf(path, engine=engine)
    return path


def load(path: str | os.PathLike, *, engine: str | None = None) -> xr.Dataset:
    """Read a file written by :func:`save`, fully into memory, attrs decoded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"netCDF file {path} does not exist. Fix: check the path.")
    with xr.open_dataset(path, engine=engine) as opened:
        return decode(opened.load())
