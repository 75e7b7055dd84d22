"""The Fiji path: pyimagej's real ``imagej.init`` on a Fiji.app-shaped folder, with no network.

No Fiji/ImageJ2 is installed here, so the folder is built from this machine's real ImageJ 1.x jar
plus an ``imagej-2.14.0.jar`` that holds no ImageJ2 (the issue's recipe).  pyimagej must get as
far as creating the JVM with the folder's jars, contact no Maven repository (the subprocess runs
in a network namespace with no interfaces: ``unshare -n``), and the package must end with one
line naming the missing ImageJ2 gateway.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from fiji_bridge.imagej import fiji, locate

pytestmark = pytest.mark.subprocess


def _no_network_prefix() -> list[str]:
    """``unshare -n`` (a new network namespace: no interface, no route), or skip."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed: cannot cut the network off")
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -n is not permitted here ({probe.stderr.strip()}): needs root "
                    "or user namespaces")
    return [unshare, "-n"]


@pytest.fixture
def fiji_app(tmp_path):
    """The issue's Fiji.app-shaped folder: real ImageJ 1.x jar, an ImageJ2 jar without ImageJ2."""
    jars = tmp_path / "Fiji.app" / "jars"
    jars.mkdir(parents=True)
    shutil.copy(locate.SYSTEM_IJ_JAR, jars / "ij-1.53t.jar")
    (jars / "imagej-2.14.0.jar").touch()
    return tmp_path / "Fiji.app"


def test_fiji_folder_offline_ends_in_one_line_naming_the_missing_gateway(run_python, fiji_app):
    prefix = _no_network_prefix()
    result = run_python("", args=[*prefix, sys.executable, "-c", f"""
import jpype, scyjava
from fiji_bridge import imagej
try:
    imagej.start({str(fiji_app)!r}, display="headless")
except imagej.ImageJStartError as exc:
    print("ERROR:", exc)
try:
    imagej.start({str(fiji_app)!r}, display="headless")
except imagej.ImageJStartError as exc:
    print("AGAIN:", exc)
# What pyimagej's imagej.init built: the JVM, with the folder's jars and plugins.dir.
system = jpype.JClass("java.lang.System")
print("JVM", jpype.isJVMStarted())
print("PLUGINS_DIR", system.getProperty("plugins.dir"))
print("CLASSPATH", system.getProperty("java.class.path"))
print("IJ", scyjava.jimport("ij.IJ").getVersion())
print("ENDPOINTS", list(scyjava.config.endpoints))
"""], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    error = [line for line in out.splitlines() if line.startswith("ERROR:")]
    assert len(error) == 1, out
    assert "lacks the ImageJ2 gateway" in error[0] and "net.imagej.ImageJ" in error[0]
    assert "imagej-2.14.0.jar" in error[0] and "Fix:" in error[0]
    assert "UnboundLocalError" not in out + result.stderr
    assert "Maven" not in out + result.stderr and "Connection" not in out + result.stderr
    assert "JVM True" in out
    assert "AGAIN: An earlier start failed after Java had started (the Fiji.app at" in out
    assert f"PLUGINS_DIR {fiji_app / 'plugins'}" in out  # set by pyimagej's _create_jvm
    assert str(fiji_app / "jars" / "ij-1.53t.jar") in out
    assert "IJ 1.53t" in out                           # ImageJ 1.x from the Fiji.app's jars
    assert "ENDPOINTS []" in out                       # imglyb's Maven endpoint was dropped
    assert result.stderr.strip() == "", result.stderr  # pyimagej's own log lines kept quiet


def test_fiji_folder_cli_run_is_one_error_line_without_traceback(run_python, fiji_app, tmp_path):
    prefix = _no_network_prefix()
    result = run_python("", args=[
        *prefix, sys.executable, "-m", "fiji_bridge.cli", "run", "--imagej", str(fiji_app),
        "--size", "16", "--counts", "4", "--examples", "0", "--out", str(tmp_path / "out")],
        timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "lacks the ImageJ2 gateway" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_valid_but_empty_imagej_jar_is_named_the_same_way(run_python, fiji_app):
    prefix = _no_network_prefix()
    jar = fiji_app / "jars" / "imagej-2.14.0.jar"
    with zipfile.ZipFile(jar, "w") as zf:  # a well-formed jar with only a manifest
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    result = run_python("", args=[*prefix, sys.executable, "-m", "fiji_bridge.cli", "doctor",
                                  "--imagej", str(fiji_app)], timeout=60)
    assert result.returncode == 1
    out = result.stdout
    assert "ImageJ start  FAILED: the Fiji.app at" in out and "lacks the ImageJ2 gateway" in out
    assert "jars          the ImageJ legacy layer: MISSING" in out
    assert "jars          ImageJ 1.x: ij-1.53t.jar" in out
    advice = out.split("advice:", 1)[1]
    assert "none" not in advice.splitlines()[0] and "complete Fiji.app" in advice
    assert "backend       fiji: pyimagej's imagej.init" in out
    assert "Traceback" not in out + result.stderr


def test_endpoint_without_network_fails_in_seconds_and_says_so(run_python):
    prefix = _no_network_prefix()
    result = run_python("", args=[*prefix, sys.executable, "-c", """
from fiji_bridge import imagej
try:
    imagej.start("sc.fiji:fiji")
except imagej.ImageJStartError as exc:
    print("ERROR:", exc)
import jpype
print("JVM", jpype.isJVMStarted())
"""], timeout=30)
    assert result.returncode == 0, result.stderr
    assert "ERROR: Cannot download 'sc.fiji:fiji': no Maven repository is reachable" in \
        result.stdout
    assert "Fiji.app" in result.stdout and "JVM False" in result.stdout


def test_fiji_jars_lists_each_part_by_file_name(tmp_path):
    jars = tmp_path / "jars"
    jars.mkdir()
    for name in ("imagej-2.14.0.jar", "imagej-legacy-1.2.1.jar", "ij-1.54f.jar",
                 "imagej-common-2.0.2.jar", "imglib2-imglyb-1.1.0.jar"):
        (jars / name).touch()
    found = fiji.fiji_jars(tmp_path)
    assert found["the ImageJ2 gateway"] == ["imagej-2.14.0.jar"]  # not imagej-common/-legacy
    assert found["the ImageJ legacy layer"] == ["imagej-legacy-1.2.1.jar"]
    assert found["ImageJ 1.x"] == ["ij-1.54f.jar"]
    assert found["pyimagej's numpy bridge imglib2-imglyb"] == ["imglib2-imglyb-1.1.0.jar"]
    assert found["imglib2-unsafe (needed by imglib2-imglyb)"] == []
    fix = fiji.imglyb_jar_fix(tmp_path)  # reads imglyb's config without importing imglyb
    assert str(jars) in fix and "imglib2-imglyb-1.1.0.jar" in fix and "imglib2-unsafe" in fix


def test_imagej1_start_after_import_imagej_makes_no_maven_contact(run_python):
    """``import imagej`` adds imglyb's Maven endpoint and JVM hooks to the process; the offline
    ImageJ 1.x must still start from its jar alone, without the network."""
    prefix = _no_network_prefix()
    result = run_python("", args=[*prefix, sys.executable, "-c", """
import imagej, scyjava
print("BEFORE", list(scyjava.config.endpoints))
from fiji_bridge import imagej as fb
handle = fb.start(display="headless")
print("STARTED", handle.backend, handle.version, list(scyjava.config.endpoints))
"""], timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BEFORE ['net.imglib2:imglib2-imglyb:" in result.stdout
    assert "STARTED imagej1 1.53t []" in result.stdout


def test_fiji_helpers_do_not_import_imglyb(run_python, tmp_path):
    result = run_python(f"""
import sys
from fiji_bridge.imagej import fiji
print(fiji.imglyb_jar_fix({str(tmp_path)!r}))
import scyjava
print("IMPORTED", [m for m in ("imglyb", "imagej") if m in sys.modules], scyjava.config.endpoints)
""")
    assert result.returncode == 0, result.stderr
    assert "imglib2-imglyb-1.1.0.jar" in result.stdout and "IMPORTED [] []" in result.stdout
