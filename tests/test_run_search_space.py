"""``run`` with the user's search space (--max-shift, --mask-radius) and the half-set control.

Real ImageJ (session fixture) prepares the reference; the experiment runs in this process.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fiji_bridge import cli, experiment, metrics

pytestmark = pytest.mark.imagej


def _blob(size: int) -> np.ndarray:
    y, x = np.mgrid[:size, :size] - size / 2
    return (np.exp(-((x - 3) ** 2 + (1.6 * y) ** 2) / (2 * (size / 6) ** 2)) * 200
            + 40 * (np.abs(x + 5) < 2) + 20).astype(np.uint8)


def test_max_shift_zero_makes_the_bias_vanish_in_run(ij):
    kwargs = dict(size=32, counts=[100, 800], seed=4, examples=2)
    full = experiment.einstein_from_noise(_blob(32), **kwargs)
    none = experiment.einstein_from_noise(_blob(32), max_shift=0, **kwargs)
    some = experiment.einstein_from_noise(_blob(32), max_shift=2, **kwargs)
    assert np.all(none["shifts"].values == 0)
    assert np.abs(some["shifts"].values).max() <= 2
    # 800 white images averaged unaligned: |CC| ~ 1/32; aligned over the box: large
    assert abs(float(none["cc"].sel(count=800))) < 5 / 32
    assert float(full["cc"].sel(count=800)) > float(some["cc"].sel(count=800)) > 0.2
    np.testing.assert_allclose(none["averages"].values, none["unaligned_averages"].values,
                               atol=1e-5)
    assert none.attrs["search_space"]["max_shift"] == 0
    assert "search_space" not in full.attrs


def test_mask_radius_changes_the_alignment_and_is_recorded(ij):
    kwargs = dict(size=32, counts=[200], seed=4, examples=2)
    full = experiment.einstein_from_noise(_blob(32), **kwargs)
    masked = experiment.einstein_from_noise(_blob(32), mask_radius=8, **kwargs)
    assert not np.array_equal(full["shifts"].values, masked["shifts"].values)
    assert masked.attrs["search_space"] == {"max_shift": None, "mask_radius": 8.0,
                                            "mask_edge": 5.0}


def test_half_set_control_in_run(ij):
    data = experiment.einstein_from_noise(np.random.default_rng(0).integers(0, 255, (32, 32)),
                                          size=32, counts=[1000], seed=1, examples=0,
                                          half_sets=True, half_set_cutoff=0.15)
    half = data.attrs["control_half_set_frc"]
    assert half["half_sizes"] == [500, 500]
    same = np.array(half["frc_same_template"])
    low = np.array(half["frc_lowpass_template"])
    f = np.array(half["frequency"])
    assert np.all(same > 0.143) and half["same_template_last_frequency_above_threshold"] == 0.5
    beyond = f - 0.5 / f.size / 2 >= 0.15
    assert np.mean(np.abs(low[beyond])) < 0.15
    json.dumps(data.attrs["control_half_set_frc"])


def test_particles_with_search_space_compare_with_noise_in_the_same_space(ij):
    rng = np.random.default_rng(2)
    particles = rng.standard_normal((300, 32, 32)).astype(np.float32)
    data = experiment.einstein_from_noise(_blob(32), size=32, counts=[300], seed=3, examples=0,
                                          particles=particles, max_shift=0)
    comparison = data.attrs["particles_vs_noise"]
    assert abs(comparison["cc_pure_noise"]) < 5 / 32
    assert abs(comparison["cc_particles"]) < 5 / 32
    assert comparison["cc_particles"] == pytest.approx(
        metrics.pearson_cc(particles.mean(axis=0), data["reference"].values), abs=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"engine": "imagej", "max_shift": 2}, "Fix: use --engine numpy"),
    ({"scheduler": "local", "mask_radius": 5.0}, "Fix: use --engine numpy"),
    ({"max_shift": -2}, "max_shift must be >= 0"),
    ({"mask_radius": -1.0}, "mask_radius must be a positive"),
])
def test_search_space_bad_input(ij, kwargs, message):
    with pytest.raises(ValueError, match=message):
        experiment.einstein_from_noise(_blob(32), size=32, counts=[10], **kwargs)


def test_run_cli_options(ij, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "--size", "16", "--counts", "50", "--max-shift", "1",
                     "--half-sets", "--out", str(out), "--examples", "2"]) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["search_space"]["max_shift"] == 1
    assert "control_half_set_frc" in record
    text = capsys.readouterr().out
    assert "search space: max shift 1 px" in text and "half-set FRC" in text
