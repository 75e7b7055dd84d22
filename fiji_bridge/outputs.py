"""The files each command writes: one table per command, from which both the names checked
before the work and the files written come (so the two cannot drift apart).

``einstein-from-noise run`` (:func:`run_files`, :func:`write_run_outputs`), ``study``
(:func:`study_files`, :func:`write_study_outputs`, and the five experiments'
:func:`experiment_files`), ``check`` (:func:`check_files`, :func:`write_check_outputs`). Every
file goes through :mod:`fiji_bridge.io`'s one atomic writer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fiji_bridge.io import atomic_file, plain, save_figure, write_csv, write_imagej_tiff, write_json

__all__ = ["check_files", "experiment_files", "experiments_record", "results_summary", "run_files", "study_files", "study_record", "summary_rows", "write_check_outputs", "write_experiment_outputs", "write_run_outputs", "write_study_outputs"]


def results_summary(data: Any) -> dict[str, Any]:
    """The JSON-able record of a run: parameters, versions, checks and per-count CC."""
    summary = dict(data.attrs)
    summary["counts"] = [int(c) for c in data["count"].values]
    summary["cc"] = {str(int(n)): float(v) for n, v in zip(data["count"].values, data["cc"].values)}
    summary["cc_unaligned"] = {
        str(int(n)): float(v) for n, v in zip(data["count"].values, data["cc_unaligned"].values)
    }
    return summary


def _labels(data: Any) -> list[str]:
    return [f"N={int(n)}" for n in data["count"].values]


def _example_labels(data: Any, template: str) -> list[str]:
    shifts = data["shifts"].values[:int(data.sizes["example"])]
    return [template.format(i=i + 1, dy=dy, dx=dx, ndy=-dy, ndx=-dx)
            for i, (dy, dx) in enumerate(shifts)]


def _tiff(variable: str, labels: Callable[[Any], list[str]] | None = None, *,
          calibrated: bool = True):
    """Writer of ``data[variable]``; ``calibrated`` images carry the particles' pixel size
    (``attrs["pixel_size_angstrom"]``, read from their file) as ImageJ's calibration."""
    def write(data: Any, path: Path) -> Path:
        pixel_size = data.attrs.get("pixel_size_angstrom") if calibrated else None
        return write_imagej_tiff(path, data[variable].values, pixel_size=pixel_size,
                                 labels=None if labels is None else labels(data))
    return write


def _experiment_png(data: Any, path: Path) -> Path:
    from fiji_bridge import figures

    return save_figure(figures.experiment_figure(data), path)


def _netcdf(data: Any, path: Path) -> Path:
    from fiji_bridge import netcdf

    with atomic_file(path) as tmp:
        netcdf.save(data, tmp)
    return path


def _write_report(path: Path, names: list[str], build: Callable[..., str], subject: Any,
                  figure: str | None = None, **options: Any) -> Path:
    """Write ``report.html`` at ``path`` through the atomic writer: ``build(subject, files=...,
    directory=..., figure=..., **options)`` over those of ``names`` that lie beside it (the
    files written before it), with ``figure`` embedded when it is one of them."""
    folder = path.parent
    written = [name for name in names if name != path.name and (folder / name).is_file()]
    if figure is not None:
        options["figure"] = folder / figure if figure in written else None
    with atomic_file(path) as tmp:
        tmp.write_text(build(subject, files=written, directory=folder, **options),
                       encoding="utf-8")
    return path


def _report(data: Any, path: Path) -> Path:
    from fiji_bridge import report

    return _write_report(path, [name for name, _, _ in _RUN_TABLE], report.build_report, data,
                         figure="figure.png")


#: The files of ``einstein-from-noise run``, in writing order: (name, when, writer). ``when``
#: names the option that asks for the file; :func:`run_files` and :func:`write_run_outputs`
#: both walk this table, so the names checked before a run are the names written.
_RUN_TABLE: tuple[tuple[str, str, Callable[[Any, Path], Path]], ...] = (
    ("reference.tif", "always", _tiff("reference")),
    ("averages.tif", "always", _tiff("averages", _labels)),
    ("unaligned_averages.tif", "always", _tiff(
        "unaligned_averages", lambda d: [f"{label} unaligned" for label in _labels(d)])),
    ("noise_examples.tif", "examples", _tiff(
        "noise_examples", lambda d: _example_labels(d, "image {i}"))),
    ("aligned_examples.tif", "examples", _tiff(
        "aligned_examples", lambda d: _example_labels(d, "image {i} shifted by ({ndy}, {ndx})"))),
    ("correlation_maps.tif", "examples", _tiff(
        "correlation_maps", lambda d: _example_labels(d, "image {i} CC peak at d=({dy}, {dx})"),
        calibrated=False)),
    ("controls.tif", "controls", _tiff(
        "control_images", lambda d: [str(t).replace("\n", " ") for t in d["control_title"].values],
        calibrated=False)),
    ("noise_stack.tif", "save_stacks", _tiff("noise")),
    ("aligned_stack.tif", "save_stacks", _tiff("aligned")),
    ("figure.png", "figure", _experiment_png),
    ("results.json", "always", lambda data, path: write_json(path, results_summary(data))),
    ("results.nc", "netcdf", _netcdf),
    ("report.html", "report", _report),  # last: it links every file written before it
)


def run_files(*, examples: bool = True, controls: bool = False, save_stacks: bool = False,
              figure: bool = True, netcdf: bool = False, report: bool = True) -> list[str]:
    """Names of the files :func:`write_run_outputs` writes for these options."""
    asked = {"always": True, "examples": examples, "controls": controls,
             "save_stacks": save_stacks, "figure": figure, "netcdf": netcdf, "report": report}
    return [name for name, when, _ in _RUN_TABLE if asked[when]]


def write_run_outputs(data: Any, directory: str | os.PathLike, *, save_stacks: bool = False,
                      figure: bool = True, netcdf: bool = False,
                      report: bool = True) -> list[Path]:
    """Write the files of a run (:func:`run_files` names them) into ``directory``.

    ``netcdf`` adds ``results.nc`` (:func:`fiji_bridge.netcdf.save`); ``report`` writes
    ``report.html`` last, linking every other file (:func:`fiji_bridge.report.build_report`).
    """
    directory = Path(directory)
    names = run_files(examples=int(data.sizes.get("example", 0)) > 0,
                      controls="control_images" in data, save_stacks=save_stacks, figure=figure,
                      netcdf=netcdf, report=report)
    # Each file's writing time goes into the run's timings (results.json holds those of the
    # files written before it: the TIFFs and the figure).
    timings = data.attrs.setdefault("timings", {})
    written = []
    for name, _, write in _RUN_TABLE:
        if name in names:
            started = time.perf_counter()
            written.append(write(data, directory / name))
            timings[f"write_{name.replace('.', '_')}_s"] = time.perf_counter() - started
    return written


# --------------------------------------------------------------------------------------------
# einstein-from-noise study: table, record, files
# --------------------------------------------------------------------------------------------
def summary_rows(ds: Any, slopes: dict) -> list[dict[str, Any]]:
    """One row per (canvas, N): trial mean, sd and standard error of every metric, and the canvas's slopes.

    ``ds`` is :func:`fiji_bridge.study.run_study`'s Dataset, ``slopes`` its
    :func:`fiji_bridge.study.fit_slopes`.
    """
    from fiji_bridge.study import GROUPS, TABLE_VARIABLES, mean_sd, mean_se

    stats = {var: mean_sd(ds, var) for var in TABLE_VARIABLES}
    errors = {var: mean_se(ds, var)[1] for var in TABLE_VARIABLES}
    rows = []
    for i, side in enumerate(ds["canvas"].values):
        for j, n in enumerate(ds["n"].values):
            row: dict[str, Any] = {
                "canvas": int(side),
                "pad_factor": float(ds["pad_factor"].values[i]),
                "n": int(n),
                "trials": int(ds.sizes["trial"]),
            }
            for var in TABLE_VARIABLES:
                row[f"{var}_mean"] = float(stats[var][0][i, j])
                row[f"{var}_sd"] = float(stats[var][1][i, j])
                row[f"{var}_se"] = float(errors[var][i, j])
            for g, _, _ in GROUPS:
                fit = slopes[int(side)][g]
                row[f"slope_{g}"] = fit["slope"]
                row[f"slope_{g}_se"] = fit["slope_se"]
                row[f"intercept_{g}"] = fit["intercept"]
            rows.append(row)
    return rows


def study_record(ds: Any, slopes: dict, **extra: Any) -> dict[str, Any]:
    """The JSON record of a study: parameters, slopes, the summary table and every trial value."""
    from fiji_bridge.study import GROUPS, UNIFORM_PHASE_MSE

    raw = {var: ds[var].transpose("canvas", "n", "trial").values for var in ds.data_vars}
    record = {
        **extra,
        "seed": ds.attrs["seed"],
        "seed_scheme": ds.attrs["seed_scheme"],
        "canvas_scheme": ds.attrs["canvas_scheme"],
        "reference_shape": ds.attrs["reference_shape"],
        "n_list": ds["n"].values,
        "trials": int(ds.sizes["trial"]),
        "trial_seeds": ds["trial_seed"].values,
        "canvases": ds["canvas"].values,
        "pad_factors": ds["pad_factor"].values,
        "groups": {g: {"fraction": f, "variable": v} for g, f, v in GROUPS},
        "theory": {
            "phase_mse_slope": -1.0,
            "uniform_phase_mse": UNIFORM_PHASE_MSE,
            "source": "Balanov, Huleihel & Bendory, Einstein from Noise: Statistical Analysis, "
                      "arXiv:2407.05277 (white Gaussian noise: phase MSE ~ 1/N)",
            "note": "weak components stay near pi^2/3 at practical N, so the all-components "
                    "slope is much flatter than -1; compare the strongest-1 % slope",
        },
        "slopes": slopes,
        "table": summary_rows(ds, slopes),
        "values": {"dims": ["canvas", "n", "trial"], **raw},
        "descriptions": {var: ds[var].attrs.get("description", "") for var in ds.data_vars},
    }
    return plain(record)


def _study_png(name: str) -> Callable[[Any, dict, dict, Path], Path]:
    def write(ds: Any, slopes: dict, record: dict, path: Path) -> Path:
        from fiji_bridge import figures

        figure = figures.study_cc_figure(ds) if name == "cc" else \
            figures.study_phase_figure(ds, slopes)
        return save_figure(figure, path)
    return write


def _study_report(record: dict, directory: Path, names: list[str]) -> Path:
    from fiji_bridge import report

    return _write_report(directory / "report.html", names, report.build_study_report, record)


#: The classic study's files: (name, writer(ds, slopes, record, path)); ``study.json`` is
#: written by every study, the others by the classic one.
_STUDY_TABLE: tuple[tuple[str, Callable[[Any, dict, dict, Path], Path]], ...] = (
    ("study.json", lambda ds, slopes, record, path: write_json(path, record)),
    ("study.csv", lambda ds, slopes, record, path: write_csv(path, summary_rows(ds, slopes))),
    ("study_cc.png", _study_png("cc")),
    ("study_phase.png", _study_png("phase")),
)


def study_files(*, classic: bool = True, experiments: Any = ()) -> list[str]:
    """Names of the files :func:`write_study_outputs` writes, in writing order: ``study.json``
    (and, for the ``classic`` study, its CSV table and two figures), the ``experiments``' files
    (:func:`experiment_files`), then ``report.html``, which links them all."""
    head = [name for name, _ in _STUDY_TABLE] if classic else [_STUDY_TABLE[0][0]]
    return head + experiment_files(experiments) + ["report.html"]


def write_study_outputs(ds: Any, slopes: dict | None, record: dict,
                        directory: str | os.PathLike,
                        blocks: dict[str, dict] | None = None) -> list[Path]:
    """Write a study's files (:func:`study_files` names them) into ``directory``.

    ``ds`` and ``slopes`` (:func:`fiji_bridge.study.run_study`, :func:`fiji_bridge.study.fit_slopes`)
    are ``None`` when the classic study did not run; ``blocks`` are the experiments' results
    (:func:`write_experiment_outputs`). ``report.html`` comes last
    (:func:`fiji_bridge.report.build_study_report`).
    """
    directory = Path(directory)
    blocks = blocks or {}
    table = _STUDY_TABLE if ds is not None else _STUDY_TABLE[:1]
    written = [write(ds, slopes, record, directory / name) for name, write in table]
    written += write_experiment_outputs(blocks, directory)
    names = study_files(classic=ds is not None, experiments=tuple(blocks))
    return written + [_study_report(record, directory, names)]


# --------------------------------------------------------------------------------------------
# einstein-from-noise check: files
# --------------------------------------------------------------------------------------------
def _check_png(result: Any, record: dict, path: Path) -> Path:
    from fiji_bridge import check_figures

    return save_figure(check_figures.check_figure(result), path, dpi=110)


def _frc_csv(result: Any, record: dict, path: Path) -> Path:
    from fiji_bridge.bias_check import frc_rows

    return write_csv(path, frc_rows(result))


#: The files of ``einstein-from-noise check``: (name, writer(result, record, path)).
_CHECK_TABLE: tuple[tuple[str, Callable[[Any, dict, Path], Path]], ...] = (
    ("check.json", lambda result, record, path: write_json(path, record)),
    ("check.png", _check_png),
    ("frc.csv", _frc_csv),
    ("report.html", lambda result, record, path: _check_report(record, path)),  # last: links all
)


def _check_report(record: dict, path: Path) -> Path:
    from fiji_bridge import report

    return _write_report(path, [name for name, _ in _CHECK_TABLE], report.build_check_report,
                         record, figure="check.png")


def check_files() -> list[str]:
    """Names of the files :func:`write_check_outputs` writes."""
    return [name for name, _ in _CHECK_TABLE]


def write_check_outputs(result: Any, record: dict, directory: str | os.PathLike) -> list[Path]:
    """Write a check's JSON record (``check.json``), figure (``check.png``), ``frc.csv`` and
    ``report.html`` (:func:`fiji_bridge.report.build_check_report`), in that order.

    ``result`` is :func:`fiji_bridge.bias_check.template_bias_check`'s Dataset and ``record``
    its JSON record (:func:`fiji_bridge.check_command.check_record`).
    """
    directory = Path(directory)
    return [write(result, record, directory / name) for name, write in _CHECK_TABLE]


# --------------------------------------------------------------------------------------------
# the study's five experiments (blocks of fiji_bridge.study_experiments), issue 14
# --------------------------------------------------------------------------------------------
#: Keys of a block that are not written to study.json (the CSV has the rows; images are big).
_BLOCK_SKIP = ("rows", "truth_image")


def experiment_files(experiments: Any) -> list[str]:
    """Files of the selected experiments: ``study_<name>.csv`` and ``study_<name>.png`` each."""
    return [f"study_{name}{ext}" for name in experiments for ext in (".csv", ".png")]


def experiments_record(blocks: dict[str, dict]) -> dict[str, Any]:
    """``{name: block}`` made JSON-safe (:func:`plain`), without the CSV rows and images."""
    return plain({name: {k: v for k, v in block.items() if k not in _BLOCK_SKIP}
                  for name, block in blocks.items()})


def write_experiment_outputs(blocks: dict[str, dict],
                             directory: str | os.PathLike) -> list[Path]:
    """Write ``study_<name>.csv`` (the block's rows) and ``study_<name>.png`` of each block."""
    from fiji_bridge import study_figures

    directory = Path(directory)
    written = []
    for name, block in blocks.items():
        written.append(write_csv(directory / f"study_{name}.csv", block["rows"]))
        written.append(save_figure(study_figures.experiment_figure(block),
                                   directory / f"study_{name}.png"))
    return written
