"""What every ``einstein-from-noise`` command shares at run time, in one copy: checks of input
files and of the scheduler before Java starts, notes and the estimate of a long job on stderr,
the checked and locked output folder and its write phase, and the interrupt path (signal
handler, stopping ImageJ and its Xvfb). :mod:`fiji_bridge.cli` parses the arguments and calls
these.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

__all__ = ["LONG_JOB_S", "announce", "check_files_exist", "check_scheduler", "duration",
           "note", "note_reordered", "on_signal", "output_folder", "process_age", "staged",
           "stop_imagej"]

#: A job estimated to take longer than this (seconds) is announced before it starts.
LONG_JOB_S = 30.0


def check_scheduler(scheduler: str | None) -> None:
    """Fail in seconds, before ImageJ starts, on a bad or unreachable scheduler."""
    if scheduler is not None and scheduler != "local":
        from fiji_bridge import scheduler as dask_scheduler

        dask_scheduler.check_scheduler(scheduler)


def note(command: str, text: str) -> None:
    print(f"einstein-from-noise {command}: note: {text}", file=sys.stderr)


def note_reordered(typed: list[int], checked: Sequence[int], option: str,
                    command: str) -> None:
    """A note when the checked counts (sorted, without repeats) differ from what was typed."""
    if list(checked) != list(typed):
        note(command, f"{option} {','.join(map(str, typed))} taken as "
                       f"{','.join(map(str, checked))} (sorted, repeats dropped)")


def check_files_exist(**paths) -> None:
    """FileNotFoundError, before Java starts, for an input file that is not there."""
    for option, values in paths.items():
        for path in [values] if isinstance(values, (str, os.PathLike)) else values or ():
            if not os.path.exists(path):
                raise FileNotFoundError(
                    f"--{option.replace('_', '-')} {path}: the file does not exist. Fix: check "
                    "the path.")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def announce(command: str, what: str, seconds: float, memory: float, disk: float,
              out) -> None:
    """Print the estimate of a long job (over :data:`LONG_JOB_S`) before it starts."""
    from fiji_bridge import checks, io

    if seconds < LONG_JOB_S:
        return
    print(f"einstein-from-noise {command}: estimate for {what}: about {duration(seconds)}, "
          f"memory about {checks.human_bytes(memory)}, disk {checks.human_bytes(disk)} in "
          f"{io.mount_point(out)}. Ctrl-C stops it cleanly.", file=sys.stderr)


@contextmanager
def output_folder(args: argparse.Namespace, names, *, replaces=(), needed_bytes=None
            ) -> Iterator:
    """The checked and locked output folder of a command (before any work); ``main`` reads
    ``args.output`` to say what an interrupt left."""
    from fiji_bridge import io

    output = io.output_directory(args.out, names, force=args.force, replaces=replaces,
                                 needed_bytes=needed_bytes)
    args.output = output
    with output:
        yield output


@contextmanager
def staged(output, command: str) -> Iterator:
    """The write phase: say it started, then yield the staging folder."""
    print(f"einstein-from-noise {command}: writing {output.out}/", file=sys.stderr, flush=True)
    with output.staging() as folder:
        yield folder


def process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``), or None where unknown."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


def on_signal(received: list[int]):
    def handler(signum, frame):
        received.append(signum)
        # One interrupt is enough: the clean-up that follows is short and must not be cut.
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
        raise KeyboardInterrupt
    return handler


def stop_imagej() -> None:
    """Stop ImageJ, the JVM and a private Xvfb now, if this process started them."""
    imagej = sys.modules.get("fiji_bridge.imagej")  # not imported: nothing to stop
    if imagej is not None:
        try:
            imagej.shutdown()
        except Exception:  # pragma: no cover - best effort while exiting
            pass
