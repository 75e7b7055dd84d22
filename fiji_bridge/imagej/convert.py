"""numpy / xarray <-> ImageJ ImagePlus, the same on both backends.

On Fiji the ImagePlus is the legacy layer's own ImageJ 1.x image, so this module serves both
backends.  pyimagej's ``ij.py.to_imageplus`` is not used: it goes through an ImageJ2 Dataset
(and needs the imglib2-imglyb jars), does not carry the slice labels, title and attrs kept
here, and is not there on plain ImageJ 1.x.

Dimension names: plain ``("y", "x")`` for one image and ``("z", "y", "x")`` for a stack, with
``z`` the ImageJ slice (1-based in ImageJ, 0-based here).  pyimagej's names ``("row", "col")``
and ``("pln", "row", "col")`` are accepted on input, as are ``("y", "x", "c")`` / ``"rgb"``
for RGB images.  Slice labels travel as the non-index coordinate ``label`` on ``z``; the title
as ``DataArray.name``; other ``attrs`` are kept in the ImagePlus property
``fiji_bridge.attrs`` (JSON) so a round trip returns them.

Pixel types: uint8 -> 8-bit, uint16 -> 16-bit, (y, x, 3) uint8 -> RGB, anything else real ->
32-bit float (ImageJ has no 64-bit images: float64 is rounded to float32).  Pixels move in one
bulk copy per slice through JPype's buffer protocol, never pixel by pixel.

Java is reached only through :mod:`fiji_bridge.imagej.session` and
:mod:`fiji_bridge.imagej.pixels`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from fiji_bridge.imagej.pixels import array_from_processor, processor_from_array
from fiji_bridge.imagej.session import java_class

__all__ = ["from_imageplus", "to_imageplus"]

_ATTRS_PROPERTY = "fiji_bridge.attrs"
_DIM_ALIASES = {"row": "y", "col": "x", "pln": "z", "rgb": "c", "ch": "c", "channel": "c"}


def _standard_dims(dims: Sequence[str]) -> tuple[str, ...]:
    return tuple(_DIM_ALIASES.get(str(d), str(d)) for d in dims)


def _as_dataarray(data: Any) -> xr.DataArray:
    if isinstance(data, xr.DataArray):
        dims = _standard_dims(data.dims)
        allowed = {("y", "x"), ("z", "y", "x"), ("y", "x", "c"), ("z", "y", "x", "c")}
        if dims not in allowed:
            raise ValueError(
                f"Cannot map dims {data.dims} to an ImagePlus. Fix: use ('y', 'x') for an image, "
                "('z', 'y', 'x') for a stack (pyimagej's 'row', 'col', 'pln' also work), "
                "e.g. data.transpose('z', 'y', 'x')."
            )
        return data.rename(dict(zip(data.dims, dims)))
    array = np.asarray(data)
    if array.ndim == 2:
        return xr.DataArray(array, dims=("y", "x"))
    if array.ndim == 3 and array.shape[-1] == 3 and array.dtype == np.uint8:
        return xr.DataArray(array, dims=("y", "x", "c"))
    if array.ndim == 3:
        return xr.DataArray(array, dims=("z", "y", "x"))
    raise ValueError(
        f"Cannot make an ImagePlus from an array of shape {array.shape}: expected (y, x), "
        "(z, y, x) or RGB (y, x, 3) uint8. Fix: reshape or pass an xarray.DataArray with dims."
    )


def to_imageplus(data: Any, *, title: str | None = None,
                 labels: Sequence[str] | None = None) -> Any:
    """An ImageJ ``ImagePlus`` holding a copy of ``data`` (numpy array or xarray.DataArray).

    Parameters
    ----------
    data : array-like or xarray.DataArray
        (y, x) image, (z, y, x) stack, or RGB (y, x, 3) uint8.
    title : str, keyword-only
        Image title; default ``data.name`` or ``"image"``.
    labels : sequence of str, keyword-only
        Slice labels (Image>Stacks>Set Label); default the ``label`` coordinate, if any.
    """
    array_da = _as_dataarray(data)
    values = array_da.values
    if np.iscomplexobj(values) or not np.issubdtype(values.dtype, np.number) and \
            values.dtype != np.bool_:
        raise TypeError(
            f"ImageJ images hold real numbers; got dtype {values.dtype}. Fix: pass a real "
            "array (e.g. np.abs(z) or z.real for complex data)."
        )
    if values.dtype == np.bool_:
        values = values.astype(np.uint8) * 255  # ImageJ's binary images are 0/255
    elif values.dtype not in (np.uint8, np.uint16):
        values = values.astype(np.float32)
    if title is None:
        title = str(array_da.name) if array_da.name is not None else "image"
    if labels is None and "label" in array_da.coords:
        labels = [str(v) for v in np.atleast_1d(array_da.coords["label"].values)]
    planes = values[np.newaxis] if "z" not in array_da.dims else values
    if labels is not None and len(labels) != planes.shape[0]:
        raise ValueError(
            f"{len(labels)} slice labels for {planes.shape[0]} slices. Fix: give one label per "
            "slice."
        )
    image_plus = java_class("ij.ImagePlus")
    if "z" in array_da.dims:
        stack = java_class("ij.ImageStack")(int(planes.shape[2]), int(planes.shape[1]))
        for index, plane in enumerate(planes):
            label = labels[index] if labels is not None else None
            stack.addSlice(label, processor_from_array(plane))
        imp = image_plus(title, stack)
    else:
        imp = image_plus(title, processor_from_array(planes[0]))
        if labels is not None:
            imp.setProperty("Label", labels[0])
    attrs = {k: v for k, v in array_da.attrs.items()}
    if attrs:
        try:
            imp.setProperty(_ATTRS_PROPERTY, json.dumps(attrs))
        except TypeError as exc:
            raise TypeError(
                f"xarray attrs must be JSON-serialisable to travel with an ImagePlus ({exc}). "
                "Fix: keep strings, numbers and lists in attrs."
            ) from None
    return imp


def from_imageplus(imp: Any) -> xr.DataArray:
    """A numpy-backed xarray.DataArray copy of an ImagePlus (see the module docstring)."""
    if imp is None:
        raise ValueError("from_imageplus got None instead of an ImagePlus.")
    stack = imp.getStack()
    count = int(stack.getSize())
    planes = [array_from_processor(stack.getProcessor(i)) for i in range(1, count + 1)]
    attrs: dict[str, Any] = {}
    stored = imp.getProperty(_ATTRS_PROPERTY)
    if stored is not None:
        attrs = json.loads(str(stored))
    name = str(imp.getTitle())
    rgb = planes[0].ndim == 3
    if count == 1:
        dims = ("y", "x", "c") if rgb else ("y", "x")
        result = xr.DataArray(planes[0], dims=dims, name=name, attrs=attrs)
        label = imp.getProperty("Label") or stack.getSliceLabel(1)
        if label is not None:
            result = result.assign_coords(label=str(label))
        return result
    dims = ("z", "y", "x", "c") if rgb else ("z", "y", "x")
    labels = [stack.getSliceLabel(i) for i in range(1, count + 1)]
    result = xr.DataArray(np.stack(planes), dims=dims, name=name, attrs=attrs)
    if any(label is not None for label in labels):
        result = result.assign_coords(
            label=("z", ["" if label is None else str(label) for label in labels])
        )
    return result
