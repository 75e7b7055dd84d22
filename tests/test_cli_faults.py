"""The command line under real faults: signals in each phase, a full disk, a mount point, two
runs at once, ``--force`` over an earlier result; progress without a terminal.

Every case runs ``python -m fiji_bridge.cli`` in a subprocess of its own session, with bounded
waits, so a regression fails instead of hanging.  A phase is caught without guessing at times:
the test waits for the line the command prints when the phase starts (the estimate before Java,
the first progress line while aligning, ``writing OUT/``) and stops the process there with
SIGSTOP, sends the signal (or fills the disk), then lets it go on with SIGCONT.  Afterwards:
the exit status, the one message, no traceback, and nothing left: no staging folder, no
process of its session, no child (Xvfb) it had, no JVM crash file.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from proc_helpers import proc_stat, processes

from fiji_bridge import io, outputs, progress

REPO = Path(__file__).resolve().parents[1]
#: A run that takes minutes if nobody stops it (streaming path: 65 GB of noise).
LONG = ["--size", "128", "--counts", "1000000"]
#: A quick run whose write phase is a few MB.
SHORT = ["--size", "64", "--counts", "25,100", "--examples", "8"]


def _env() -> dict:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("FIJI_BRIDGE_IMAGEJ", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


class Command:
    """``einstein-from-noise ARGS`` in its own session; stderr collected line by line."""

    def __init__(self, *args: str, cwd: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fiji_bridge.cli", *args], cwd=cwd, env=_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.pid = self.process.pid
        self.lines: list[str] = []
        self.children: set[int] = set()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, limit: float = 120) -> None:
        """Wait until a stderr line matches ``pattern``; fail (not hang) after ``limit`` s."""
        end = time.monotonic() + limit
        while not any(re.search(pattern, line) for line in self.lines):
            self.children |= set(processes(lambda st: st[2] == self.pid))
            if self.process.poll() is not None or time.monotonic() > end:
                self._reader.join(5)
                pytest.fail(f"no line matching {pattern!r}; stderr:\n{self.stderr}")
            time.sleep(0.02)
        self.children |= set(processes(lambda st: st[2] == self.pid))

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def finish(self, limit: float = 120) -> int:
        try:
            self.process.wait(limit)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(10)
            pytest.fail(f"did not end within {limit} s; stderr:\n{self.stderr}")
        self._reader.join(10)
        self.stdout = self.process.stdout.read()
        self.process.stdout.close()
        return self.process.returncode


def _assert_clean_end(command: Command, status: int, message: str, out: Path) -> None:
    """The status, exactly one line with ``message``, no traceback, nothing left behind."""
    assert command.finish() == status, command.stderr
    assert [line for line in command.lines if message in line] != [], command.stderr
    assert len([line for line in command.lines if "einstein-from-noise" in line
                and ("error:" in line or "interrupted:" in line)]) == 1, command.stderr
    for bad in ("Traceback", "MemoryError", "bad_alloc", "fatal error", "SIGSEGV"):
        assert bad not in command.stderr, command.stderr
    folders = [out, out.parent] if out.exists() else [out.parent]
    assert not [p for d in folders for p in d.iterdir() if p.name.startswith(".")], \
        "a hidden staging folder was left"
    assert not list(out.parent.glob("hs_err_pid*")), "a JVM crash file was left"
    end = time.monotonic() + 30  # Xvfb is told to stop as we end; give it a moment
    while True:
        left = [pid for pid in command.children if proc_stat(pid) and proc_stat(pid)[1] != "Z"]
        left += processes(lambda st: st[4] == command.pid)
        if not left:
            break
        if time.monotonic() > end:
            pytest.fail(f"processes left behind: {[(p, proc_stat(p)) for p in left]}")
        time.sleep(0.1)


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="needs /proc to find processes and signals to send")
pytestmark = [needs_proc, pytest.mark.subprocess]


# -- interrupts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("phase, how, status", [
    ("starting", "terminal", 130),   # Ctrl-C: SIGINT to the whole process group
    ("aligning", "SIGTERM", 143),
    ("writing", "terminal", 130),
    ("writing", "SIGTERM", 143),
])
def test_an_interrupt_in_any_phase_ends_with_one_line_and_leaves_nothing(tmp_path, phase, how,
                                                                         status):
    out = tmp_path / "results"
    marker = {"starting": r"estimate for", "aligning": r"aligning: [1-9]",
              "writing": r"writing .*results/"}[phase]
    command = Command("run", *(SHORT if phase == "writing" else LONG), "--out", str(out),
                      cwd=tmp_path)
    command.wait_for_line(marker)
    command.pause()  # held in this phase while the signal is sent
    if how == "terminal":
        os.killpg(command.pid, signal.SIGINT)
    else:
        os.kill(command.pid, signal.SIGTERM)
    command.resume()
    _assert_clean_end(command, status, f"interrupted: nothing was written to {out}", out)
    assert not out.exists()


def test_a_second_run_to_the_same_out_fails_at_once(tmp_path):
    out = tmp_path / "results"
    first = Command("run", *LONG, "--out", str(out), cwd=tmp_path)
    first.wait_for_line(r"aligning: [1-9]")
    second = Command("run", *SHORT, "--out", str(out), cwd=tmp_path)
    # at once: before Java starts, so the second leaves no process either
    _assert_clean_end(second, 2, f"another run is writing {out}", out)
    assert not any("aligning" in line for line in second.lines)
    os.kill(first.pid, signal.SIGINT)
    _assert_clean_end(first, 130, f"interrupted: nothing was written to {out}", out)
    assert not out.exists()


def test_ctrl_c_with_a_local_dask_cluster_stops_its_workers_quietly(tmp_path):
    # the terminal's SIGINT reaches the cluster's worker processes too (same process group);
    # they leave it to the run, which closes the cluster: no worker traceback, nothing left
    out = tmp_path / "results"
    command = Command("run", "--size", "64", "--counts", "2000000", "--scheduler", "local",
                      "--display", "headless", "--out", str(out), cwd=tmp_path)
    command.wait_for_line(r"aligning: [1-9]", limit=180)
    command.children |= set(processes(lambda st: st[4] == command.pid))  # the workers
    os.killpg(command.pid, signal.SIGINT)
    _assert_clean_end(command, 130, f"interrupted: nothing was written to {out}", out)
    assert "KeyboardInterrupt" not in command.stderr and "leaked" not in command.stderr
    assert not out.exists()


# -- output folder: --force, a mount point, a full disk ---------------------------------------

def test_force_replaces_the_whole_result_set(tmp_path):
    out = tmp_path / "results"
    (tmp_path / "results").mkdir()
    (out / "notes.txt").write_text("mine")
    import imageio.v3 as iio
    import numpy as np

    tiny = tmp_path / "tiny.png"  # 6x6, upscaled 2.7x to --size 16: a one-line warning
    iio.imwrite(tiny, (np.arange(36).reshape(6, 6) * 7).astype(np.uint8))
    first = Command("run", "--size", "16", "--counts", "10", "--save-stacks", "--reference",
                    str(tiny), "--out", str(out), cwd=tmp_path)
    assert first.finish() == 0, first.stderr
    warned = [line for line in first.lines if "warning:" in line]
    assert len(warned) == 1 and warned[0].startswith("einstein-from-noise run: warning: The "
                                                     "reference tiny.png is 6x6"), first.stderr
    assert "ImageFileWarning" not in first.stderr  # no source file and line, one line
    assert (out / "noise_stack.tif").exists() and (out / "noise_examples.tif").exists()
    again = Command("run", "--size", "16", "--counts", "10", "--out", str(out), cwd=tmp_path)
    assert again.finish() == 2 and "--force" in again.stderr  # never touched without --force
    second = Command("run", "--size", "16", "--counts", "12", "--examples", "0", "--force",
                     "--out", str(out), cwd=tmp_path)
    assert second.finish() == 0, second.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(outputs.run_files(examples=False) + ["notes.txt"])  # no old stacks
    assert (out / "notes.txt").read_text() == "mine"  # not a file of the result set


@pytest.fixture
def small_filesystem(tmp_path):
    """A real 8 MiB tmpfs mounted at tmp_path/m (root only), unmounted afterwards."""
    mount = shutil.which("mount")
    point = tmp_path / "m"
    point.mkdir()
    if os.geteuid() != 0 or mount is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    result = subprocess.run([mount, "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(point)],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield point
    subprocess.run(["umount", str(point)], capture_output=True, timeout=30)


def test_a_mount_point_works_and_a_full_disk_is_one_line(small_filesystem, tmp_path):
    point = small_filesystem
    # --out is the mount point itself: staged on the same filesystem, renamed in place
    ok = Command("run", *SHORT, "--out", str(point), cwd=tmp_path)
    assert ok.finish() == 0, ok.stderr
    before = {p.name: p.stat().st_mtime_ns for p in point.iterdir()}
    assert "results.json" in before and not [n for n in before if n.startswith(".")]

    # refused before any work, with readable sizes
    big = Command("run", "--size", "128", "--counts", "100", "--save-stacks", "--force",
                  "--out", str(point), cwd=tmp_path)
    _assert_clean_end(big, 2, "needs", point)
    line = next(line for line in big.lines if "error:" in line)
    assert re.search(rf"needs \d+\.\d MiB, \d+\.\d [KM]iB free in {re.escape(str(point))}", line)

    # the disk fills up while the results are written: the same kind of line, nothing changed
    full = Command("run", *SHORT, "--seed", "5", "--force", "--out", str(point), cwd=tmp_path)
    full.wait_for_line(r"writing ")
    full.pause()
    free = shutil.disk_usage(point).free
    (point / "filler").write_bytes(b"\0" * max(free - 32 * 1024, 0))
    full.resume()
    _assert_clean_end(full, 2, "the disk is full", point)
    assert "free in" in next(line for line in full.lines if "error:" in line)
    (point / "filler").unlink()
    assert {p.name: p.stat().st_mtime_ns for p in point.iterdir()} == before


# -- progress without a terminal -------------------------------------------------------------

def test_progress_without_a_terminal_is_plain_lines(tmp_path):
    import io as stdio

    stream = stdio.StringIO()  # not a terminal
    with progress.progress(1000, "aligning", stream=stream, interval=0.0) as update:
        for done in (0, 250, 500, 1000):
            update(done, 1000)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("aligning: 250/1,000 img (25 %)")  # nothing before work is done
    assert lines[-1].startswith("aligning: 1,000/1,000 img (100 %)")
    assert all(re.search(r"img/s, elapsed \d\d:\d\d, ETA", line) for line in lines)
    quiet = stdio.StringIO()
    with progress.progress(1000, "aligning", stream=quiet, interval=3600) as update:
        for done in range(0, 1001, 100):
            update(done, 1000)
    # the first rate and the end: not one line per update
    assert len(quiet.getvalue().splitlines()) == 2


def test_counts_note_before_java(tmp_path):
    # --counts out of order with a repeat: a note; the run then stops before Java (an --out
    # that is a file), so the note comes from the checks, not from the work
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    command = Command("run", "--counts", "100,25,100", "--size", "16", "--out", str(a_file),
                      cwd=tmp_path)
    assert command.finish() == 2
    assert command.lines[0] == ("einstein-from-noise run: note: --counts 100,25,100 taken as "
                                "25,100 (sorted, repeats dropped)"), command.stderr
    assert "is a file" in command.lines[1] and len(command.lines) == 2


# -- the output folder in process ---------------------------------------------------------------

def test_a_signal_during_the_final_renames_waits_for_them(tmp_path, monkeypatch):
    out = tmp_path / "out"
    rename = os.replace

    def rename_then_interrupt(source, target):
        rename(source, target)
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C in the middle of the renames

    with io.output_directory(out, ["a.txt", "b.txt"]) as output:
        with pytest.raises(KeyboardInterrupt):
            with output.staging() as folder:
                (folder / "a.txt").write_text("a")
                (folder / "b.txt").write_text("b")
                monkeypatch.setattr(os, "replace", rename_then_interrupt)
        monkeypatch.undo()
    # the interrupt came after both renames, as one step: the whole set is there
    assert output.committed and sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]


def test_the_lock_is_held_until_the_end_and_a_new_out_goes_when_nothing_is_written(tmp_path):
    out = tmp_path / "out"
    with io.output_directory(out, ["a.txt"]) as first:
        with pytest.raises(io.OutputError, match=f"another run is writing {out}"):
            with io.output_directory(out, ["a.txt"]):
                pass
        assert out.is_dir()  # the first still holds it
    assert not first.committed and not out.exists()  # created by the first, nothing written
    (tmp_path / "keep").mkdir()
    stale = tmp_path / "keep" / (io.STAGING_PREFIX + "killed")  # a killed run's staging folder
    stale.mkdir()
    with io.output_directory(tmp_path / "keep", ["a.txt"]) as output:
        with output.staging() as folder:
            (folder / "a.txt").write_text("a")
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == ["a.txt"]
