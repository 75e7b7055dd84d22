"""Helpers shared by the fault tests (test_faults, test_cli_faults): processes read from /proc."""

import os
from pathlib import Path


def proc_stat(pid: int) -> tuple[str, str, int, int, int] | None:
    """(name, state, ppid, pgid, session) of a process, or None when it no longer exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, fields[0], int(fields[1]), int(fields[2]), int(fields[3])


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for a reaper has ended)."""
    stat = proc_stat(pid)
    return stat is not None and stat[1] != "Z"


def processes(where) -> list[int]:
    """PIDs of the running (not zombie) processes whose :func:`proc_stat` satisfies ``where``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None and stat[1] != "Z" and where(stat):
                pids.append(int(entry))
    return pids
