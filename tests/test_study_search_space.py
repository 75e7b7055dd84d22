"""``study`` in the user's search space (--max-shift, --mask-radius; issue 12 item 4).

Small white-noise cases with known answers: no shift searched, no bias; fewer shifts, less
bias on the same noise; the in-memory pass is exactly :func:`fiji_bridge.align.align_to_reference`
with the same search space; without a search space the streaming engine, bit for bit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fiji_bridge import metrics, soft_align, study, study_experiments as se
from fiji_bridge.align import align_to_reference
from fiji_bridge.engine import stream_alignment
from fiji_bridge.noise import noise_images
from fiji_bridge.search_space import soft_circular_mask
from fiji_bridge.study_runner import StudyRunner


@pytest.fixture(scope="module")
def ref():
    y, x = np.mgrid[:32, :32]
    img = np.exp(-((y - 12.0) ** 2 + (x - 18.0) ** 2) / 30) - 0.6 * np.exp(
        -((y - 22.0) ** 2 + (x - 9.0) ** 2) / 12)
    img = img + 0.05 * np.random.default_rng(11).standard_normal((32, 32))
    return (img - img.mean()) / img.std()


#: |CC| of an unaligned average of white noise with a 32 x 32 reference is ~ 1/32 per draw.
NOISE_CC = 4 / 32


@pytest.mark.parametrize("space", [{"max_shift": 2}, {"mask_radius": 8.0},
                                   {"max_shift": 3, "mask_radius": 6.0}])
def test_search_space_pass_is_align_to_reference_on_the_same_noise(ref, space):
    runner = StudyRunner(None, 2, None, 0, **space)
    means, unaligned = runner.means(ref, np.array([70, 150]), seed=8)
    images = noise_images(8, 0, 150, ref.shape)
    aligned = align_to_reference(images, ref.astype(np.float32), workers=1, **space).aligned
    np.testing.assert_allclose(means[0], aligned[:70].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(means[1], aligned.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(unaligned[1], images.mean(axis=0), atol=1e-6)
    assert runner.done == 150
    assert runner.search_space == {"max_shift": space.get("max_shift"),
                                   "mask_radius": space.get("mask_radius"), "mask_edge": 5.0}


def test_without_a_search_space_the_runner_is_the_engine_bit_for_bit(ref):
    runner = StudyRunner(None, 1, None, 0)
    assert runner.search_space is None
    means, unaligned = runner.means(ref, np.array([100, 300]), seed=4)
    res = stream_alignment(ref.astype(np.float32), 300, seed=4, counts=[100, 300], workers=1,
                           keep_examples=0, keep_shifts=False)
    assert np.array_equal(means, res.aligned_means)
    assert np.array_equal(unaligned, res.unaligned_means)


def test_classic_study_bias_falls_with_the_search_space_and_vanishes_at_zero(ref):
    kw = dict(n_list=(400,), trials=3, seed=5, canvases=[32], workers=2)
    full = study.run_study(ref, **kw)
    some = study.run_study(ref, max_shift=2, **kw)
    none = study.run_study(ref, max_shift=0, **kw)
    cc = {k: ds["cc"].values[0, 0] for k, ds in (("full", full), ("some", some),
                                                  ("none", none))}
    # the same noise images in every search space: the unaligned control is the same
    assert np.allclose(full["cc_unaligned"].values, none["cc_unaligned"].values, atol=1e-9)
    assert np.all(cc["full"] > cc["some"]) and np.all(cc["some"] > cc["none"])
    assert np.all(cc["some"] > 0.15)
    # max_shift 0 does not align: the average is the unaligned one, CC at the noise level
    np.testing.assert_allclose(none["cc"].values, none["cc_unaligned"].values, atol=1e-6)
    assert np.all(np.abs(cc["none"]) < NOISE_CC)
    assert none.attrs["search_space"]["max_shift"] == 0 and full.attrs["search_space"] is None


def test_classic_study_mask_is_applied(ref):
    kw = dict(n_list=(300,), trials=1, seed=2, canvases=[32, 48], workers=2)
    full = study.run_study(ref, **kw)
    masked = study.run_study(ref, mask_radius=6.0, **kw)
    assert masked.attrs["search_space"] == {"max_shift": None, "mask_radius": 6.0,
                                            "mask_edge": 5.0}
    # the mask hides most of the reference: less to match, less bias, on both canvases
    assert np.all(masked["cc"].values < full["cc"].values - 0.05)
    # the 48 x 48 canvas: the mask is centred on the canvas (where the reference sits)
    canvas, _ = study.canvas_reference(ref, 48)
    images = noise_images(study.canvas_seed(2, 0, 1), 0, 300, (48, 48))
    avg = align_to_reference(images, canvas.astype(np.float32), mask_radius=6.0,
                             workers=1).aligned.mean(axis=0)
    assert masked["cc_canvas"].values[1, 0, 0] == pytest.approx(
        metrics.pearson_cc(avg, canvas), abs=1e-6)


def test_experiments_without_shifts_show_no_bias(ref):
    options = {"snr_sweep": {"amplitudes": (0.0,), "n_list": (300,), "trials": 2},
               "soft_alignment": {"sigmas": (4.0,), "n_list": (300,), "trials": 2},
               "lowpass": {"cutoffs": (0.125, None), "n_list": (300,), "trials": 2},
               "spectrum_shape": {"exponents": (0.0,), "n_list": (100, 300), "trials": 2}}
    blocks = se.run_experiments(ref, list(options), seed=3, options=options, workers=2,
                                max_shift=0)
    values = [blocks["snr_sweep"]["values"]["cc_template"],
              blocks["soft_alignment"]["values"]["cc_hard"],
              blocks["soft_alignment"]["values"]["cc_soft"],
              blocks["lowpass"]["values"]["cc"], blocks["spectrum_shape"]["values"]["cc"]]
    for v in values:
        assert np.all(np.abs(v) < NOISE_CC)
    assert blocks["snr_sweep"]["truth_shift"] == [0, 0]  # the truth is not moved either
    for block in blocks.values():
        assert block["search_space"] == {"max_shift": 0, "mask_radius": None, "mask_edge": 5.0}
    full = se.run_experiments(ref, "soft_alignment", seed=3, options=options, workers=2)
    assert full["soft_alignment"]["search_space"] is None
    assert np.all(full["soft_alignment"]["values"]["cc_soft"] > 0.3)


def test_soft_weights_stay_inside_the_window():
    maps = np.random.default_rng(0).standard_normal((3, 16, 16))
    w = soft_align.soft_weights(maps, 2.0, max_shift=1)
    np.testing.assert_allclose(w.sum(axis=(1, 2)), 1.0)
    inside = np.zeros((16, 16), bool)
    inside[np.ix_([0, 1, 15], [0, 1, 15])] = True
    assert np.all(w[:, ~inside] == 0) and np.all(w[:, inside] > 0)
    assert np.array_equal(soft_align.soft_weights(maps, 2.0, max_shift=20),
                          soft_align.soft_weights(maps, 2.0))


def test_mask_of_a_canvas_is_centred():
    m = soft_circular_mask((48, 48), 6.0)
    assert m[24, 24] == 1 and m[0, 0] == 0


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--max-shift", "-1"], "max_shift must be >= 0"),
    (["--mask-radius", "0"], "mask_radius must be"),
])
def test_cli_bad_search_space_fails_before_work(tmp_path, capsys, argv, message):
    from fiji_bridge import cli

    out = tmp_path / "out"
    assert cli.main(["study", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Fix" in err
    assert not out.exists()


@pytest.mark.imagej
def test_cli_study_records_the_search_space(ij, tmp_path, capsys):
    from fiji_bridge import cli

    out = tmp_path / "study"
    argv = ["study", "--size", "16", "--quick", "--seed", "3", "--out", str(out),
            "--experiments", "classic,lowpass", "--n-list", "200", "--trials", "2",
            "--pad", "1x", "--max-shift", "0", "--mask-radius", "5"]
    assert cli.main(argv) == 0
    record = json.loads((out / "study.json").read_text())
    space = {"max_shift": 0, "mask_radius": 5.0, "mask_edge": 5.0}
    assert record["search_space"] == space and record["lowpass"]["search_space"] == space
    cc = np.array(record["values"]["cc"])
    assert np.allclose(cc, np.array(record["values"]["cc_unaligned"]), atol=1e-6)
    text = capsys.readouterr().out
    assert text.count("search space: max shift 0 px, mask radius 5.0 px") == 2


@pytest.mark.slow
def test_search_space_on_dask_is_bit_identical(ref):
    opts = {"soft_alignment": {"sigmas": (4.0,), "n_list": (100, 1100), "trials": 1}}
    kw = dict(seed=9, options=opts, max_shift=2, mask_radius=6.0)
    local = se.run_experiments(ref, "soft_alignment", **kw)
    dask = se.run_experiments(ref, "soft_alignment", scheduler="local", **kw)
    for name in ("cc_hard", "cc_soft"):
        assert np.array_equal(local["soft_alignment"]["values"][name],
                              dask["soft_alignment"]["values"][name])
