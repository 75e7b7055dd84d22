"""Output files: ImageJ-compatible TIFFs, JSON, and all-or-nothing output directories."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

__all__ = ["OutputError", "output_directory", "read_imagej_tiff", "write_imagej_tiff",
           "write_json"]


class OutputError(RuntimeError):
    """The output directory cannot be used (the message says why and the fix)."""


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
        raise ValueError(f"ImageJ TIFF needs (y, x) or (z, y, x) data; got shape {array.shape}.")
    metadata: dict[str, Any] = {"axes": "ZYX" if array.ndim == 3 else "YX"}
    if labels is not None:
        if array.ndim != 3 or len(labels) != array.shape[0]:
            raise ValueError("Slice labels need a (z, y, x) stack with one label per slice.")
        metadata["Labels"] = [str(label) for label in labels]
    path = Path(path)
    extra: dict[str, Any] = {}
    if pixel_size is not None:
        metadata["unit"] = "A"  # ImageJ shows "A" as Å
        extra["resolution"] = (1.0 / float(pixel_size), 1.0 / float(pixel_size))
    tifffile.imwrite(path, array, imagej=True, metadata=metadata, **extra)
    return path


def read_imagej_tiff(path: str | os.PathLike) -> tuple[np.ndarray, list[str] | None]:
    """Read a TIFF written by :func:`write_imagej_tiff` (or ImageJ): pixels and slice labels."""
    with tifffile.TiffFile(path) as tif:
        data = tif.asarray()
        labels = (tif.imagej_metadata or {}).get("Labels")
    return data, labels


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write JSON (numpy scalars and arrays become plain numbers and lists)."""

    def default(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"not JSON-serialisable: {type(value).__name__}")

    path = Path(path)
    path.write_text(json.dumps(payload, indent=2, default=default) + "\n")
    return path


def check_free_space(out: str | os.PathLike, needed_bytes: float, *, what: str) -> None:
    """Raise :class:`OutputError` before any work when ``out`` cannot hold ``needed_bytes``."""
    target = Path(out).absolute()
    existing = next((p for p in (target, *target.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    if free < needed_bytes:
        raise OutputError(
            f"{what} needs about {needed_bytes / 2**30:.2f} GiB but {existing} has "
            f"{free / 2**30:.2f} GiB free. Fix: free space, choose another --out, use fewer "
            "images, or leave out --save-stacks."
        )


class output_directory:  # noqa: N801 - used as a context manager, reads like a function
    """Write a set of files into ``out`` all at once, or not at all.

    Checks run before any work: ``out`` must not be a file, must be creatable and writable, and
    none of ``names`` may exist there unless ``force``.  Inside the ``with`` block files are
    written to a hidden temporary folder beside ``out``; on success they are moved into ``out``
    (one ``os.replace`` each, or one rename of the whole folder when ``out`` is new); on any
    error or interrupt the temporary folder is removed and ``out`` is left as it was.
    """

    def __init__(self, out: str | os.PathLike, names: Iterable[str], *, force: bool = False):
        self.out = Path(out)
        self.names = list(names)
        self.force = force
        self.check()
        self._tmp: Path | None = None

    def check(self) -> None:
        out = self.out
        if out.exists() and not out.is_dir():
            raise OutputError(
                f"Output path {out} is a file, not a directory. Fix: pass --out a directory "
                "path (new or existing)."
            )
        parent = out if out.exists() else next(
            (p for p in out.absolute().parents if p.exists()), Path("/"))
        if not parent.is_dir():
            raise OutputError(f"Cannot create {out}: {parent} is a file. Fix: choose another --out.")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(
                f"No permission to write in {parent}. Fix: choose a writable --out directory."
            )
        if out.is_dir() and not self.force:
            existing = [name for name in self.names if (out / name).exists()]
            if existing:
                raise OutputError(
                    f"{out} already holds {', '.join(existing)}. Fix: pass --force to overwrite, "
                    "or choose another --out."
                )

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.partial-",
                                              dir=self.out.absolute().parent))
        except OSError as exc:
            raise OutputError(f"Cannot write beside {self.out} ({exc}). Fix: choose a writable "
                              "--out directory.") from None
        return self._tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        tmp, self._tmp = self._tmp, None
        if tmp is None:
            return
        try:
            if exc_type is None:
                if not self.out.exists():
                    umask = os.umask(0)
                    os.umask(umask)
                    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private (0700)
                    os.replace(tmp, self.out)  # one atomic rename of the whole set
                    return
                for item in sorted(tmp.iterdir()):
                    os.replace(item, self.out / item.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


#: Files of ``einstein-from-noise run`` (``--save-stacks`` adds the two stacks).
RUN_FILES = ("reference.tif", "averages.tif", "unaligned_averages.tif", "aligned_examples.tif",
             "noise_examples.tif", "correlation_maps.tif", "figure.png", "results.json")
STACK_FILES = ("noise_stack.tif", "aligned_stack.tif")
CONTROL_FILES = ("controls.tif",)


def results_summary(data: Any) -> dict[str, Any]:
    """The JSON-able record of a run: parameters, versions, checks and per-count CC."""
    summary = dict(data.attrs)
    summary["counts"] = [int(c) for c in data["count"].values]
    summary["cc"] = {str(int(n)): float(v) for n, v in zip(data["count"].values, data["cc"].values)}
    summary["cc_unaligned"] = {
        str(int(n)): float(v) for n, v in zip(data["count"].values, data["cc_unaligned"].values)
    }
    return summary


def write_run_outputs(data: Any, directory: str | os.PathLike, *, save_stacks: bool = False,
                      figure: bool = True) -> list[Path]:
    """Write the files of a run (see :data:`RUN_FILES`) into ``directory``."""
    directory = Path(directory)
    labels = [f"N={int(n)}" for n in data["count"].values]
    # the particles' pixel size (attrs["pixel_size_angstrom"], from their file) calibrates
    # every image TIFF
    px = {"pixel_size": data.attrs.get("pixel_size_angstrom")}
    written = [
        write_imagej_tiff(directory / "reference.tif", data["reference"].values, **px),
        write_imagej_tiff(directory / "averages.tif", data["averages"].values, labels=labels,
                          **px),
        write_imagej_tiff(directory / "unaligned_averages.tif", data["unaligned_averages"].values,
                          labels=[f"{label} unaligned" for label in labels], **px),
    ]
    n_examples = int(data.sizes.get("example", 0))
    if n_examples:
        example_labels = [f"image {i + 1}" for i in range(n_examples)]
        shifts = data["shifts"].values[:n_examples]
        written += [
            write_imagej_tiff(directory / "noise_examples.tif", data["noise_examples"].values,
                              labels=example_labels, **px),
            write_imagej_tiff(directory / "aligned_examples.tif", data["aligned_examples"].values,
                              labels=[f"image {i + 1} shifted by ({-dy}, {-dx})"
                                      for i, (dy, dx) in enumerate(shifts)], **px),
            write_imagej_tiff(directory / "correlation_maps.tif", data["correlation_maps"].values,
                              labels=[f"image {i + 1} CC peak at d=({dy}, {dx})"
                                      for i, (dy, dx) in enumerate(shifts)]),
        ]
    if "control_images" in data:
        written.append(write_imagej_tiff(
            directory / "controls.tif", data["control_images"].values,
            labels=[str(t).replace("\n", " ") for t in data["control_title"].values]))
    if save_stacks:
        written += [
            write_imagej_tiff(directory / "noise_stack.tif", data["noise"].values, **px),
            write_imagej_tiff(directory / "aligned_stack.tif", data["aligned"].values, **px),
        ]
    if figure:
        from fiji_bridge import figures

        written.append(figures.save_experiment_figure(data, directory / "figure.png"))
    written.append(write_json(directory / "results.json", results_summary(data)))
    return written
