"""Calls into ImageJ that cannot block: a dialog watchdog, a deadline per call, the exit guard.

Under a (virtual) display ImageJ reports errors in dialogs (``IJ.error``, ``IJ.showMessage``,
``GenericDialog``, ``WaitForUserDialog``, file choosers) that wait for a click that never comes,
on the calling thread or on AWT's event thread.  One watchdog thread runs for the whole session
(:func:`start_watchdog`, started by :func:`fiji_bridge.imagej.start`):

* Every dialog that shows, modal or not, on any thread, is closed the way a user closes it
  (a ``WINDOW_CLOSING`` event, so ImageJ's own "cancel" path runs, then ``dispose()``), and its
  text is kept.  A dialog during a :func:`guarded_call` makes that call raise
  :class:`ImageJCommandError` with the dialog's text; one outside any call is reported on
  stderr in one line.
* Every :func:`guarded_call` has a deadline (``timeout``, default :data:`DEFAULT_TIMEOUT`
  seconds, or ``$FIJI_BRIDGE_IMAGEJ_TIMEOUT``).  Past it, the watchdog closes every dialog and
  interrupts the calling Java thread (``Thread.interrupt``); the call then raises
  :class:`ImageJCommandError` "did not finish within ...".  If ImageJ ignores the interrupt for
  :data:`GRACE` more seconds, no Python code can take the thread back, so the watchdog says so
  on stderr and ends the process with status :data:`STUCK_EXIT_STATUS` after stopping Xvfb:
  a run never waits forever.
* Ctrl-C during a long ImageJ call: Python's handler runs only when the main thread is back in
  Python, so the watchdog also reads Python's signal wake-up pipe (``signal.set_wakeup_fd``,
  when nobody else uses it) and interrupts the Java calls in flight; the
  ``KeyboardInterrupt`` then comes at once instead of after the call.
* While a person uses ImageJ (:func:`user_interaction`, e.g. ``run --show``), dialogs
  outside guarded calls are theirs and left alone.

:func:`run_command` runs a menu command that way.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fiji_bridge.imagej.errors import ImageJCommandError
from fiji_bridge.imagej.java import jclass
from fiji_bridge.imagej.session import (
    imagej_call,
    require,
    stop_xvfb,
    when_started,
    xvfb_dies_with_us,
)

__all__ = ["DEFAULT_TIMEOUT", "ENV_TIMEOUT", "GRACE", "STUCK_EXIT_STATUS", "default_timeout",
           "guarded_call", "run_command", "start_watchdog", "stop_watchdog", "stray_dialogs",
           "user_interaction"]

#: Environment variable that sets the default deadline (seconds) of every guarded call.
ENV_TIMEOUT = "FIJI_BRIDGE_IMAGEJ_TIMEOUT"
#: Default deadline of a guarded call, seconds (a stuck dialog is closed long before: this is
#: for calls that hang without one).
DEFAULT_TIMEOUT = 1800.0
#: Seconds a call may ignore the interrupt after its deadline before the process is ended.
GRACE = 15.0
#: Exit status when ImageJ stays stuck after its deadline and the interrupt.
STUCK_EXIT_STATUS = 3
#: Signals that interrupt the ImageJ call in flight (when Python handles them).
_STOP_SIGNALS = {int(signal.SIGINT), int(signal.SIGTERM), int(signal.SIGHUP)}
#: Seconds between two looks at ImageJ's windows while a call runs / while idle.
_POLL_BUSY, _POLL_IDLE = 0.05, 0.25


def default_timeout() -> float:
    """The deadline of a guarded call (s): ``$FIJI_BRIDGE_IMAGEJ_TIMEOUT``, else
    :data:`DEFAULT_TIMEOUT`."""
    text = os.environ.get(ENV_TIMEOUT, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{ENV_TIMEOUT}={text!r} is not a positive number of seconds. "
                         f"Fix: e.g. {ENV_TIMEOUT}=600, or unset it.")
    return value


def _dialog_text(window: Any) -> str:
    """``"title: message"`` of an AWT window (ImageJ draws messages in MultiLineLabel)."""
    title = str(window.getTitle() or "")
    parts: list[str] = []
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
                if text and text not in ("OK", "Cancel", "Help", "Yes", "No"):
                    parts.append(text)
            if isinstance(child, container):
                walk(child)

    walk(window)
    message = " ".join(p.strip() for p in parts if p.strip())
    return ": ".join(p for p in (title, message) if p)


_fields: dict[str, Any] = {}


def _error_message_field() -> Any:
    """ImageJ's ``IJ.lastErrorMessage`` (set by every ``IJ.error``), made writable."""
    if "lastErrorMessage" not in _fields:
        field = jclass("ij.IJ").class_.getDeclaredField("lastErrorMessage")
        field.setAccessible(True)
        _fields["lastErrorMessage"] = field
    return _fields["lastErrorMessage"]


def _same_message(message: str, dialog_text: str) -> bool:
    """Whether a dialog's text shows ImageJ's error ``message`` (lines joined by spaces)."""
    return " ".join(message.split()) in " ".join(dialog_text.split())


class _Call:
    """One guarded call in flight (the watchdog's view of it)."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.java_thread = jclass("java.lang.Thread").currentThread()
        self.dialogs: list[str] = []
        self.timed_out = False
        self.signalled = False  # a signal (Ctrl-C) arrived while it ran: it was interrupted


class _Watchdog:
    """The session's watchdog thread (see the module docstring)."""

    def __init__(self, headless: bool) -> None:
        self.headless = headless
        self.calls: dict[int, _Call] = {}
        self.strays: list[str] = []
        self.expected: list[str] = []  # IJ.error texts already reported by a call
        self.lock = threading.Lock()
        self.closing = threading.Lock()  # one thread closes dialogs at a time
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.signal_pipe: tuple[int, int] | None = None
        self.user_turns = 0  # > 0: a person uses ImageJ; leave dialogs outside calls alone
        self.thread = threading.Thread(target=self._run, name="fiji_bridge-imagej-watchdog",
                                       daemon=True)

    # -- the watchdog thread -------------------------------------------------------------
    def _run(self) -> None:
        try:
            import jpype

            jpype.java.lang.Thread.attachAsDaemon()  # never holds up the JVM's shutdown
        except Exception:  # older JPype: attached as a normal thread, stopped before shutdown
            pass
        while not self.stop_event.is_set():
            try:
                self._look()
            except Exception:  # e.g. a window disposed while we read it: look again
                pass
            with self.lock:
                busy = bool(self.calls)
            pause = _POLL_BUSY if busy else _POLL_IDLE
            if self.signal_pipe is None:
                self.wake.wait(pause)
                self.wake.clear()
            elif select.select([self.signal_pipe[0]], [], [], pause)[0]:
                self._signalled()

    def _signalled(self) -> None:
        """A signal with a Python handler arrived (Ctrl-C): interrupt the Java calls in flight.

        Python runs its handler (``KeyboardInterrupt``) only when the main thread is back in
        Python; a long ImageJ call would delay it until the call ends.  Interrupting the
        call's Java thread ends the wait at once.
        """
        try:
            numbers = set(os.read(self.signal_pipe[0], 512))
        except OSError:
            return
        if not numbers & _STOP_SIGNALS:  # e.g. SIGWINCH for a progress bar: not a stop
            return
        with self.lock:
            calls = list(self.calls.values())
        for call in calls:
            call.signalled = True
            call.java_thread.interrupt()

    def _look(self) -> None:
        if not self.headless:
            # Closing a dialog wakes the call it blocked; that call's end() waits for this
            # lock, so the dialog's text is on its record before it looks.
            with self.closing:
                with self.lock:
                    leave_alone = self.user_turns > 0 and not self.calls
                texts = [] if leave_alone else self._close_dialogs()
                with self.lock:
                    calls = list(self.calls.values())
                    for text in texts:
                        known = [m for m in self.expected if _same_message(m, text)]
                        if known:  # the dialog of an IJ.error its call has already read
                            self.expected.remove(known[0])
                            continue
                        for call in calls:
                            call.dialogs.append(text)
                        if not calls:
                            self.strays.append(text)
                            sys.stderr.write(f"fiji_bridge: closed an ImageJ dialog: {text}\n")
        now = time.monotonic()
        with self.lock:
            calls = list(self.calls.values())
        for call in calls:
            if not call.timed_out and now > call.deadline:
                call.timed_out = True
                if not self.headless:
                    with self.closing:
                        call.dialogs.extend(self._close_dialogs(every_window=True))
                call.java_thread.interrupt()
            elif call.timed_out and now > call.deadline + GRACE:
                self._give_up(call)

    def _close_dialogs(self, every_window: bool = False) -> list[str]:
        """Close every showing dialog (every showing window but the hidden main ImageJ one
        when ``every_window``); return their texts.  The caller holds ``self.closing``."""
        window_class = jclass("java.awt.Window")
        dialog_class = jclass("java.awt.Dialog")
        event_class = jclass("java.awt.event.WindowEvent")
        main_window = jclass("ij.IJ").getInstance()
        texts = []
        for window in window_class.getWindows():
            if not window.isShowing() or (main_window is not None
                                          and window.equals(main_window)):
                continue
            if not (every_window or isinstance(window, dialog_class)):
                continue
            try:
                texts.append(_dialog_text(window) or str(window.getClass().getName()))
            finally:
                # As a user closing it: ImageJ's listeners cancel and wake the waiting
                # thread (dispose() alone leaves e.g. WaitForUserDialog's thread waiting).
                window.dispatchEvent(event_class(window, event_class.WINDOW_CLOSING))
                window.dispose()
        return texts

    def _give_up(self, call: _Call) -> None:
        sys.stderr.write(
            f"fiji_bridge: ImageJ did not finish {call.what} within {call.timeout:g} s and "
            f"ignored the interrupt for {GRACE:g} s more; ending the process (status "
            f"{STUCK_EXIT_STATUS}). Fix: raise the deadline with {ENV_TIMEOUT}=SECONDS if the "
            "work is just long, else report the ImageJ step that hangs.\n")
        sys.stderr.flush()
        try:
            # Stopping Xvfb under a running JVM makes AWT exit the process with status 1, so
            # only when Xvfb would not follow us by itself (its parent-death signal).
            if not xvfb_dies_with_us():
                stop_xvfb()
        finally:
            os._exit(STUCK_EXIT_STATUS)

    # -- the calling threads ---------------------------------------------------------------
    def begin(self, what: str, timeout: float) -> _Call:
        call = _Call(what, timeout)
        with self.lock:
            self.calls[id(call)] = call
        self.wake.set()
        return call

    def end(self, call: _Call) -> None:
        with self.closing, self.lock:  # after the watchdog has filed what it closed
            self.calls.pop(id(call), None)

    def listen_for_signals(self) -> None:
        """Have Python's C signal handler write to a pipe the watchdog reads
        (``signal.set_wakeup_fd``); only from the main thread, only if nobody else uses it."""
        if threading.current_thread() is not threading.main_thread():
            return
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        try:
            previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        except (ValueError, OSError):
            previous = None
        if previous != -1:  # in use (e.g. asyncio): leave it alone
            if previous is not None:
                signal.set_wakeup_fd(previous)
            os.close(read_end)
            os.close(write_end)
            return
        self.signal_pipe = (read_end, write_end)

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(5)
        if self.signal_pipe is not None and not self.thread.is_alive():
            if threading.current_thread() is threading.main_thread():
                try:
                    current = signal.set_wakeup_fd(-1)
                    if current not in (-1, self.signal_pipe[1]):  # replaced: put theirs back
                        signal.set_wakeup_fd(current)
                except (ValueError, OSError):  # theirs is closed by now: leave none
                    pass
                for fd in self.signal_pipe:
                    os.close(fd)
                self.signal_pipe = None


_watchdog: _Watchdog | None = None


def start_watchdog(headless: bool) -> None:
    """Start the session's watchdog thread (once); it stops before the JVM shuts down."""
    global _watchdog
    if _watchdog is not None:
        return
    import scyjava

    _watchdog = _Watchdog(headless)
    _watchdog.listen_for_signals()
    _watchdog.thread.start()
    scyjava.when_jvm_stops(stop_watchdog)


def stop_watchdog() -> None:
    """Stop the watchdog thread (idempotent); guarded calls then run without it."""
    global _watchdog
    watchdog, _watchdog = _watchdog, None
    if watchdog is not None:
        watchdog.stop()


@contextmanager
def user_interaction() -> Iterator[None]:
    """While a person uses ImageJ's windows (e.g. ``run --show`` waiting for them to close
    ImageJ), leave the dialogs they open alone; guarded calls are still watched."""
    watchdog = _watchdog
    if watchdog is None:
        yield
        return
    with watchdog.lock:
        watchdog.user_turns += 1
    try:
        yield
    finally:
        with watchdog.lock:
            watchdog.user_turns -= 1


def stray_dialogs() -> list[str]:
    """Texts of the dialogs the watchdog closed outside any guarded call (oldest first)."""
    return list(_watchdog.strays) if _watchdog is not None else []


def guarded_call(what: str, call: Callable[[], Any], *, during: str | None = None,
                 fix: str = "", explain: Callable[[str], str | None] | None = None,
                 timeout: float | None = None) -> Any:
    """Run ``call()`` into ImageJ under the dialog watchdog, a deadline and the exit guard.

    Parameters
    ----------
    what : str
        Names the call in errors: ``"<what> failed: <reason>"``.
    call : callable
        Runs in the calling thread (ImageJ keeps per-thread state, e.g. the current image).
    during : str, optional
        Names the call in the exit guard's message (default ``what``).
    fix : str
        Appended as ``". Fix: <fix>"``.
    explain : callable, optional
        Turns the exception text into a reason when there is no dialog.
    timeout : float, optional
        Deadline in seconds (default :func:`default_timeout`).

    Raises
    ------
    ImageJCommandError
        The call threw, ImageJ opened a dialog (the reason is the dialog's text: it says more
        than the Java exception that follows it), or the deadline passed.
    """
    timeout = default_timeout() if timeout is None else float(timeout)
    require()
    watchdog = _watchdog
    # IJ.error records its message before it shows the dialog (which may appear on AWT's
    # thread after the call returned): read it after the call, so the reason never depends
    # on when the watchdog looks.
    error_field = _error_message_field()
    error_field.set(None, None)
    record = watchdog.begin(what, timeout) if watchdog is not None else None
    failure = None
    result = None
    error_message = None
    try:
        with imagej_call(during or what):
            try:
                result = call()
            except Exception as exc:  # e.g. "Macro canceled" after an error dialog
                failure = f"{type(exc).__name__}: {exc}"
            error_message = error_field.get(None)
            if error_message is not None:
                error_message = " ".join(str(error_message).split())
                if record is not None:
                    with watchdog.lock:
                        if not any(_same_message(error_message, t) for t in record.dialogs):
                            record.dialogs.append(error_message)
                            if not watchdog.headless:  # its dialog may still come: no stray
                                watchdog.expected.append(error_message)
    finally:
        if record is not None:
            watchdog.end(record)
    if record is not None and record.timed_out:
        shown = f" (ImageJ showed: {'; '.join(record.dialogs)})" if record.dialogs else ""
        raise ImageJCommandError(
            f"{what} did not finish within {timeout:g} s and was interrupted{shown}. Fix: "
            f"raise the deadline with {ENV_TIMEOUT}=SECONDS if the work is just long.")
    dialogs = record.dialogs if record is not None else (
        [error_message] if error_message is not None else [])
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


when_started(start_watchdog)  # fiji_bridge.imagej imports this module before anyone starts
