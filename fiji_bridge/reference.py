"""The reference image, prepared by ImageJ exactly as in the blog.

Steps (each one ImageJ's own code through :mod:`fiji_bridge.imagej`): open the file with ImageJ
(or take an array), crop the centred square (Image>Crop), resize it to ``size`` × ``size``
(Image>Adjust>Size, bilinear, averaging when downsizing), Image>Type>32-bit (RGB becomes grey
the way ImageJ converts it, ``(R+G+B)/3`` by default), mean and stdev from ImageJ's statistics,
Process>Math>Macro ``v=(v-mean)/stdev``.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fiji_bridge import checks, imagej
from fiji_bridge.imagefile import ImageFileWarning, check_image_file
from fiji_bridge.imagej import convert

__all__ = ["DEFAULT_REFERENCE", "Reference", "prepare_reference"]

#: Bundled default: NASA's public-domain portrait of Eileen Collins (scikit-image "astronaut").
DEFAULT_REFERENCE = Path(__file__).resolve().parent / "data" / "astronaut.png"
#: Upscaling the centred square by more than this factor draws a warning (the reference is
#: then mostly interpolation).
MAX_UPSCALE = 2.0


@dataclasses.dataclass(frozen=True)
class Reference:
    """A normalised reference.

    Attributes
    ----------
    image : (size, size) float32
        Mean 0 and ImageJ (sample) stdev 1.
    mean, stdev : float
        ImageJ's mean and sample stdev of the cropped, resized 32-bit image (before normalising).
    name : str
        File name, or the array's name.
    original_shape : tuple of int
        (height, width) before cropping.
    crop : tuple of int
        (x, y, width, height) of the centred square, in ImageJ's order.
    """

    image: np.ndarray
    mean: float
    stdev: float
    name: str
    original_shape: tuple
    crop: tuple


def prepare_reference(reference: str | os.PathLike | np.ndarray | Any = None, *,
                      size: int = 128, route: str = "api") -> Reference:
    """Load and normalise a reference through ImageJ (starts ImageJ if needed).

    Parameters
    ----------
    reference : path, array or xarray.DataArray, optional
        An image file ImageJ opens (TIFF, PNG, JPEG, GIF, BMP, ...), a 2-D array, or an RGB
        (y, x, 3) uint8 array.  Default: :data:`DEFAULT_REFERENCE`.
    size : int, keyword-only
        Side of the square reference after resizing (>= :data:`fiji_bridge.checks.MIN_SIZE`).
    route : {"api", "command"}, keyword-only
        ImageJ API calls, or the menu commands (needs a display or Fiji).

    Raises
    ------
    TypeError
        ``size`` is not an integer.
    FileNotFoundError, ValueError, fiji_bridge.imagej.ImageJError
        Missing file, empty or truncated file (:func:`fiji_bridge.imagefile.check_image_file`,
        before ImageJ starts), not an image, a stack, constant or NaN image, bad size.

    Warns
    -----
    fiji_bridge.imagefile.ImageFileWarning
        Several planes in one TIFF page (ImageJ uses the first), or a reference upscaled more
        than :data:`MAX_UPSCALE` times to ``size``.
    """
    size = checks.size(size)
    path = None
    if reference is None or isinstance(reference, (str, os.PathLike)):
        path = DEFAULT_REFERENCE if reference is None else Path(reference)
        # Decoded in Python first: a truncated or empty file is one clear error here, and
        # several planes in one page draw a warning (ImageJ would take the first silently).
        for note in check_image_file(path, warn=False).notes:
            warnings.warn(note, ImageFileWarning, stacklevel=2)
    if imagej.current() is None:
        imagej.start()
    if path is not None:
        imp = imagej.open_image(path)
        name = path.name
    else:
        array = np.asarray(getattr(reference, "values", reference))
        if array.size == 0:
            raise ValueError("The reference array is empty. Fix: pass an image.")
        imp = convert.to_imageplus(reference, title="reference")
        name = str(getattr(reference, "name", None) or "array")
    if int(imp.getStackSize()) > 1:
        raise ValueError(
            f"The reference {name} is a stack of {int(imp.getStackSize())} slices; the experiment "
            "needs one image. Fix: save the slice you want as its own file."
        )
    height, width = int(imp.getHeight()), int(imp.getWidth())
    side = min(height, width)
    if size > MAX_UPSCALE * side:
        warnings.warn(
            f"The reference {name} is {width}x{height}: its centred {side}x{side} square is "
            f"upscaled {size / side:.3g}x to {size}x{size}, so the reference is mostly "
            "interpolation. Fix: use a larger image, or a smaller --size.",
            ImageFileWarning, stacklevel=2)
    crop = ((width - side) // 2, (height - side) // 2, side, side)
    if (height, width) != (side, side):
        imp = imagej.crop(imp, *crop, route=route)
    if side != size:
        imp = imagej.resize(imp, size, size, route=route)
    imp, mean, stdev = imagej.normalize(imp, route=route)
    image = convert.from_imageplus(imp).values.astype(np.float32, copy=False)
    return Reference(image=image, mean=mean, stdev=stdev, name=name,
                     original_shape=(height, width), crop=crop)
