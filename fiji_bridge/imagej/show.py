"""Results in ImageJ's own windows, as a Fiji user inspects stacks, until ImageJ is closed.

:func:`show` opens images (files, arrays, xarray DataArrays with a ``label`` coordinate, or
ImagePlus objects) in ImageJ windows with their slice labels, shows ImageJ's main window (the
menu bar and tool bar; on Fiji pyimagej's ``gateway.ui().showUI()``), zooms small images in
and lays the windows out in rows, and, with ``wait=True``, returns only when the user has
closed ImageJ or all the image windows.  :func:`show_run` does it for the files of
``einstein-from-noise run`` (``run --show``).  :func:`screenshot` saves what the display shows
(``java.awt.Robot``).

Windows need a display that a person sees: ImageJ started with ``display="existing"`` on
``$DISPLAY`` (the CLI's ``run --show`` does that).  ImageJ started headless, or on the private
Xvfb of ``display="xvfb"``, is refused with the fix.  On Fiji, closing ImageJ ends the Python
process too (pyimagej's interactive mode with the legacy layer).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fiji_bridge.imagej.errors import ImageJCommandError
from fiji_bridge.imagej.guard import user_interaction
from fiji_bridge.imagej.java import jclass
from fiji_bridge.imagej.session import require
from fiji_bridge.imagej.steps import open_image

__all__ = ["RUN_WINDOWS", "screenshot", "show", "show_run", "wait_until_closed"]

#: Window title -> file of a run directory that :func:`show_run` opens (if the run wrote it).
RUN_WINDOWS = {
    "reference": "reference.tif",
    "averages": "averages.tif",
    "noise examples": "noise_examples.tif",
    "aligned examples": "aligned_examples.tif",
    "correlation maps": "correlation_maps.tif",
}


def _require_visible_display() -> Any:
    handle = require()
    if handle.headless:
        raise ImageJCommandError(
            "Showing images needs ImageJ with a display, but this ImageJ runs headless. Fix: "
            "start it on your screen: fiji_bridge.imagej.start(display='existing') with "
            "$DISPLAY set (einstein-from-noise run --show does this)."
        )
    if handle.display_origin == "xvfb":
        raise ImageJCommandError(
            f"ImageJ runs on a private virtual display ({handle.display}, Xvfb) that nobody "
            "can see. Fix: start it on your screen: display='existing' with $DISPLAY set "
            "(--display existing)."
        )
    return handle


def _as_imageplus(title: str, image: Any) -> Any:
    if isinstance(image, (str, os.PathLike)):
        imp = open_image(image)
    elif hasattr(image, "getStack"):  # already an ImagePlus
        imp = image
    else:
        from fiji_bridge.imagej import convert  # xarray only when arrays are shown

        imp = convert.to_imageplus(image, title=title)
    imp.setTitle(title)
    return imp


def show(images: Mapping[str, Any], *, wait: bool = True,
         timeout: float | None = None) -> list[Any]:
    """Open ``images`` in ImageJ windows (title -> image) and, by default, wait until closed.

    Parameters
    ----------
    images : mapping of str to path, array, xarray.DataArray or ImagePlus
        Window title -> image.  A path is opened by ImageJ (a TIFF stack keeps its slice
        labels); an array or DataArray is copied (:func:`fiji_bridge.imagej.convert.to_imageplus`,
        slice labels from its ``label`` coordinate).
    wait : bool, keyword-only
        Return only when the user has closed ImageJ or every window opened here
        (:func:`wait_until_closed`).  ``False`` returns at once.
    timeout : float, keyword-only
        Longest wait in seconds (None: no limit).

    Returns
    -------
    list of ImagePlus
        The images shown, in the order given.

    Raises
    ------
    ImageJCommandError
        ImageJ has no display that a person sees (headless, or its private Xvfb).
    """
    if not images:
        raise ValueError("show() got no images. Fix: pass {title: image, ...}.")
    handle = _require_visible_display()
    shown = [_as_imageplus(str(title), image) for title, image in images.items()]
    main = handle.IJ.getInstance()
    if main is None and handle.gateway is not None:
        handle.gateway.ui().showUI()  # Fiji's main window (the legacy ImageJ 1.x one)
        main = handle.IJ.getInstance()
    if main is not None and not main.isShowing():
        main.pack()
        main.setVisible(True)
    for imp in shown:
        imp.show()
    _wait_for_windows(shown)
    _arrange(shown, below=main)
    if wait:
        wait_until_closed(shown, timeout=timeout)
    return shown


def _wait_for_windows(shown: list[Any], limit: float = 30.0) -> None:
    """Let AWT map the windows (ImagePlus.show returns before they are on screen)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if all(imp.getWindow() is not None and imp.getWindow().isShowing() for imp in shown):
            return
        time.sleep(0.05)
    raise ImageJCommandError(
        f"ImageJ did not show its windows within {limit:g} s. Fix: check that the display "
        f"{os.environ.get('DISPLAY')} works (xdpyinfo), or use another display."
    )


def _arrange(shown: list[Any], below: Any, min_side: int = 192) -> None:
    """Zoom small images in (powers of 2, Image > Zoom) and lay the windows out in rows."""
    zoom = jclass("ij.plugin.Zoom")
    screen = jclass("java.awt.Toolkit").getDefaultToolkit().getScreenSize()
    x, y = 0, 0 if below is None else int(below.getY()) + int(below.getHeight()) + 4
    row_height = 0
    for imp in shown:
        magnification = 1
        while max(int(imp.getWidth()), int(imp.getHeight())) * magnification * 2 <= min_side \
                and magnification < 8:
            magnification *= 2
        if magnification > 1:
            zoom.set(imp, float(magnification))
        window = imp.getWindow()
        window.pack()
        width, height = int(window.getWidth()), int(window.getHeight())
        if x and x + width > int(screen.width):
            x, y, row_height = 0, y + row_height + 4, 0
        window.setLocation(x, y)
        x += width + 4
        row_height = max(row_height, height)


def wait_until_closed(shown: list[Any], *, timeout: float | None = None,
                      poll: float = 0.2) -> bool:
    """Block until ImageJ's main window or every window of ``shown`` is closed.

    Returns True when closed, False when ``timeout`` seconds passed first.
    """
    handle = require()
    deadline = None if timeout is None else time.monotonic() + timeout
    with user_interaction():  # the dialogs the person opens meanwhile are theirs, not errors
        while True:
            main = handle.IJ.getInstance()
            main_closed = main is None or not main.isShowing()
            windows_closed = all(imp.getWindow() is None or not imp.getWindow().isShowing()
                                 for imp in shown)
            if main_closed or windows_closed:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll)


def show_run(directory: str | os.PathLike, *, wait: bool = True,
             timeout: float | None = None) -> list[Any]:
    """Show the files of a run directory (:data:`RUN_WINDOWS`) in ImageJ; see :func:`show`."""
    folder = Path(directory)
    images = {title: folder / name for title, name in RUN_WINDOWS.items()
              if (folder / name).is_file()}
    if not images:
        raise FileNotFoundError(
            f"{folder} holds none of {', '.join(RUN_WINDOWS.values())}. Fix: pass the --out "
            "directory of einstein-from-noise run."
        )
    return show(images, wait=wait, timeout=timeout)


def screenshot(path: str | os.PathLike) -> Path:
    """Save the whole display ImageJ uses as a PNG (``java.awt.Robot``); returns the path."""
    _require_visible_display()
    toolkit = jclass("java.awt.Toolkit").getDefaultToolkit()
    capture = jclass("java.awt.Robot")().createScreenCapture(
        jclass("java.awt.Rectangle")(toolkit.getScreenSize()))
    target = Path(path)
    if not jclass("javax.imageio.ImageIO").write(capture, "png", jclass("java.io.File")(
            str(target.resolve()))):
        raise ImageJCommandError(f"Java could not write a PNG to {target}.")
    return target
