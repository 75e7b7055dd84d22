"""Where the engine's tasks run: threads of this process or a Dask cluster.

The engine (:mod:`fiji_bridge.engine`) cuts its work into tasks and adds their results in task
order; this module submits the tasks and hands the results back *in task order*, whatever
thread or Dask worker computed them, which is what makes the engine's sums bit-identical on
every scheduler. It also opens and checks Dask schedulers, so that a wrong address fails in
seconds with a message that says how to fix it.

Scheduler specifications
------------------------
``None``
    Run in this process (threads).
``"local"``
    A ``distributed.LocalCluster`` of two single-thread worker processes on 127.0.0.1, started
    by :func:`open_dask` and closed by its closers.
an address with ``"://"`` (e.g. ``"tcp://host:8786"``)
    An existing Dask scheduler (its workers need ``fiji_bridge`` installed).
a ``distributed.Client``
    Used as it is, never closed here.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import sys
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "SchedulerConnectionError",
    "check_scheduler",
    "check_scheduler_spec",
    "consume_in_order",
    "dask_client",
    "open_dask",
    "run_dask",
    "run_threads",
]

#: Seconds to wait for an existing Dask scheduler before giving up.
DEFAULT_CONNECT_TIMEOUT = 3.0


class SchedulerConnectionError(ConnectionError):
    """A Dask scheduler could not be reached, or has no workers."""


def _is_dask_client(obj: Any) -> bool:
    mod = sys.modules.get("distributed")
    return mod is not None and isinstance(obj, mod.Client)


def check_scheduler_spec(scheduler: Any) -> None:
    """ValueError unless ``scheduler`` is None, 'local', an address with '://' or a Client.

    Only the form is checked; nothing is contacted (see :func:`check_scheduler`).
    """
    if scheduler is None or _is_dask_client(scheduler):
        return
    if not isinstance(scheduler, str) or not (scheduler == "local" or "://" in scheduler):
        raise ValueError(
            f"scheduler must be None (in-process), 'local', an address like "
            f"'tcp://host:8786' or a distributed.Client, got {scheduler!r}. "
            "Fix: pass one of these (--scheduler local or --scheduler tcp://host:8786)."
        )


def open_dask(
    scheduler: Any, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> tuple[Any, list[Callable[[], Any]], str]:
    """Open a Dask scheduler given by its specification (module docstring), not None.

    Returns
    -------
    client : distributed.Client
    closers : list of callable
        Call each, in order, when done (empty for a Client passed in: it is not closed).
    description : str
        ``"local"``, the address, or ``"dask client (<address>)"``.

    Raises
    ------
    SchedulerConnectionError
        The address cannot be reached within ``connect_timeout`` seconds, or the scheduler has
        no workers.
    """
    try:
        import distributed
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency
        raise RuntimeError(
            "scheduler=... needs dask.distributed, which is not installed. "
            "Fix: `pip install 'dask[distributed]'`, or pass scheduler=None to run in-process."
        ) from None

    if isinstance(scheduler, distributed.Client):
        address = getattr(getattr(scheduler, "scheduler", None), "address", None)
        _ensure_workers(scheduler, address, connect_timeout)
        return scheduler, [], f"dask client ({address})"
    if scheduler == "local":
        with warnings.catch_warnings(), _terminal_interrupts_ignored():
            # The scheduler's small HTTP server falls back to a free port when 8787 is taken.
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            cluster = distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
                processes=True,
                # A task's exception reaches the client with its traceback; what the workers
                # would log besides is shutdown noise (a heartbeat to a scheduler already gone
                # when a run is interrupted), so only CRITICAL is shown.
                silence_logs=logging.CRITICAL,
            )
        try:
            client = distributed.Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        return client, [client.close, cluster.close], "local"
    try:
        client = distributed.Client(
            scheduler, timeout=connect_timeout, set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        raise SchedulerConnectionError(
            f"could not reach the Dask scheduler at {scheduler!r} within {connect_timeout:g} s "
            f"({type(exc).__name__}: {exc}). Fix: start one (`dask scheduler` and `dask worker "
            f"{scheduler}`), check the address, or pass scheduler='local' or scheduler=None."
        ) from exc
    try:
        _ensure_workers(client, scheduler, connect_timeout)
    except BaseException:
        client.close()
        raise
    return client, [client.close], scheduler


@contextlib.contextmanager
def dask_client(
    scheduler: Any, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> Iterator[tuple[Any, str]]:
    """``with dask_client(spec) as (client, description):`` :func:`open_dask`, and its closers
    called on the way out (best effort: a failing close does not hide the result)."""
    client, closers, description = open_dask(scheduler, float(connect_timeout))
    try:
        yield client, description
    finally:
        for close in closers:
            try:
                close()
            except Exception:  # pragma: no cover - best effort shutdown
                pass


@contextlib.contextmanager
def _terminal_interrupts_ignored():
    """Start child processes with SIGINT ignored (main thread only).

    A terminal's Ctrl-C goes to the whole foreground process group, the local cluster's worker
    processes included; they would die mid-task with tracebacks of their own.  Started with
    SIGINT ignored (Python keeps an ignored SIGINT), they leave the interrupt to this process,
    which closes the cluster in order.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ensure_workers(client: Any, address: Any, timeout: float) -> None:
    """Fail clearly, instead of waiting forever, when the scheduler has no workers."""
    if client.nthreads():
        return
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise SchedulerConnectionError(
            f"the Dask scheduler at {address!r} has no workers (waited {timeout:g} s). Fix: start "
            f"some with `dask worker {address}`, or pass scheduler='local' or scheduler=None."
        ) from exc


def check_scheduler(scheduler: Any, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
    """Connect to a Dask scheduler (and see a worker) within ``connect_timeout`` s, then let go.

    Lets a command fail in seconds, before any other work, when the address is wrong.

    Raises
    ------
    ValueError
        ``scheduler`` is not a scheduler specification at all (e.g. ``"threads"``).
    SchedulerConnectionError
        The scheduler cannot be reached or has no workers; the message says how to fix it.
    """
    check_scheduler_spec(scheduler)
    _client, closers, _ = open_dask(scheduler, connect_timeout)
    for close in closers:
        close()


def consume_in_order(
    submit: Callable[[int], Future],
    n_tasks: int,
    window: int,
    consume: Callable[[Any], None],
    *,
    release: bool = False,
) -> None:
    """Keep up to ``window`` tasks submitted and consume their results in task order.

    Consuming in task order is what makes the sums bit-identical whatever runs the tasks.
    ``submit(t)`` returns a future; ``release=True`` releases Dask futures once consumed.
    """
    pending: collections.deque = collections.deque()
    next_task = 0
    try:
        while next_task < n_tasks or pending:
            while next_task < n_tasks and len(pending) < window:
                pending.append(submit(next_task))
                next_task += 1
            fut = pending.popleft()
            result = fut.result()
            if release:
                fut.release()
            consume(result)
    finally:
        for fut in pending:
            fut.cancel()


def run_threads(
    func: Callable[..., Any],
    make_task_args: Callable[[int], tuple],
    n_tasks: int,
    workers: int,
    consume: Callable[[Any], None],
) -> None:
    """``consume(func(*make_task_args(t)))`` for ``t = 0 .. n_tasks - 1``, in order, in threads.

    With ``workers == 1`` everything runs in the calling thread; otherwise at most
    ``2 * workers`` tasks are in flight.
    """
    if workers == 1:
        for t in range(n_tasks):
            consume(func(*make_task_args(t)))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        consume_in_order(lambda t: pool.submit(func, *make_task_args(t)),
                         n_tasks, 2 * workers, consume)


def run_dask(
    client: Any,
    func: Callable[..., Any],
    make_task_args: Callable[[int], tuple],
    n_tasks: int,
    consume: Callable[[Any], None],
) -> None:
    """As :func:`run_threads` on a Dask client (``func`` must be importable by the workers)."""
    nthreads = sum(client.nthreads().values()) or 1
    consume_in_order(
        lambda t: client.submit(func, *make_task_args(t), pure=False),
        n_tasks, max(4, 2 * nthreads), consume, release=True)
