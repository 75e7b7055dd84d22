"""``report.html``: one self-contained page per run, to open in any browser or send on.

The page holds the run's figure, the CC table (aligned and unaligned average against the
reference, per count), the reference and every average as images, the controls, the
parameters, the versions, the timings and a link to each file of the run.  It is plain HTML with
an inline style sheet: images are embedded as ``data:image/png;base64`` URIs, there is no
JavaScript and nothing is fetched from the network, so the page opens from the output folder
(links to the run's files are relative) or on its own.

Contrast of the embedded images (as in :mod:`fiji_bridge.figures`): the reference and the
control panels from their own min to max; averages with their own symmetric window
``mean ± CONTRAST_SIGMAS · std`` (an average of N noise images has a standard deviation of
about ``1/sqrt(N)``, so a shared window would show it flat).  Grey levels are therefore not
comparable between images; the CC values are.
"""

from __future__ import annotations

import base64
import html
import io
import os
import platform
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from fiji_bridge.figures import CONTRAST_SIGMAS  # one display window for figure and report

__all__ = ["REPORT_NAME", "build_report", "png_data_uri"]

#: File name of the report in the run's output folder.
REPORT_NAME = "report.html"
#: Packages whose versions the report lists (when installed).
_PACKAGES = ("fiji_bridge", "numpy", "scipy", "xarray", "scyjava", "jpype1", "tifffile",
             "matplotlib")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 72em;
       color: #1b1b1b; background: #ffffff; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; font-size: 1.25em;
     border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc;
        padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.3em; text-align: center; }
figure img { width: 160px; height: auto; image-rendering: pixelated; border: 1px solid #999; }
figcaption { font-size: 0.85em; }
img.figure { max-width: 100%; height: auto; border: 1px solid #ccc; }
.note { color: #555; font-size: 0.9em; }
"""


def _check_dataset(data: Any) -> None:
    import xarray as xr

    if not isinstance(data, xr.Dataset):
        raise TypeError(
            f"report needs the run's xarray.Dataset (from fiji_bridge.einstein_from_noise); got "
            f"{type(data).__name__}. Fix: pass the Dataset itself."
        )
    missing = [name for name in ("reference", "averages", "cc", "count") if name not in data]
    if missing:
        raise ValueError(
            f"The Dataset lacks {', '.join(missing)}, which the report shows. Fix: pass the "
            "Dataset returned by fiji_bridge.einstein_from_noise."
        )


def _window(image: np.ndarray, mode: str) -> tuple[float, float]:
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    if mode == "minmax":
        low, high = float(finite.min()), float(finite.max())
    else:
        mean, std = float(finite.mean()), float(finite.std())
        low, high = mean - CONTRAST_SIGMAS * std, mean + CONTRAST_SIGMAS * std
    return (low, high) if high > low else (low - 1.0, low + 1.0)


def png_data_uri(image: Any, *, window: str = "sym") -> str:
    """A 2-D image as a grey PNG ``data:`` URI.

    Parameters
    ----------
    image : array_like, shape (H, W)
        Real values; NaN shows black.
    window : {"sym", "minmax"}
        Display range: ``mean ± CONTRAST_SIGMAS · std`` of the image, or its min..max.
    """
    from matplotlib.image import imsave

    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"png_data_uri needs a non-empty 2-D image; got shape {array.shape}. "
                         "Fix: pass one (y, x) image.")
    if window not in ("sym", "minmax"):
        raise ValueError(f"window={window!r} is not 'sym' or 'minmax'. Fix: window='sym'.")
    low, high = _window(array, window)
    buffer = io.BytesIO()
    imsave(buffer, np.nan_to_num(array, nan=low), cmap="gray", vmin=low, vmax=high,
           format="png")
    return _uri(buffer.getvalue())


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            numeric = isinstance(cell, (int, float, np.integer, np.floating)) \
                and not isinstance(cell, bool)
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{_e(_number(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _key_values(items: Mapping[str, Any]) -> str:
    return _table(("name", "value"), ((k, _flat(v)) for k, v in items.items()))


def _flat(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_number(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_number(v) for v in value)
    return value


def _figure(uri: str, caption: str) -> str:
    return (f'<figure><img src="{uri}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _versions(attrs: Mapping[str, Any]) -> dict[str, Any]:
    versions: dict[str, Any] = {
        "ImageJ": f"{attrs.get('imagej_version', 'n/a')} ({attrs.get('imagej_backend', 'n/a')})",
        "ImageJ source": attrs.get("imagej_source", "n/a"),
        "Python": platform.python_version(),
    }
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "fiji_bridge" and "package_version" in attrs:
                versions[name] = attrs["package_version"]
    return versions


_PARAMETERS = ("input", "reference_name", "size", "seed", "n_images", "engine", "averaged_by",
               "scheduler", "reference_original_shape", "reference_crop_xywh", "reference_mean",
               "reference_stdev", "shift_dy", "shift_dx", "zero_shift_fraction", "peak",
               "zproject_vs_numpy_max_abs_diff", "imagej_quirks")


def _controls(data: Any) -> str:
    attrs = data.attrs
    parts = []
    if "cc_unaligned" in data:
        parts.append("<p>No alignment (always on): the same noise averaged without alignment "
                     "(CC column above, and the row of unaligned averages).</p>")
    if "control_other_reference" in attrs:
        other = attrs["control_other_reference"]
        parts.append("<h3>Aligned to another reference</h3>" + _table(
            ("other reference", "CC with the other", "CC with ours"),
            [(other["name"], other["cc_with_other"], other["cc_with_reference"])]))
    if "control_classification" in attrs:
        classes = attrs["control_classification"]
        rows = [(k, name, size, classes["cross_cc"][k][k])
                for k, (name, size) in enumerate(zip(classes["references"],
                                                     classes["class_sizes"]))]
        parts.append("<h3>Multi-reference classification</h3>"
                     + _table(("class", "reference", "size", "CC with own reference"), rows))
    if "control_rotation" in attrs:
        rotation = attrs["control_rotation"]
        parts.append("<h3>Rotation + translation</h3>" + _table(
            ("angle step (deg)", "CC"), [(rotation["angle_step"], rotation["cc"])]))
    if "particles_vs_noise" in attrs:
        comparison = attrs["particles_vs_noise"]
        parts.append("<h3>Your particles against pure noise</h3>" + _table(
            ("images", "CC(particle average, reference)", "CC(pure-noise average, reference)"),
            [(comparison["n_images"], comparison["cc_particles"],
              comparison["cc_pure_noise"])]))
    if "control_images" in data:
        titles = [str(t).replace("\n", " ") for t in data["control_title"].values]
        parts.append("<div>" + "".join(
            _figure(png_data_uri(image, window="minmax"), title)
            for image, title in zip(data["control_images"].values, titles)) + "</div>")
    return "".join(parts)


def _files(directory: Path | None, files: Iterable[str | os.PathLike]) -> str:
    rows = []
    for file in files:
        name = Path(file).name
        size = (directory / name).stat().st_size if directory is not None \
            and (directory / name).is_file() else None
        link = f'<a href="{_e(quote(name))}">{_e(name)}</a>'
        size_text = "" if size is None else f"{size:,} bytes"
        rows.append(f"<tr><td>{link}</td><td class=\"num\">{_e(size_text)}</td></tr>")
    if not rows:
        return "<p class=\"note\">No files listed.</p>"
    return "<table><tr><th>file</th><th>size</th></tr>" + "".join(rows) + "</table>"


def build_report(data: Any, *, files: Iterable[str | os.PathLike] = (),
                 directory: str | os.PathLike | None = None,
                 figure: str | os.PathLike | None = None) -> str:
    """The HTML text of a run's report.

    Parameters
    ----------
    data : xarray.Dataset
        The run's Dataset (:func:`fiji_bridge.einstein_from_noise`).
    files : iterable of paths, keyword-only
        Files of the run; each gets a relative link (its name) and its size when it lies in
        ``directory``.
    directory : path, optional, keyword-only
        The output folder (for file sizes).
    figure : path, optional, keyword-only
        PNG of the run's figure, embedded at the top; left out when ``None``.

    Raises
    ------
    TypeError, ValueError
        ``data`` is not a run's Dataset.
    FileNotFoundError
        ``figure`` does not exist.
    """
    _check_dataset(data)
    attrs = data.attrs
    folder = Path(directory) if directory is not None else None
    counts = [int(n) for n in data["count"].values]
    cc = [float(v) for v in data["cc"].values]
    cc_unaligned = [float(v) for v in data["cc_unaligned"].values] \
        if "cc_unaligned" in data else [float("nan")] * len(counts)
    title = (f"Einstein from noise: {attrs.get('n_images', max(counts))} images aligned to "
             f"{attrs.get('reference_name', 'the reference')}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="note">{_e(attrs.get("input", "pure Gaussian noise"))}, '
        f"{_e(attrs.get('size', data['reference'].shape[-1]))}×"
        f"{_e(attrs.get('size', data['reference'].shape[-1]))} pixels, seed "
        f"{_e(attrs.get('seed', 'n/a'))}, engine {_e(attrs.get('engine', 'n/a'))}, ImageJ "
        f"{_e(attrs.get('imagej_version', 'n/a'))}. Self-contained page: images embedded, no "
        "JavaScript, no network.</p>",
    ]
    if figure is not None:
        png = Path(figure).read_bytes()
        parts += ["<h2>Figure</h2>",
                  f'<img class="figure" src="{_uri(png)}" alt="figure of the run">']
    parts += [
        "<h2>Correlation with the reference</h2>",
        "<p>Pearson correlation coefficient of each average with the normalised reference.</p>",
        _table(("N averaged", "CC(aligned average, reference)",
                "CC(unaligned average, reference)"),
               zip(counts, cc, cc_unaligned)),
        "<h2>Images</h2>",
        "<div>" + _figure(png_data_uri(data["reference"].values, window="minmax"),
                          "reference (normalised)") + "</div>",
        "<div>" + "".join(_figure(png_data_uri(image), f"aligned average N={n}, CC={c:.3f}")
                          for n, c, image in zip(counts, cc, data["averages"].values))
        + "</div>",
    ]
    if "unaligned_averages" in data:
        parts.append("<div>" + "".join(
            _figure(png_data_uri(image), f"unaligned average N={n}, CC={c:.3f}")
            for n, c, image in zip(counts, cc_unaligned, data["unaligned_averages"].values))
            + "</div>")
    controls = _controls(data)
    if controls:
        parts += ["<h2>Controls</h2>", controls]
    parameters = {key: attrs[key] for key in _PARAMETERS if key in attrs}
    parameters["counts"] = counts
    parts += [
        "<h2>Parameters</h2>", _key_values(parameters),
        "<h2>Versions</h2>", _key_values(_versions(attrs)),
        "<h2>Timings</h2>",
        _table(("step", "seconds"), list(dict(attrs.get("timings", {})).items())),
        "<h2>Files of this run</h2>", _files(folder, files),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
