"""The one ImageJ of this process: start it, keep its handle, and guard the process's exit.

Two backends give the same ImageJ 1.x API (``ij.IJ``, ``ij.ImagePlus``, ``ij.process.FHT``, ...):

``"fiji"``
    A full Fiji / ImageJ2 started by pyimagej (``imagej.init(path_or_endpoint, mode="headless")``):
    a local ``Fiji.app`` directory, or a Maven endpoint such as ``sc.fiji:fiji`` when a Maven
    repository can be reached, through :func:`fiji_bridge.imagej.fiji.start_fiji` (system Java,
    no Maven for a local folder, legacy layer checked).  The ImageJ2 gateway is kept on the
    handle (``ImageJ.gateway``);
    Fiji's legacy layer lets menu commands and macros run headless.
``"imagej1"``
    Plain ImageJ 1.x (``ij.jar``, e.g. Debian's ``libij-java`` at ``/usr/share/java/ij.jar``) on
    the system Java, started by scyjava with ``fetch="never"`` so nothing is ever downloaded.
    ImageJ 1.x API calls work headless; menu commands (``IJ.run``) and macros that call
    ``run(...)`` need an AWT display, which :func:`start` provides on request by starting Xvfb.

Java can start only once per process: :func:`start` starts ImageJ once and returns the same
handle afterwards; asking for a different ImageJ later raises :class:`ImageJStartError`.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fiji_bridge import checks
from fiji_bridge.imagej import display as x_display
from fiji_bridge.imagej.errors import ImageJCommandError, ImageJError, ImageJStartError
from fiji_bridge.imagej.fiji import gateway_addon, start_fiji
from fiji_bridge.imagej.fiji import legacy_active as fiji_legacy_active
from fiji_bridge.imagej.java import find_jvm, jclass
from fiji_bridge.imagej.locate import APT_HINT, ENV_IMAGEJ, Source, resolve

__all__ = [
    "DISPLAY_MODES",
    "MAVEN_HOSTS",
    "ImageJ",
    "choose_display",
    "current",
    "imagej_call",
    "java_class",
    "maven_reachable",
    "require",
    "shutdown",
    "start",
    "stop_xvfb",
    "when_started",
    "xvfb_dies_with_us",
    "xvfb_pid",
]

#: Maven repositories pyimagej resolves endpoints from; probed before trying to download.
MAVEN_HOSTS = (("maven.scijava.org", 443), ("repo1.maven.org", 443))
#: ``display=`` choices of :func:`start`.
DISPLAY_MODES = checks.DISPLAY_MODES


@dataclasses.dataclass(frozen=True)
class ImageJ:
    """A running ImageJ (one per process).

    Attributes
    ----------
    backend : {"imagej1", "fiji"}
        ImageJ 1.x through scyjava, or Fiji / ImageJ2 through pyimagej.
    version : str
        ImageJ 1.x version as ImageJ reports it (``IJ.getVersion()``, e.g. ``"1.53t"``); for Fiji
        the ImageJ2 version follows in parentheses.
    source : Source
        What was started, and why it was chosen.
    headless : bool
        Whether the JVM runs with ``java.awt.headless=true``.
    display : str or None
        The X display ImageJ uses (``$DISPLAY``), if any.
    display_origin : {"xvfb", "existing", None}
        ``"xvfb"`` when :func:`start` started an Xvfb server for ImageJ (stopped at exit).
    display_note : str or None
        Why ``$DISPLAY`` was not used (it could not be reached), else None.
    gateway : object or None
        The pyimagej ImageJ2 gateway (``backend == "fiji"``), else None.
    legacy_active : bool or None
        Fiji: whether the ImageJ legacy layer is active (``gateway.legacy.isActive()``, checked
        at start); None for plain ImageJ 1.x, which is the ImageJ 1.x itself.
    quirks : frozenset of str
        Known bugs of this ImageJ version that the steps here correct, e.g.
        ``"zproject_avg_drops_last_slice"`` (ImageJ 1.53t).
    """

    backend: str
    version: str
    source: Source
    headless: bool
    display: str | None
    display_origin: str | None
    gateway: Any = dataclasses.field(default=None, repr=False, compare=False)
    quirks: frozenset = frozenset()
    legacy_active: bool | None = None
    #: Why ``$DISPLAY`` was not used (it could not be reached), or None.
    display_note: str | None = None

    @property
    def can_run_commands(self) -> bool:
        """Whether menu commands (``IJ.run``) and macros calling ``run(...)`` can run.

        Fiji's active legacy layer runs them headless; plain ImageJ 1.x needs an AWT display.
        """
        if self.backend == "fiji":
            return bool(self.legacy_active)
        return not self.headless

    @property
    def IJ(self) -> Any:  # noqa: N802 - the Java class's name
        """ImageJ 1.x's ``ij.IJ``: pyimagej's ``gateway.IJ`` on Fiji, else the class itself."""
        if self.gateway is not None:
            return gateway_addon(self.gateway, "IJ")
        return jclass("ij.IJ")

    @property
    def WindowManager(self) -> Any:  # noqa: N802 - the Java class's name
        """ImageJ 1.x's ``ij.WindowManager``: pyimagej's ``gateway.WindowManager`` on Fiji."""
        if self.gateway is not None:
            return gateway_addon(self.gateway, "WindowManager")
        return jclass("ij.WindowManager")

    def require_commands(self, what: str) -> None:
        """Raise :class:`ImageJCommandError` if menu commands cannot run here."""
        if not self.can_run_commands:
            raise ImageJCommandError(
                f"{what} needs ImageJ menu commands, which plain ImageJ 1.x cannot run in a "
                "headless JVM (java.awt.HeadlessException). Fix: start ImageJ with a display "
                "(fiji_bridge.imagej.start(display='xvfb'), needs apt-get install xvfb xauth), "
                "use a Fiji.app (--imagej /path/to/Fiji.app), or use route='api'."
            )

    def describe(self) -> str:
        mode = "headless" if self.headless else f"display {self.display} ({self.display_origin})"
        return f"ImageJ {self.version} [{self.backend}] from {self.source.location}, {mode}"


_lock = threading.RLock()
_handle: ImageJ | None = None
_failed_fiji_start: str | None = None  # why a Fiji start failed after the JVM had started
_xvfb: x_display.Xvfb | None = None
_display_before: str | None = None
_display_note: str | None = None  # why $DISPLAY was not used, when it was unreachable
_stopped = False  # shutdown() ran: Java cannot start again in this process
_start_callbacks: list[Callable[[bool], None]] = []


def when_started(callback: Callable[[bool], None]) -> None:
    """Have :func:`start` call ``callback(headless)`` once Java and ImageJ run, before ImageJ
    draws anything (the guard module starts its dialog watchdog this way, so this module
    does not import it)."""
    if callback not in _start_callbacks:
        _start_callbacks.append(callback)


def current() -> ImageJ | None:
    """The ImageJ started in this process, or None."""
    return _handle


def _jvm_running() -> bool:
    try:
        import jpype
    except ImportError:  # pragma: no cover - jpype is a dependency
        return False
    return bool(jpype.isJVMStarted())


def choose_display(display: str, backend: str) -> tuple[bool, str | None, str | None]:
    """Return (headless, display, origin) for the JVM, starting Xvfb when asked.

    ``$DISPLAY`` is probed before Java touches AWT (:func:`display.probe_display`): with
    ``display="auto"`` an unreachable one (a stale display over SSH) is replaced by a private
    Xvfb, or headless without Xvfb, and one line on stderr says so; with
    ``display="existing"`` it is an :class:`ImageJStartError`.
    """
    global _display_note
    checks.display(display)
    if backend == "fiji" and display in ("auto", "headless"):
        # Fiji's legacy layer runs menu commands and macros without a display.
        return True, None, None
    existing = os.environ.get("DISPLAY", "").strip()
    if display == "headless":
        return True, None, None
    if display == "existing" or (display == "auto" and existing):
        if not existing:
            raise ImageJStartError(
                "display='existing' but $DISPLAY is not set. Fix: set DISPLAY, or use "
                "display='xvfb' to start a virtual display, or display='headless'."
            )
        problem = x_display.probe_display(existing)
        if problem is None:
            return False, existing, "existing"
        if display == "existing":
            raise ImageJStartError(
                f"DISPLAY={existing} cannot be reached ({problem}). Fix: start that X server "
                "or fix DISPLAY (e.g. reconnect with ssh -X), or use --display xvfb / auto."
            )
        fallback = "a private Xvfb" if shutil.which("Xvfb") else "headless"
        _display_note = f"DISPLAY={existing} cannot be reached ({problem}); using {fallback}"
        sys.stderr.write(f"fiji_bridge: {_display_note} instead.\n")
    if shutil.which("Xvfb") is None:
        if display == "xvfb":
            raise ImageJStartError(
                "display='xvfb' but the Xvfb program is not installed. Fix: apt-get install "
                "xvfb xauth, or use display='headless' (ImageJ API only, no menu commands)."
            )
        return True, None, None  # auto: fall back to headless; the handle says so
    _start_private_xvfb()
    return False, os.environ["DISPLAY"], "xvfb"


def _start_private_xvfb() -> None:
    """Start Xvfb (dies with this process, see :mod:`display`) and point $DISPLAY at it."""
    global _xvfb, _display_before
    try:
        server = x_display.start_xvfb(width=1280, height=1024, depth=24)
    except Exception as exc:
        raise ImageJStartError(
            f"Could not start Xvfb ({exc}). Fix: check that apt-get install xvfb xauth "
            "succeeded, or use display='headless'."
        ) from None
    _xvfb = server
    _display_before = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = server.display
    # Registered before the JVM starts, so atexit (last in, first out) stops Xvfb only after
    # scyjava has shut the JVM down (Java's AWT must not lose its X server while it runs).
    atexit.register(stop_xvfb)


def stop_xvfb() -> None:
    """End the private Xvfb now (idempotent); the JVM must be down or about to end."""
    global _xvfb
    server, _xvfb = _xvfb, None
    if server is not None:
        try:
            server.stop()
        except Exception:  # the process is exiting: nothing useful left to report
            pass
        if _display_before is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = _display_before


def xvfb_pid() -> int | None:
    """Process id of the private Xvfb this process started (and still runs), or None."""
    return None if _xvfb is None else _xvfb.pid


def xvfb_dies_with_us() -> bool:
    """Whether the private Xvfb (if any) ends by itself when this process ends."""
    return _xvfb is None or _xvfb.dies_with_parent


def shutdown() -> None:
    """Stop ImageJ and its helpers now, in a safe order; for interrupts and early exits.

    Stops the dialog watchdog (:mod:`fiji_bridge.imagej.guard`), shuts the JVM down (scyjava's
    shutdown: its callbacks, AWT windows disposed, then the JVM), then ends the private Xvfb.
    Call it from the main thread, e.g. in a ``KeyboardInterrupt`` / SIGTERM handler before
    exiting; it is safe to call more than once, or when ImageJ never started.  Java cannot
    start again in this process afterwards: :func:`start` then raises
    :class:`ImageJStartError`.

    The process side of an interrupt is clean without it too: the JVM runs with ``-Xrs`` (Java
    leaves SIGINT/SIGTERM to Python, so Ctrl-C is a ``KeyboardInterrupt``), writes any crash
    log to the temporary folder (``-XX:ErrorFile``), and Xvfb dies with the process.
    """
    global _handle, _stopped
    with _lock:
        if _handle is not None or _jvm_running():
            _stopped = True
        _handle = None
        try:
            if _jvm_running():
                import scyjava

                scyjava.shutdown_jvm()
        finally:
            stop_xvfb()


def maven_reachable(timeout: float = 3.0) -> list[str]:
    """Return the Maven hosts that accept a TCP connection within ``timeout`` seconds."""
    reachable = []
    for host, port in MAVEN_HOSTS:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                reachable.append(f"{host}:{port}")
        except OSError:
            continue
    return reachable


def _zproject_quirks() -> frozenset:
    """Probe ImageJ's 32-bit Average Intensity projection on a known 2-slice stack.

    ImageJ 1.53t's ``ZProjector.doAverageFloatProjection`` sums slices ``start .. stop-1`` (it
    drops the last slice of the range); 1.53u fixed it.  Rather than trust a version string we
    measure: slices 0 and 2 must average to 1.
    """
    float_class = jclass("ij.process.FloatProcessor")
    second = float_class(1, 1)
    second.setf(0, 2.0)
    stack = jclass("ij.ImageStack")(1, 1)
    stack.addSlice("a", float_class(1, 1))  # a new FloatProcessor holds zeros
    stack.addSlice("b", second)
    imp = jclass("ij.ImagePlus")("zproject-probe", stack)
    value = float(jclass("ij.plugin.ZProjector").run(imp, "avg", 1, 2).getProcessor().getf(0))
    return frozenset({"zproject_avg_drops_last_slice"}) if value != 1.0 else frozenset()


def start(imagej: str | os.PathLike | None = None, *, display: str = "auto") -> ImageJ:
    """Start ImageJ in this process (once) and return its handle.

    Parameters
    ----------
    imagej : str or path, optional
        A Fiji.app / ImageJ2 directory, a Maven endpoint (``sc.fiji:fiji``), an ``ij.jar`` or an
        ImageJ 1.x folder.  Default: see :func:`resolve` (``$FIJI_BRIDGE_IMAGEJ``, a Fiji.app in
        a default place, ``$IJ_JAR``, ``/usr/share/java/ij.jar``).
    display : {"auto", "xvfb", "existing", "headless"}, keyword-only
        How plain ImageJ 1.x gets the AWT display its menu commands and macros need.
        ``"auto"``: ``$DISPLAY`` if set, else a private Xvfb if the ``Xvfb`` program is
        installed, else headless.  ``"xvfb"``: always start Xvfb (stopped at exit).
        ``"existing"``: use ``$DISPLAY``.  ``"headless"``: ``java.awt.headless=true``; the
        ImageJ API works but menu commands do not.  Fiji runs headless in every mode except
        ``"xvfb"``/``"existing"`` (its legacy layer runs commands without a display).

    Returns
    -------
    ImageJ
        The handle; a second call returns the same handle when it asks for the same ImageJ.

    Raises
    ------
    ImageJStartError
        With what was tried and the fix: no/bad ImageJ, no Java, corrupt jar, unreachable Maven
        repository, a JVM already running with other settings.
    """
    global _handle
    with _lock:
        source = resolve(imagej)
        if _handle is not None:
            same_source = imagej is None and not os.environ.get(ENV_IMAGEJ) or (
                source == dataclasses.replace(_handle.source, origin=source.origin)
            )
            wants_headless = display == "headless"
            wants_display = display in ("xvfb", "existing")
            same_display = display == "auto" or (wants_headless and _handle.headless) or (
                wants_display and not _handle.headless)
            if same_source and same_display:
                return _handle
            raise ImageJStartError(
                f"{_handle.describe()} is already running in this process; Java starts only "
                f"once per process, so it cannot switch to {source.location} with "
                f"display={display!r}. Fix: use a new Python process (e.g. a subprocess) for "
                "the other ImageJ, or call start() with the same settings."
            )
        if _stopped:
            raise ImageJStartError(
                "ImageJ was shut down in this process (fiji_bridge.imagej.shutdown()) and Java "
                "cannot start twice in one process. Fix: use a new Python process."
            )
        if _jvm_running() and _failed_fiji_start is not None:
            raise ImageJStartError(
                f"An earlier start failed after Java had started ({_failed_fiji_start}); Java "
                "starts only once per process. Fix: fix that, then start ImageJ in a new "
                "Python process."
            )
        if _jvm_running():
            raise ImageJStartError(
                "A Java VM is already running in this process, started outside fiji_bridge; "
                "its class path and AWT mode can no longer be set. Fix: call "
                "fiji_bridge.imagej.start() before anything else starts Java (scyjava, "
                "pyimagej, jpype)."
            )
        find_jvm()  # fails early, with the fix, when there is no Java
        headless, display_name, origin = choose_display(display, source.backend)
        if source.backend == "fiji":
            gateway = _start_fiji(source, headless)
            version = _ij1_version()
            try:
                version = f"{version} (ImageJ2 {gateway.getVersion()})"
            except Exception:  # older gateways: the ImageJ 1.x version is enough
                pass
        else:
            gateway = None
            _start_imagej1(source, headless)
            version = _ij1_version()
        _install_exit_guard()
        for callback in _start_callbacks:  # e.g. the dialog watchdog of the guard module
            callback(headless)
        if not headless and jclass("ij.IJ").getInstance() is None:
            # With a main ImageJ instance, IJ.getImage() aborts the macro instead of calling
            # System.exit(0) when no image is open; NO_SHOW keeps its window hidden.
            image_j = jclass("ij.ImageJ")
            image_j(image_j.NO_SHOW)
        _handle = ImageJ(
            backend=source.backend,
            version=version,
            source=source,
            headless=headless,
            display=display_name,
            display_origin=origin,
            gateway=gateway,
            quirks=_zproject_quirks(),
            legacy_active=None if gateway is None else fiji_legacy_active(gateway),
            display_note=_display_note,
        )
        return _handle


def _configure_scyjava(headless: bool, classpath: Sequence[str] = (), *,
                       never_fetch: bool = True) -> None:
    import scyjava

    if never_fetch:
        # Never let scyjava/cjdk download a JDK: offline machines would hang or fail obscurely.
        scyjava.config.set_java_constraints(fetch="never")
    for entry in classpath:
        scyjava.config.add_classpath(entry)
    scyjava.config.add_option(f"-Djava.awt.headless={'true' if headless else 'false'}")
    # Signals belong to Python: with -Xrs Java installs no SIGINT/SIGTERM/SIGHUP handlers, so
    # Ctrl-C is Python's KeyboardInterrupt and SIGTERM ends the process the way Python says
    # (Java's handlers used to run System.exit under running native code: SIGSEGV, crash
    # files).  interrupt=False keeps JPype from routing SIGINT through Java as well.
    scyjava.config.add_option("-Xrs")
    scyjava.config.add_kwargs(interrupt=False)
    # A JVM crash log goes to the temporary folder, never into the user's working directory.
    crash_log = os.path.join(tempfile.gettempdir(), "fiji_bridge-hs_err_pid%p.log")
    scyjava.config.add_option(f"-XX:ErrorFile={crash_log}")


def _start_imagej1(source: Source, headless: bool) -> None:
    import scyjava

    _configure_scyjava(headless, [source.location])
    # The jar is all: no Maven endpoint (e.g. the one imglyb adds when pyimagej was imported).
    scyjava.config.endpoints.clear()
    try:
        try:
            scyjava.start_jvm()
        except Exception:
            if not _jvm_running():
                raise
            # Java runs, but a start-up hook of another library failed (imglyb's, when pyimagej
            # was imported, needs jars ImageJ 1.x does not ship): ImageJ 1.x itself is fine.
        jclass("ij.IJ")
    except Exception as exc:
        raise ImageJStartError(
            f"Java could not start ImageJ 1.x from {source.location} ({type(exc).__name__}: "
            f"{exc}). Fix: check the jar (apt-get install --reinstall libij-java) and Java "
            "(java -version must be 11 or newer)."
        ) from None


def _start_fiji(source: Source, headless: bool) -> Any:
    if source.kind == "endpoint":
        if not maven_reachable():
            hosts = ", ".join(f"{h}:{p}" for h, p in MAVEN_HOSTS)
            raise ImageJStartError(
                f"Cannot download {source.location!r}: no Maven repository is reachable "
                f"({hosts} refused or timed out). Fix: pass a local Fiji.app folder "
                "(--imagej /path/to/Fiji.app or FIJI_BRIDGE_IMAGEJ=/path/to/Fiji.app), or use "
                f"the offline ImageJ 1.x ({APT_HINT})."
            )
    global _failed_fiji_start
    # Java is chosen by fiji.start_fiji (fetch="never" would break pyimagej's Java guess).
    _configure_scyjava(headless, never_fetch=False)
    try:
        return start_fiji(source, headless)
    except ImageJStartError as exc:
        if _jvm_running():
            _failed_fiji_start = str(exc)
        raise


_busy_what = "an ImageJ call"
_busy_count = 0
_busy_lock = threading.Lock()


@contextmanager
def imagej_call(what: str) -> Iterator[None]:
    """Mark a call into ImageJ that might end in ImageJ's ``System.exit(0)`` (see below)."""
    global _busy_count, _busy_what
    with _busy_lock:
        _busy_count += 1
        _busy_what = what
    try:
        yield
    finally:
        with _busy_lock:
            _busy_count -= 1


def _install_exit_guard() -> None:
    """Turn ImageJ's ``System.exit(0)`` during one of our calls into status 1 with a reason.

    ImageJ 1.x calls ``System.exit(0)`` from ``IJ.getImage()`` when no image is open and there
    is no ImageJ main window (always so in a headless JVM).  That would end Python silently
    with status 0, so a failing macro would look like success.  A JVM shutdown hook cannot
    cancel the exit, but ``Runtime.halt`` inside it sets the status.
    """
    import jpype

    @jpype.JImplements("java.lang.Runnable")
    class _ExitGuard:
        @jpype.JOverride
        def run(self) -> None:
            if _busy_count > 0:
                what = _busy_what
                os.write(2, (
                    f"fiji_bridge: ImageJ called System.exit(0) during {what}: it needed an "
                    "open image and found none (IJ.getImage with no ImageJ main window). "
                    "Exiting with status 1. Fix: give the macro its images (images=[...]) and "
                    "run with a display (display='xvfb').\n").encode())
                jpype.JClass("java.lang.Runtime").getRuntime().halt(1)

    import scyjava

    guard = _ExitGuard()
    thread = jpype.JClass("java.lang.Thread")(guard, "fiji_bridge-exit-guard")
    runtime = jpype.JClass("java.lang.Runtime").getRuntime()
    runtime.addShutdownHook(thread)
    _exit_guard_refs.append(guard)

    def remove_guard() -> None:
        # A normal Python exit shuts the JVM down from scyjava's atexit handler; a Python proxy
        # run as a shutdown hook then would call into a finalising interpreter (it crashed the
        # process now and then). The guard is only for exits ImageJ starts itself.
        try:
            runtime.removeShutdownHook(thread)
        except Exception:  # already shutting down: nothing left to protect
            pass

    scyjava.when_jvm_stops(remove_guard)


_exit_guard_refs: list[Any] = []  # keeps the proxy alive for the JVM's lifetime


def require() -> ImageJ:
    """The running ImageJ's handle, or :class:`ImageJError` saying to call :func:`start` first."""
    if _handle is None:
        raise ImageJError(
            "ImageJ is not started. Fix: call fiji_bridge.imagej.start() first."
        )
    return _handle


def _ij1_version() -> str:
    return str(jclass("ij.IJ").getVersion())


def java_class(name: str) -> Any:
    """The Java class ``name`` (e.g. ``"ij.ImagePlus"``) of the running ImageJ."""
    require()
    return jclass(name)
