"""``einstein-from-noise check``: the command line end to end with the real ImageJ.

The template is the bundled reference prepared by ImageJ at the particles' box size; particles
are real MRC/TIFF files in tmp_path; outputs are read back from disk.
"""

from __future__ import annotations

import csv
import json

import mrcfile
import numpy as np
import pytest
import tifffile

from fiji_bridge import cli
from fiji_bridge.outputs import check_files

pytestmark = pytest.mark.imagej


@pytest.fixture(scope="module")
def template32(ij):
    from fiji_bridge import reference

    return reference.prepare_reference(None, size=32).image


def _tiff(path, stack):
    tifffile.imwrite(path, np.asarray(stack, dtype=np.float32), imagej=True,
                     metadata={"axes": "ZYX"})
    return path


def test_check_writes_verdict_json_png_csv(ij, template32, tmp_path, capsys):
    rng = np.random.default_rng(0)
    stack = 0.3 * template32 + rng.standard_normal((60, 32, 32))
    path = _tiff(tmp_path / "parts.tif", stack)
    out = tmp_path / "out"
    assert cli.main(["check", "--particles", str(path), "--out", str(out), "--draws", "19",
                     "--seed", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(check_files())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "parts.tif"]  # no temp left
    record = json.loads((out / "check.json").read_text())
    assert record["n_particles"] == 60
    assert record["null"]["draws"] == 19 and "phase" in record["null"]["kind"]
    assert set(record["cc"]) == {"observed", "null_mean", "null_sd", "z", "p_value"}
    assert record["signal_beyond_bias"] is True and record["cc"]["p_value"] == 0.05
    assert record["cc"]["z"] > 5
    assert record["half_set_frc"]["half_sizes"] == [30, 30]
    assert record["reference_name"] == "astronaut.png" and record["box"] == [32, 32]
    with open(out / "frc.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 16 and float(rows[-1]["frequency"]) == 0.5
    assert {"frc", "null_low", "null_high", "half_same_template",
            "half_lowpass_template"} <= set(rows[0])
    assert tifffile.imread(path).shape == (60, 32, 32)
    assert (out / "check.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "SIGNIFICANT" in capsys.readouterr().out


def test_check_mrc_pure_noise_with_max_shift_zero(ij, tmp_path, capsys):
    rng = np.random.default_rng(1)
    path = tmp_path / "parts.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(rng.standard_normal((80, 32, 32)).astype(np.float32))
    out = tmp_path / "out"
    assert cli.main(["check", "--particles", str(path), "--out", str(out), "--draws", "19",
                     "--max-shift", "0", "--mask-radius", "12"]) == 0
    record = json.loads((out / "check.json").read_text())
    assert record["max_shift"] == 0 and record["mask_radius"] == 12
    assert abs(record["cc"]["observed"]) < 0.1  # no alignment, no bias: the plain average
    assert abs(record["cc"]["null_mean"]) < 0.1


@pytest.mark.parametrize("argv, message", [
    (["--draws", "5"], "draws=5 can never give p <= alpha=0.05"),
    (["--max-shift", "-1"], "max_shift must be >= 0, got -1"),
    (["--mask-radius", "0"], "mask_radius must be a positive number, got 0.0"),
])
def test_check_bad_options_fail_before_work(ij, tmp_path, capsys, argv, message):
    path = _tiff(tmp_path / "parts.tif", np.random.default_rng(0).standard_normal((4, 16, 16)))
    out = tmp_path / "out"
    assert cli.main(["check", "--particles", str(path), "--out", str(out)] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("einstein-from-noise check: error:") and message in err
    assert "Fix" in err and not out.exists()


def test_check_non_square_particles_and_existing_outputs(ij, tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = _tiff(tmp_path / "rect.tif", rng.standard_normal((4, 16, 20)))
    out = tmp_path / "out"
    assert cli.main(["check", "--particles", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "16x20, not square" in err and "Fix" in err and not out.exists()
    out.mkdir()
    (out / "check.json").write_text("keep me")
    square = _tiff(tmp_path / "sq.tif", rng.standard_normal((4, 16, 16)))
    assert cli.main(["check", "--particles", str(square), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "check.json").read_text() == "keep me"
