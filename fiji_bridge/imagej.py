"""The ImageJ layer: start real ImageJ from Python and run ImageJ's own steps.

This is the only module of :mod:`fiji_bridge` that imports ``scyjava``, ``jpype`` or ``imagej``
(pyimagej).  Every other module works on numpy arrays and xarray objects and reaches Java only
through the functions defined here.

Two backends give the same ImageJ 1.x API (``ij.IJ``, ``ij.ImagePlus``, ``ij.process.FHT``, ...):

``"fiji"``
    A full Fiji / ImageJ2 started by pyimagej (``imagej.init(path_or_endpoint, mode="headless")``):
    a local ``Fiji.app`` directory, or a Maven endpoint such as ``sc.fiji:fiji`` when a Maven
    repository can be reached.  The ImageJ2 gateway is kept on the handle (``ImageJ.gateway``);
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
import re
import shutil
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

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
    "start",
    "statistics",
    "z_project_average",
]

#: Environment variable naming the ImageJ to use (a Fiji.app, a Maven endpoint or an ij.jar).
ENV_IMAGEJ = "FIJI_BRIDGE_IMAGEJ"
#: Environment variable naming an ij.jar (as used by Debian's ``imagej`` launcher).
ENV_IJ_JAR = "IJ_JAR"
#: Debian's ImageJ 1.x (package ``libij-java``).
SYSTEM_IJ_JAR = Path("/usr/share/java/ij.jar")
#: Places a Fiji.app is looked for when nothing is named (in this order).
FIJI_DIR_CANDIDATES = (
    Path("~/Fiji.app"),
    Path("~/Applications/Fiji.app"),
    Path("/Applications/Fiji.app"),
    Path("/opt/Fiji.app"),
    Path("/opt/fiji/Fiji.app"),
)
#: Maven repositories pyimagej resolves endpoints from; probed before trying to download.
MAVEN_HOSTS = (("maven.scijava.org", 443), ("repo1.maven.org", 443))
#: ``display=`` choices of :func:`start`.
DISPLAY_MODES = ("auto", "xvfb", "existing", "headless")

_APT_HINT = "apt-get install -y --no-install-recommends default-jre-headless libij-java xvfb xauth"


class ImageJError(RuntimeError):
    """Base class of the errors raised by the ImageJ layer."""


class ImageJStartError(ImageJError):
    """ImageJ could not be found or started; the message says what was tried and the fix."""


class ImageJCommandError(ImageJError):
    """An ImageJ menu command or macro could not run, or failed inside ImageJ."""


# ---------------------------------------------------------------------------------------------
# Resolving which ImageJ to start (pure Python: no JVM is touched here)
# ---------------------------------------------------------------------------------------------

_ENDPOINT_RE = re.compile(r"^[A-Za-z0-9_.\-]+:[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)*(\+.+)?$")
_VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)*$")


@dataclasses.dataclass(frozen=True)
class Source:
    """Which ImageJ :func:`start` uses.

    Attributes
    ----------
    kind : {"fiji_dir", "endpoint", "jar"}
        A local Fiji.app / ImageJ2 directory, a Maven endpoint (both started by pyimagej), or an
        ImageJ 1.x ``ij.jar`` (started by scyjava).
    location : str
        The directory, endpoint or jar path.
    origin : str
        Where the choice came from: ``"argument"``, ``"$FIJI_BRIDGE_IMAGEJ"``, ``"$IJ_JAR"``,
        ``"default Fiji.app location"`` or ``"system ImageJ 1.x"``.
    """

    kind: str
    location: str
    origin: str

    @property
    def backend(self) -> str:
        return "imagej1" if self.kind == "jar" else "fiji"


def _is_fiji_dir(path: Path) -> bool:
    jars = path / "jars"
    return jars.is_dir() and any(
        p.name.startswith(("imagej-", "ij-", "imagej2-")) and p.suffix == ".jar"
        for p in jars.iterdir()
    )


def _check_ij_jar(jar: Path, origin: str) -> Path:
    """Check that ``jar`` is a readable zip holding ``ij/IJ.class`` (before Java sees it)."""
    fix = (
        "Fix: reinstall ImageJ 1.x (apt-get install --reinstall libij-java) or pass a working "
        "ij.jar, e.g. --imagej /usr/share/java/ij.jar"
    )
    if not jar.is_file():
        raise ImageJStartError(f"ImageJ jar {jar} (from {origin}) does not exist. {fix}")
    try:
        with zipfile.ZipFile(jar) as zf:
            names = set(zf.namelist())
            if "ij/IJ.class" not in names:
                raise ImageJStartError(
                    f"{jar} (from {origin}) is a jar but not ImageJ: it has no ij/IJ.class. {fix}"
                )
            if zf.testzip() is not None:
                raise ImageJStartError(f"{jar} (from {origin}) is a corrupt jar (bad CRC). {fix}")
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImageJStartError(
            f"{jar} (from {origin}) is not a readable jar ({exc}). {fix}"
        ) from None
    return jar


def _classify(value: str, origin: str) -> Source:
    text = str(value).strip()
    path = Path(text).expanduser()
    if path.is_dir():
        if _is_fiji_dir(path):
            return Source("fiji_dir", str(path.resolve()), origin)
        if (path / "ij.jar").is_file():  # an ImageJ 1.x application folder
            return Source("jar", str(_check_ij_jar(path / "ij.jar", origin)), origin)
        raise ImageJStartError(
            f"{path} (from {origin}) is a directory but holds no ImageJ: expected a Fiji.app / "
            "ImageJ2 folder with jars/imagej-*.jar, or an ImageJ 1.x folder with ij.jar. "
            "Fix: point --imagej (or $FIJI_BRIDGE_IMAGEJ) at your Fiji.app folder or at an ij.jar."
        )
    if path.is_file():
        if path.suffix.lower() != ".jar":
            raise ImageJStartError(
                f"{path} (from {origin}) is a file but not a jar. Fix: pass a Fiji.app folder, "
                "a Maven endpoint such as sc.fiji:fiji, or an ij.jar."
            )
        return Source("jar", str(_check_ij_jar(path, origin)), origin)
    looks_like_path = os.sep in text or text.startswith(("~", ".")) or text.endswith(".jar")
    if not looks_like_path and (_ENDPOINT_RE.match(text) or _VERSION_RE.match(text)):
        return Source("endpoint", text, origin)
    raise ImageJStartError(
        f"No ImageJ at {text!r} (from {origin}): no such file or directory, and not a Maven "
        "endpoint (group:artifact[:version]). Fix: pass the path of your Fiji.app folder, an "
        "ij.jar, or an endpoint such as sc.fiji:fiji."
    )


def resolve(imagej: str | os.PathLike | None = None) -> Source:
    """Decide which ImageJ :func:`start` would use, without starting Java.

    Order: the ``imagej`` argument; ``$FIJI_BRIDGE_IMAGEJ``; a Fiji.app in a default location
    (``~/Fiji.app``, ``~/Applications/Fiji.app``, ``/Applications/Fiji.app``, ``/opt/Fiji.app``,
    ``/opt/fiji/Fiji.app``); ``$IJ_JAR``; the system ImageJ 1.x ``/usr/share/java/ij.jar``.
    An explicit value may be a Fiji.app / ImageJ2 directory, a Maven endpoint such as
    ``sc.fiji:fiji`` (or an ImageJ2 version such as ``2.14.0``), an ``ij.jar``, or an ImageJ 1.x
    folder holding ``ij.jar``.

    Raises
    ------
    ImageJStartError
        The named ImageJ does not exist or is not ImageJ, or none is installed at all.
    """
    if imagej is not None and str(imagej).strip():
        return _classify(str(imagej), "argument")
    env_value = os.environ.get(ENV_IMAGEJ, "").strip()
    if env_value:
        return _classify(env_value, f"${ENV_IMAGEJ}")
    for candidate in FIJI_DIR_CANDIDATES:
        path = candidate.expanduser()
        if path.is_dir() and _is_fiji_dir(path):
            return Source("fiji_dir", str(path.resolve()), "default Fiji.app location")
    jar_env = os.environ.get(ENV_IJ_JAR, "").strip()
    if jar_env:
        return Source("jar", str(_check_ij_jar(Path(jar_env).expanduser(), f"${ENV_IJ_JAR}")),
                      f"${ENV_IJ_JAR}")
    if SYSTEM_IJ_JAR.exists():
        return Source("jar", str(_check_ij_jar(SYSTEM_IJ_JAR, "system ImageJ 1.x")),
                      "system ImageJ 1.x")
    raise ImageJStartError(
        "No ImageJ found: no --imagej argument, no $FIJI_BRIDGE_IMAGEJ, no Fiji.app in "
        f"{', '.join(str(p) for p in FIJI_DIR_CANDIDATES)}, no $IJ_JAR and no {SYSTEM_IJ_JAR}. "
        f"Fix: install ImageJ 1.x ({_APT_HINT}) or pass --imagej /path/to/Fiji.app."
    )


# ---------------------------------------------------------------------------------------------
# Java discovery
# ---------------------------------------------------------------------------------------------


def _find_jvm() -> str:
    """Path of libjvm, honouring $JAVA_HOME; raises with the fix when there is no Java."""
    import jpype

    java_home = os.environ.get("JAVA_HOME", "").strip()
    if java_home:
        homes = [Path(java_home)]
        launcher = Path(java_home) / "bin" / "java"
        if launcher.is_file():  # JAVA_HOME=/usr on Debian: /usr/bin/java -> the real JDK
            homes.append(launcher.resolve().parents[1])
        found = [p for home in homes
                 for p in (home / "lib/server/libjvm.so", home / "jre/lib/server/libjvm.so",
                           home / "lib/server/libjvm.dylib", home / "bin/server/jvm.dll")
                 if p.is_file()]
        if not found:
            raise ImageJStartError(
                f"JAVA_HOME={java_home} holds no Java runtime (no lib/server/libjvm.so). "
                "Fix: set JAVA_HOME to a Java 11+ installation (e.g. "
                "/usr/lib/jvm/java-17-openjdk-amd64) or unset it; install Java with "
                "apt-get install default-jre-headless."
            )
        return str(found[0])
    try:
        return str(jpype.getDefaultJVMPath())
    except Exception as exc:  # jpype.JVMNotFoundException and friends
        raise ImageJStartError(
            f"No Java runtime found ({exc}). Fix: apt-get install default-jre-headless "
            "(Java 11 or newer), or set JAVA_HOME to a Java installation. fiji_bridge never "
            "downloads Java."
        ) from None


def java_info() -> dict[str, str | None]:
    """Java as seen from this process: libjvm path, version, vendor (version once started)."""
    import jpype

    info: dict[str, str | None] = {"jvm_path": None, "version": None, "vendor": None,
                                   "error": None}
    if jpype.isJVMStarted():
        system = jpype.JClass("java.lang.System")
        info["version"] = str(system.getProperty("java.version"))
        info["vendor"] = str(system.getProperty("java.vendor"))
        info["jvm_path"] = str(system.getProperty("java.home"))
        return info
    try:
        info["jvm_path"] = _find_jvm()
    except ImageJStartError as exc:
        info["error"] = str(exc)
        return info
    release = Path(info["jvm_path"]).parents[2] / "release"
    if release.is_file():
        fields = dict(
            line.split("=", 1) for line in release.read_text().splitlines() if "=" in line
        )
        info["version"] = fields.get("JAVA_VERSION", "").strip('"') or None
        info["vendor"] = fields.get("IMPLEMENTOR", "").strip('"') or None
    return info


# ---------------------------------------------------------------------------------------------
# The handle and start()
# ---------------------------------------------------------------------------------------------


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
    gateway : object or None
        The pyimagej ImageJ2 gateway (``backend == "fiji"``), else None.
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

    @property
    def can_run_commands(self) -> bool:
        """Whether menu commands (``IJ.run``) and macros calling ``run(...)`` can run.

        Fiji's legacy layer runs them headless; plain ImageJ 1.x needs an AWT display.
        """
        return self.backend == "fiji" or not self.headless

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
_xvfb: Any = None


def current() -> ImageJ | None:
    """The ImageJ started in this process, or None."""
    return _handle


def _jvm_running() -> bool:
    try:
        import jpype
    except ImportError:  # pragma: no cover - jpype is a dependency
        return False
    return bool(jpype.isJVMStarted())


def _choose_display(display: str, backend: str) -> tuple[bool, str | None, str | None]:
    """Return (headless, display, origin) for the JVM, starting Xvfb when asked."""
    global _xvfb
    if display not in DISPLAY_MODES:
        raise ValueError(f"display={display!r} is not one of {DISPLAY_MODES}.")
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
        return False, existing, "existing"
    xvfb_binary = shutil.which("Xvfb")
    if xvfb_binary is None:
        if display == "xvfb":
            raise ImageJStartError(
                "display='xvfb' but the Xvfb program is not installed. Fix: apt-get install "
                "xvfb xauth, or use display='headless' (ImageJ API only, no menu commands)."
            )
        return True, None, None  # auto: fall back to headless; the handle says so
    from xvfbwrapper import Xvfb

    server = Xvfb(width=1280, height=1024, colordepth=24)
    try:
        server.start()
    except Exception as exc:
        raise ImageJStartError(
            f"Could not start Xvfb ({exc}). Fix: check that apt-get install xvfb xauth "
            "succeeded, or use display='headless'."
        ) from None
    _xvfb = server
    # Registered before the JVM starts, so atexit (last in, first out) stops Xvfb only after
    # scyjava has shut the JVM down.
    atexit.register(_stop_xvfb)
    return False, os.environ.get("DISPLAY"), "xvfb"


def _stop_xvfb() -> None:
    global _xvfb
    server, _xvfb = _xvfb, None
    if server is not None:
        try:
            server.stop()
        except Exception:  # the process is exiting: nothing useful left to report
            pass


def _maven_reachable(timeout: float = 3.0) -> list[str]:
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
    stack = _jclass("ij.ImageStack")(1, 1)
    stack.addSlice("a", _float_processor(np.zeros((1, 1), np.float32)))
    stack.addSlice("b", _float_processor(np.full((1, 1), 2.0, np.float32)))
    imp = _jclass("ij.ImagePlus")("zproject-probe", stack)
    value = float(_jclass("ij.plugin.ZProjector").run(imp, "avg", 1, 2).getProcessor().getf(0))
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
        if _jvm_running():
            raise ImageJStartError(
                "A Java VM is already running in this process, started outside fiji_bridge; "
                "its class path and AWT mode can no longer be set. Fix: call "
                "fiji_bridge.imagej.start() before anything else starts Java (scyjava, "
                "pyimagej, jpype)."
            )
        _find_jvm()  # fails early, with the fix, when there is no Java
        headless, display_name, origin = _choose_display(display, source.backend)
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
        if not headless and _jclass("ij.IJ").getInstance() is None:
            # With a main ImageJ instance, IJ.getImage() aborts the macro instead of calling
            # System.exit(0) when no image is open; NO_SHOW keeps its window hidden.
            image_j = _jclass("ij.ImageJ")
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
        )
        return _handle


def _configure_scyjava(headless: bool, classpath: Sequence[str] = ()) -> None:
    import scyjava

    # Never let scyjava/cjdk download a JDK: offline machines would hang or fail obscurely.
    scyjava.config.set_java_constraints(fetch="never")
    for entry in classpath:
        scyjava.config.add_classpath(entry)
    scyjava.config.add_option(f"-Djava.awt.headless={'true' if headless else 'false'}")


def _start_imagej1(source: Source, headless: bool) -> None:
    import scyjava

    _configure_scyjava(headless, [source.location])
    try:
        scyjava.start_jvm()
        _jclass("ij.IJ")
    except Exception as exc:
        raise ImageJStartError(
            f"Java could not start ImageJ 1.x from {source.location} ({type(exc).__name__}: "
            f"{exc}). Fix: check the jar (apt-get install --reinstall libij-java) and Java "
            "(java -version must be 11 or newer)."
        ) from None


def _start_fiji(source: Source, headless: bool) -> Any:
    if source.kind == "endpoint":
        if not _maven_reachable():
            hosts = ", ".join(f"{h}:{p}" for h, p in MAVEN_HOSTS)
            raise ImageJStartError(
                f"Cannot download {source.location!r}: no Maven repository is reachable "
                f"({hosts} refused or timed out). Fix: pass a local Fiji.app folder "
                "(--imagej /path/to/Fiji.app or FIJI_BRIDGE_IMAGEJ=/path/to/Fiji.app), or use "
                f"the offline ImageJ 1.x ({_APT_HINT})."
            )
    try:
        import imagej as pyimagej
    except ImportError as exc:
        raise ImageJStartError(
            f"pyimagej is needed to start Fiji/ImageJ2 but cannot be imported ({exc}). "
            "Fix: pip install pyimagej."
        ) from None
    _configure_scyjava(headless)
    try:
        return pyimagej.init(source.location, mode="headless" if headless else "interactive")
    except Exception as exc:
        raise ImageJStartError(
            f"pyimagej could not start Fiji/ImageJ2 from {source.location} "
            f"({type(exc).__name__}: {exc}). Fix: check that the folder is a complete Fiji.app "
            "(it has jars/ and plugins/), or use the offline ImageJ 1.x with "
            "--imagej /usr/share/java/ij.jar."
        ) from None


_busy_what = "an ImageJ call"
_busy_count = 0
_busy_lock = threading.Lock()


@contextmanager
def _imagej_call(what: str) -> Iterator[None]:
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


def _require() -> ImageJ:
    if _handle is None:
        raise ImageJError(
            "ImageJ is not started. Fix: call fiji_bridge.imagej.start() first."
        )
    return _handle


def _ij1_version() -> str:
    return str(_jclass("ij.IJ").getVersion())


# ---------------------------------------------------------------------------------------------
# Low-level Java helpers (used by fiji_bridge.convert)
# ---------------------------------------------------------------------------------------------


def _jclass(name: str) -> Any:
    import scyjava

    return scyjava.jimport(name)


def java_class(name: str) -> Any:
    """The Java class ``name`` (e.g. ``"ij.ImagePlus"``) of the running ImageJ."""
    _require()
    return _jclass(name)


def _float_processor(plane: np.ndarray) -> Any:
    """A FloatProcessor holding a copy of a 2-D float32 array (one bulk copy, no pixel loop)."""
    import jpype

    height, width = plane.shape
    pixels = jpype.JArray(jpype.JFloat)(np.ascontiguousarray(plane, dtype=np.float32).ravel())
    return _jclass("ij.process.FloatProcessor")(width, height, pixels)


def processor_from_array(plane: np.ndarray) -> Any:
    """An ImageJ processor for a 2-D array: uint8 -> ByteProcessor, uint16 -> ShortProcessor,
    (H, W, 3) uint8 -> ColorProcessor, everything else real -> FloatProcessor (float32)."""
    import jpype

    _require()
    if plane.ndim == 3 and plane.shape[-1] == 3 and plane.dtype == np.uint8:
        height, width = plane.shape[:2]
        rgb = plane.astype(np.uint32)
        packed = (0xFF << 24) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        pixels = jpype.JArray(jpype.JInt)(packed.astype(np.int32).ravel())
        return _jclass("ij.process.ColorProcessor")(width, height, pixels)
    height, width = plane.shape
    if plane.dtype == np.uint8:
        pixels = jpype.JArray(jpype.JByte)(np.ascontiguousarray(plane).view(np.int8).ravel())
        return _jclass("ij.process.ByteProcessor")(width, height, pixels)
    if plane.dtype == np.uint16:
        pixels = jpype.JArray(jpype.JShort)(np.ascontiguousarray(plane).view(np.int16).ravel())
        return _jclass("ij.process.ShortProcessor")(width, height, pixels, None)
    return _float_processor(plane)


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


def _gateway(purpose: str) -> Any:
    """The pyimagej gateway, or an error saying that ``purpose`` needs Fiji/ImageJ2."""
    handle = _require()
    if handle.gateway is None:
        raise ImageJError(
            f"{purpose} needs Fiji/ImageJ2 (a pyimagej gateway); this is plain ImageJ "
            f"{handle.version}. Fix: start with --imagej /path/to/Fiji.app."
        )
    return handle.gateway


def gateway_to_java(data: Any) -> Any:
    """ImageJ2 ``Dataset`` from numpy/xarray via pyimagej (``ij.py.to_java``); Fiji only."""
    return _gateway("An ImageJ2 Dataset").py.to_java(data)


def gateway_from_java(obj: Any) -> Any:
    """numpy/xarray from an ImageJ2 object via pyimagej (``ij.py.from_java``); Fiji only."""
    return _gateway("Converting ImageJ2 objects").py.from_java(obj)


# ---------------------------------------------------------------------------------------------
# Menu commands and macros, guarded against ImageJ's modal dialogs
# ---------------------------------------------------------------------------------------------


def _dialog_text(window: Any) -> str:
    """Title and message of an AWT dialog (ImageJ draws messages in MultiLineLabel)."""
    parts = [str(window.getTitle())]
    container = _jclass("java.awt.Container")
    multiline = _jclass("ij.gui.MultiLineLabel")
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
    handle = _require()
    found: list[str] = []
    if handle.headless:
        yield found
        return
    window_class = _jclass("java.awt.Window")
    dialog_class = _jclass("java.awt.Dialog")
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


def _guarded_call(what: str, call: Callable[[], Any], *, during: str | None = None,
                  fix: str = "", explain: Callable[[str], str | None] | None = None) -> Any:
    """Run ``call()`` into ImageJ under the dialog watchdog and the exit guard.

    Raises :class:`ImageJCommandError` ``"<what> failed: <reason>"`` when the call throws or
    ImageJ opened an error dialog.  The reason is the dialog's text when there is one (it says
    more than the Java exception that follows it), else ``explain(exception text)``, else the
    exception text.  ``during`` names the call in the exit guard's message (default ``what``).
    """
    failure = None
    result = None
    with _dialog_guard() as dialogs, _imagej_call(during or what):
        try:
            result = call()
        except Exception as exc:  # e.g. "Macro canceled" after an error dialog
            failure = f"{type(exc).__name__}: {exc}"
    if failure is not None or dialogs:
        reason = "; ".join(dialogs) or (explain(failure) if explain and failure else None)
        raise ImageJCommandError(f"{what} failed: {reason or failure}" +
                                 (f". Fix: {fix}" if fix else ""))
    return result


def _run_command(imp: Any, command: str, options: str = "") -> None:
    """``IJ.run(imp, command, options)`` with errors turned into :class:`ImageJCommandError`."""
    handle = _require()
    handle.require_commands(f"The menu command {command!r}")
    ij = _jclass("ij.IJ")
    log_before = str(ij.getLog() or "")
    _guarded_call(f"ImageJ command {command!r}", lambda: ij.run(imp, command, options),
                  during=f"the command {command!r}")
    log_after = str(ij.getLog() or "")
    if "Unrecognized command" in log_after[len(log_before):]:
        raise ImageJCommandError(f"ImageJ does not know the command {command!r}.")


# ---------------------------------------------------------------------------------------------
# ImageJ steps
# ---------------------------------------------------------------------------------------------

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
        ImageJ cannot read it as an image.
    """
    _require()
    file = Path(path)
    if file.is_dir():
        raise ImageJError(f"{file} is a folder, not an image file. Fix: pass the image's path.")
    if not file.is_file():
        raise FileNotFoundError(f"Image file {file} does not exist. Fix: check the path.")
    imp = _jclass("ij.IJ").openImage(str(file.resolve()))
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
    _require()
    if route == "command":
        _run_command(imp, "32-bit")
    else:
        _jclass("ij.process.ImageConverter")(imp).convertToGray32()
    return imp


def statistics(imp: Any) -> dict[str, float]:
    """ImageJ's statistics of an image or stack: mean, stdev, min, max, pixel count.

    These are ImageJ's own numbers (``ImagePlus.getStatistics`` for one slice,
    ``StackStatistics`` for a stack), as Analyze>Histogram shows them.  For 32-bit images
    ImageJ sums the pixel values themselves (the histogram bins are only for display).
    ``stdev`` is ImageJ's *sample* standard deviation, ``sqrt(Σ(v-mean)² / (n-1))``
    (numpy's ``std(ddof=1)``), not the population one.
    """
    _require()
    if int(imp.getStackSize()) > 1:
        stats = _jclass("ij.process.StackStatistics")(imp)
    else:
        measurements = _jclass("ij.measure.Measurements")
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
    _require()
    if "]" in code:
        raise ValueError("A Math>Macro expression cannot contain ']'. Fix: rewrite it.")
    if route == "command":
        options = f"code=[{code}]" + (" stack" if int(imp.getStackSize()) > 1 else "")
        _run_command(imp, "Macro...", options)
    else:
        image_math = _jclass("ij.plugin.filter.ImageMath")
        stack = imp.getStack()

        def apply_to_every_slice() -> None:
            for index in range(1, int(stack.getSize()) + 1):
                image_math.applyMacro(stack.getProcessor(index), code, False)

        # A syntax error in the expression opens ImageJ's error dialog: close it and raise.
        _guarded_call(f"Math>Macro {code!r}", apply_to_every_slice,
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
    _require()
    roi = _jclass("ij.gui.Roi")(int(x), int(y), int(width), int(height))
    if route == "command":
        duplicate = imp.duplicate()
        duplicate.setRoi(roi)
        _run_command(duplicate, "Crop")
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
    _require()
    if route == "command":
        duplicate = imp.duplicate()
        _run_command(
            duplicate,
            "Size...",
            f"width={int(width)} height={int(height)} depth={int(imp.getStackSize())} "
            "average interpolation=Bilinear",
        )
        return duplicate
    processor = imp.getProcessor().duplicate()
    processor.setInterpolationMethod(_jclass("ij.process.ImageProcessor").BILINEAR)
    resized = processor.resize(int(width), int(height), True)
    return _jclass("ij.ImagePlus")(str(imp.getTitle()), resized)


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
    handle = _require()
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
        padded = _jclass("ij.ImageStack")(int(imp.getWidth()), int(imp.getHeight()))
        for index in range(1, n_slices + 1):  # shares the pixel arrays: no copy
            padded.addSlice(stack.getSliceLabel(index), stack.getProcessor(index))
        padded.addSlice("unused", stack.getProcessor(n_slices))
        source = _jclass("ij.ImagePlus")(str(imp.getTitle()), padded)
        stop_arg = stop + 1
    else:
        stop_arg = stop
    if route == "command":
        handle.require_commands("Z Project (route='command')")
        interpreter = _jclass("ij.macro.Interpreter")
        window_manager = _jclass("ij.WindowManager")
        was_batch = bool(interpreter.batchMode)
        interpreter.batchMode = True  # the result stays off screen, as in a batch macro
        try:
            _run_command(
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
        result = _jclass("ij.plugin.ZProjector").run(source, "avg", start, stop_arg)
    result.setTitle(f"AVG_{imp.getTitle()}")
    return result


# ---------------------------------------------------------------------------------------------
# FHT cross-correlation (ImageJ's own Fourier code)
# ---------------------------------------------------------------------------------------------


def _check_fht_size(height: int, width: int) -> None:
    if height != width or width < 2 or width & (width - 1):
        raise ValueError(
            f"ImageJ's FHT needs a square image whose side is a power of 2; got {height}x{width}. "
            "Fix: use --size 128 (or 64, 256, ...), or --engine numpy for other sizes."
        )


def fht_correlation(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cyclic cross-correlation computed by ImageJ's FHT, peak-centred as ImageJ shows it.

    ``FHT(image).conjugateMultiply(FHT(reference))``, inverse transform, ``swapQuadrants``:
    ``result[H/2 + dy, W/2 + dx] = Σ_p image[p + d] · reference[p]``, i.e. numpy's
    ``fftshift(irfft2(rfft2(image) * conj(rfft2(reference))))``.
    """
    _require()
    image = np.asarray(image, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    if image.shape != reference.shape or image.ndim != 2:
        raise ValueError(
            f"fht_correlation needs two 2-D images of the same shape; got {image.shape} and "
            f"{reference.shape}."
        )
    _check_fht_size(*image.shape)
    fht = _jclass("ij.process.FHT")
    ref_fht = fht(_float_processor(reference))
    ref_fht.transform()
    return _fht_map(fht, ref_fht, image)


def _fht_map(fht: Any, ref_fht: Any, image: np.ndarray) -> np.ndarray:
    image_fht = fht(_float_processor(image))
    image_fht.transform()
    product = image_fht.conjugateMultiply(ref_fht)
    product.inverseTransform()
    product.swapQuadrants()
    return np.array(product.getPixels(), dtype=np.float32).reshape(image.shape)


def fht_align(images: np.ndarray, reference: np.ndarray, *, keep_maps: int = 0,
              progress: Callable[[int, int], None] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translation of each image to the reference found with ImageJ's FHT.

    For each image the correlation map of :func:`fht_correlation` is searched for its
    maximum at ``(H/2 + dy, W/2 + dx)``; ``(dy, dx)`` follows the convention of
    :mod:`fiji_bridge.align`: the image matches the reference best when shifted by
    ``-(dy, dx)`` (``np.roll(image, (-dy, -dx))``).

    Returns
    -------
    shifts : (N, 2) int64
    peaks : (N,) float32
        Correlation value at the peak.
    maps : (keep_maps, H, W) float32
        Peak-centred correlation maps of the first ``keep_maps`` images.
    """
    _require()
    images = np.asarray(images, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    if images.ndim != 3 or images.shape[1:] != reference.shape:
        raise ValueError(
            f"fht_align needs images (N, H, W) and a reference (H, W); got {images.shape} and "
            f"{reference.shape}."
        )
    height, width = reference.shape
    _check_fht_size(height, width)
    fht = _jclass("ij.process.FHT")
    ref_fht = fht(_float_processor(reference))
    ref_fht.transform()
    count = images.shape[0]
    shifts = np.empty((count, 2), dtype=np.int64)
    peaks = np.empty(count, dtype=np.float32)
    maps = np.empty((min(keep_maps, count), height, width), dtype=np.float32)
    for index in range(count):
        cc = _fht_map(fht, ref_fht, images[index])
        flat = int(np.argmax(cc))
        row, col = divmod(flat, width)
        shifts[index] = (row - height // 2, col - width // 2)
        peaks[index] = cc[row, col]
        if index < maps.shape[0]:
            maps[index] = cc
        if progress is not None:
            progress(index + 1, count)
    return shifts, peaks, maps


# ---------------------------------------------------------------------------------------------
# Macros
# ---------------------------------------------------------------------------------------------


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
    handle = _require()
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
    ij = _jclass("ij.IJ")
    interpreter_class = _jclass("ij.macro.Interpreter")
    window_manager = _jclass("ij.WindowManager")
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
        value = _guarded_call(f"Macro {name}", lambda: interpreter.run(code, str(argument)),
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

