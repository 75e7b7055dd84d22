"""The ImageJ macros (``macros/*.ijm``) of the experiment, run from Python.

The same ``.ijm`` files run unchanged in Fiji (Plugins > Macros > Run..., or the Script Editor);
here they run in the ImageJ started by :func:`fiji_bridge.imagej.start` through
:func:`run_macro`, which runs any macro (a ``.ijm`` file or code) under the dialog watchdog and
the exit guard, with the images it is given.  Plain ImageJ 1.x needs a display for them
(``run(...)`` menu commands): ``imagej.start(display="auto")`` starts Xvfb when it is installed.

``normalize.ijm``
    32-bit, then ``v = (v - mean) / stdev`` with ImageJ's mean and sample stdev.
``average.ijm``
    Z Project "Average Intensity" over slices 1..n, corrected for ImageJ 1.53t's 32-bit bug.
``einstein_from_noise.ijm``
    The whole experiment in ImageJ's macro language (noise, FD Math correlation, peak, cyclic
    alignment, averages of the first N).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fiji_bridge.imagej.errors import ImageJCommandError
from fiji_bridge.imagej.guard import guarded_call
from fiji_bridge.imagej.java import jclass
from fiji_bridge.imagej.session import require

__all__ = [
    "MacroResult",
    "average_with_macro",
    "macro_dirs",
    "macro_path",
    "normalize_with_macro",
    "parse_fields",
    "run_experiment_macro",
    "run_macro",
]


@dataclasses.dataclass(frozen=True)
class MacroResult:
    """What a macro gave back: its return value and the image active when it ended."""

    value: str | None
    image: Any = dataclasses.field(default=None, repr=False)
    log: str = ""


def run_macro(macro: str | os.PathLike, argument: str = "", *,
              images: Sequence[Any] = (), code: str | None = None) -> MacroResult:
    """Run an ImageJ macro (``.ijm`` file, or ``code=``) and return its value and result image.

    Parameters
    ----------
    macro : path
        The ``.ijm`` file (ignored when ``code`` is given; pass ``""``).
    argument : str
        The macro's ``getArgument()``.
    images : sequence of ImagePlus, keyword-only
        Images made available to the macro (by title, ``selectImage("title")``); the last one
        is the active image when the macro starts.  They are held in batch mode, never shown.
    code : str, keyword-only
        Macro source to run instead of a file.

    Returns
    -------
    MacroResult
        ``value``: the string the macro returned (``return "..."``) or None; ``image``: the
        active image when the macro ended, if it is not one of ``images``; ``log``: what the
        macro printed to ImageJ's Log window.

    Raises
    ------
    FileNotFoundError
        The macro file does not exist.
    ImageJCommandError
        The macro failed (the message carries ImageJ's error), or it calls menu commands that
        this ImageJ cannot run (headless plain ImageJ 1.x).
    """
    handle = require()
    if code is None:
        path = Path(macro)
        if not path.is_file():
            raise FileNotFoundError(f"Macro file {path} does not exist. Fix: check the path.")
        code = path.read_text()
        name = path.name
    else:
        name = "macro"
    if not handle.can_run_commands and re.search(r"\brun\s*\(", code):
        handle.require_commands(f"The macro {name} (it calls run(...))")
    ij = handle.IJ  # pyimagej's gateway.IJ on Fiji
    interpreter_class = jclass("ij.macro.Interpreter")
    window_manager = handle.WindowManager
    was_batch = bool(interpreter_class.batchMode)
    interpreter_class.batchMode = True
    window_manager.setTempCurrentImage(None)  # the macro sees only the images it is given
    for imp in images:
        interpreter_class.addBatchModeImage(imp)
        window_manager.setTempCurrentImage(imp)
    ids_before = {int(i) for i in interpreter_class.getBatchModeImageIDs()}
    log_before = str(ij.getLog() or "")
    interpreter = interpreter_class()
    # Errors are collected instead of shown (a dialog would block, or fail headless); the
    # interpreter then carries on, so we check wasError() and raise.
    interpreter.setIgnoreErrors(True)

    def explain(failure: str) -> str | None:
        message = interpreter.getErrorMessage()
        if message is not None:
            return str(message)
        if "Macro canceled" in failure:
            return ("ImageJ aborted it (an unknown command name in run(...), or a command that "
                    "needs an open image)")
        return None

    try:
        value = guarded_call(f"Macro {name}", lambda: interpreter.run(code, str(argument)),
                              during=f"the macro {name}", explain=explain)
        log = str(ij.getLog() or "")[len(log_before):]
        # With ignoreErrors, wasError() stays false; the message is the signal.
        error_message = interpreter.getErrorMessage()
        if interpreter.wasError() or error_message is not None:
            raise ImageJCommandError(f"Macro {name} failed: {error_message}.")
        result = window_manager.getCurrentImage()
        given = {int(imp.getID()) for imp in images}
        if result is not None and int(result.getID()) in given:
            result = None
        return MacroResult(None if value is None else str(value), result, log)
    finally:
        # Forget the images the macro made (the result is returned, not kept): a later macro
        # must not find them as its current image.
        for image_id in interpreter_class.getBatchModeImageIDs():
            if int(image_id) not in ids_before:
                made = window_manager.getImage(int(image_id))
                if made is not None:
                    interpreter_class.removeBatchModeImage(made)
        for imp in images:
            interpreter_class.removeBatchModeImage(imp)
        window_manager.setTempCurrentImage(None)
        interpreter_class.batchMode = was_batch



_unique = itertools.count(1)


def macro_dirs() -> list[Path]:
    """Where macros are looked for, in order: ``macros/`` beside the package (a source checkout
    or an editable install), then ``<sys.prefix>/share/fiji_bridge/macros`` (an installed copy)."""
    return [Path(__file__).resolve().parents[2] / "macros",
            Path(sys.prefix) / "share" / "fiji_bridge" / "macros"]


def macro_path(name: str) -> Path:
    """The path of the macro ``name`` (e.g. ``"normalize.ijm"``; ``.ijm`` is added when the name
    has no suffix).

    Raises
    ------
    FileNotFoundError
        No such macro in any of :func:`macro_dirs`; the message lists where it looked.
    ValueError
        ``name`` is empty or has a folder part.
    """
    file_name = str(name)
    if Path(file_name).name != file_name or not file_name:
        raise ValueError(f"Macro name {name!r} must be a plain file name such as 'normalize.ijm'.")
    if not Path(file_name).suffix:
        file_name += ".ijm"
    places = macro_dirs()
    for folder in places:
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Macro {file_name} not found; looked in {', '.join(str(p) for p in places)}. "
        "Fix: run from a fiji_bridge source checkout (macros/ beside the package) or install "
        "the macros into <prefix>/share/fiji_bridge/macros."
    )


def parse_fields(value: str | None) -> dict[str, str]:
    """Split a macro's ``"key=value key=value ..."`` return line into a dict.

    A ``shifts=...`` field runs to the end of the line (it is the last field).
    """
    if not value:
        return {}
    head, found, shifts = value.partition(" shifts=")
    if not found and value.startswith("shifts="):
        head, shifts, found = "", value[len("shifts="):], "shifts="
    fields = {}
    for word in head.split():
        key, sep, text = word.partition("=")
        fields[key] = text if sep else "true"
    if found:
        fields["shifts"] = shifts
    return fields


def _run(name: str, argument: str, images: Sequence[Any]) -> MacroResult:
    """Run macro ``name``; a returned ``"error=<why>"`` becomes :class:`ImageJCommandError`.

    The macros report refused input that way when they get an argument: ImageJ 1.x without its
    main window prints ``exit("...")`` messages to the console instead of showing them.
    """
    result = run_macro(macro_path(name), argument, images=images)
    if result.value is not None and result.value.startswith("error="):
        raise ImageJCommandError(result.value[len("error="):])
    return result


def normalize_with_macro(imp: Any) -> tuple[Any, float, float]:
    """Run ``normalize.ijm`` on ``imp`` (changed in place, like
    :func:`fiji_bridge.imagej.normalize`).

    Returns
    -------
    (imp, mean, stdev)
        The normalised 32-bit image, and the mean and ImageJ sample stdev it was normalised
        with (as the macro returned them, 17 significant digits).

    Raises
    ------
    ImageJCommandError
        The macro refused the image: constant, or holding NaN / infinite values.
    """
    # Any argument: no Log line, and errors come back as "error=..." (see _run).
    result = _run("normalize.ijm", "normalize", [imp])
    fields = parse_fields(result.value)
    try:
        return imp, float(fields["mean"]), float(fields["stdev"])
    except (KeyError, ValueError):
        raise ImageJCommandError(
            f"normalize.ijm returned {result.value!r}, not 'mean=.. stdev=..'."
        ) from None


def average_with_macro(imp: Any, n: int, *, start: int = 1) -> Any:
    """Run ``average.ijm``: the mean of slices ``start..n`` (1-based, inclusive) of ``imp``.

    Returns a new 32-bit ImagePlus (title ``AVG_n=<n>``, or ``AVG_<start>-<n>``); its property
    ``fiji_bridge.macro`` holds the macro's return line (``slices=.. workaround=yes|no ..``).
    """
    argument = f"{int(n)}" if int(start) == 1 else f"{int(start)} {int(n)}"
    result = _run("average.ijm", argument, [imp])
    if result.image is None:
        raise ImageJCommandError(
            f"average.ijm made no image (it returned {result.value!r})."
        )
    result.image.setProperty("fiji_bridge.macro", result.value or "")
    return result.image


def run_experiment_macro(reference_imp: Any, *, size: int, n: int, counts: Sequence[int],
                         seed: int, noise: Any = None) -> dict[str, Any]:
    """Run ``einstein_from_noise.ijm`` with ``reference_imp`` as the reference.

    Parameters
    ----------
    reference_imp : ImagePlus
        The reference (not changed: the macro works on a copy of its current slice).
    size, n, counts, seed
        Image side (power of 2), number of noise images, the N of each average, and the seed of
        ImageJ's random numbers (``random("seed", seed)``, which Add Specified Noise follows).
    noise : ImagePlus, optional
        A 32-bit ``size x size`` stack of at least ``n`` slices used as the noise images instead
        of ImageJ's own noise.

    Returns
    -------
    dict
        ``averages`` (ImagePlus, one slice per count, labels ``N=<count>``), ``labels``,
        ``counts``, ``shifts`` ((n, 2) int64 peak shifts ``(dy, dx)``: image ``i`` was aligned as
        ``np.roll(image, (-dy, -dx), axis=(0, 1))``), ``zproject_workaround`` (bool),
        ``ref_mean``, ``ref_stdev``, ``seconds`` (time inside the macro), ``imagej``,
        ``fields`` (everything the macro returned, as text), ``value`` (its return line) and
        ``log``.
    """
    counts = [int(c) for c in counts]
    argument = (f"size={int(size)} n={int(n)} counts={','.join(str(c) for c in counts)} "
                f"seed={int(seed)}")
    images = [reference_imp]
    old_title = None
    if noise is not None:
        # The macro finds the noise stack by title: give it a unique one for the run.
        old_title = str(noise.getTitle())
        noise.setTitle(f"fiji_bridge_noise_{next(_unique)}")
        argument += f" noise=[{noise.getTitle()}]"
        images = [noise, reference_imp]  # the last one is the active image: the reference
    try:
        result = _run("einstein_from_noise.ijm", argument, images)
    finally:
        if noise is not None:
            noise.setTitle(old_title)
    fields = parse_fields(result.value)
    averages = result.image
    if averages is None or "shifts" not in fields:
        raise ImageJCommandError(
            f"einstein_from_noise.ijm gave no averages stack (it returned {result.value!r})."
        )
    stack = averages.getStack()
    labels = [str(stack.getSliceLabel(i)) for i in range(1, int(stack.getSize()) + 1)]
    pairs = [p for p in fields["shifts"].split(";") if p]
    shifts = np.array([[int(v) for v in p.split(",")] for p in pairs], dtype=np.int64)
    return {
        "averages": averages,
        "labels": labels,
        "counts": [int(c) for c in fields["counts"].split(",")],
        "shifts": shifts.reshape(-1, 2),
        "zproject_workaround": fields.get("zproject_workaround") == "yes",
        "ref_mean": float(fields["ref_mean"]),
        "ref_stdev": float(fields["ref_stdev"]),
        "seconds": float(fields["seconds"]),
        "imagej": fields.get("imagej", ""),
        "fields": fields,
        "value": result.value,
        "log": result.log,
    }
