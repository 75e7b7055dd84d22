"""ImageJ's own steps on ImagePlus objects: open, crop, resize, 32-bit, statistics, Math>Macro,
normalise, Z Project.

Each step that ImageJ offers both ways takes ``route="api"`` (ImageJ's Java API, works headless)
or ``route="command"`` (the menu command through ``IJ.run``, needs a display for plain ImageJ
1.x); both give the same pixels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from fiji_bridge.imagej.errors import ImageJCommandError, ImageJError
from fiji_bridge.imagej.guard import guarded_call, run_command
from fiji_bridge.imagej.java import jclass
from fiji_bridge.imagej.pixels import array_from_processor
from fiji_bridge.imagej.session import require

__all__ = [
    "ROUTES",
    "apply_math_macro",
    "convert_to_32bit",
    "crop",
    "normalize",
    "open_image",
    "resize",
    "statistics",
    "z_project_average",
]

#: ``route=`` choices of the steps.
ROUTES = ("api", "command")


def _check_route(route: str) -> None:
    if route not in ROUTES:
        raise ValueError(f"route={route!r} is not one of {ROUTES}.")


def open_image(path: str | os.PathLike) -> Any:
    """Open an image file with ImageJ (``IJ.openImage``): TIFF, PNG, JPEG, GIF, BMP, ...

    Raises
    ------
    FileNotFoundError
        No such file.
    ImageJError
        ImageJ cannot read it as an image (:class:`ImageJCommandError` with the text of
        ImageJ's error message when it showed one).
    """
    require()
    file = Path(path)
    if file.is_dir():
        raise ImageJError(f"{file} is a folder, not an image file. Fix: pass the image's path.")
    if not file.is_file():
        raise FileNotFoundError(f"Image file {file} does not exist. Fix: check the path.")
    # ImageJ's Opener reports a damaged file with IJ.error (a dialog under a display): the
    # guard closes it and raises its text instead of waiting for a click.
    opener = jclass("ij.IJ")
    imp = guarded_call(f"Opening {file} with ImageJ", lambda: opener.openImage(str(file.resolve())),
                       fix="pass an undamaged image file (TIFF, PNG, JPEG, GIF, BMP, ...)")
    if imp is None:
        raise ImageJError(
            f"ImageJ cannot open {file} as an image (supported: TIFF, PNG, JPEG, GIF, BMP, "
            "PGM, FITS, DICOM, ...). Fix: pass an image file, or convert it first."
        )
    return imp


def convert_to_32bit(imp: Any, *, route: str = "api") -> Any:
    """Image>Type>32-bit, in place; RGB becomes grey the way ImageJ converts it.

    ``route="api"`` uses ``ImageConverter.convertToGray32()`` (works headless);
    ``route="command"`` runs the menu command ``IJ.run(imp, "32-bit", "")``.
    RGB to grey uses ImageJ's Edit>Options>Conversions setting: unweighted ``(R+G+B)/3`` by
    default, or weighted ``0.299R + 0.587G + 0.114B`` when "Weighted RGB conversions" is on.
    """
    _check_route(route)
    require()
    if route == "command":
        run_command(imp, "32-bit")
    else:
        converter = jclass("ij.process.ImageConverter")(imp)
        guarded_call("Image>Type>32-bit", converter.convertToGray32)
    return imp


def statistics(imp: Any) -> dict[str, float]:
    """ImageJ's statistics of an image or stack: mean, stdev, min, max, pixel count.

    These are ImageJ's own numbers (``ImagePlus.getStatistics`` for one slice,
    ``StackStatistics`` for a stack), as Analyze>Histogram shows them.  For 32-bit images
    ImageJ sums the pixel values themselves (the histogram bins are only for display).
    ``stdev`` is ImageJ's *sample* standard deviation, ``sqrt(Σ(v-mean)² / (n-1))``
    (numpy's ``std(ddof=1)``), not the population one.
    """
    require()
    if int(imp.getStackSize()) > 1:
        stats = jclass("ij.process.StackStatistics")(imp)
    else:
        measurements = jclass("ij.measure.Measurements")
        stats = imp.getStatistics(
            measurements.MEAN | measurements.STD_DEV | measurements.MIN_MAX
        )
    return {
        "mean": float(stats.mean),
        "stdev": float(stats.stdDev),
        "min": float(stats.min),
        "max": float(stats.max),
        "n": int(stats.pixelCount),
    }


def apply_math_macro(imp: Any, code: str, *, route: str = "api") -> Any:
    """Process>Math>Macro with expression ``code`` (e.g. ``"v=(v-m)/s"``) on every slice.

    ``route="api"``: ``ImageMath.applyMacro`` per slice (headless-safe).
    ``route="command"``: ``IJ.run(imp, "Macro...", "code=[...] stack")``.
    """
    _check_route(route)
    require()
    if "]" in code:
        raise ValueError("A Math>Macro expression cannot contain ']'. Fix: rewrite it.")
    if route == "command":
        options = f"code=[{code}]" + (" stack" if int(imp.getStackSize()) > 1 else "")
        run_command(imp, "Macro...", options)
    else:
        image_math = jclass("ij.plugin.filter.ImageMath")
        stack = imp.getStack()

        def apply_to_every_slice() -> None:
            for index in range(1, int(stack.getSize()) + 1):
                image_math.applyMacro(stack.getProcessor(index), code, False)

        # A syntax error in the expression opens ImageJ's error dialog: close it and raise.
        guarded_call(f"Math>Macro {code!r}", apply_to_every_slice,
                      fix="check the expression (ImageJ macro syntax, e.g. v=(v-(m))/s)")
    imp.resetDisplayRange()
    return imp


def normalize(imp: Any, *, route: str = "api") -> tuple[Any, float, float]:
    """The blog's normalisation: 32-bit, mean/stdev from ImageJ, Math>Macro ``v=(v-mean)/stdev``.

    Returns the image (changed in place) and the ImageJ mean and (sample) stdev used.
    The result has mean 0 and sample stdev 1 (population stdev ``sqrt((n-1)/n)``).

    Raises
    ------
    ValueError
        The image is constant (stdev 0) or holds NaN/Inf: normalising is undefined.
    """
    convert_to_32bit(imp, route=route)
    stats = statistics(imp)
    mean, stdev = stats["mean"], stats["stdev"]
    # ImageJ's statistics skip NaN pixels, so look at the pixels themselves.
    stack = imp.getStack()
    finite = all(np.isfinite(array_from_processor(stack.getProcessor(i))).all()
                 for i in range(1, int(stack.getSize()) + 1))
    if not (finite and np.isfinite(mean) and np.isfinite(stdev)):
        raise ValueError(
            "The reference holds NaN or infinite values, so mean and stdev are undefined. "
            "Fix: use an image with finite pixel values."
        )
    if stdev == 0:
        raise ValueError(
            "The reference is constant (stdev 0) and cannot be normalised to sigma 1. "
            "Fix: use an image with some contrast."
        )
    # repr() keeps every digit, so ImageJ subtracts exactly the mean it measured.
    # Parentheses: a negative mean would otherwise read "v--2.9", ImageJ's decrement.
    apply_math_macro(imp, f"v=(v-({mean!r}))/{stdev!r}", route=route)
    return imp, mean, stdev


def crop(imp: Any, x: int, y: int, width: int, height: int, *, route: str = "api") -> Any:
    """Image>Crop to the rectangle (x, y, width, height); returns a new ImagePlus."""
    _check_route(route)
    require()
    roi = jclass("ij.gui.Roi")(int(x), int(y), int(width), int(height))
    if route == "command":
        duplicate = imp.duplicate()
        duplicate.setRoi(roi)
        run_command(duplicate, "Crop")
        return duplicate
    imp.setRoi(roi)
    cropped = imp.crop("stack") if int(imp.getStackSize()) > 1 else imp.crop()
    imp.deleteRoi()
    cropped.setTitle(str(imp.getTitle()))
    return cropped


def resize(imp: Any, width: int, height: int, *, route: str = "api") -> Any:
    """Image>Adjust>Size with bilinear interpolation and averaging when downsizing.

    Returns a new ImagePlus (``route="api"``: ``ImageProcessor.resize(w, h, True)`` with
    ``BILINEAR``; ``route="command"``: ``IJ.run(imp, "Size...", ...)`` on a copy).
    """
    _check_route(route)
    require()
    if route == "command":
        duplicate = imp.duplicate()
        run_command(
            duplicate,
            "Size...",
            f"width={int(width)} height={int(height)} depth={int(imp.getStackSize())} "
            "average interpolation=Bilinear",
        )
        return duplicate
    processor = imp.getProcessor().duplicate()
    processor.setInterpolationMethod(jclass("ij.process.ImageProcessor").BILINEAR)
    resized = processor.resize(int(width), int(height), True)
    return jclass("ij.ImagePlus")(str(imp.getTitle()), resized)


def z_project_average(imp: Any, start: int = 1, stop: int | None = None, *,
                      route: str = "api") -> Any:
    """Image>Stacks>Z Project "Average Intensity" over slices ``start..stop`` (1-based, inclusive).

    ``route="api"``: ``ZProjector.run(imp, "avg", start, stop)``; ``route="command"``:
    ``IJ.run(imp, "Z Project...", "start=.. stop=.. projection=[Average Intensity]")``.

    ImageJ 1.53t drops the last slice of the range in a 32-bit average (its
    ``doAverageFloatProjection`` loops to ``stop - 1``; fixed in 1.53u).  When :func:`start`
    measured that bug (``"zproject_avg_drops_last_slice"`` in ``ImageJ.quirks``), the
    projection runs on the stack with one extra (unused) slice appended and ``stop + 1``, so
    ImageJ's own averaging code averages exactly slices ``start..stop``.
    """
    _check_route(route)
    handle = require()
    n_slices = int(imp.getStackSize())
    stop = n_slices if stop is None else int(stop)
    start = int(start)
    if not 1 <= start <= stop <= n_slices:
        raise ValueError(
            f"Z Project range {start}..{stop} is outside the stack's slices 1..{n_slices}. "
            "Fix: use 1 <= start <= stop <= number of slices."
        )
    source = imp
    if "zproject_avg_drops_last_slice" in handle.quirks and int(imp.getBitDepth()) == 32:
        stack = imp.getStack()
        padded = jclass("ij.ImageStack")(int(imp.getWidth()), int(imp.getHeight()))
        for index in range(1, n_slices + 1):  # shares the pixel arrays: no copy
            padded.addSlice(stack.getSliceLabel(index), stack.getProcessor(index))
        padded.addSlice("unused", stack.getProcessor(n_slices))
        source = jclass("ij.ImagePlus")(str(imp.getTitle()), padded)
        stop_arg = stop + 1
    else:
        stop_arg = stop
    if route == "command":
        handle.require_commands("Z Project (route='command')")
        interpreter = jclass("ij.macro.Interpreter")
        window_manager = jclass("ij.WindowManager")
        was_batch = bool(interpreter.batchMode)
        interpreter.batchMode = True  # the result stays off screen, as in a batch macro
        try:
            run_command(
                source, "Z Project...",
                f"start={start} stop={stop_arg} projection=[Average Intensity]",
            )
            result = window_manager.getCurrentImage()
            if result is None or result == source:
                raise ImageJCommandError("Z Project produced no image.")
            interpreter.removeBatchModeImage(result)
        finally:
            interpreter.batchMode = was_batch
    else:
        projector = jclass("ij.plugin.ZProjector")
        result = guarded_call("Z Project (Average Intensity)",
                              lambda: projector.run(source, "avg", start, stop_arg))
    result.setTitle(f"AVG_{imp.getTitle()}")
    return result

