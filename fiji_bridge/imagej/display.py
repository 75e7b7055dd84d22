"""The X display ImageJ 1.x draws on: probe ``$DISPLAY``, and a private Xvfb that dies with us.

Plain ImageJ 1.x needs an AWT display for its menu commands and macros.  Two things used to go
wrong with it:

* A stale ``$DISPLAY`` (common over SSH: ``DISPLAY=:99`` or ``localhost:10.0`` with no X server
  behind it) made Java's AWT throw ``AWTError: Can't connect to X11 window server`` deep inside
  ImageJ.  :func:`probe_display` connects to the display's socket in Python, before Java touches
  AWT, so the caller can fall back to a private Xvfb (or headless) and say so.
* Xvfb outlived us when we were killed.  :func:`start_xvfb` starts Xvfb in its own process group
  (a terminal's Ctrl-C does not kill it under a running JVM) with a parent-death signal
  (Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``), so it ends when this process ends, even on
  ``SIGKILL``; :meth:`Xvfb.stop` ends it in an orderly way.  Xvfb picks a free display number
  itself (``-displayfd``), so parallel runs never collide.

No Java here: this module only deals with the X server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["Xvfb", "probe_display", "start_xvfb"]

#: Seconds :func:`start_xvfb` waits for Xvfb to report its display number.
XVFB_START_TIMEOUT = 20.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def probe_display(display: str, timeout: float = 2.0) -> str | None:
    """Check that an X server accepts connections on ``display``; return None or the reason.

    Parameters
    ----------
    display : str
        An X display name as in ``$DISPLAY``: ``":99"``, ``":0.0"``, ``"unix:1"``,
        ``"localhost:10.0"`` (SSH X forwarding: TCP port ``6000 + 10``), or a socket path
        followed by ``:N`` (macOS XQuartz).
    timeout : float
        Seconds allowed for a TCP connection.

    Returns
    -------
    str or None
        None when a connection to the display's socket succeeds (the X server is there; its
        access control is Java's business), else why not, e.g. ``"no X server at
        /tmp/.X11-unix/X99"``.
    """
    match = re.fullmatch(r"(?P<host>.*):(?P<number>\d+)(?:\.\d+)?", display.strip())
    if match is None:
        return f"{display!r} is not an X display name (expected e.g. :0 or localhost:10.0)"
    host, number = match["host"], int(match["number"])
    if host.startswith("/"):  # macOS launchd socket path
        return _probe_unix([host + ":" + match["number"]], host)
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        # Linux X servers listen on an abstract socket and on the file; either will do.
        candidates = [path] if not sys.platform.startswith("linux") else ["\0" + path, path]
        return _probe_unix(candidates, path)
    port = 6000 + number
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"no X server at {host}:{port} (TCP port of display {number}: {exc.strerror or exc})"


def _probe_unix(candidates: list[str], shown: str) -> str | None:
    for address in candidates:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2.0)
            try:
                probe.connect(address)
                return None
            except OSError:
                continue
    return f"no X server at {shown}"


class Xvfb:
    """A private Xvfb server started by :func:`start_xvfb`.

    Attributes
    ----------
    display : str
        Its display name, e.g. ``":3"``.
    process : subprocess.Popen
        The Xvfb process; it leads its own process group.
    dies_with_parent : bool
        Whether it has the parent-death signal (Linux, started from the main thread).
    """

    def __init__(self, process: subprocess.Popen, display: str,
                 dies_with_parent: bool = False) -> None:
        self.process = process
        self.display = display
        self.dies_with_parent = dies_with_parent

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> None:
        """End Xvfb (SIGTERM, then SIGKILL after ``timeout`` s) and reap it; idempotent."""
        if self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                continue


def _death_signal_setter():
    """Return a ``preexec_fn`` giving the child SIGTERM when this thread dies, or None.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends, so it is only set
    from the main thread (whose end is the process's end).  Not Linux: None.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl  # looked up before the fork: the child only calls it
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: do not outlive it
            os._exit(1)

    return die_with_parent


def start_xvfb(width: int = 1280, height: int = 1024, depth: int = 24, *,
               timeout: float = XVFB_START_TIMEOUT) -> Xvfb:
    """Start a private Xvfb on a free display and return it once it accepts connections.

    The server runs ``Xvfb -displayfd FD -screen 0 WxHxD -nolisten tcp`` in its own process
    group, with a parent-death signal (see the module docstring), its output in a temporary
    file that is quoted when it fails.

    Raises
    ------
    FileNotFoundError
        Xvfb is not installed.
    RuntimeError
        Xvfb exited or did not report a display within ``timeout`` seconds (message includes
        the tail of its output).
    """
    binary = shutil.which("Xvfb")
    if binary is None:
        raise FileNotFoundError("the Xvfb program is not installed")
    read_end, write_end = os.pipe()
    log = tempfile.TemporaryFile()
    die_with_parent = _death_signal_setter()
    try:
        process = subprocess.Popen(
            [binary, "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x{depth}",
             "-nolisten", "tcp"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(write_end,),
            start_new_session=True, preexec_fn=die_with_parent,
        )
    except BaseException:
        os.close(read_end)
        os.close(write_end)
        log.close()
        raise
    os.close(write_end)
    server = Xvfb(process, "", dies_with_parent=die_with_parent is not None)
    text = b""
    deadline = time.monotonic() + timeout
    try:
        while not text.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready = select.select([read_end], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                raise RuntimeError(f"Xvfb reported no display within {timeout:g} s")
            chunk = os.read(read_end, 64)
            if not chunk:
                raise RuntimeError(f"Xvfb exited with status {process.wait(5)}")
            text += chunk
    except BaseException as exc:
        server.stop()
        log.seek(0)
        tail = log.read().decode(errors="replace").strip().splitlines()[-3:]
        log.close()
        if isinstance(exc, RuntimeError):
            raise RuntimeError(f"{exc}: {' / '.join(tail) or 'no output'}") from None
        raise
    finally:
        os.close(read_end)
    log.close()
    server.display = f":{int(text.strip())}"
    return server
