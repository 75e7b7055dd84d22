"""Check an image file in Python before ImageJ opens it: fully decoded, truncation detected.

ImageJ opens a truncated TIFF without complaint (the missing half reads as 0) and reports a
damaged PNG in a dialog; a TIFF page holding a 3-D array silently gives its first plane.  So
:func:`check_image_file` decodes the whole file with the libraries already installed
(``tifffile`` for TIFF, ``imageio`` with Pillow for PNG, JPEG, GIF, BMP, ...) and turns damage
into one clear :class:`ValueError`; what the file holds comes back as an :class:`ImageFileInfo`
whose ``notes`` say what a caller should warn about.  Formats these libraries do not know
(DICOM, FITS, ...) are left to ImageJ.

No Java here.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["ImageFileInfo", "ImageFileWarning", "check_image_file"]

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class ImageFileWarning(UserWarning):
    """An image file is usable but doubtful (several planes, tiny): says what was used."""


@dataclasses.dataclass(frozen=True)
class ImageFileInfo:
    """What an image file holds, as decoded in Python.

    Attributes
    ----------
    path : Path
    reader : {"tifffile", "imageio", None}
        The library that decoded it; None when neither knows the format (ImageJ may).
    shape : tuple of int
        The decoded array's shape (for TIFF, the first series), or ``()`` when not decoded.
    pages : int
        TIFF pages (ImageJ opens more than one as a stack); 1 for other formats.
    planes : int
        Grey planes in one page/frame: 1 for a grey or colour (RGB/RGBA) image, more for a
        3-D array stored in one page; ImageJ shows only the first of them.
    notes : tuple of str
        Sentences worth a warning (see :func:`check_image_file`).
    """

    path: Path
    reader: str | None
    shape: tuple
    pages: int = 1
    planes: int = 1
    notes: tuple = ()


def _damaged(path: Path, detail: str) -> ValueError:
    truncated = any(word in detail.lower() for word in ("truncat", "failed to read", "eof",
                                                         "end of file", "unexpected end"))
    what = "is truncated (cut short)" if truncated else "is damaged"
    return ValueError(
        f"The image file {path} {what}: it cannot be fully decoded ({detail}). "
        "Fix: copy or export the image again and pass the complete file."
    )


def check_image_file(path: str | os.PathLike, *, warn: bool = True) -> ImageFileInfo:
    """Decode an image file completely; raise on damage; note several planes.

    Parameters
    ----------
    path : str or path
    warn : bool
        Also emit each note as an :class:`ImageFileWarning`.

    Returns
    -------
    ImageFileInfo

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A folder, an unreadable or empty file, or a file that cannot be fully decoded
        (truncated TIFF, PNG or JPEG, broken compressed data): one sentence with the fix.
    """
    file = Path(path)
    if file.is_dir():
        raise ValueError(f"{file} is a folder, not an image file. Fix: pass the image's path.")
    if not file.is_file():
        raise FileNotFoundError(f"Image file {file} does not exist. Fix: check the path.")
    try:
        size = file.stat().st_size
        with open(file, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:  # e.g. no read permission
        raise ValueError(f"The image file {file} cannot be read ({exc.strerror or exc}). "
                         "Fix: check its permissions.") from None
    if size == 0:
        raise ValueError(f"The image file {file} is empty (0 bytes). Fix: pass the complete "
                         "image file.")
    if head in _TIFF_MAGIC:
        info = _check_tiff(file)
    else:
        info = _check_other(file)
    if warn:
        for note in info.notes:
            warnings.warn(note, ImageFileWarning, stacklevel=2)
    return info


def _check_tiff(file: Path) -> ImageFileInfo:
    import tifffile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tifffile warns, then raises or pads: we decide
            with tifffile.TiffFile(file) as tif:
                pages = len(tif.pages)
                for index in range(pages):  # every page, fully: truncation shows here
                    tif.pages[index].asarray()
                series = tif.series[0]
                shape = tuple(int(n) for n in series.shape)
                axes = str(series.axes)
                page = tif.pages[0]
                colour = int(getattr(page, "photometric", 0)) == 2  # RGB
    except Exception as exc:
        raise _damaged(file, f"{type(exc).__name__}: {exc}") from None
    notes = []
    planes = 1
    if pages == 1:
        sample_axes = [n for n, axis in zip(shape, axes) if axis not in "YX"]
        planes = int(np.prod(sample_axes)) if sample_axes else 1
        if colour and planes in (3, 4):
            planes = 1
        if planes > 1:
            notes.append(
                f"{file.name} holds {planes} planes in one TIFF page (shape {shape}, axes "
                f"{axes}); ImageJ uses only the first plane. Fix: save the plane you want as "
                "its own 2-D image."
            )
    return ImageFileInfo(path=file, reader="tifffile", shape=shape, pages=pages,
                         planes=planes, notes=tuple(notes))


def _check_other(file: Path) -> ImageFileInfo:
    import imageio.v3 as iio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(iio.imread(file))
    except Exception as exc:
        text = str(exc)
        if "Could not find a backend" in text or "cannot identify image file" in text:
            # Pillow does not know it; it may still be one of ImageJ's formats (DICOM, FITS).
            return ImageFileInfo(path=file, reader=None, shape=())
        raise _damaged(file, f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}")
    shape = tuple(int(n) for n in array.shape)
    if len(shape) <= 2 or (len(shape) == 3 and shape[-1] in (2, 3, 4)):
        planes = 1
    else:  # e.g. an animated GIF: frames first
        planes = int(np.prod(shape[:-3] if shape[-1] in (3, 4) else shape[:-2]))
    return ImageFileInfo(path=file, reader="imageio", shape=shape, planes=planes)
