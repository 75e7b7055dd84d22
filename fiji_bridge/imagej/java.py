"""Java itself: finding a Java runtime (never downloading one) and loading Java classes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fiji_bridge.imagej.errors import ImageJStartError

__all__ = ["find_jvm", "java_info", "jclass"]


def find_jvm() -> str:
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
        info["jvm_path"] = find_jvm()
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


def jclass(name: str) -> Any:
    """The Java class ``name`` (e.g. ``"ij.IJ"``) through scyjava, without checking that ImageJ
    was started (the ImageJ layer uses it while starting; elsewhere use
    :func:`fiji_bridge.imagej.session.java_class`)."""
    import scyjava

    return scyjava.jimport(name)

