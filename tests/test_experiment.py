"""The experiment end to end with the real ImageJ (session fixture), and the run command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fiji_bridge import experiment, imagej, io, metrics, outputs
from fiji_bridge.config import ExperimentConfig
from fiji_bridge.reference import DEFAULT_REFERENCE, prepare_reference

pytestmark = pytest.mark.imagej


def _blob(size: int) -> np.ndarray:
    y, x = np.mgrid[:size, :size] - size / 2
    return (np.exp(-(x**2 + (1.6 * y) ** 2) / (2 * (size / 6) ** 2)) * 200 + 20).astype(np.uint8)


def test_default_reference_is_normalised_by_imagej(ij):
    ref = prepare_reference(size=64)
    assert ref.name == DEFAULT_REFERENCE.name
    assert ref.image.shape == (64, 64) and ref.image.dtype == np.float32
    assert abs(float(ref.image.mean())) < 1e-5
    assert float(ref.image.std(ddof=1)) == pytest.approx(1.0, abs=1e-5)
    assert ref.original_shape == (512, 512) and ref.crop == (0, 0, 512, 512)


def test_reference_is_centre_cropped(ij):
    array = np.zeros((40, 60), np.uint8)
    array[:, 10:50] = _blob(40)  # the square in the middle; the margins are 0
    ref = prepare_reference(array, size=40)
    assert ref.crop == (10, 0, 40, 40)
    expected = (array[:, 10:50] - array[:, 10:50].mean()) / array[:, 10:50].std(ddof=1)
    np.testing.assert_allclose(ref.image, expected, atol=1e-5)


@pytest.mark.parametrize("bad,match", [
    (np.full((16, 16), 7, np.uint8), "stdev 0"),
    (np.zeros((3, 16, 16), np.float32), "stack"),
])
def test_bad_reference_arrays(ij, bad, match):
    with pytest.raises(ValueError, match=match):
        prepare_reference(bad, size=16)


@pytest.mark.parametrize("size,error", [(4, ValueError), (0, ValueError), (7.5, TypeError)])
def test_bad_size(ij, size, error):
    with pytest.raises(error, match="size"):
        prepare_reference(size=size)


@pytest.mark.parametrize("fields,error,match", [
    (dict(counts=[0, 5]), ValueError, ">= 1"),
    (dict(counts=[]), ValueError, "at least one"),
    (dict(counts=[2.5]), TypeError, "integers"),
    (dict(counts=[10, 50], n_images=20), ValueError, "<= 20"),
    (dict(size=24, engine="imagej"), ValueError, "power of 2"),
    (dict(engine="fiji"), ValueError, "engine"),
    (dict(display="window"), ValueError, "display"),
    (dict(examples=-1), ValueError, "examples"),
    (dict(seed=-3), ValueError, "seed"),
    (dict(rotation_step=0), ValueError, r"\(0, 180\]"),
    (dict(rotation_step="10"), TypeError, "rotation_step"),
    (dict(block_size=0), ValueError, "block_size"),
    (dict(workers=0), ValueError, "workers"),
    (dict(engine="imagej", scheduler="local"), ValueError, "--scheduler"),
])
def test_config_rejects_bad_parameters_before_any_work(fields, error, match):
    with pytest.raises(error, match=match) as info:
        ExperimentConfig(**fields)
    assert "Fix:" in str(info.value)


def test_config_is_normalised_and_frozen():
    config = ExperimentConfig(counts=[100, 25, 100], seed=np.int64(4),
                                         class_references=["a.png"])
    assert config.counts == (25, 100) and type(config.seed) is int
    assert config.class_references == ("a.png",) and config.total == 100
    assert config.controls_asked and not ExperimentConfig().controls_asked
    with pytest.raises(AttributeError):
        config.size = 64
    with pytest.raises(TypeError, match="unknown parameters \\['sizes'\\]"):
        experiment.einstein_from_noise(_blob(32), sizes=32)


def test_count_larger_than_n_fails_before_imagej_work():
    with pytest.raises(ValueError, match="<= 20"):
        experiment.einstein_from_noise(_blob(32), size=32, counts=[10, 50], n_images=20)


@pytest.fixture(scope="module")
def small_runs(ij):
    """The same small experiment with both engines (the noise depends only on the seed); the
    config form and the keyword form of the call."""
    config = ExperimentConfig(size=32, counts=(10, 60, 200), seed=5, examples=4)
    return (experiment.einstein_from_noise(_blob(32), config),
            experiment.einstein_from_noise(_blob(32), config, engine="imagej"))


def test_engines_agree_on_every_shift(small_runs):
    by_numpy, by_imagej = small_runs
    np.testing.assert_array_equal(by_numpy["shifts"].values, by_imagej["shifts"].values)
    np.testing.assert_allclose(by_numpy["peaks"].values, by_imagej["peaks"].values, rtol=1e-4)
    np.testing.assert_allclose(by_numpy["averages"].values, by_imagej["averages"].values)
    np.testing.assert_allclose(by_numpy["correlation_maps"].values,
                               by_imagej["correlation_maps"].values, atol=1e-3)


def test_averages_are_means_of_the_aligned_noise(small_runs):
    data = small_runs[0]
    from fiji_bridge import align, noise

    stack = noise.noise_images(5, 0, 200, (32, 32))
    aligned = align.apply_shifts(stack, data["shifts"].values)
    for index, n in enumerate(data["count"].values):
        np.testing.assert_allclose(data["averages"].values[index], aligned[:n].mean(0),
                                   atol=1e-6)
        np.testing.assert_allclose(data["unaligned_averages"].values[index], stack[:n].mean(0),
                                   atol=1e-6)
    assert data.attrs["zproject_vs_numpy_max_abs_diff"] < 1e-5
    # aligned examples really are the noise examples rolled by -shift
    for i in range(4):
        dy, dx = data["shifts"].values[i]
        np.testing.assert_array_equal(data["aligned_examples"].values[i],
                                      np.roll(stack[i], (-dy, -dx), axis=(0, 1)))


def test_einstein_emerges_and_the_control_stays_noise(small_runs):
    data = small_runs[0]
    cc = data["cc"].values
    cc_unaligned = data["cc_unaligned"].values
    assert cc[-1] > 0.3, cc                       # the reference appears from pure noise
    assert cc[-1] > cc[0]                         # and more clearly with more images
    assert np.all(np.abs(cc_unaligned) < 0.25)    # 200 images, 1024 pixels: |CC| ~ 0.03
    np.testing.assert_allclose(
        cc, metrics.pearson_cc(data["averages"].values, data["reference"].values))


def test_correlation_maps_peak_at_the_shift(small_runs):
    data = small_runs[0]
    maps = data["correlation_maps"].values
    for i in range(maps.shape[0]):
        row, col = np.unravel_index(np.argmax(maps[i]), maps[i].shape)
        assert (row - 16, col - 16) == tuple(data["shifts"].values[i])


def _run_cli(*args, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "fiji_bridge.cli", *args], capture_output=True,
                          text=True, timeout=300, env=full_env)


@pytest.mark.subprocess
def test_run_writes_fiji_ready_files(tmp_path, ij):
    out = tmp_path / "results"
    result = _run_cli("run", "--size", "32", "--counts", "10,40", "--examples", "3",
                      "--out", str(out), "--seed", "3", "--save-stacks")
    assert result.returncode == 0, result.stderr
    assert "CC(aligned avg, ref)" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(outputs.run_files(save_stacks=True))
    assert "noise_stack.tif" in names and "controls.tif" not in names
    summary = json.loads((out / "results.json").read_text())
    assert summary["seed"] == 3 and summary["counts"] == [10, 40]
    # where the seconds went: process start to the command, ImageJ, the reference, each file
    # written before results.json
    timings = summary["timings"]
    for key in ("startup_s", "imagej_start_s", "reference_s", "write_averages_tif_s",
                "write_noise_stack_tif_s", "write_figure_png_s"):
        assert timings[key] >= 0, key
    averages, labels = io.read_imagej_tiff(out / "averages.tif")
    assert averages.dtype == np.float32 and averages.shape == (2, 32, 32)
    assert labels == ["N=10", "N=40"]
    # Fiji opens the files unchanged: the real ImageJ reads them back identically
    from fiji_bridge.imagej import convert

    opened = convert.from_imageplus(imagej.open_image(out / "averages.tif"))
    np.testing.assert_array_equal(opened.values, averages)
    assert list(opened.coords["label"].values) == ["N=10", "N=40"]
    # no temporary folders are left beside the output
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


# In the subprocess: run the CLI, then say on stdout whether Java was loaded at all.
_RUN_AND_REPORT_JAVA = (
    "import sys\n"
    "from fiji_bridge import cli\n"
    "status = cli.main(sys.argv[1:])\n"
    "print('java loaded:', 'jpype' in sys.modules)\n"
    "sys.exit(status)\n"
)


@pytest.mark.subprocess
@pytest.mark.parametrize("args,message,java", [
    # checked before Java starts (ExperimentConfig, the output folder, the scheduler, the file)
    (["--size", "4"], "size must be >= 8", False),
    (["--counts", "0,10"], "every count must be >= 1", False),
    (["--counts", "ten"], "comma-separated", False),
    (["--engine", "imagej", "--size", "24"], "power of 2", False),
    (["--examples", "-1"], "examples must be >= 0", False),
    (["--rotation-step", "0"], "(0, 180]", False),
    (["--rotation-step", "200"], "(0, 180]", False),
    (["--particles", "/no/such/particles.mrcs"], "particles.mrcs", False),
    (["--scheduler", "tcp://127.0.0.1:1"], "Dask scheduler", False),
    (["--scheduler", "threads"], "scheduler must be", False),
    (["--block-size", "0"], "block_size must be >= 1, got 0", False),
    (["--workers", "-1"], "workers must be >= 1, got -1", False),
    (["--size", "0"], "size must be >= 8, got 0", False),
    (["--seed", "-1"], "seed must be >= 0, got -1", False),
    (["--reference", "/no/such/image.png"], "does not exist", False),
    (["--classes", "/no/such/ref.png"], "does not exist", False),
    (["--control-reference", "/no/such/ref.png"], "does not exist", False),
    (["--size", "128", "--counts", "40000", "--save-stacks"], "do not fit the in-memory path",
     False),
    (["--size", "128", "--counts", "40000", "--rotation-step", "30"], "Particles and controls",
     False),
    # only ImageJ can tell
    (["--reference", "NOTIMAGE"], "cannot open", True),
])
def test_run_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message, java):
    if "NOTIMAGE" in args:
        fake = tmp_path / "fake.png"
        fake.write_text("this is text")
        args = [a if a != "NOTIMAGE" else str(fake) for a in args]
    out = tmp_path / "out"
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    result = subprocess.run(
        [sys.executable, "-c", _RUN_AND_REPORT_JAVA, "run", "--out", str(out), "--size", "16",
         "--counts", "5", *args], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0], result.stderr
    assert "Fix:" in error_lines[0] or java, result.stderr
    assert "Traceback" not in result.stderr
    assert f"java loaded: {java}" in result.stdout
    assert not out.exists()


@pytest.mark.subprocess
def test_run_refuses_to_overwrite_and_output_is_a_file(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "figure.png").write_bytes(b"mine")
    result = _run_cli("run", "--out", str(out), "--size", "16", "--counts", "5")
    assert result.returncode == 2 and "--force" in result.stderr
    assert (out / "figure.png").read_bytes() == b"mine"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    result = _run_cli("run", "--out", str(a_file), "--size", "16", "--counts", "5")
    assert result.returncode == 2 and "is a file" in result.stderr


def test_output_directory_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with io.output_directory(out, ["a.txt"]) as output, output.staging() as directory:
            (directory / "a.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_output_directory_without_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(io.OutputError, match="permission"):
        io.output_directory(locked / "out", ["a.txt"])


def _ring(size: int) -> np.ndarray:
    y, x = np.mgrid[:size, :size] - size / 2
    radius = np.hypot(x, y)
    return (np.exp(-((radius - size / 4) ** 2) / 8) * 200 + 20).astype(np.uint8)


def test_controls_follow_their_references(ij, tmp_path):
    data = experiment.einstein_from_noise(
        _blob(32), size=32, counts=(50, 400), seed=11, examples=0,
        control_reference=_ring(32), class_references=[_ring(32)], rotation_step=45)
    other = data.attrs["control_other_reference"]
    assert other["cc_with_other"] > other["cc_with_reference"] + 0.2
    classes = data.attrs["control_classification"]
    assert sum(classes["class_sizes"]) == 400 and min(classes["class_sizes"]) > 0
    cross = np.asarray(classes["cross_cc"])
    assert cross[0, 0] > cross[0, 1] and cross[1, 1] > cross[1, 0]
    assert data.attrs["control_rotation"]["cc"] > 0.2
    assert data["control_images"].shape == (4, 32, 32)
    assert len(data["control_title"]) == 4
    # the manifest checked before a run is what the writer writes
    written = outputs.write_run_outputs(data, tmp_path, figure=False)
    assert [p.name for p in written] == outputs.run_files(examples=False, controls=True, figure=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    stack, labels = io.read_imagej_tiff(tmp_path / "controls.tif")
    np.testing.assert_array_equal(stack, data["control_images"].values)
    assert labels == [str(t).replace("\n", " ") for t in data["control_title"].values]


@pytest.mark.subprocess
def test_run_with_particles_compares_with_noise(tmp_path):
    import mrcfile

    from fiji_bridge import noise

    particles = noise.noise_images(99, 0, 60, (16, 16))
    path = tmp_path / "particles.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(particles)
    out = tmp_path / "out"
    result = _run_cli("run", "--particles", str(path), "--size", "16", "--out", str(out),
                      "--counts", "20,60", "--examples", "2")
    assert result.returncode == 0, result.stderr
    assert "your particles: CC(average, reference)" in result.stdout
    summary = json.loads((out / "results.json").read_text())
    assert summary["input"] == "particles" and summary["n_images"] == 60
    mismatch = _run_cli("run", "--particles", str(path), "--size", "32", "--out",
                        str(tmp_path / "out2"), "--counts", "20")
    assert mismatch.returncode == 2
    assert "--resample-particles" in mismatch.stderr and "Traceback" not in mismatch.stderr
    assert not (tmp_path / "out2").exists()


def test_dask_run_equals_in_process_streaming(ij):
    kwargs = dict(size=16, counts=(64, 300), seed=21, examples=2)
    local = experiment.einstein_from_noise(_blob(16), scheduler="local", block_size=64, **kwargs)
    from fiji_bridge import engine

    direct = engine.stream_alignment(local["reference"].values, 300, seed=21, counts=[64, 300])
    np.testing.assert_array_equal(local["averages"].values,
                                  direct.aligned_means.astype(np.float32))
    np.testing.assert_array_equal(local["shifts"].values, direct.shifts)
    assert local.attrs["averaged_by"] == "python_running_sums"
    assert local.attrs["scheduler"] == "local"


def test_save_stacks_checks_disk_space(tmp_path):
    with pytest.raises(io.OutputError, match=r"needs [\d.]+ TiB, [\d.]+ [KMGT]?i?B free in /"):
        io.check_free_space(tmp_path, 1e18, what="--save-stacks")


def test_streaming_past_kept_shifts_keeps_summaries_of_every_image(ij, monkeypatch):
    # memory stays flat at any N: past KEPT_SHIFTS_MAX images the per-image shifts and peaks
    # are not kept; their statistics come from the engine's histogram and peak summary
    params = dict(size=32, counts=(100, 300), seed=3, examples=4)
    full = experiment.einstein_from_noise(**params)  # in memory: every shift
    from fiji_bridge import config as config_module

    monkeypatch.setattr(config_module, "IN_MEMORY_BYTES", 0)  # read by ExperimentConfig.streaming
    monkeypatch.setattr(experiment, "KEPT_SHIFTS_MAX", 100)
    flat = experiment.einstein_from_noise(**params)
    assert flat.attrs["averaged_by"] == "python_running_sums"
    assert flat.sizes["image"] == 4 and "example images only" in flat.attrs["shifts_kept"]
    np.testing.assert_array_equal(flat["shifts"].values, full["shifts"].values[:4])
    np.testing.assert_allclose(flat["peaks"].values, full["peaks"].values[:4], rtol=1e-5)
    for key in ("shift_dy", "shift_dx", "peak"):
        for stat in ("mean", "std", "min", "max"):
            assert flat.attrs[key][stat] == pytest.approx(full.attrs[key][stat], rel=1e-4,
                                                          abs=1e-9), (key, stat)
    assert flat.attrs["zero_shift_fraction"] == full.attrs["zero_shift_fraction"]
    np.testing.assert_allclose(flat["averages"].values, full["averages"].values, atol=1e-5)
