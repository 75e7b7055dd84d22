"""Cases that need their own JVM (headless, bad Java, endpoints, the CLI): one subprocess each."""

from __future__ import annotations

import sys
import time

import pytest

pytestmark = pytest.mark.subprocess


def test_headless_api_works_but_commands_say_how_to_fix(run_python):
    result = run_python("""
        import numpy as np
        from fiji_bridge import imagej
        from fiji_bridge.imagej import convert
        h = imagej.start(display="headless")
        assert h.headless and not h.can_run_commands, h
        stack = np.random.default_rng(0).standard_normal((5, 8, 8)).astype(np.float32)
        imp = convert.to_imageplus(stack)
        avg = convert.from_imageplus(imagej.z_project_average(imp, 1, 5)).values
        assert np.allclose(avg, stack.mean(0), atol=1e-6)
        imp8 = convert.to_imageplus((stack[0] * 20 + 100).astype(np.uint8))
        imagej.normalize(imp8)                       # API route: fine headless
        try:
            imagej.convert_to_32bit(imp8, route="command")
        except imagej.ImageJCommandError as exc:
            print("ERROR:", exc)
        try:
            imagej.run_macro("", code='run("Add Noise");')
        except imagej.ImageJCommandError as exc:
            print("MACRO:", exc)
        print(imagej.run_macro("", "4", code='return "x" + getArgument();').value)
    """)
    assert result.returncode == 0, result.stderr
    assert "ERROR:" in result.stdout and "display='xvfb'" in result.stdout
    assert "MACRO:" in result.stdout and "HeadlessException" in result.stdout
    assert "x4" in result.stdout  # macros without run(...) work headless


def test_jvm_started_elsewhere_is_refused(run_python):
    result = run_python("""
        import scyjava
        scyjava.config.set_java_constraints(fetch="never")
        scyjava.start_jvm()
        from fiji_bridge import imagej
        try:
            imagej.start()
        except imagej.ImageJStartError as exc:
            print("ERROR:", exc)
    """)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout and "before anything else starts Java" in result.stdout


def test_java_home_without_java(run_python, tmp_path):
    result = run_python("""
        from fiji_bridge import imagej
        try:
            imagej.start(display="headless")
        except imagej.ImageJStartError as exc:
            print("ERROR:", exc)
    """, env={"JAVA_HOME": str(tmp_path / "no-jdk")})
    assert result.returncode == 0, result.stderr
    assert "holds no Java runtime" in result.stdout and "default-jre-headless" in result.stdout


def test_unreachable_maven_fails_fast(run_python):
    result = run_python("""
        import time
        from fiji_bridge import imagej
        from fiji_bridge.imagej import session
        session.MAVEN_HOSTS = (("127.0.0.1", 1),)   # a port nothing listens on
        started = time.monotonic()
        try:
            imagej.start("sc.fiji:fiji")
        except imagej.ImageJStartError as exc:
            print("ERROR:", exc)
        print("SECONDS", time.monotonic() - started)
    """)
    assert result.returncode == 0, result.stderr
    assert "no Maven repository is reachable" in result.stdout and "Fiji.app" in result.stdout
    assert float(result.stdout.split("SECONDS")[1]) < 10


def test_real_maven_endpoint_offline(run_python):
    from fiji_bridge.imagej import session

    if session.maven_reachable(timeout=2):
        pytest.skip("a Maven repository is reachable from here; this test is for offline machines")
    started = time.monotonic()
    result = run_python("""
        from fiji_bridge import imagej
        imagej.start("sc.fiji:fiji")
    """, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode != 0
    assert "no Maven repository is reachable" in result.stderr


def _cli(run_python, *args, env=None):
    return run_python("", args=[sys.executable, "-m", "fiji_bridge.cli", *args], env=env)


def test_doctor_reports_imagej(run_python):
    result = _cli(run_python, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ImageJ start  OK: ImageJ 1." in result.stdout
    assert "java" in result.stdout and "scyjava" in result.stdout and "pyimagej" in result.stdout


@pytest.mark.parametrize("bad,expected", [
    ("/no/such/Fiji.app", "no such file or directory"),
    ("corrupt", "not a readable jar"),
])
def test_doctor_bad_imagej_is_one_clear_error(run_python, tmp_path, bad, expected):
    if bad == "corrupt":
        jar = tmp_path / "ij.jar"
        jar.write_bytes(b"PK\x03\x04 truncated")
        bad = str(jar)
    result = _cli(run_python, "doctor", "--imagej", bad)
    assert result.returncode != 0
    assert expected in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_imagej_exit_in_headless_macro_is_a_failure_not_success(run_python):
    result = run_python("""
        from fiji_bridge import imagej
        imagej.start(display="headless")
        imagej.run_macro("", code='v = getPixel(0, 0);')
        print("not reached")
    """)
    assert result.returncode == 1
    assert "not reached" not in result.stdout
    assert "ImageJ called System.exit(0) during the macro" in result.stderr


def test_importing_the_imagej_layer_starts_no_java(run_python):
    result = run_python("""
        import sys
        from fiji_bridge import imagej
        from fiji_bridge.imagej import fht, guard, java, locate, macros, pixels, session, steps
        heavy = ("jpype", "_jpype", "scyjava", "imagej", "xarray")
        print("LOADED", [name for name in heavy if name in sys.modules])
        print("CURRENT", imagej.current())
        imagej.resolve()                             # pure Python: still no Java
        print("AFTER_RESOLVE", [name for name in heavy if name in sys.modules])
        from fiji_bridge.imagej import convert       # convert is xarray's door, still no Java
        print("CONVERT", [name for name in heavy if name in sys.modules])
        import jpype
        print("JVM", jpype.isJVMStarted())
    """)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout and "CURRENT None" in result.stdout
    assert "AFTER_RESOLVE []" in result.stdout
    assert "CONVERT ['xarray']" in result.stdout
    assert "JVM False" in result.stdout
