"""Calls into ImageJ guarded against its modal dialogs and its ``System.exit(0)``.

Under a (virtual) display ImageJ reports errors in modal dialogs that would block the calling
thread forever; :func:`guarded_call` runs a call under a watchdog that closes them and raises
:class:`ImageJCommandError` with their text, and marks the call for the exit guard of
:mod:`fiji_bridge.imagej.session`.  :func:`run_command` runs a menu command that way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fiji_bridge.imagej.errors import ImageJCommandError
from fiji_bridge.imagej.java import jclass
from fiji_bridge.imagej.session import imagej_call, require

__all__ = ["guarded_call", "run_command"]


def _dialog_text(window: Any) -> str:
    """Title and message of an AWT dialog (ImageJ draws messages in MultiLineLabel)."""
    parts = [str(window.getTitle())]
    container = jclass("java.awt.Container")
    multiline = jclass("ij.gui.MultiLineLabel")
    lines_field = multiline.class_.getDeclaredField("lines")
    lines_field.setAccessible(True)

    def walk(component: Any) -> None:
        for child in component.getComponents():
            if isinstance(child, multiline):
                parts.extend(str(line) for line in lines_field.get(child) or [])
            elif hasattr(child, "getText"):
                text = str(child.getText() or "")
                if text and text not in ("OK", "Cancel", "Help"):
                    parts.append(text)
            if isinstance(child, container):
                walk(child)

    walk(window)
    return ": ".join(p for p in parts if p)


@contextmanager
def _dialog_guard() -> Iterator[list[str]]:
    """Close any modal dialog ImageJ opens while the body runs, and collect its text.

    Under a (virtual) display ImageJ reports errors in modal dialogs that would block this
    thread forever; a watchdog thread closes them and the caller raises with their text.
    """
    handle = require()
    found: list[str] = []
    if handle.headless:
        yield found
        return
    window_class = jclass("java.awt.Window")
    dialog_class = jclass("java.awt.Dialog")
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for window in window_class.getWindows():
                if isinstance(window, dialog_class) and window.isShowing() and window.isModal():
                    try:
                        found.append(_dialog_text(window))
                    finally:
                        window.dispose()
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, name="fiji_bridge-dialog-guard", daemon=True)
    watcher.start()
    try:
        yield found
    finally:
        stop.set()
        watcher.join()


def guarded_call(what: str, call: Callable[[], Any], *, during: str | None = None,
                  fix: str = "", explain: Callable[[str], str | None] | None = None) -> Any:
    """Run ``call()`` into ImageJ under the dialog watchdog and the exit guard.

    Raises :class:`ImageJCommandError` ``"<what> failed: <reason>"`` when the call throws or
    ImageJ opened an error dialog.  The reason is the dialog's text when there is one (it says
    more than the Java exception that follows it), else ``explain(exception text)``, else the
    exception text.  ``during`` names the call in the exit guard's message (default ``what``).
    """
    failure = None
    result = None
    with _dialog_guard() as dialogs, imagej_call(during or what):
        try:
            result = call()
        except Exception as exc:  # e.g. "Macro canceled" after an error dialog
            failure = f"{type(exc).__name__}: {exc}"
    if failure is not None or dialogs:
        reason = "; ".join(dialogs) or (explain(failure) if explain and failure else None)
        raise ImageJCommandError(f"{what} failed: {reason or failure}" +
                                 (f". Fix: {fix}" if fix else ""))
    return result


def run_command(imp: Any, command: str, options: str = "") -> None:
    """``IJ.run(imp, command, options)`` with errors turned into :class:`ImageJCommandError`."""
    handle = require()
    handle.require_commands(f"The menu command {command!r}")
    ij = jclass("ij.IJ")
    log_before = str(ij.getLog() or "")
    guarded_call(f"ImageJ command {command!r}", lambda: ij.run(imp, command, options),
                  during=f"the command {command!r}")
    log_after = str(ij.getLog() or "")
    if "Unrecognized command" in log_after[len(log_before):]:
        raise ImageJCommandError(f"ImageJ does not know the command {command!r}.")

