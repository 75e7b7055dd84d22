"""Which ImageJ to start: arguments, environment, Fiji.app search, jar check.

Pure Python: nothing here touches Java.  :func:`resolve` decides; :func:`fiji_bridge.imagej.start`
starts what it decided.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zipfile
from pathlib import Path

from fiji_bridge.imagej.errors import ImageJStartError

__all__ = [
    "APT_HINT",
    "ENV_IJ_JAR",
    "ENV_IMAGEJ",
    "FIJI_DIR_CANDIDATES",
    "SYSTEM_IJ_JAR",
    "Source",
    "resolve",
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
#: How to install what the offline ImageJ 1.x needs on Debian/Ubuntu.
APT_HINT = "apt-get install -y --no-install-recommends default-jre-headless libij-java xvfb xauth"

_ENDPOINT_RE = re.compile(r"^[A-Za-z0-9_.\-]+:[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)*(\+.+)?$")
#: pyimagej takes an ImageJ2 version as x.y.z only (``imagej.init("2.14.0")``).
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


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
    if not looks_like_path and re.match(r"^\d+(\.\d+)*$", text):
        raise ImageJStartError(
            f"{text!r} (from {origin}) is not an ImageJ2 version pyimagej accepts: it takes "
            "x.y.z, e.g. 2.14.0. Fix: give all three numbers, or an endpoint such as "
            "net.imagej:imagej:2.14.0."
        )
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
        f"Fix: install ImageJ 1.x ({APT_HINT}) or pass --imagej /path/to/Fiji.app."
    )


