"""Tests of fiji_bridge.figures (pure numpy + matplotlib, no Java, fast)."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from fiji_bridge import io
from fiji_bridge.figures import CONTRAST_SIGMAS, experiment_figure


def save_experiment_figure(result, path, *, dpi=120, n_examples=4):
    """What the run writes as figure.png: the figure, through the one atomic writer."""
    return io.save_figure(experiment_figure(result, n_examples=n_examples), path, dpi=dpi)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _cc(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64))[0, 1])


def make_result(shape=(32, 32), counts=(25, 100, 500, 1000), n_examples=4, *, seed=7,
                unaligned=True, examples=True, attrs=None) -> xr.Dataset:
    """A synthetic result shaped like fiji_bridge.experiment.einstein_from_noise's Dataset."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[:h, :w]
    ref = np.exp(-(((y - h / 2) / (h / 5)) ** 2 + ((x - w / 2) / (w / 6)) ** 2))
    ref = ((ref - ref.mean()) / ref.std()).astype(np.float32)
    counts = list(counts)
    avgs = np.array([ref * np.sqrt(n) / 40 + rng.standard_normal(shape) / np.sqrt(n)
                     for n in counts], dtype=np.float32)
    data = {
        "reference": (("y", "x"), ref),
        "averages": (("count", "y", "x"), avgs),
        "cc": ("count", np.array([_cc(a, ref) for a in avgs])),
    }
    if unaligned:
        un = np.array([rng.standard_normal(shape) / np.sqrt(n) for n in counts], dtype=np.float32)
        data["unaligned_averages"] = (("count", "y", "x"), un)
        data["cc_unaligned"] = ("count", np.array([_cc(a, ref) for a in un]))
    coords = {"count": counts}
    if examples and n_examples:
        noise = rng.standard_normal((n_examples, h, w)).astype(np.float32)
        R = np.conj(np.fft.rfft2(ref))
        maps, aligned, shifts = [], [], []
        for img in noise:
            c = np.fft.irfft2(np.fft.rfft2(img) * R, s=shape)
            dy, dx = np.unravel_index(np.argmax(c), shape)
            aligned.append(np.roll(img, (-dy, -dx), axis=(0, 1)))
            maps.append(np.roll(c, (h // 2, w // 2), axis=(0, 1)))  # zero shift at (H//2, W//2)
            shifts.append(((dy + h // 2) % h - h // 2, (dx + w // 2) % w - w // 2))
        data["noise_examples"] = (("example", "y", "x"), noise)
        data["aligned_examples"] = (("example", "y", "x"), np.array(aligned, np.float32))
        data["correlation_maps"] = (("example", "y", "x"), np.array(maps, np.float32))
        data["shifts"] = (("image", "axis"), np.array(shifts, dtype=np.int64))
        data["peaks"] = ("image", np.array([m.max() for m in maps], np.float32))
        coords["axis"] = ["dy", "dx"]
    base_attrs = {"seed": seed, "n_images": max(counts), "engine": "numpy",
                  "imagej_version": "1.53t", "reference_name": "blob"}
    base_attrs.update(attrs or {})
    return xr.Dataset(data, coords=coords, attrs=base_attrs)


def image_axes(fig: Figure):
    return [ax for ax in fig.get_axes() if ax.images]


def axes_by_label(fig: Figure) -> dict:
    return {ax.get_label(): ax for ax in fig.get_axes()}


def suptitle_text(fig: Figure) -> str:
    return fig.get_suptitle().replace("\n", " ")


# --------------------------------------------------------------------------------------------
# experiment_figure
# --------------------------------------------------------------------------------------------
def test_full_figure_axes_and_titles():
    ds = make_result()
    fig = experiment_figure(ds, n_examples=4)
    assert isinstance(fig, Figure)
    counts = [int(c) for c in ds["count"].values]
    # reference + 3 example rows of 4 + aligned averages + unaligned averages
    assert len(image_axes(fig)) == 1 + 3 * 4 + 2 * len(counts)

    by_label = axes_by_label(fig)
    ref = ds["reference"].values
    for n in counts:
        k = counts.index(n)
        cc = _cc(ds["averages"].values[k], ref)
        assert f"N={n}  CC={cc:.2f}" == by_label[f"average:{n}"].get_title()
        ccu = _cc(ds["unaligned_averages"].values[k], ref)
        assert f"N={n} unaligned CC={ccu:.2f}" == by_label[f"unaligned:{n}"].get_title()
    # the aligned averages are visibly more correlated than the control in this synthetic set
    assert _cc(ds["averages"].values[-1], ref) > 0.5

    assert "blob" in by_label["reference"].get_title()
    st = suptitle_text(fig)
    assert st.startswith("Einstein from noise — 1000 pure-noise images aligned to the reference")
    box = by_label["info"].texts[0].get_text().splitlines()
    assert box[:5] == ["N       1000", f"size    {ref.shape[0]}×{ref.shape[1]}", "seed    7",
                       "engine  numpy", "ImageJ  1.53t"]
    assert "cc_plot" in by_label and not by_label["cc_plot"].images
    # panels are numbered from 1, as the TIFF slice labels ("image 1", ...)
    assert by_label["noise:0"].get_title() == "noise #1"
    assert by_label["aligned:3"].get_title() == "aligned #4"
    assert by_label["correlation:0"].get_title().startswith("#1  (dy, dx)=")


def test_particles_figure_says_so_and_shows_pure_noise_beside_them():
    ds = make_result()
    ds.attrs.update(input="particles", particles_vs_noise={
        "n_images": 1000, "cc_particles": 0.91, "cc_pure_noise": 0.64})
    fig = experiment_figure(ds)
    by_label = axes_by_label(fig)
    assert "1000 of your particles aligned" in suptitle_text(fig)
    assert by_label["noise:0"].get_title() == "particle #1"
    box = by_label["info"].texts[0].get_text()
    assert "particles   0.910" in box and "pure noise  0.640" in box
    legend = [t.get_text() for t in by_label["cc_plot"].get_legend().get_texts()]
    assert "pure noise, same N, aligned" in legend
    (point,) = [line for line in by_label["cc_plot"].get_lines() if line.get_marker() == "D"]
    assert (point.get_xdata()[0], point.get_ydata()[0]) == (1000, 0.64)


def test_image_panels_are_grey_equal_aspect_without_ticks():
    fig = experiment_figure(make_result())
    for ax in image_axes(fig):
        (im,) = ax.images
        assert im.get_cmap().name == "gray"
        assert ax.get_aspect() == 1.0
        assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []


def test_each_average_has_its_own_symmetric_window():
    ds = make_result()
    by_label = axes_by_label(experiment_figure(ds))
    for var, prefix in (("averages", "average"), ("unaligned_averages", "unaligned")):
        for n, img in zip(ds["count"].values, ds[var].values):
            lo, hi = by_label[f"{prefix}:{int(n)}"].images[0].get_clim()
            m, s = float(img.astype(np.float64).mean()), float(img.astype(np.float64).std())
            assert lo == pytest.approx(m - CONTRAST_SIGMAS * s, rel=1e-5, abs=1e-7)
            assert hi == pytest.approx(m + CONTRAST_SIGMAS * s, rel=1e-5, abs=1e-7)


def test_correlation_maps_mark_the_peak_and_show_the_shift():
    ds = make_result(n_examples=3)
    by_label = axes_by_label(experiment_figure(ds, n_examples=3))
    h, w = ds["reference"].shape
    for k in range(3):
        ax = by_label[f"correlation:{k}"]
        dy, dx = (int(v) for v in ds["shifts"].values[k])
        assert f"(dy, dx)=({dy}, {dx})" in ax.get_title()
        cmap = ds["correlation_maps"].values[k]
        py, px = np.unravel_index(np.argmax(cmap), cmap.shape)
        # the peak of the centred map is at the centre plus the shift
        assert ((py - h // 2) % h, (px - w // 2) % w) == (dy % h, dx % w)
        (marker,) = ax.get_lines()
        assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (px, py)


def test_correlation_shift_taken_from_the_map_when_shifts_missing():
    ds = make_result(n_examples=2).drop_vars(["shifts"])
    fig = experiment_figure(ds, n_examples=2)
    by_label = axes_by_label(fig)
    h, w = ds["reference"].shape
    for k in range(2):
        cmap = ds["correlation_maps"].values[k]
        py, px = np.unravel_index(np.argmax(cmap), cmap.shape)
        title = by_label[f"correlation:{k}"].get_title()
        assert f"(dy, dx)=({py - h // 2}, {px - w // 2})" in title


@pytest.mark.parametrize("n_examples, shown", [(0, 0), (2, 2), (4, 4), (10, 4)])
def test_n_examples_limits_the_example_rows(n_examples, shown):
    ds = make_result(counts=(10, 20), n_examples=4)
    fig = experiment_figure(ds, n_examples=n_examples)
    labels = set(axes_by_label(fig))
    for prefix in ("noise", "correlation", "aligned"):
        assert {lab for lab in labels if lab.startswith(prefix + ":")} == {
            f"{prefix}:{k}" for k in range(shown)}
    assert len(image_axes(fig)) == 1 + 3 * shown + 2 * 2


def test_one_count_and_no_examples():
    ds = make_result(counts=(50,), examples=False, unaligned=False, attrs=None)
    ds.attrs = {}
    fig = experiment_figure(ds)
    assert [ax.get_label() for ax in image_axes(fig)] == ["reference", "average:50"]
    cc = _cc(ds["averages"].values[0], ds["reference"].values)
    assert axes_by_label(fig)["average:50"].get_title() == f"N=50  CC={cc:.2f}"
    st = suptitle_text(fig)  # n_images falls back to the largest count, others to n/a
    assert "50 pure-noise images" in st
    box = axes_by_label(fig)["info"].texts[0].get_text()
    assert "seed    n/a" in box and "ImageJ  n/a" in box
    fig.canvas.draw()


def test_eight_counts_eight_examples_odd_non_square():
    counts = (5, 10, 25, 50, 100, 200, 400, 800)
    ds = make_result(shape=(33, 47), counts=counts, n_examples=8,
                     attrs={"engine": "imagej", "elapsed_s": 1.5, "note": "x" * 400})
    fig = experiment_figure(ds, n_examples=8)
    assert len(image_axes(fig)) == 1 + 3 * 8 + 2 * 8
    for ax in image_axes(fig):
        assert ax.images[0].get_array().shape == (33, 47)
    text = axes_by_label(fig)["info"].texts[0].get_text()
    assert "engine  imagej" in text and "size    33×47" in text
    assert "elapsed_s" not in text and "note" not in text  # the rest is in results.json
    fig.canvas.draw()


def test_unaligned_without_cc_and_example_rows_partly_present():
    ds = make_result(n_examples=3).drop_vars(["cc_unaligned", "aligned_examples"])
    fig = experiment_figure(ds, n_examples=3)
    by_label = axes_by_label(fig)
    assert by_label["unaligned:25"].get_title() == "N=25 unaligned"
    assert not any(lab.startswith("aligned:") for lab in by_label)
    assert len(image_axes(fig)) == 1 + 2 * 3 + 2 * 4


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("counts, n_ex", [((25, 100, 500, 1000), 4),
                                           ((5, 10, 25, 50, 100, 200, 400, 1000), 8),
                                           ((1000,), 1),
                                           ((10_000, 100_000, 1_000_000), 3)])
def test_titles_do_not_overlap_and_stay_inside_the_figure(counts, n_ex):
    # attrs like those of fiji_bridge.experiment: long strings, small lists, dicts (skipped)
    attrs = {"imagej_source": "/usr/share/java/" + "d" * 80 + "/ij.jar",
             "zproject_vs_numpy_max_abs_diff": 2.98e-08, "imagej_quirks": ["q" * 40],
             "shift_dy": {"mean": 0.1, "std": 36.7}, "timings": {"noise_s": 0.2}}
    attrs.update({f"extra_{i}": i for i in range(15)})
    ds = make_result(counts=counts, n_examples=n_ex, attrs=attrs)
    fig = experiment_figure(ds, n_examples=n_ex)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    boxes = []
    for ax in fig.get_axes():
        title = ax.title
        if title.get_text():
            boxes.append((ax.get_label(), title.get_window_extent(renderer)))
    boxes.append(("suptitle", fig._suptitle.get_window_extent(renderer)))
    inside = list(boxes)
    info = axes_by_label(fig).get("info")
    if info is not None:
        inside.append(("info", info.texts[0].get_window_extent(renderer)))
        assert "shift_dy" not in info.texts[0].get_text()  # only N, size, seed, engine, ImageJ
    for label, box in inside:
        assert box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1, label
        assert box.y0 >= fig_box.y0 - 1 and box.y1 <= fig_box.y1 + 1, label
    for i, (la, a) in enumerate(boxes):
        for lb, b in boxes[i + 1:]:
            assert not _overlaps(a, b), (la, lb)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["reference", "averages", "cc"])
def test_missing_required_variable(name):
    ds = make_result().drop_vars([name])
    with pytest.raises(ValueError, match=rf"no variable '{name}'.*Fix"):
        experiment_figure(ds)


def test_other_invalid_inputs():
    ds = make_result()
    with pytest.raises(TypeError, match="xarray.Dataset"):
        experiment_figure(ds["averages"])
    with pytest.raises(ValueError, match="n_examples"):
        experiment_figure(ds, n_examples=-1)
    with pytest.raises(ValueError, match="'cc' must have"):
        experiment_figure(ds.assign(cc=("other", [0.1, 0.2])))
    with pytest.raises(ValueError, match="shape"):
        experiment_figure(ds.assign(reference=(("ry", "rx"), np.zeros((8, 8), np.float32))))
    with pytest.raises(ValueError, match="'count' coordinate"):
        experiment_figure(ds.drop_vars("count"))


# --------------------------------------------------------------------------------------------
# save_experiment_figure
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dpi", [120, 50])
def test_save_writes_a_png_of_the_expected_size(tmp_path, dpi):
    ds = make_result()
    out = tmp_path / "fig.png"
    got = save_experiment_figure(ds, out, dpi=dpi)
    assert got == out
    data = out.read_bytes()
    assert len(data) > 0 and data[:8] == PNG_SIGNATURE
    w_in, h_in = experiment_figure(ds).get_size_inches()
    pixels = matplotlib.image.imread(out)
    assert pixels.ndim == 3
    assert abs(pixels.shape[0] - h_in * dpi) <= 1 and abs(pixels.shape[1] - w_in * dpi) <= 1
    assert os.listdir(tmp_path) == ["fig.png"]  # no temporary file left behind


def test_save_replaces_existing_file_and_creates_folders(tmp_path):
    out = tmp_path / "a" / "b" / "fig.png"
    save_experiment_figure(make_result(counts=(10,), examples=False), out, dpi=40)
    first = out.read_bytes()
    save_experiment_figure(make_result(), out, dpi=40, n_examples=2)
    assert out.read_bytes() != first and out.read_bytes()[:8] == PNG_SIGNATURE
    assert os.listdir(out.parent) == ["fig.png"]


def test_save_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "fig.png"
    out.write_bytes(b"old")

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_experiment_figure(make_result(), out)
    assert out.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["fig.png"]


def test_save_validates_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"\.png.*Fix"):
        save_experiment_figure(make_result(), tmp_path / "fig.pdf")
    with pytest.raises(ValueError, match="dpi.*Fix"):
        save_experiment_figure(make_result(), tmp_path / "fig.png", dpi=0)
    with pytest.raises(ValueError, match="'cc'"):
        save_experiment_figure(make_result().drop_vars("cc"), tmp_path / "fig.png")
    assert os.listdir(tmp_path) == []


def test_module_uses_no_pyplot_and_no_import_side_effects():
    code = (
        "import sys, matplotlib\n"
        "import fiji_bridge.figures as f\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "import xarray, numpy as np\n"
        "ds = xarray.Dataset({'reference': (('y','x'), np.random.rand(9, 9)),\n"
        "    'averages': (('count','y','x'), np.random.rand(1, 9, 9)), 'cc': ('count', [0.1])},\n"
        "    coords={'count': [3]})\n"
        "f.experiment_figure(ds).canvas.draw()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
