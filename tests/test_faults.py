"""Faults injected for real: damaged files, ImageJ dialogs and hangs, signals, a stale display.

Every case runs in a subprocess with a timeout, so a regression (a dialog nobody closes, an
interrupt that hangs) fails the test instead of hanging the suite.  Leftover processes are
looked up in ``/proc`` by process id and process group: Xvfb runs in its own process group, the
JVM inside the Python process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from proc_helpers import alive, processes

from fiji_bridge.imagefile import ImageFileWarning, check_image_file

REPO = Path(__file__).resolve().parents[1]
HAS_XVFB = any((Path(d) / "Xvfb").is_file() for d in os.environ.get("PATH", "").split(":"))
needs_xvfb = pytest.mark.skipif(not HAS_XVFB, reason="needs Xvfb (apt-get install xvfb xauth)")
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="needs /proc to find processes")


# -- /proc -----------------------------------------------------------------------------------

def _wait_for(condition, limit: float = 120.0, what: str = "") -> None:
    """Poll ``condition`` until true; fail (not hang) after ``limit`` seconds."""
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what} after {limit:g} s")
        time.sleep(0.1)


def _env(**extra: str) -> dict:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("FIJI_BRIDGE_IMAGEJ", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(extra)
    return env


def _cli(*args: str, cwd: Path, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fiji_bridge.cli", *args], cwd=cwd,
                          env=_env(**env), capture_output=True, text=True, timeout=timeout)


def _free_display_number() -> int:
    """A display number with no X server (no socket, nothing listening)."""
    from fiji_bridge.imagej.display import probe_display

    for number in range(4242, 4342):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and probe_display(f":{number}"):
            return number
    pytest.skip("no free X display number found")


# -- damaged and doubtful files (numpy side) -------------------------------------------------

@pytest.fixture
def images(tmp_path):
    import imageio.v3 as iio
    import tifffile

    rng = np.random.default_rng(7)
    grey = (rng.random((48, 40)) * 255).astype(np.uint8)
    files = {}
    iio.imwrite(tmp_path / "good.png", grey)
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    tifffile.imwrite(tmp_path / "good.tif", grey.astype(np.float32))
    data = (tmp_path / "good.tif").read_bytes()
    (tmp_path / "half.tif").write_bytes(data[: len(data) // 2])
    iio.imwrite(tmp_path / "good.jpg", grey)
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    tifffile.imwrite(tmp_path / "planes.tif", (rng.random((5, 48, 40)) * 255).astype(np.uint8),
                     photometric="minisblack", planarconfig="separate")
    for name in ("good.png", "half.png", "good.tif", "half.tif", "good.jpg", "half.jpg",
                 "empty.png", "planes.tif"):
        files[name] = tmp_path / name
    return files


@pytest.mark.parametrize("name", ["good.png", "good.tif", "good.jpg"])
def test_check_image_file_accepts_complete_files(images, name):
    info = check_image_file(images[name])
    assert info.shape[:2] == (48, 40) and info.planes == 1 and info.notes == ()


@pytest.mark.parametrize("name, words", [("half.png", "truncated"), ("half.tif", "truncated"),
                                         ("half.jpg", "truncated"), ("empty.png", "empty")])
def test_check_image_file_rejects_damaged_files(images, name, words):
    with pytest.raises(ValueError, match=words) as raised:
        check_image_file(images[name])
    assert "Fix:" in str(raised.value) and name in str(raised.value)


def test_check_image_file_notes_several_planes_in_one_page(images):
    with pytest.warns(ImageFileWarning, match="5 planes in one TIFF page"):
        info = check_image_file(images["planes.tif"])
    assert info.planes == 5 and info.pages == 1


def test_check_image_file_missing_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_image_file(tmp_path / "nope.png")
    with pytest.raises(ValueError, match="is a folder"):
        check_image_file(tmp_path)


# -- damaged files through the command line: one line, non-zero, bounded time ---------------

@pytest.mark.parametrize("name", ["half.png", "half.tif", "empty.png"])
def test_run_with_damaged_reference_gives_one_line(images, tmp_path, name):
    result = _cli("run", "--reference", str(images[name]), "--out", str(tmp_path / "out"),
                  cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and "Fix:" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_upscaled_and_multiplane_references_warn_naming_what_was_used(ij, images):
    from fiji_bridge.reference import prepare_reference

    with pytest.warns(ImageFileWarning, match=r"8x8 .*upscaled 8x to 64x64"):
        prepare_reference(np.random.default_rng(3).normal(size=(8, 8)), size=64)
    with pytest.warns(ImageFileWarning, match="5 planes .* first plane"):
        ref = prepare_reference(images["planes.tif"], size=32)
    assert ref.original_shape == (48, 40)


# -- ImageJ's dialogs and hangs: nothing blocks ----------------------------------------------

@needs_xvfb
def test_imagej_dialogs_become_errors_and_calls_have_deadlines(run_python, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    result = run_python(f"""
        import threading
        from fiji_bridge import imagej
        from fiji_bridge.imagej import guard, session
        handle = imagej.start(display="xvfb")
        IJ = session.java_class("ij.IJ")
        Thread = session.java_class("java.lang.Thread")
        # ImageJ's Opener reports the empty file with IJ.error: a dialog under a display.
        try:
            imagej.open_image({str(tmp_path / "empty.png")!r})
        except imagej.ImageJCommandError as exc:
            print("OPEN:", exc)
        try:
            guard.guarded_call("the test error", lambda: IJ.error("Test", "a test message"))
        except imagej.ImageJCommandError as exc:
            print("ERROR:", exc)
        # A modal dialog that blocks the calling thread (GenericDialog.showDialog).
        def ask():
            dialog = session.java_class("ij.gui.GenericDialog")("Question")
            dialog.addMessage("waiting for a click")
            dialog.showDialog()
            return bool(dialog.wasCanceled())
        try:
            guard.guarded_call("the test question", ask)
        except imagej.ImageJCommandError as exc:
            print("ASK:", exc)
        # A call that hangs without any dialog: the deadline interrupts it.
        try:
            guard.guarded_call("the test sleep", lambda: Thread.sleep(10**9), timeout=1)
        except imagej.ImageJCommandError as exc:
            print("SLEEP:", exc)
        # A dialog on another thread, outside any call, is closed too.
        worker = threading.Thread(target=lambda: IJ.showMessage("Elsewhere", "other thread"))
        worker.start(); worker.join(60)
        print("WORKER DONE:", not worker.is_alive())
        import time
        end = time.monotonic() + 60
        while not guard.stray_dialogs() and time.monotonic() < end:
            time.sleep(0.1)
        print("STRAYS:", guard.stray_dialogs())
    """, timeout=180)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "OPEN:" in out and "Unsupported format or file not found" in out
    # The dialog's title shows when the watchdog saw the dialog before the call returned.
    assert ("ERROR: the test error failed: Test: a test message" in out
            or "ERROR: the test error failed: a test message" in out)
    assert "ASK: the test question failed: Question: waiting for a click" in out
    assert "SLEEP: the test sleep did not finish within 1 s and was interrupted" in out
    assert "WORKER DONE: True" in out
    assert "closed an ImageJ dialog: Elsewhere: other thread" in result.stderr


@needs_xvfb
@needs_proc
def test_a_call_that_ignores_its_deadline_ends_the_process(run_python):
    result = run_python("""
        import os
        from fiji_bridge import imagej
        from fiji_bridge.imagej import guard, session
        imagej.start(display="xvfb")
        print("XVFB", session.xvfb_pid(), flush=True)
        guard.GRACE = 1.0
        Thread = session.java_class("java.lang.Thread")
        def stubborn():
            while True:
                try:
                    Thread.sleep(10**9)
                except Exception:
                    pass
        guard.guarded_call("the stubborn call", stubborn, timeout=1)
        print("NOT REACHED")
    """, timeout=120)
    assert result.returncode == 3  # guard.STUCK_EXIT_STATUS
    assert "NOT REACHED" not in result.stdout
    assert "did not finish the stubborn call within 1 s" in result.stderr
    xvfb = int(result.stdout.split("XVFB")[1].split()[0])
    _wait_for(lambda: not alive(xvfb), 30, "Xvfb to end")


# -- process lifetime: signals ---------------------------------------------------------------

def _start_long_run(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """A long `run` in its own session; returns it and its Xvfb's pid once Java runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fiji_bridge.cli", "run", "--counts", "500000", "--size", "64",
         "--examples", "2", "--out", str(tmp_path / "out")],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)

    def java_and_xvfb() -> bool:
        if process.poll() is not None:
            pytest.fail(f"run ended early: {process.communicate()[1]}")
        try:
            java = "libjvm" in Path(f"/proc/{process.pid}/maps").read_text()
        except OSError:
            return False
        return java and bool(_xvfb_children(process.pid))

    _wait_for(java_and_xvfb, 180, "Java and Xvfb to start")
    time.sleep(1)  # into the work (ImageJ prepares the reference, alignment starts)
    return process, _xvfb_children(process.pid)[0]


def _xvfb_children(pid: int) -> list[int]:
    return processes(lambda stat: stat[0] == "Xvfb" and stat[2] == pid)


def _assert_nothing_left(process: subprocess.Popen, xvfb: int, tmp_path: Path) -> None:
    _wait_for(lambda: not alive(xvfb), 30, f"Xvfb {xvfb} to end")
    assert not processes(lambda stat: stat[3] == process.pid)  # nothing of the run's group
    assert not list(tmp_path.glob("hs_err*")), "JVM crash file in the working directory"


@needs_xvfb
@needs_proc
def test_sigkill_of_a_run_leaves_no_xvfb(tmp_path):
    process, xvfb = _start_long_run(tmp_path)
    assert os.getpgid(xvfb) != process.pid  # own process group: a terminal's ^C misses it
    process.kill()
    process.communicate(timeout=60)
    _assert_nothing_left(process, xvfb, tmp_path)


@needs_xvfb
@needs_proc
@pytest.mark.parametrize("how", ["SIGINT to the process group", "SIGTERM to the process"])
def test_interrupting_a_run_leaves_no_xvfb_java_or_crash_file(tmp_path, how):
    process, xvfb = _start_long_run(tmp_path)
    if how.startswith("SIGINT"):
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    else:
        process.terminate()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "Traceback" not in stderr and "hs_err" not in stderr and "SIGSEGV" not in stderr
    _assert_nothing_left(process, xvfb, tmp_path)


# -- a stale DISPLAY ---------------------------------------------------------------------------

@needs_xvfb
def test_run_with_a_stale_display_falls_back_to_xvfb(tmp_path):
    number = _free_display_number()
    result = _cli("run", "--counts", "5", "--size", "16", "--examples", "1", "--out",
                  str(tmp_path / "out"), cwd=tmp_path, DISPLAY=f":{number}")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if f"DISPLAY=:{number}" in line]
    assert len(notes) == 1 and "cannot be reached" in notes[0] and "Xvfb" in notes[0]
    assert "Traceback" not in result.stderr and "AWTError" not in result.stderr
    assert (tmp_path / "out" / "results.json").is_file()


def test_doctor_with_a_stale_display_reports_it_and_advises(tmp_path):
    number = _free_display_number()
    result = _cli("doctor", cwd=tmp_path, DISPLAY=f":{number}")
    assert "Traceback" not in result.stderr + result.stdout
    assert f"DISPLAY       :{number} (UNREACHABLE" in result.stdout
    assert "advice: none" not in result.stdout
    strict = _cli("doctor", "--display", "existing", cwd=tmp_path, DISPLAY=f":{number}")
    assert strict.returncode == 1 and "Traceback" not in strict.stderr + strict.stdout
    assert "ImageJ start  FAILED" in strict.stdout and "cannot be reached" in strict.stdout
    advice = strict.stdout.split("advice:")[1]
    assert "fix DISPLAY" in advice and "none" not in advice


def test_probe_display_finds_a_real_server_and_misses_a_stopped_one():
    from fiji_bridge.imagej.display import probe_display, start_xvfb

    if not HAS_XVFB:
        pytest.skip("needs Xvfb (apt-get install xvfb xauth)")
    server = start_xvfb(320, 240, 24)
    try:
        assert probe_display(server.display) is None
        assert os.getpgid(server.pid) == server.pid  # leads its own process group
    finally:
        server.stop()
    assert "no X server" in probe_display(server.display)
    assert "not an X display name" in probe_display("nonsense")


@needs_xvfb
@needs_proc
def test_shutdown_stops_java_and_xvfb_and_forbids_a_restart(run_python):
    result = run_python("""
        from fiji_bridge import imagej
        from fiji_bridge.imagej import session
        imagej.start(display="xvfb")
        print("XVFB", session.xvfb_pid(), flush=True)
        imagej.shutdown()
        imagej.shutdown()  # twice is fine
        print("CURRENT", imagej.current(), session.xvfb_pid())
        try:
            imagej.start()
        except imagej.ImageJStartError as exc:
            print("RESTART", exc)
    """, timeout=120)
    assert result.returncode == 0, result.stderr
    xvfb = int(result.stdout.split("XVFB")[1].split()[0])
    assert not alive(xvfb)  # shutdown() waited for it
    assert "CURRENT None None" in result.stdout
    assert "RESTART ImageJ was shut down in this process" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("display", ["xvfb", "headless"])
def test_ctrl_c_interrupts_a_long_imagej_call(tmp_path, display):
    if display == "xvfb" and not HAS_XVFB:
        pytest.skip("needs Xvfb (apt-get install xvfb xauth)")
    code = f"""
import time
from fiji_bridge import imagej
from fiji_bridge.imagej import guard, session
imagej.start(display={display!r})
Thread = session.java_class("java.lang.Thread")
print("ready", flush=True)
try:
    guard.guarded_call("the long call",
                       lambda: (print("calling", flush=True), Thread.sleep(10**9)))
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
"""
    process = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    assert process.stdout.readline().strip() == "calling"  # inside the guarded call
    time.sleep(0.5)  # into the Java call
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)  # without the interrupt: a 30-year sleep
    assert "KeyboardInterrupt" in out, err
    assert process.returncode == 0 and "Traceback" not in err


def test_deadline_comes_from_the_environment(monkeypatch):
    from fiji_bridge.imagej import guard

    monkeypatch.delenv(guard.ENV_TIMEOUT, raising=False)
    assert guard.default_timeout() == guard.DEFAULT_TIMEOUT
    monkeypatch.setenv(guard.ENV_TIMEOUT, "12.5")
    assert guard.default_timeout() == 12.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv(guard.ENV_TIMEOUT, bad)
        with pytest.raises(ValueError, match="positive number of seconds. Fix:"):
            guard.default_timeout()


@needs_xvfb
def test_dialogs_a_person_opens_are_left_alone_during_user_interaction(run_python):
    result = run_python("""
        import threading, time
        from fiji_bridge import imagej
        from fiji_bridge.imagej import guard, session
        imagej.start(display="xvfb")
        IJ = session.java_class("ij.IJ")
        Window = session.java_class("java.awt.Window")
        Dialog = session.java_class("java.awt.Dialog")

        def showing():
            return [str(w.getTitle()) for w in Window.getWindows()
                    if isinstance(w, Dialog) and w.isShowing()]

        with guard.user_interaction():
            threading.Thread(target=lambda: IJ.showMessage("Person", "asked")).start()
            end = time.monotonic() + 60
            while "Person" not in showing() and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(1.0)  # several watchdog rounds
            print("DURING", showing(), guard.stray_dialogs())
        end = time.monotonic() + 60
        while "Person" in showing() and time.monotonic() < end:
            time.sleep(0.05)
        print("AFTER", showing(), guard.stray_dialogs())
    """, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "DURING ['Person'] []" in result.stdout
    assert "AFTER [] ['Person: asked']" in result.stdout
