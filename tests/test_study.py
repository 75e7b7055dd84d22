"""Tests of ``fiji_bridge.study`` (the Monte Carlo bias study).

Most tests use a 32 x 32 synthetic reference (two Gaussian blobs, not centro-symmetric) and are
pure numpy; only the ``main`` tests that load a reference start ImageJ (session fixture ``ij``).

Tolerances (measured with the ``STUDY`` configuration below over 20 master seeds):

* phase-MSE log-log slope of the strongest 1 % of components: 1x canvas (32², 5 components)
  mean -1.01, sd 0.14 over seeds; 2x canvas (64², 20 components) mean -1.01, sd 0.06. The bands
  ±0.5 and ±0.25 are about 3.5-4 sd; they fail for no 1/N decay (slope ~ -0.5 or flatter, e.g.
  the all-components slope, about -0.2 here) or a wrong fit.
* CC with the reference rises with N by >= 0.03 per step (sd <= 0.006); the 2x canvas beats the
  1x canvas by >= 0.04 at every N (sd of the difference <= 0.01).
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import xarray as xr

from fiji_bridge import cli, figures, io, outputs, study

STUDY = dict(n_list=(100, 400, 1600, 6400), trials=3, seed=2013, canvases=(32, 64))


def blob(n: int = 32) -> np.ndarray:
    y, x = np.mgrid[:n, :n].astype(float)
    return (np.exp(-((y - 12) ** 2 + (x - 18) ** 2) / (2 * 4.0**2))
            + 0.6 * np.exp(-((y - 21) ** 2 + (x - 10) ** 2) / (2 * 2.5**2)))


@pytest.fixture(scope="module")
def ds() -> xr.Dataset:
    return study.run_study(blob(), **STUDY)


def test_dataset_layout(ds):
    assert dict(ds.sizes) == {"canvas": 2, "n": 4, "trial": 3}
    for var in ("cc", "cc_canvas", "cc_unaligned", "phase_mse", "phase_mse_top1",
                "phase_mse_top10"):
        assert ds[var].dims == ("canvas", "n", "trial")
        assert np.all(np.isfinite(ds[var].values))
    assert ds["n"].values.tolist() == [100, 400, 1600, 6400]
    assert ds["pad_factor"].values.tolist() == [1.0, 2.0]
    assert ds["n_components_top1"].values.tolist() == [5, 20]  # 1 % of 511 and 2047
    seeds = ds["trial_seed"].values.tolist()
    assert seeds == [study.trial_seed(STUDY["seed"], t) for t in range(3)] and len(set(seeds)) == 3
    # On the 1x canvas the reference window is the whole canvas.
    np.testing.assert_allclose(ds["cc"].sel(canvas=32), ds["cc_canvas"].sel(canvas=32))
    # Phase MSE lies in [0, pi^2]; the strongest components converge first.
    assert np.all((ds["phase_mse"] >= 0) & (ds["phase_mse"] <= math.pi**2))
    assert np.all(ds["phase_mse_top1"] < ds["phase_mse_top10"])
    assert np.all(ds["phase_mse_top10"] < ds["phase_mse"])


def test_cc_rises_with_n_and_control_stays_near_zero(ds):
    cc = ds["cc"].mean("trial")
    assert np.all(cc.diff("n") > 0.02), cc.values
    assert float(cc.isel(n=-1).min()) > 0.85
    # Unaligned control: |CC| ~ 1/sqrt(pixels) per trial, nowhere near the aligned CC.
    assert float(abs(ds["cc_unaligned"]).max()) < 0.25


def test_strongest_components_phase_mse_slope_near_minus_one(ds):
    slopes = study.fit_slopes(ds)
    assert set(slopes) == {32, 64}
    top1_1x, top1_2x = slopes[32]["top1"], slopes[64]["top1"]
    assert abs(top1_1x["slope"] + 1) < 0.5, top1_1x
    assert abs(top1_2x["slope"] + 1) < 0.25, top1_2x
    # Weak components stay near pi^2/3: the all-components slope is much flatter.
    for side in (32, 64):
        assert slopes[side]["all"]["slope"] > -0.5
        assert slopes[side]["all"]["slope"] > slopes[side]["top1"]["slope"] + 0.3
    # The fit is the trial mean's: check it against fit_loglog_slope directly.
    from fiji_bridge.metrics import fit_loglog_slope

    mean = ds["phase_mse_top1"].sel(canvas=64).mean("trial").values
    assert (top1_2x["slope"], top1_2x["intercept"]) == pytest.approx(
        fit_loglog_slope(ds["n"].values, mean))
    assert top1_2x["n_components"] == 20 and top1_2x["fraction"] == 0.01
    assert math.isfinite(top1_2x["slope_sd"]) and top1_2x["slope_sd"] > 0


def test_padding_raises_cc_with_the_reference(ds):
    cc = ds["cc"].mean("trial")
    assert np.all(cc.sel(canvas=64) > cc.sel(canvas=32) + 0.02), cc.values
    # Over the whole canvas the padding's noise counts against the estimate.
    assert np.all(ds["cc_canvas"].sel(canvas=64) < ds["cc"].sel(canvas=64))


def test_canvas_reference_is_zero_padded_and_renormalised():
    ref = blob()
    canvas, window = study.canvas_reference(ref, 50)
    assert canvas.shape == (50, 50)
    assert window == (slice(9, 41), slice(9, 41))
    assert abs(canvas.mean()) < 1e-12 and canvas.std() == pytest.approx(1.0)
    inside = canvas[window]
    r = (ref - ref.mean()) / ref.std()
    np.testing.assert_allclose(inside - inside.mean(), (r - r.mean()) * (inside.std() / r.std()),
                               atol=1e-12)
    outside = np.ones((50, 50), bool)
    outside[window] = False
    assert np.ptp(canvas[outside]) < 1e-12  # the padding is one constant value
    same, whole = study.canvas_reference(ref, 32)
    np.testing.assert_allclose(same, r)
    assert whole == (slice(0, 32), slice(0, 32))


def test_reproducible_and_trials_independent_of_their_number():
    kw = dict(n_list=[30, 120], seed=11, canvases=[32, 40])
    a = study.run_study(blob(), trials=3, **kw)
    b = study.run_study(blob(), trials=3, **kw)
    xr.testing.assert_identical(a, b)
    two = study.run_study(blob(), trials=2, **kw)
    for var in a.data_vars:
        np.testing.assert_array_equal(a[var].isel(trial=[0, 1]).values, two[var].values)
    other = study.run_study(blob(), trials=2, n_list=[30, 120], seed=12, canvases=[32, 40])
    assert not np.array_equal(other["cc"].values, two["cc"].values)
    # Trials get fresh noise.
    assert not np.array_equal(a["cc"].isel(trial=0).values, a["cc"].isel(trial=1).values)


def test_progress_counts_every_image():
    calls = []
    study.run_study(blob(), n_list=[10, 64], trials=2, seed=0, canvases=[32, 40],
                    progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (2 * 2 * 64, 2 * 2 * 64)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n_list=[]), ValueError, "n_list is empty"),
    (dict(n_list=[100, 0]), ValueError, "must be >= 1, got 0"),
    (dict(n_list=[-5]), ValueError, "must be >= 1, got -5"),
    (dict(n_list=[10.5]), TypeError, "must be integers"),
    (dict(trials=0), ValueError, "trials must be >= 1, got 0"),
    (dict(trials=2.0), TypeError, "trials must be an integer"),
    (dict(canvases=[64, 31]), ValueError, "canvas side must be >= 32, got 31"),
    (dict(canvases=[]), ValueError, "canvas list is empty"),
    (dict(seed=-1), ValueError, "seed must be >= 0, got -1"),
    (dict(scheduler="nowhere"), ValueError, "scheduler"),
])
def test_bad_input_raises_one_clear_error(kwargs, error, message):
    args = dict(n_list=[10, 20], trials=1, seed=0, canvases=[32])
    args.update(kwargs)
    with pytest.raises(error, match=message) as info:
        study.run_study(blob(), **args)
    assert "Fix:" in str(info.value) or kwargs.get("scheduler")


def test_bad_reference():
    with pytest.raises(ValueError, match="constant"):
        study.run_study(np.ones((16, 16)), n_list=[10], trials=1, seed=0)
    with pytest.raises(ValueError, match="2-D"):
        study.run_study(np.ones(16), n_list=[10], trials=1, seed=0)
    with pytest.raises(TypeError, match="real numbers"):
        study.run_study(np.ones((16, 16), complex), n_list=[10], trials=1, seed=0)


def test_single_trial_single_n_gives_undefined_slopes_and_sd(tmp_path):
    one = study.run_study(blob(), n_list=[50], trials=1, seed=0, canvases=[32])
    slopes = study.fit_slopes(one)
    assert math.isnan(slopes[32]["top1"]["slope"]) and math.isnan(slopes[32]["top1"]["slope_sd"])
    rows = outputs.summary_rows(one, slopes)
    io.write_csv(tmp_path / "s.csv", rows)
    row = next(csv.DictReader((tmp_path / "s.csv").open()))
    assert row["cc_sd"] == "" and row["slope_top1"] == ""
    record = outputs.study_record(one, slopes)
    json.dumps(record, allow_nan=False)  # NaN became null
    io.write_json(tmp_path / "s.json", {"sd": math.nan, "n": np.int64(3)})
    assert json.loads((tmp_path / "s.json").read_text()) == {"sd": None, "n": 3}
    assert "need at least two values of N" in study.summary_text(one, slopes)


def test_figures_are_plain_figures(ds):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig_cc = figures.study_cc_figure(ds)
    fig_phase = figures.study_phase_figure(ds)
    assert isinstance(fig_cc.canvas, FigureCanvasAgg)
    assert len(fig_phase.axes) == 2
    legend = [t.get_text() for t in fig_phase.axes[0].get_legend().get_texts()]
    assert any("slope -1" in t for t in legend)
    assert any("π²/3" in t for t in legend)
    assert any(t.startswith("strongest 1 %") and "slope -" in t for t in legend)


def test_parse_pad_and_lists():
    assert cli.parse_pad("1x,2x", 64) == [64, 128]
    assert cli.parse_pad("64, 100", 64) == [64, 100]
    assert cli.parse_pad("1.5x", 64) == [96]
    with pytest.raises(ValueError, match="whole number of pixels"):
        cli.parse_pad("1.3x", 64)
    with pytest.raises(ValueError, match="neither a factor"):
        cli.parse_pad("big", 64)
    with pytest.raises(ValueError, match="--n-list"):
        cli.parse_int_list("100,abc", "--n-list")


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
def _run_main(argv):
    return cli.main(["study", *argv])


@pytest.mark.parametrize("argv, message", [
    (["--n-list", ""], "n_list is empty"),
    (["--n-list", "100,-3"], "must be >= 1, got -3"),
    (["--n-list", "1e3"], "not a comma-separated list"),
    (["--trials", "0"], "trials must be >= 1, got 0"),
    (["--pad", "0.5x"], "whole 64 x 64 reference"),
    (["--size", "4"], "size must be >= 8, got 4"),
    (["--scheduler", "threads"], "scheduler"),
])
def test_main_bad_input_one_line_status_2_nothing_written(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert _run_main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith("einstein-from-noise study: error:")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_main_refuses_existing_files_before_work(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "study.csv").write_text("keep me")
    assert _run_main(["--out", str(out), "--n-list", "10", "--experiments", "classic"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "study.csv").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["study.csv"]


@pytest.mark.imagej
def test_main_writes_the_study(ij, tmp_path, capsys):
    out = tmp_path / "study"
    argv = ["--size", "32", "--n-list", "100,400,1600", "--trials", "2", "--pad", "1x,2x",
            "--seed", "5", "--out", str(out), "--experiments", "classic"]
    assert _run_main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(outputs.study_files())
    record = json.loads((out / "study.json").read_text())
    assert record["n_list"] == [100, 400, 1600] and record["canvases"] == [32, 64]
    assert record["trials"] == 2 and record["seed"] == 5
    assert record["reference"] == "astronaut.png" and record["reference_size"] == 32
    assert set(record["slopes"]) == {"32", "64"}
    assert set(record["slopes"]["32"]) == {"top1", "top10", "all"}
    assert record["trial_seeds"] == [study.trial_seed(5, t) for t in range(2)]
    assert np.array(record["values"]["cc"]).shape == (2, 3, 2)
    rows = list(csv.DictReader((out / "study.csv").open()))
    assert [(int(r["canvas"]), int(r["n"])) for r in rows] == [
        (c, n) for c in (32, 64) for n in (100, 400, 1600)]
    for row in rows:
        for key in ("cc_mean", "cc_sd", "phase_mse_top1_mean", "slope_top1", "intercept_top1"):
            assert math.isfinite(float(row[key]))
    cc = [float(r["cc_mean"]) for r in rows]
    assert cc[0] < cc[1] < cc[2] and cc[3] < cc[4] < cc[5]
    for name in ("study_cc.png", "study_phase.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "Strongest 1 %" in text and "misleading" in text and "pi^2/3" in text
    # Again without --force: refused, files untouched; with --force: rewritten.
    before = (out / "study.json").read_bytes()
    assert _run_main(argv) == 2
    assert (out / "study.json").read_bytes() == before
    assert _run_main(argv + ["--force"]) == 0


@pytest.mark.imagej
def test_main_with_a_reference_file(ij, tmp_path):
    import tifffile

    path = tmp_path / "blob.tif"
    tifffile.imwrite(path, (blob(40) * 1000).astype(np.float32))
    out = tmp_path / "study"
    assert _run_main(["--reference", str(path), "--size", "16", "--n-list", "50,200",
                      "--trials", "1", "--pad", "1x", "--out", str(out),
                      "--experiments", "classic"]) == 0
    record = json.loads((out / "study.json").read_text())
    assert record["reference"] == "blob.tif" and record["canvases"] == [16]


@pytest.mark.imagej
def test_main_missing_reference_file(ij, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run_main(["--reference", str(tmp_path / "nope.png"), "--n-list", "10",
                      "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists()
