"""The study's five experiments on small cases with known answers (numpy only, no Java)."""

from __future__ import annotations

import numpy as np
import pytest

from fiji_bridge import metrics, study_experiments as se, uncertainty
from fiji_bridge.engine import stream_alignment


@pytest.fixture(scope="module")
def ref():
    # a smooth blob plus texture: a template with a steep spectrum, like a portrait
    rng = np.random.default_rng(11)
    y, x = np.mgrid[:32, :32]
    img = np.exp(-((y - 12.0) ** 2 + (x - 18.0) ** 2) / 30) - 0.6 * np.exp(
        -((y - 22.0) ** 2 + (x - 9.0) ** 2) / 12)
    return img + 0.05 * rng.standard_normal((32, 32))


def test_parse_experiments():
    assert se.parse_experiments("all") == se.EXPERIMENTS
    assert se.parse_experiments("lowpass, snr_sweep") == ("snr_sweep", "lowpass")
    with pytest.raises(ValueError, match="Unknown experiment.*'bogus'.*Fix"):
        se.parse_experiments("bogus,lowpass")
    with pytest.raises(ValueError, match="empty.*Fix"):
        se.parse_experiments(" , ")


def test_snr_sweep_strong_truth_wins_and_no_truth_gives_the_template(ref):
    block = se.snr_sweep(ref, seed=1, amplitudes=(0.0, 3.0), n_list=(64, 256), trials=2)
    cc_t, cc_r = block["values"]["cc_truth"], block["values"]["cc_template"]
    assert np.all(cc_t[1] > 0.9) and np.all(cc_t[1] > cc_r[1])  # s large: the truth wins
    assert np.all(cc_r[0] > cc_t[0]) and np.all(cc_r[0, -1] > 0.5)  # s = 0: template bias
    assert all(b is not None and 0 < b < 3 for b in block["boundary"].values())
    assert "snr_sweep" in block["headline"] and "±" in block["headline"]


def test_snr_sweep_at_zero_amplitude_is_the_engine_on_the_same_stream(ref):
    block = se.snr_sweep(ref, seed=3, amplitudes=(0.0,), n_list=(100, 200), trials=1)
    norm = (ref - ref.mean()) / ref.std()
    res = stream_alignment(norm.astype(np.float32), 200, seed=uncertainty.stream_seed(3, 1, 0, 0),
                           counts=[100, 200], workers=1)
    expected = metrics.pearson_cc(res.aligned_means, norm)
    assert np.allclose(block["values"]["cc_template"][0, :, 0], expected, atol=1e-9)


def test_soft_alignment_with_a_tiny_sigma_is_hard_alignment(ref):
    block = se.soft_alignment(ref, seed=2, sigmas=(1e-4, 64.0), n_list=(64, 128), trials=2)
    hard, soft = block["values"]["cc_hard"], block["values"]["cc_soft"]
    assert np.allclose(soft[0], hard, atol=1e-6)
    # a wide kernel weights every shift by its correlation: the average takes the template's
    # phases (each image contributes |N(k)|^2 R(k)), so the bias does not go away
    assert np.all(soft[1] > hard)


def test_lowpass_frc_beyond_the_cutoff_is_at_noise_level(ref):
    block = se.lowpass(ref, seed=4, cutoffs=(0.125, None), n_list=(200, 1000), trials=3)
    b = block["beyond_cutoff"][0]
    assert b["rings_beyond"] > 5
    assert abs(b["frc_beyond_mean"]) < 4 * b["noise_level"] / np.sqrt(3)
    assert b["frc_below_mean"] > 0.5  # the bias is confined below the cutoff
    assert np.isnan(block["beyond_cutoff"][1]["frc_beyond_mean"])  # unfiltered: no cutoff


def test_spectrum_shape_flat_spectrum_gives_the_higher_limit(ref):
    block = se.spectrum_shape(ref, seed=5, exponents=(0.0, 1.5), n_list=(50, 200, 800),
                              trials=3)
    white, steep = block["fits"]
    assert white["flatness"] == pytest.approx(1) and steep["flatness"] < white["flatness"]
    assert white["cc_inf"] > steep["cc_inf"]
    assert block["flatter_gives_higher_cc_inf"] is True
    pad = block["padding"]
    assert pad["flatness_padded_2x"] == pytest.approx(pad["flatness_unpadded"], rel=0.25)


def test_convergence_strong_components_decay_like_one_over_n(ref):
    # 4 trials over a decade and a half of N: the fitted slope spreads about +-0.1 over seeds
    block = se.convergence(ref, seed=6, n_list=(300, 1000, 3000, 10000), trials=4,
                           fractions=(0.05, 1.0))
    strong, every = block["slopes"]
    assert -1.4 < strong["slope"] < -0.6  # theory: -1
    assert every["slope"] > strong["slope"]  # weak components lag behind
    m = block["magnitude"]
    assert m["phase_mse_mean"][-1] < m["phase_mse_mean"][0]  # stronger |R_k|, smaller error
    assert block["values"]["phase_mse"].max() < np.pi**2


def test_run_experiments_progress_and_bad_options(ref):
    seen = []
    out = se.run_experiments(ref, "soft_alignment", seed=1,
                             options={"soft_alignment": {"n_list": (64,), "trials": 1,
                                                         "sigmas": (4.0,)}},
                             progress=lambda d, t: seen.append((d, t)))
    assert list(out) == ["soft_alignment"] and seen[-1] == (64, 64)
    with pytest.raises(ValueError, match="unknown experiment.*Fix"):
        se.run_experiments(ref, "lowpass", seed=1, options={"lowpas": {}})
    with pytest.raises(ValueError, match="n_list|counts"):
        se.lowpass(ref, seed=1, n_list=(0,))
    with pytest.raises(TypeError, match="cutoffs.*Fix"):
        se.lowpass(ref, seed=1, cutoffs=("x",))


@pytest.mark.slow
def test_signal_pass_on_dask_is_bit_identical(ref):
    opts = {"snr_sweep": {"amplitudes": (0.5,), "n_list": (100, 1100), "trials": 1}}
    local = se.run_experiments(ref, "snr_sweep", seed=9, options=opts)
    dask = se.run_experiments(ref, "snr_sweep", seed=9, options=opts, scheduler="local")
    assert np.array_equal(local["snr_sweep"]["values"]["cc_truth"],
                          dask["snr_sweep"]["values"]["cc_truth"])


# --------------------------------------------------------------------------------------------
# command line: einstein-from-noise study --experiments ...
# --------------------------------------------------------------------------------------------
def test_cli_bad_experiment_names_fail_before_work(tmp_path, capsys):
    from fiji_bridge import cli

    out = tmp_path / "out"
    assert cli.main(["study", "--experiments", "snr_sweep,bogus", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Unknown experiment(s) 'bogus'" in err and "Fix" in err
    assert not out.exists()


@pytest.mark.imagej
def test_cli_runs_the_selected_experiments_and_writes_one_block_each(ij, tmp_path, capsys):
    import csv
    import json

    from fiji_bridge import cli

    out = tmp_path / "study"
    argv = ["study", "--size", "16", "--quick", "--seed", "3", "--out", str(out),
            "--experiments", "snr_sweep,lowpass,convergence"]
    assert cli.main(argv) == 0
    names = {"study.json"} | {f"study_{e}.{x}" for e in ("snr_sweep", "lowpass", "convergence")
                              for x in ("csv", "png")} | {"report.html"}
    assert {p.name for p in out.iterdir()} == names
    record = json.loads((out / "study.json").read_text())
    assert record["experiments"] == ["snr_sweep", "lowpass", "convergence"]
    assert record["seed"] == 3 and record["quick"] is True
    assert np.array(record["snr_sweep"]["values"]["cc_truth"]).shape == (3, 2, 2)
    assert "soft_alignment" not in record and "slopes" not in record  # not selected
    with (out / "study_lowpass.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["cutoff"] for r in rows} == {"0.125", ""}  # "" = unfiltered
    for name in ("snr_sweep", "lowpass", "convergence"):
        assert (out / f"study_{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    for name in ("snr_sweep", "lowpass", "convergence"):
        assert f"- {name}" in text
    assert "±" in text


def test_every_experiment_has_a_figure_and_a_json_block(ref, tmp_path):
    import json

    from fiji_bridge import io, outputs, study_figures

    small = ref[::2, ::2]
    blocks = se.run_experiments(small, "all", seed=2, options=se.QUICK)
    assert list(blocks) == list(se.EXPERIMENTS)
    for block in blocks.values():
        fig = study_figures.experiment_figure(block)
        assert fig.axes and type(fig).__name__ == "Figure"
    text = json.dumps(outputs.experiments_record(blocks), allow_nan=False)
    assert "truth_image" not in text and '"rows"' not in text
    with pytest.raises(ValueError, match="not a study experiment block.*Fix"):
        study_figures.experiment_figure({"experiment": "nope"})


def test_classic_study_canvases_of_a_trial_draw_independent_streams(ref):
    from fiji_bridge import study

    assert study.canvas_seed(5, 1, 0) == study.trial_seed(5, 1)
    seeds = {study.canvas_seed(5, t, i) for t in range(3) for i in range(3)}
    assert len(seeds) == 9
    ds = study.run_study(ref[:16, :16], n_list=[20], trials=2, seed=5, canvases=[16, 32],
                         workers=1)
    cs = ds["canvas_seed"].values
    assert cs.shape == (2, 2) and len(set(cs.ravel().tolist())) == 4
    assert cs[0].tolist() == ds["trial_seed"].values.tolist()
    slopes = study.fit_slopes(study.run_study(ref[:16, :16], n_list=[20, 80], trials=3, seed=5,
                                              canvases=[16], workers=1))
    fit = slopes[16]["top1"]
    assert fit["slope_se"] > 0 and fit["ci_low"] < fit["slope"] < fit["ci_high"]
