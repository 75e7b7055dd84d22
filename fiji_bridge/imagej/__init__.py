"""The ImageJ layer: start real ImageJ from Python and run ImageJ's own steps.

This package is the only part of :mod:`fiji_bridge` that imports ``scyjava``, ``jpype`` or
``imagej`` (pyimagej), and only when a function needs them: importing it starts no Java.  Every
other module works on numpy arrays and xarray objects and reaches Java only through here.

One job per module:

``locate``    which ImageJ to start (pure Python): :func:`resolve`, :class:`Source`
``java``      finding a Java runtime (:func:`java_info`), loading Java classes
``session``   the one ImageJ per process: :func:`start`, :func:`current`, :func:`shutdown`,
              :class:`ImageJ`, the display choice, the exit guard, the quirk probe
``display``   the X display: probing ``$DISPLAY``, a private Xvfb that dies with us (no Java)
``fiji``      Fiji / ImageJ2 through pyimagej: the offline start, the legacy-layer check, what a
              Fiji.app lacks
``show``      results in ImageJ windows until ImageJ is closed: :func:`show`, :func:`show_run`
``guard``     calls that cannot block: dialog watchdog, a deadline per call; menu commands
``pixels``    numpy <-> ImageJ processors (bulk copies)
``steps``     open, crop, resize, 32-bit, statistics, Math>Macro, normalise, Z Project
``fht``       :func:`fht_correlation`, :func:`fht_align` (ImageJ's FHT)
``macros``    :func:`run_macro` and the experiment's ``.ijm`` macros
``convert``   numpy / xarray <-> ImagePlus (imported on its own: it needs xarray)
``errors``    :class:`ImageJError`, :class:`ImageJStartError`, :class:`ImageJCommandError`

Java can start only once per process: :func:`start` starts ImageJ once and returns the same
handle afterwards; asking for a different ImageJ later raises :class:`ImageJStartError`.
"""

from __future__ import annotations

from fiji_bridge.imagej.errors import ImageJCommandError, ImageJError, ImageJStartError
from fiji_bridge.imagej.fht import fht_align, fht_correlation
from fiji_bridge.imagej.java import java_info
from fiji_bridge.imagej.locate import ENV_IMAGEJ, Source, resolve
from fiji_bridge.imagej.macros import MacroResult, run_macro
from fiji_bridge.imagej.session import DISPLAY_MODES, ImageJ, current, shutdown, start
from fiji_bridge.imagej.show import screenshot, show, show_run, wait_until_closed
from fiji_bridge.imagej.steps import (
    apply_math_macro,
    convert_to_32bit,
    crop,
    normalize,
    open_image,
    resize,
    statistics,
    z_project_average,
)

__all__ = [
    "DISPLAY_MODES",
    "ENV_IMAGEJ",
    "ImageJ",
    "ImageJCommandError",
    "ImageJError",
    "ImageJStartError",
    "MacroResult",
    "Source",
    "apply_math_macro",
    "convert_to_32bit",
    "crop",
    "current",
    "fht_align",
    "fht_correlation",
    "java_info",
    "normalize",
    "open_image",
    "resize",
    "resolve",
    "run_macro",
    "screenshot",
    "show",
    "show_run",
    "shutdown",
    "start",
    "statistics",
    "wait_until_closed",
    "z_project_average",
]
