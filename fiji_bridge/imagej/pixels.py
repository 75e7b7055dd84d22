"""Pixels between numpy and ImageJ processors: one bulk copy per plane, never a pixel loop.

Used by :mod:`fiji_bridge.imagej.convert` (images and stacks), the ImageJ steps and the FHT.
Kept apart from ``convert`` so that they need no xarray.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fiji_bridge.imagej.java import jclass
from fiji_bridge.imagej.session import require

__all__ = ["array_from_processor", "float_processor", "processor_from_array"]


def float_processor(plane: np.ndarray) -> Any:
    """A FloatProcessor holding a copy of a 2-D float32 array (one bulk copy, no pixel loop)."""
    import jpype

    height, width = plane.shape
    pixels = jpype.JArray(jpype.JFloat)(np.ascontiguousarray(plane, dtype=np.float32).ravel())
    return jclass("ij.process.FloatProcessor")(width, height, pixels)


def processor_from_array(plane: np.ndarray) -> Any:
    """An ImageJ processor for a 2-D array: uint8 -> ByteProcessor, uint16 -> ShortProcessor,
    (H, W, 3) uint8 -> ColorProcessor, everything else real -> FloatProcessor (float32)."""
    import jpype

    require()
    if plane.ndim == 3 and plane.shape[-1] == 3 and plane.dtype == np.uint8:
        height, width = plane.shape[:2]
        rgb = plane.astype(np.uint32)
        packed = (0xFF << 24) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        pixels = jpype.JArray(jpype.JInt)(packed.astype(np.int32).ravel())
        return jclass("ij.process.ColorProcessor")(width, height, pixels)
    height, width = plane.shape
    if plane.dtype == np.uint8:
        pixels = jpype.JArray(jpype.JByte)(np.ascontiguousarray(plane).view(np.int8).ravel())
        return jclass("ij.process.ByteProcessor")(width, height, pixels)
    if plane.dtype == np.uint16:
        pixels = jpype.JArray(jpype.JShort)(np.ascontiguousarray(plane).view(np.int16).ravel())
        return jclass("ij.process.ShortProcessor")(width, height, pixels, None)
    return float_processor(plane)


def array_from_processor(processor: Any) -> np.ndarray:
    """A numpy copy of an ImageJ processor's pixels: uint8, uint16, float32 or (H, W, 3) uint8."""
    height, width = int(processor.getHeight()), int(processor.getWidth())
    raw = np.array(processor.getPixels(), copy=True)  # bulk copy through the buffer protocol
    bit_depth = int(processor.getBitDepth())
    if bit_depth == 8:
        return raw.view(np.uint8).reshape(height, width)
    if bit_depth == 16:
        return raw.view(np.uint16).reshape(height, width)
    if bit_depth == 24:
        packed = raw.view(np.uint32).reshape(height, width)
        return np.stack([(packed >> s) & 0xFF for s in (16, 8, 0)], axis=-1).astype(np.uint8)
    return raw.astype(np.float32, copy=False).reshape(height, width)

