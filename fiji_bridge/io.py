"""Output files: one atomic writer for every file, and all-or-nothing output directories.

Every file of ``fiji_bridge`` (ImageJ TIFFs, PNG figures, JSON, CSV) is written through
:func:`atomic_file`: into a hidden temporary file beside the destination, flushed to disk, then
moved over it with :func:`os.replace`, so a reader never sees a partial file. A command's set of
files goes through :class:`output_directory` (all of them or none). Which files each command
writes, and how, is :mod:`fiji_bridge.outputs`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from fiji_bridge.checks import human_bytes

__all__ = ["STAGING_PREFIX", "OutputError", "atomic_file", "check_free_space",
           "estimate_run_bytes", "mount_point", "output_directory", "plain", "read_imagej_tiff",
           "save_figure", "write_csv", "write_imagej_tiff", "write_json"]


class OutputError(RuntimeError):
    """The output directory cannot be used (the message says why and the fix)."""


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one step.

    The temporary file is hidden (``.name.XXXX.partial<suffix>``) in the destination folder
    (created when missing), so :func:`os.replace` is atomic. After the ``with`` block it is
    fsynced, given the usual permissions (0o666 minus the umask) and moved over ``path``; on
    any error or interrupt it is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{path.suffix}",
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_imagej_tiff(path: str | os.PathLike, data: np.ndarray, *,
                      labels: Sequence[str] | None = None,
                      pixel_size: float | None = None) -> Path:
    """Write a 32-bit float image or stack that ImageJ/Fiji opens unchanged.

    ImageJ hyperstack TIFF (``imagej=True``) with axes ``YX`` or ``ZYX`` and slice labels
    (Image>Stacks>Set Label shows them).  ImageJ TIFFs hold float32, not float64, so data is
    converted to float32.  ``pixel_size`` (ångström), when given, becomes ImageJ's spatial
    calibration (Image>Properties: unit Å, pixel width and height).
    """
    array = np.asarray(data, dtype=np.float32)
    if array.ndim not in (2, 3):
        raise ValueError(f"ImageJ TIFF needs (y, x) or (z, y, x) data; got shape {array.shape}. "
                         "Fix: pass one image or a stack.")
    metadata: dict[str, Any] = {"axes": "ZYX" if array.ndim == 3 else "YX"}
    if labels is not None:
        if array.ndim != 3 or len(labels) != array.shape[0]:
            raise ValueError("Slice labels need a (z, y, x) stack with one label per slice. "
                             "Fix: pass as many labels as slices, or none.")
        metadata["Labels"] = [str(label) for label in labels]
    path = Path(path)
    extra: dict[str, Any] = {}
    if pixel_size is not None:
        metadata["unit"] = "A"  # ImageJ shows "A" as Å
        extra["resolution"] = (1.0 / float(pixel_size), 1.0 / float(pixel_size))
    with atomic_file(path) as tmp:
        tifffile.imwrite(tmp, array, imagej=True, metadata=metadata, **extra)
    return path


def read_imagej_tiff(path: str | os.PathLike) -> tuple[np.ndarray, list[str] | None]:
    """Read a TIFF written by :func:`write_imagej_tiff` (or ImageJ): pixels and slice labels."""
    with tifffile.TiffFile(path) as tif:
        data = tif.asarray()
        labels = (tif.imagej_metadata or {}).get("Labels")
    return data, labels


def plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars and arrays become numbers and lists, paths strings, tuples
    lists, dict keys strings, and NaN or infinite floats ``None`` (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``plain(payload)`` as indented JSON (the one JSON writer of the package)."""
    path = Path(path)
    text = json.dumps(plain(payload), indent=2, allow_nan=False) + "\n"
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return path


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Write rows of one table as CSV: floats as ``%.6g``, an undefined (NaN) value empty."""

    def cell(value: Any) -> Any:
        if isinstance(value, float):
            return "" if not math.isfinite(value) else f"{value:.6g}"
        return value

    path = Path(path)
    with atomic_file(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: cell(v) for k, v in row.items()})
    return path


def save_figure(figure: Any, path: str | os.PathLike, *, dpi: float = 120) -> Path:
    """Write a matplotlib figure as a PNG, atomically (see :func:`atomic_file`).

    The PNG is ``figure size in inches x dpi`` pixels (no tight bounding box).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"Figures are written as PNG; the path {str(path)!r} does not end in "
                         "'.png'. Fix: name the file e.g. figure.png.")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float, np.integer, np.floating)) or not (
            np.isfinite(dpi) and dpi > 0):
        raise ValueError(f"dpi={dpi!r} is not a positive number. Fix: e.g. dpi=120.")
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=float(dpi))
    return path


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent."""
    path = Path(path).absolute()
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


def mount_point(path: str | os.PathLike) -> Path:
    """The mount point of the filesystem that holds ``path`` (or would hold it)."""
    path = _existing(Path(path)).resolve()
    device = path.stat().st_dev
    while path.parent != path and path.parent.stat().st_dev == device:
        path = path.parent
    return path


def check_free_space(out: str | os.PathLike, needed_bytes: float, *,
                     what: str = "writing the results") -> None:
    """Raise :class:`OutputError` before any work when ``out`` cannot hold ``needed_bytes``.

    The message gives both sizes readably: ``"needs 1.3 MiB, 208.0 KiB free in /m"``.
    """
    free = shutil.disk_usage(_existing(Path(out))).free
    if free < needed_bytes:
        raise OutputError(
            f"{what} needs {human_bytes(needed_bytes)}, {human_bytes(free)} free in "
            f"{mount_point(out)}. Fix: free space, choose another --out, or write less (fewer "
            "images, fewer --examples, no --save-stacks or --netcdf)."
        )


#: Extra bytes per file for headers, metadata and the filesystem's block rounding.
_FILE_OVERHEAD = 64 * 1024
#: The experiment figure's PNG: measured 0.9 MiB at 128 x 128 with 4 counts, 0.3 MiB at 64 x 64
#: (its pixel size does not depend on the images').
_FIGURE_BYTES = 3 * 2**19


def estimate_run_bytes(names: Iterable[str], *, size: int, n_images: int, n_counts: int,
                       examples: int, n_controls: int = 0) -> int:
    """Bytes the files ``names`` of a run will take (an upper estimate, before any work).

    TIFFs are float32 (``4 H W`` bytes per slice); the netCDF file holds every array of the
    Dataset (shifts and peaks 20 bytes per image); ``report.html`` embeds the figure and one
    PNG per reference, average and control as base64 (4/3 of their bytes).  Each file gets
    :data:`_FILE_OVERHEAD` more, and the sum 10 % more.
    """
    image = 4 * size * size
    examples = min(examples, n_images)
    names = list(names)
    stacks = 2 * n_images * image if "noise_stack.tif" in names else 0
    figure = _FIGURE_BYTES + n_controls * 2**18
    per_name = {
        "reference.tif": image,
        "averages.tif": n_counts * image,
        "unaligned_averages.tif": n_counts * image,
        "noise_examples.tif": examples * image,
        "aligned_examples.tif": examples * image,
        "correlation_maps.tif": examples * image,
        "controls.tif": n_controls * image,
        "noise_stack.tif": n_images * image,
        "aligned_stack.tif": n_images * image,
        "figure.png": figure,
        "results.json": 2**16,
        "results.nc": (1 + 2 * n_counts + 3 * examples + n_controls) * image + 20 * n_images
        + n_counts * size * 8 + stacks,
        "report.html": (figure + (1 + 2 * n_counts + n_controls) * (image + 4096)) * 4 // 3,
    }
    total = sum(per_name.get(name, 2**20) + _FILE_OVERHEAD for name in names)
    return int(total * 1.1)


#: Hidden folder inside ``--out`` where a command's files are written before they are moved
#: into place (same filesystem as the destination, so the moves are renames).
STAGING_PREFIX = ".einstein-from-noise.partial-"


@contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM (main thread only) for a short critical section.

    Signals that arrive inside are recorded in the yielded list and not acted on; the old
    handlers come back afterwards.  In other threads (where Python cannot set handlers) the
    section runs unprotected.
    """
    import signal
    import threading

    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    numbers = (signal.SIGINT, signal.SIGTERM)
    old = {number: signal.getsignal(number) for number in numbers}
    for number in numbers:
        signal.signal(number, lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        for number, handler in old.items():
            signal.signal(number, handler)


class output_directory:  # noqa: N801 - used as a context manager, reads like a function
    """Write a set of files into ``out`` all at once, or not at all, one writer at a time.

    ::

        with output_directory(out, names, force=force) as output:  # checked and locked
            ...                                                    # the long work
            with output.staging() as folder:                       # write into ``folder``
                ...

    Made before any work, it checks that ``out`` is not a file and can be created and written,
    and that none of the files of the result set (``names`` and ``replaces``) is there unless
    ``force``; with ``needed_bytes`` it also checks the free space
    (:func:`check_free_space`).

    Entering it creates ``out`` when missing and takes an exclusive lock on it
    (``fcntl.flock`` on the directory itself, so no lock file is left): a second writer to
    the same ``out`` fails at once with "another run is writing OUT".  Staging folders that a
    killed run left in ``out`` are removed then (the lock says nobody uses them).

    :meth:`staging` yields a hidden folder *inside* ``out`` (the same filesystem, so ``out``
    may be a mount point).  On success its files are moved into ``out``, one rename each,
    with SIGINT and SIGTERM held for those milliseconds; with ``force``, files of an earlier
    result set that this one does not write (``replaces`` minus ``names``) are removed, so
    the folder never holds a mix of two runs.  A full disk, or any other failure to write,
    becomes an :class:`OutputError` that gives the space needed and free.  On any error or
    interrupt the staging folder is removed, ``out`` is removed again if this object created
    it (and it is still empty), and nothing else in ``out`` is touched.

    Attributes
    ----------
    out : pathlib.Path
    committed : bool
        Whether the files were moved into ``out``.
    """

    def __init__(self, out: str | os.PathLike, names: Iterable[str], *, force: bool = False,
                 replaces: Iterable[str] = (), needed_bytes: float | None = None):
        self.out = Path(out)
        self.names = list(names)
        self.replaces = [name for name in replaces if name not in self.names]
        self.force = force
        self.needed_bytes = needed_bytes
        self.committed = False
        self._lock: int | None = None
        self._created = False
        self.check()

    def check(self) -> None:
        """The checks made before any work (see the class docstring)."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise OutputError(
                f"Output path {out} is a file, not a directory. Fix: pass --out a directory "
                "path (new or existing)."
            )
        parent = out if out.exists() else _existing(out)
        if not parent.is_dir():
            raise OutputError(f"Cannot create {out}: {parent} is a file. Fix: choose another --out.")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(
                f"No permission to write in {parent}. Fix: choose a writable --out directory."
            )
        if out.is_dir() and not self.force:
            existing = [name for name in self.names + self.replaces if (out / name).exists()]
            if existing:
                raise OutputError(
                    f"{out} already holds {', '.join(existing)}. Fix: pass --force to replace "
                    "that result, or choose another --out."
                )
        if self.needed_bytes is not None:
            check_free_space(out, self.needed_bytes)

    def __enter__(self) -> "output_directory":
        import fcntl

        out = self.out
        try:
            out.mkdir(parents=True)
            self._created = True
        except FileExistsError:
            pass
        except OSError as exc:
            raise OutputError(f"Cannot create {out} ({exc.strerror}). Fix: choose a writable "
                              "--out directory.") from None
        try:
            self._lock = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._release()
            raise OutputError(
                f"another run is writing {out}. Fix: wait for it to finish, or choose another "
                "--out."
            ) from None
        for stale in out.glob(STAGING_PREFIX + "*"):  # a killed run's: we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._release()

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """Yield the hidden folder to write into; move its files into ``out`` on success."""
        if self._lock is None:
            raise RuntimeError("output_directory.staging() needs the `with output_directory(...)` "
                               "block around it (it holds the lock)")
        with _signals_deferred() as early:  # no interrupt between making the folder and `try`
            try:
                tmp = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.out))
            except OSError as exc:
                raise self._write_error(exc) from None
        caught: list[int] = []
        try:
            if early:  # arrived while the folder was made: act on it now (the folder goes)
                import signal

                signal.raise_signal(early[0])
            try:
                yield tmp
                os.chmod(tmp, 0o777 & ~_umask())
                with _signals_deferred() as caught:
                    self._commit(tmp)
            except OSError as exc:  # a full disk, or the folder went away
                shutil.rmtree(tmp, ignore_errors=True)  # first: the free space is then true
                raise self._write_error(exc) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if caught:  # arrived while the files were moved in: act on it now
            import signal

            signal.raise_signal(caught[0])

    def _commit(self, tmp: Path) -> None:
        for item in sorted(tmp.iterdir()):
            os.replace(item, self.out / item.name)
        if self.force:
            for name in self.replaces:
                stale = self.out / name
                if stale.is_file() or stale.is_symlink():
                    stale.unlink()
        self.committed = True

    def _write_error(self, error: OSError) -> OutputError:
        free = shutil.disk_usage(_existing(self.out)).free
        full = getattr(error, "errno", None) in (28, 122) or free < 2**20  # ENOSPC, EDQUOT
        reason = "the disk is full" if full else (error.strerror or str(error))
        needs = f"needs {human_bytes(self.needed_bytes)}, " if self.needed_bytes else ""
        return OutputError(
            f"could not write {self.out}: {reason} ({needs}{human_bytes(free)} free in "
            f"{mount_point(self.out)}); nothing was written. Fix: free space or choose another "
            "--out."
        )

    def _release(self) -> None:
        """Drop the lock; remove ``out`` if this object created it and nothing was written."""
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None
        if self._created and not self.committed:
            try:
                self.out.rmdir()  # only when still empty
            except OSError:
                pass
        self._created = False
