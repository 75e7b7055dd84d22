"""Fiji / ImageJ2 through pyimagej: the start, offline, and what a Fiji.app lacks.

:func:`start_fiji` is what :func:`fiji_bridge.imagej.start` runs for a Fiji.app folder or a Maven
endpoint.  It calls pyimagej's own ``imagej.init(location, mode=...)`` and works around what
pyimagej 1.5 - 1.8 with scyjava 1.12 would otherwise get wrong:

Java
    ``scyjava.config.set_java_constraints(fetch="never")`` sends pyimagej's Java-version guess
    down a branch that raises ``UnboundLocalError`` (pyimagej 1.8.0, ``_guess_java_version``).
    Instead the system Java that :func:`fiji_bridge.imagej.java.find_jvm` found is measured
    (``scyjava.jvm_version()``, i.e. ``java -version``), ``JAVA_HOME`` is pinned to it, and
    scyjava gets ``fetch="auto"`` with that very major version: "auto" uses a system Java that
    meets the version, so nothing is downloaded, and pyimagej's guess is right.
Maven
    ``import imagej`` imports imglyb, which appends ``net.imglib2:imglib2-imglyb:<v>`` to
    ``scyjava.config.endpoints``; pyimagej keeps that endpoint after a local Fiji.app's jars, so
    every local start would resolve it from Maven (and fail offline).  For a local folder the
    endpoints are cleared: the jars come from the folder only, never from the network.  The
    imglyb jars pyimagej needs (:data:`PYIMAGEJ_JARS`) must then be in ``Fiji.app/jars``; when
    they are not, the error names them and the one-time fix.
Result
    ``imagej.init`` may return ``False`` (no ImageJ2 found) or raise after the JVM started; in both
    cases the classes of :data:`FIJI_PARTS` are probed in the started JVM and the first missing
    part is named (the ImageJ2 gateway, the legacy layer, ImageJ 1.x, a pyimagej jar).  The
    legacy layer must be active (``gateway.legacy.isActive()``): fiji_bridge runs ImageJ 1.x
    commands and macros.  An exception that none of this explains is re-raised unchanged.

Every pyimagej / scyjava name the package uses is checked against the installed versions by
``tests/test_pyimagej_contract.py`` (it reads them from the source); the gateway properties used
are listed in :data:`GATEWAY_ADDONS` and reached only through :func:`gateway_addon`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fiji_bridge.imagej.errors import ImageJStartError
from fiji_bridge.imagej.java import find_jvm, jclass
from fiji_bridge.imagej.locate import Source

__all__ = [
    "FIJI_PARTS",
    "GATEWAY_ADDONS",
    "PYIMAGEJ_JARS",
    "fiji_jars",
    "gateway_addon",
    "imglyb_jar_fix",
    "legacy_active",
    "missing_part",
    "start_fiji",
]

#: The parts of a Fiji.app that fiji_bridge needs, in the order a failure is explained:
#: (what, a class it must provide, the jar file name pattern in ``Fiji.app/jars``).
FIJI_PARTS = (
    ("the ImageJ2 gateway", "net.imagej.ImageJ", r"imagej-\d[\w.\-]*\.jar"),
    ("the ImageJ legacy layer", "net.imagej.legacy.LegacyService", r"imagej-legacy-[\w.\-]+\.jar"),
    ("ImageJ 1.x", "ij.IJ", r"ij-\d[\w.\-]*\.jar"),
    ("pyimagej's numpy bridge imglib2-imglyb", "net.imglib2.python.Helpers",
     r"imglib2-imglyb-[\w.\-]+\.jar"),
    ("imglib2-unsafe (needed by imglib2-imglyb)",
     "net.imglib2.img.basictypelongaccess.unsafe.ByteUnsafe", r"imglib2-unsafe-[\w.\-]+\.jar"),
)
#: The jars pyimagej (through imglyb) loads at JVM start that a Fiji.app may not ship.
PYIMAGEJ_JARS = ("imglib2-imglyb", "imglib2-unsafe")
#: pyimagej's gateway properties used by fiji_bridge (checked against ``imagej.GatewayAddons``).
GATEWAY_ADDONS = ("legacy", "IJ", "WindowManager")
#: pyimagej / scyjava / imglyb loggers quieted during the start (their text goes into our error).
_LOGGERS = ("imagej", "scyjava", "imglyb", "jgo")


def gateway_addon(gateway: Any, name: str) -> Any:
    """pyimagej's gateway property ``name`` (one of :data:`GATEWAY_ADDONS`)."""
    if name not in GATEWAY_ADDONS:
        raise ValueError(f"{name!r} is not one of GATEWAY_ADDONS {GATEWAY_ADDONS}.")
    return getattr(gateway, name)


def legacy_active(gateway: Any) -> bool:
    """Whether the gateway's ImageJ legacy layer (ImageJ 1.x inside ImageJ2) is active."""
    legacy = gateway_addon(gateway, "legacy")
    return legacy is not None and bool(legacy.isActive())


def fiji_jars(folder: str | os.PathLike) -> dict[str, list[str]]:
    """The jars of each :data:`FIJI_PARTS` part found in ``folder/jars`` (by file name).

    Pure Python (no Java): what ``doctor`` shows before anything starts.
    """
    jars_dir = Path(folder) / "jars"
    names = sorted(p.name for p in jars_dir.rglob("*.jar")) if jars_dir.is_dir() else []
    return {what: [n for n in names if re.fullmatch(pattern, n)]
            for what, _, pattern in FIJI_PARTS}


def imglyb_jar_fix(folder: str | os.PathLike) -> str:
    """The one-time fix that puts the jars of :data:`PYIMAGEJ_JARS` into ``folder/jars``."""
    version = _imglyb_version()
    jars = Path(folder) / "jars"
    base = "https://maven.scijava.org/content/groups/public/net/imglib2"
    return (
        f"once, on a machine with internet access, put net.imglib2:imglib2-imglyb:{version} and "
        f"its dependency net.imglib2:imglib2-unsafe into {jars}/, e.g. curl -fLo "
        f"{jars}/imglib2-imglyb-{version}.jar {base}/imglib2-imglyb/{version}/"
        f"imglib2-imglyb-{version}.jar (imglib2-unsafe likewise from {base}/imglib2-unsafe/); "
        "Fiji's updater keeps them"
    )


def _imglyb_version() -> str:
    """The imglib2-imglyb version the installed imglyb asks for, without importing imglyb
    (its import adds a Maven endpoint and JVM start-up hooks to this process)."""
    config = sys.modules.get("imglyb.config")
    if config is None:
        spec = importlib.util.find_spec("imglyb")  # locates the package, runs none of it
        if spec is None or spec.origin is None:
            return "1.1.0"  # no imglyb: pyimagej is not installed either
        path = Path(spec.origin).parent / "config.py"
        config_spec = importlib.util.spec_from_file_location("fiji_bridge_imglyb_config", path)
        config = importlib.util.module_from_spec(config_spec)
        config_spec.loader.exec_module(config)
    return str(config.get_imglib2_imglyb_version())


def missing_part(folder: str | None) -> str | None:
    """In a started JVM, the first part of :data:`FIJI_PARTS` whose class cannot be loaded,
    as one sentence with the fix; None when all load."""
    for what, class_name, pattern in FIJI_PARTS:
        try:
            jclass(class_name)
        except Exception:  # TypeError "Class ... is not found" (JPype), or a linkage error
            return _explain_missing(what, class_name, pattern, folder)
    return None


def _explain_missing(what: str, class_name: str, pattern: str, folder: str | None) -> str:
    where = f"the Fiji.app at {folder}" if folder else "the ImageJ pyimagej resolved"
    if folder:
        found = [n for n in fiji_jars(folder)[what]]
        jars = (f"jars/{', jars/'.join(found)} is there but does not provide it" if found
                else f"no jar in {folder}/jars matches {pattern}")
    else:
        jars = "the resolved artifacts do not provide it"
    if "imglib2" in pattern and folder:
        fix = imglyb_jar_fix(folder)
    else:
        fix = ("point --imagej (or $FIJI_BRIDGE_IMAGEJ) at a complete Fiji.app (download Fiji "
               "once from https://fiji.sc and unpack it), or use the offline ImageJ 1.x with "
               "--imagej /usr/share/java/ij.jar")
    return (f"{where} lacks {what}: Java cannot load {class_name} ({jars}). Fix: {fix}.")


@contextlib.contextmanager
def _quiet_loggers() -> Iterator[list[str]]:
    """Collect what pyimagej, scyjava and imglyb log while they start (instead of stderr)."""
    records: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                records.append(" ".join(record.getMessage().split()))

    handler = _Collect()
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate))
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield records
    finally:
        for logger, propagate in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate


def _system_java_for_pyimagej() -> None:
    """Point scyjava at the system Java without ``fetch="never"`` (see the module docstring)."""
    import scyjava

    libjvm = Path(find_jvm())  # raises with the fix when there is no Java
    if not os.environ.get("JAVA_HOME", "").strip():
        home = next((p for p in libjvm.parents if (p / "bin" / "java").is_file()), None)
        if home is not None:
            os.environ["JAVA_HOME"] = str(home)
    try:
        major = int(scyjava.jvm_version()[0])
    except Exception as exc:  # RuntimeError from `java -version`, or no version digits
        raise ImageJStartError(
            f"Cannot tell the version of the system Java ({libjvm}): {exc}. Fix: set JAVA_HOME "
            "to a Java 11+ installation (apt-get install default-jre-headless). fiji_bridge "
            "never downloads Java."
        ) from None
    if major < 11:
        raise ImageJStartError(
            f"The system Java ({libjvm}) is version {major}; pyimagej needs Java 11 or newer. "
            "Fix: apt-get install default-jre-headless, or set JAVA_HOME to a Java 11+ "
            "installation. fiji_bridge never downloads Java."
        )
    scyjava.config.set_java_constraints(fetch="auto", version=str(major))


def start_fiji(source: Source, headless: bool) -> Any:
    """Start Fiji / ImageJ2 with pyimagej's ``imagej.init`` and return its gateway.

    Parameters
    ----------
    source : Source
        ``kind == "fiji_dir"`` (a local Fiji.app: started offline, its jars only) or
        ``"endpoint"`` (resolved by pyimagej from Maven; the caller checked that a Maven
        repository is reachable).
    headless : bool
        ``mode="headless"`` when True, else ``mode="interactive"`` (a display is set).

    Raises
    ------
    ImageJStartError
        pyimagej cannot be imported, Java is missing or too old, or the started ImageJ lacks a
        part of :data:`FIJI_PARTS` (named, with the fix).  Any other exception of pyimagej is
        re-raised as it is.
    """
    try:
        import imagej as pyimagej
    except ImportError as exc:
        raise ImageJStartError(
            f"pyimagej is needed to start Fiji/ImageJ2 but cannot be imported ({exc}). "
            "Fix: pip install pyimagej."
        ) from None
    import scyjava

    _system_java_for_pyimagej()
    folder = source.location if source.kind == "fiji_dir" else None
    if folder is not None:
        scyjava.config.endpoints.clear()  # a local Fiji.app: its jars, never Maven
    mode = "headless" if headless else "interactive"
    with _quiet_loggers() as logged:
        try:
            gateway = pyimagej.init(source.location, mode=mode)
        except Exception as exc:
            if not scyjava.jvm_started():
                if folder is None:  # Maven resolution failed: say so, with its own text
                    raise ImageJStartError(
                        f"pyimagej could not resolve {source.location!r} from Maven "
                        f"({type(exc).__name__}: {' '.join(str(exc).split())}). Fix: check "
                        "the endpoint (e.g. sc.fiji:fiji or net.imagej:imagej:2.14.0), or pass "
                        "a local Fiji.app folder (--imagej /path/to/Fiji.app)."
                    ) from None
                raise
            missing = missing_part(folder)
            if missing is None:
                raise
            raise ImageJStartError(missing) from None
    if gateway is None or gateway is False:  # False: pyimagej found no net.imagej.ImageJ
        said = f" pyimagej said: {' '.join(logged)}" if logged else ""
        raise ImageJStartError(missing_part(folder) or (
            f"pyimagej.init({source.location!r}) returned {gateway!r} instead of an ImageJ2 "
            f"gateway.{said}"))
    if not legacy_active(gateway):
        raise ImageJStartError(
            f"{'the Fiji.app at ' + folder if folder else source.location} started ImageJ2 "
            "without an active ImageJ legacy layer (gateway.legacy.isActive() is false), so "
            "ImageJ 1.x commands and macros cannot run. Fix: use a Fiji.app (it ships "
            "jars/imagej-legacy-*.jar), or the endpoint sc.fiji:fiji."
        )
    return gateway
