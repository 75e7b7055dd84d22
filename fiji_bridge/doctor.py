"""``einstein-from-noise doctor``: what this machine has for running ImageJ, and how to fix it.

Modelled on pyimagej's ``imagej.doctor.checkup``: gather facts, print them, end with advice.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sys
from collections.abc import Callable

from fiji_bridge import imagej
from fiji_bridge.imagej import fiji
from fiji_bridge.imagej.display import probe_display

__all__ = ["checkup"]


def _backend_reason(source: imagej.Source) -> str:
    """Which backend :func:`fiji_bridge.imagej.start` would use for ``source``, and why."""
    why = {"fiji_dir": "a Fiji.app / ImageJ2 folder", "endpoint": "a Maven endpoint",
           "jar": "an ImageJ 1.x jar"}[source.kind]
    how = ("fiji: pyimagej's imagej.init (ImageJ2 gateway + legacy layer)"
           if source.backend == "fiji" else "imagej1: scyjava with the system Java, offline")
    return f"{how} ({source.origin}: {why})"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def checkup(output: Callable[[str], None] = print, *, imagej_location: str | None = None,
            display: str = "auto") -> int:
    """Print a report on Java, ImageJ, Python packages and the display; return an exit status.

    ImageJ is started in this process (once), so the report says what really runs.

    Never raises for what it finds: a failed start is reported with its fix in the advice
    (the advice is "none" only when ImageJ started and nothing is missing).

    Returns
    -------
    int
        0 when ImageJ started, 1 when it could not (the report says why and how to fix it).
    """
    advice: list[str] = []
    output("fiji_bridge doctor")
    output(f"  python        {sys.version.split()[0]} ({sys.executable}) on {platform.platform()}")
    for name in ("fiji_bridge", "pyimagej", "scyjava", "imglyb", "jpype1", "numpy", "scipy",
                 "xarray", "tifffile"):
        version = _version(name)
        output(f"  {name:<13} {version or 'not installed'}")
        if version is None:
            advice.append(f"pip install {name}")

    java = imagej.java_info()
    if java["error"]:
        output(f"  java          NOT FOUND: {java['error']}")
    else:
        output(f"  java          {java['version'] or '?'} ({java['vendor'] or '?'}) "
               f"libjvm {java['jvm_path']}")
    java_home = os.environ.get("JAVA_HOME")
    output(f"  JAVA_HOME     {java_home or '(not set)'}")

    try:
        source = imagej.resolve(imagej_location)
        output(f"  imagej        {source.kind} {source.location} (from {source.origin})")
        output(f"  backend       {_backend_reason(source)}")
    except Exception as exc:  # ImageJStartError, or anything else: reported, never raised
        output(f"  imagej        NOT FOUND: {exc}")
        source = None
    if source is not None and source.kind == "fiji_dir":
        jars = fiji.fiji_jars(source.location)
        for what, found in jars.items():
            output(f"  jars          {what}: {', '.join(found) or 'MISSING'}")

    xvfb = shutil.which("Xvfb")
    output(f"  DISPLAY       {_display_line(os.environ.get('DISPLAY', '').strip())}")
    output(f"  Xvfb          {xvfb or 'not installed'}")
    if xvfb is None and not os.environ.get("DISPLAY"):
        advice.append("apt-get install xvfb xauth   # lets plain ImageJ 1.x run menu commands "
                      "and macros")

    status = 0
    try:
        handle = imagej.start(imagej_location, display=display)
    except (imagej.ImageJStartError, ValueError) as exc:  # a setup problem, with its fix
        output(f"  ImageJ start  FAILED: {exc}")
        status = 1
        text = str(exc)
        if "Fix:" in text:  # the advice is the fix of what failed
            advice.append(text.split("Fix:", 1)[1].strip())
        else:
            advice.append(f"see the FAILED line above ({type(exc).__name__})")
        if source is None:
            advice.append("apt-get install -y --no-install-recommends default-jre-headless "
                          "libij-java xvfb xauth   # offline ImageJ 1.x")
    except Exception as exc:  # doctor never crashes; a bug of fiji_bridge, pyimagej or scyjava
        output(f"  ImageJ start  FAILED with an unexpected {type(exc).__name__}: {exc}")
        status = 1
        advice.append("this is not a setup problem: please report it with the lines above "
                      "(fiji_bridge, pyimagej and scyjava versions)")
    else:
        java = imagej.java_info()
        output(f"  ImageJ start  OK: ImageJ {handle.version} runs "
               f"(backend {handle.backend}, {'headless' if handle.headless else 'display ' + str(handle.display) + ' from ' + str(handle.display_origin)})")
        output(f"  java (JVM)    {java['version']} ({java['vendor']})")
        output(f"  commands      menu commands (IJ.run) and macros with run(): "
               f"{'yes' if handle.can_run_commands else 'no (headless ImageJ 1.x)'}")
        if handle.backend == "fiji":
            output(f"  legacy layer  {'active' if handle.legacy_active else 'NOT active'} "
                   "(gateway.legacy.isActive())")
        if handle.display_note:
            output(f"  display note  {handle.display_note}")
            advice.append("fix or unset DISPLAY (it points to no X server); until then a "
                          "private display is used")
        if handle.quirks:
            output(f"  quirks        {', '.join(sorted(handle.quirks))} (measured; corrected "
                   "by fiji_bridge)")
        if not handle.can_run_commands:
            advice.append("start with a display: apt-get install xvfb xauth, then "
                          "--display xvfb (or use a Fiji.app with --imagej)")
        if handle.backend == "imagej1":
            output("  fiji          to use your Fiji instead: --imagej /path/to/Fiji.app or "
                   "FIJI_BRIDGE_IMAGEJ=/path/to/Fiji.app")
    if advice:
        output("advice:")
        for line in advice:
            output(f"  - {line}")
    else:
        output("advice: none; everything needed is here.")
    return status


def _display_line(display: str) -> str:
    """``$DISPLAY`` and whether an X server answers there (probed without Java)."""
    if not display:
        return "(not set)"
    problem = probe_display(display)
    return f"{display} (reachable)" if problem is None else f"{display} (UNREACHABLE: {problem})"
