"""``report.html``: one self-contained page per run, check or study, to open in any browser or
send on (:func:`build_report`, :func:`build_check_report`, :func:`build_study_report`, all
through :func:`page`).

A run's page holds its figure, the CC table (aligned and unaligned average against the
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

from fiji_bridge import checks
from fiji_bridge.figures import CONTRAST_SIGMAS  # one display window for figure and report

__all__ = ["REPORT_NAME", "build_check_report", "build_report", "build_study_report",
           "embedded_png", "page", "png_data_uri"]

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
    checks.dataset(data, "build_report")
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
        "ImageJ": f"{attrs.get('imagej_version', 'n/a')}"
                  + (f" ({attrs['imagej_backend']})" if "imagej_backend" in attrs else ""),
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


def embedded_png(path: str | os.PathLike, alt: str) -> str:
    """An ``<img>`` holding the PNG file at ``path`` as a ``data:`` URI (full page width).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    """
    return f'<img class="figure" src="{_uri(Path(path).read_bytes())}" alt="{_e(alt)}">'


def page(title: str, note: str, sections: Iterable[str], *,
         files: Iterable[str | os.PathLike] = (),
         directory: str | os.PathLike | None = None) -> str:
    """A whole report page: the head and style sheet, ``title``, ``note``, the HTML
    ``sections`` (already escaped), then a table linking each of ``files`` (relative link, size
    when the file lies in ``directory``). Every report (run, check, study) is built by it."""
    folder = Path(directory) if directory is not None else None
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="note">{_e(note)} Self-contained page: images embedded, no JavaScript, '
        "no network.</p>",
        *sections,
        "<h2>Files</h2>", _files(folder, files),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


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
    counts = [int(n) for n in data["count"].values]
    cc = [float(v) for v in data["cc"].values]
    cc_unaligned = [float(v) for v in data["cc_unaligned"].values] \
        if "cc_unaligned" in data else [float("nan")] * len(counts)
    title = (f"Einstein from noise: {attrs.get('n_images', max(counts))} images aligned to "
             f"{attrs.get('reference_name', 'the reference')}")
    side = attrs.get("size", data["reference"].shape[-1])
    note = (f"{attrs.get('input', 'pure Gaussian noise')}, {side}×{side} pixels, seed "
            f"{attrs.get('seed', 'n/a')}, engine {attrs.get('engine', 'n/a')}, ImageJ "
            f"{attrs.get('imagej_version', 'n/a')}.")
    parts = []
    if figure is not None:
        parts += ["<h2>Figure</h2>", embedded_png(figure, "figure of the run")]
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
    ]
    return page(title, note, parts, files=files, directory=directory)


#: Keys of a check's record shown as its parameters (:func:`fiji_bridge.check_command.check_record`).
_CHECK_PARAMETERS = ("particles", "n_particles", "reference_name", "box", "max_shift",
                     "mask_radius", "null", "alpha", "half_set_frc")


def _check_record(record: Any, keys: Iterable[str], what: str) -> None:
    if not isinstance(record, Mapping):
        raise TypeError(f"the {what} report needs the {what}'s JSON record (a dict); got "
                        f"{type(record).__name__}. Fix: pass the record written to {what}.json.")
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(f"the {what} record lacks {', '.join(missing)}, which the report "
                         f"shows. Fix: pass the record written to {what}.json.")


def build_check_report(record: Mapping[str, Any], *, files: Iterable[str | os.PathLike] = (),
                       directory: str | os.PathLike | None = None,
                       figure: str | os.PathLike | None = None) -> str:
    """The HTML text of ``einstein-from-noise check``'s report.

    Parameters
    ----------
    record : dict
        The check's record (:func:`fiji_bridge.check_command.check_record`): its ``cc``
        {observed, null_mean, null_sd, z, p_value}, ``signal_beyond_bias`` and ``verdict`` are
        shown first, then the parameters and the versions.
    files, directory
        As :func:`build_report`.
    figure : path, optional, keyword-only
        ``check.png`` (:func:`fiji_bridge.check_figures.check_figure`), embedded.

    Raises
    ------
    TypeError
        ``record`` is not a mapping.
    ValueError
        ``record`` lacks a key the page shows.
    FileNotFoundError
        ``figure`` does not exist.
    """
    _check_record(record, ("cc", "signal_beyond_bias", "verdict", "n_particles"), "check")
    cc = record["cc"]
    title = f"Template-bias check: {record['n_particles']} particles"
    note = (f"{record.get('particles', 'particles')} against "
            f"{record.get('reference_name', 'the template')}, ImageJ "
            f"{record.get('imagej_version', 'n/a')}.")
    sections = [
        "<h2>Verdict</h2>",
        f"<p><strong>{'SIGNIFICANT' if record['signal_beyond_bias'] else 'not significant'}"
        f"</strong>: {_e(record['verdict'])}</p>",
        _table(("observed CC", "null mean ± sd", "z", "p", "signal_beyond_bias"),
               [(cc["observed"], f"{_number(cc['null_mean'])} ± {_number(cc['null_sd'])}",
                 cc["z"], cc["p_value"], record["signal_beyond_bias"])]),
        '<p class="note">CC: Pearson correlation of the aligned average with the template; '
        "null: the same particles with randomised Fourier phases (same power spectrum), "
        "aligned the same way; p = (1 + #{null ≥ observed}) / (draws + 1).</p>",
    ]
    if figure is not None:
        sections += ["<h2>Figure</h2>", embedded_png(figure, "figure of the check")]
    sections += [
        "<h2>Parameters</h2>",
        _key_values({key: record[key] for key in _CHECK_PARAMETERS if key in record}),
        "<h2>Versions</h2>", _key_values(_versions(record)),
    ]
    return page(title, note, sections, files=files, directory=directory)


#: Keys of a study's record shown as its parameters (:func:`fiji_bridge.outputs.study_record`).
_STUDY_PARAMETERS = ("reference", "reference_size", "seed", "experiments", "quick", "n_list",
                     "trials", "canvases", "pad", "scheduler", "search_space",
                     "fiji_bridge_version", "study_s", "experiments_s", "total_s")


def build_study_report(record: Mapping[str, Any], *, directory: str | os.PathLike,
                       files: Iterable[str | os.PathLike] = ()) -> str:
    """The HTML text of ``einstein-from-noise study``'s report.

    Parameters
    ----------
    record : dict
        The study's record (``study.json``): its ``experiments`` list; ``"classic"`` shows the
        phase-MSE slopes and embeds ``study_cc.png`` and ``study_phase.png``; every other
        experiment ``name`` shows ``record[name]["headline"]`` and embeds ``study_<name>.png``
        (each figure where it is among ``files``).
    directory : path, keyword-only
        The output folder holding the figures.
    files : iterable of paths, keyword-only
        As :func:`build_report`.

    Raises
    ------
    TypeError
        ``record`` is not a mapping.
    ValueError
        ``record`` lacks ``experiments`` or ``seed``.
    """
    _check_record(record, ("experiments", "seed"), "study")
    folder = Path(directory)
    names = [Path(f).name for f in files]
    title = "Einstein-from-noise study: " + ", ".join(record["experiments"])
    note = (f"Reference {record.get('reference', 'n/a')} ({record.get('reference_size', '?')} "
            f"pixels), seed {record['seed']}; ± is a standard error over independent trials.")

    def figures(*pngs: str) -> list[str]:
        return [embedded_png(folder / png, png) for png in pngs if png in names]

    sections = []
    for name in record["experiments"]:
        if name == "classic":
            slopes = record.get("slopes", {})
            sections += ["<h2>classic: phase error against N</h2>", _table(
                ("canvas", "group", "slope", "slope_se"),
                [(canvas, group, fit["slope"], fit["slope_se"])
                 for canvas, groups in slopes.items() for group, fit in groups.items()]),
                *figures("study_cc.png", "study_phase.png")]
        else:
            block = record.get(name, {})
            sections += [f"<h2>{_e(name)}</h2>",
                         f"<p>{_e(block.get('headline', 'no headline recorded'))}</p>",
                         *figures(f"study_{name}.png")]
    sections += ["<h2>Parameters</h2>",
                 _key_values({key: record[key] for key in _STUDY_PARAMETERS if key in record})]
    return page(title, note, sections, files=files, directory=directory)
