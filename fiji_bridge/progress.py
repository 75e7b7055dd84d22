"""Progress of long work on stderr: a tqdm bar on a terminal, plain lines otherwise.

One helper for every command (``run``, ``check``, ``study``).  On a terminal it is a tqdm bar.
Without one (stderr redirected to a file, a pipe, a batch system's log) a bar's carriage
returns are useless, so a plain line is printed when the work starts, about every
``interval`` seconds (10 by default) and when it ends::

    aligning: 12,288/100,000 img (12 %), 7.30kimg/s, elapsed 00:01, ETA 00:12

The first line comes with the first items done (the first rate; nothing is printed before, so
an error while starting stays the only line), then one every ``interval`` seconds, and the
last at the end.  The rate and times come
from tqdm's own formatter (:meth:`tqdm.tqdm.format_meter`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

__all__ = ["DEFAULT_INTERVAL", "progress"]

#: Seconds between two plain progress lines when stderr is not a terminal.
DEFAULT_INTERVAL = 10.0

_TIMES_FORMAT = "{rate_fmt}, elapsed {elapsed}, ETA {remaining}"


def _is_terminal(stream: IO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


@contextmanager
def progress(total: int, desc: str, *, unit: str = "img", stream: IO | None = None,
             interval: float = DEFAULT_INTERVAL,
             terminal: bool | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)``, a progress callback for ``total`` items.

    Parameters
    ----------
    total : int
        Number of items of the whole job.
    desc : str
        What is being done (``"aligning"``), the start of every line.
    unit : str, optional
        Name of an item (default ``"img"``).
    stream : file, optional
        Where to write (default ``sys.stderr``).
    interval : float, optional
        Seconds between plain lines (no terminal); the first line is written with the first
        items done, the last one at the end.
    terminal : bool, optional
        Force the bar (True) or the plain lines (False); default: whether ``stream`` is a
        terminal.

    Notes
    -----
    ``update`` takes the number of items done so far (not an increment) and ignores
    ``total`` (the callback signature of :func:`fiji_bridge.experiment.einstein_from_noise`
    and :func:`fiji_bridge.engine.stream_alignment`).
    """
    stream = sys.stderr if stream is None else stream
    terminal = _is_terminal(stream) if terminal is None else terminal
    from tqdm import tqdm

    if terminal:
        bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=stream)
        try:
            yield lambda done, _total=None: bar.update(done - bar.n)
        finally:
            bar.close()
        return

    started = time.monotonic()
    state = {"done": 0, "printed": 0.0, "last": None}

    def line(done: int) -> None:
        elapsed = time.monotonic() - started
        times = tqdm.format_meter(done, total, elapsed, unit=unit, unit_scale=True,
                                  bar_format=_TIMES_FORMAT)
        percent = 100.0 * done / total if total else 100.0
        print(f"{desc}: {done:,}/{total:,} {unit} ({percent:.0f} %), {times}", file=stream,
              flush=True)
        state["printed"], state["last"] = time.monotonic(), done

    def update(done: int, _total: int | None = None) -> None:
        state["done"] = done
        if done > 0 and (state["last"] is None
                         or time.monotonic() - state["printed"] >= interval):
            line(done)

    completed = False
    try:
        yield update
        completed = True
    finally:
        if completed and state["done"] > 0 and state["done"] != state["last"]:
            line(state["done"])
